"""Statistics of claims: significance over seeds, seeds needed, regression bounds."""
