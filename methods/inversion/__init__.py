"""Shared machinery of the inversion-based (data-free) methods."""
