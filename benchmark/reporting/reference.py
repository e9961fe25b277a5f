"""The FRAMI paper's reported accuracies (Tables 2 and 3), for side-by-side reports.

Each method's module declares the paper's numbers for it (`register_method(..., table2=..., table3=...)`);
this is the lookup over them.
"""
from __future__ import annotations

from methods import METHODS


def paper_accuracy(dataset: str, pair: str, method: str) -> float | None:
    """The paper's number for a cell (Table 2's, else Table 3's), or None where the paper reports none."""
    return METHODS.get(method).paper_accuracy(dataset, pair) if method in METHODS else None
