"""The FRAMI paper's reported accuracies (Tables 2 and 3), for side-by-side reports."""
from __future__ import annotations

RESNET, WRN = "resnet34:resnet18", "wrn40_2:wrn16_2"
TABLE2_METHODS = ("teacher", "student", "kd", "adi", "frami")
_TABLE2_ROWS = {
    ("us8k", RESNET): (80.05, 76.70, 75.63, 66.67, 79.93),
    ("us8k", WRN): (77.65, 72.63, 75.27, 63.44, 78.14),
    ("esc50", RESNET): (68.25, 62.50, 67.00, 59.25, 67.75),
    ("esc50", WRN): (64.50, 60.75, 63.50, 58.75, 63.50),
    ("audiomnist", RESNET): (99.90, 99.53, 99.87, 99.10, 99.80),
    ("audiomnist", WRN): (99.83, 99.47, 99.80, 99.03, 99.73),
}
TABLE2: dict[tuple[str, str, str], float] = {
    (dataset, pair, method): value
    for (dataset, pair), values in _TABLE2_ROWS.items() for method, value in zip(TABLE2_METHODS, values)
}
# Table 3 (WRN pair); None where the paper prints "-".
TABLE3: dict[tuple[str, str], float | None] = {
    ("us8k", "frami"): 78.14, ("esc50", "frami"): 63.50, ("audiomnist", "frami"): None,
    ("us8k", "frami-no-finv"): 76.82, ("esc50", "frami-no-finv"): 63.25, ("audiomnist", "frami-no-finv"): 99.73,
    ("us8k", "frami-no-reused"): 77.54, ("esc50", "frami-no-reused"): 62.75, ("audiomnist", "frami-no-reused"): None,
    ("us8k", "frami-no-finv-no-reused"): 76.58, ("esc50", "frami-no-finv-no-reused"): 63.00,
    ("audiomnist", "frami-no-finv-no-reused"): 99.67,
}


def paper_accuracy(dataset: str, pair: str, method: str) -> float | None:
    """The paper's number for a cell, or None where the paper reports none."""
    if (dataset, pair, method) in TABLE2:
        return TABLE2[(dataset, pair, method)]
    if pair == WRN:
        return TABLE3.get((dataset, method))
    return None
