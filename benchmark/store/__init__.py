"""The results store: run records, their schema, and which records form one setting."""
