"""Accuracy-bound regression checks (the `check` command and the end of every `run`), and
bounds derived from measured records.

A bounds file is a CSV with columns dataset, pair, method, lower, upper (percent) and an
optional preset. Every ok record of a listed (dataset, pair, method) must lie inside its
bounds; a listed cell with no ok record is a violation too (a silent skip is not a pass).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from .record_schema import RunRecord, as_record

COLUMNS = ("dataset", "pair", "method", "lower", "upper")


@dataclass(frozen=True)
class Bound:
    dataset: str
    pair: str
    method: str
    lower: float
    upper: float
    preset: str | None = None

    def matches(self, record: RunRecord) -> bool:
        return (record.dataset, record.pair, record.method) == (self.dataset, self.pair, self.method) and (
            self.preset is None or record.preset == self.preset)


def read_bounds(path: Path) -> list[Bound]:
    if not Path(path).exists():
        raise FileNotFoundError(f"bounds file {path} does not exist; see results/bounds/ for the shipped ones")
    with open(path, newline="") as fh:
        rows = [r for r in csv.DictReader(line for line in fh if not line.lstrip().startswith("#"))]
    bounds = []
    for number, row in enumerate(rows, 2):
        missing = [c for c in COLUMNS if not (row.get(c) or "").strip()]
        if missing:
            raise ValueError(f"{path}:{number}: missing {', '.join(missing)} (columns: {', '.join(COLUMNS)}, preset)")
        bounds.append(Bound(row["dataset"].strip(), row["pair"].strip(), row["method"].strip(), float(row["lower"]),
                            float(row["upper"]), (row.get("preset") or "").strip() or None))
    return bounds


def violations(records: list[RunRecord], bounds: list[Bound]) -> list[str]:
    records = [as_record(r) for r in records]  # stored dicts from RunStore.read() are accepted too
    problems = []
    for bound in bounds:
        matching = [r for r in records if bound.matches(r) and r.ok]
        where = f"{bound.dataset} {bound.pair} {bound.method}"
        if not matching:
            problems.append(f"{where}: no ok record (bounds {bound.lower:.2f}..{bound.upper:.2f})")
        for r in matching:
            if not bound.lower <= r.accuracy <= bound.upper:
                problems.append(f"{where} seed={r.seed}: accuracy {r.accuracy:.2f} outside "
                                f"[{bound.lower:.2f}, {bound.upper:.2f}]")
    return problems


def derive_bounds(records: list[RunRecord], margin: float) -> list[tuple[Bound, list[float]]]:
    """[min - margin, max + margin] over each (dataset, pair, method)'s ok records, clipped to
    [0, 100], with the measured accuracies, in first-seen order."""
    measured: dict[tuple[str, str, str, str], list[float]] = {}
    for r in records:
        if r.ok:
            measured.setdefault((r.dataset, r.pair, r.method, r.preset), []).append(r.accuracy)
    return [(Bound(d, p, m, max(0.0, min(accs) - margin), min(100.0, max(accs) + margin), preset), accs)
            for (d, p, m, preset), accs in measured.items()]


def write_derived_bounds(path: Path, derived: list[tuple[Bound, list[float]]], margin: float, source: str,
                         run_commands: list[str] = ()) -> None:
    lines = ["# Regression bounds derived from measured runs (not from the paper) by",
             f"#   python -m benchmark check --out {source} --derive {path} --margin {margin:g}",
             *(f"#   with {source} from: {command}" for command in run_commands),
             f"# Bounds: [min over seeds - {margin:g}, max + {margin:g}] percentage points, clipped to [0, 100].",
             "# Measured values per seed are in the comment under each row.",
             ",".join(COLUMNS + ("preset",))]
    for bound, accs in derived:
        lines.append(f"{bound.dataset},{bound.pair},{bound.method},{bound.lower:.2f},{bound.upper:.2f},{bound.preset}")
        lines.append("# measured: " + ", ".join(f"{a:.2f}" for a in accs))
    Path(path).write_text("\n".join(lines) + "\n")
