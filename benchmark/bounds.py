"""Accuracy-bound regression checks (the `check` command and the end of every `run`), and
bounds derived from measured records.

A bounds file is a CSV with columns dataset, pair, method, lower, upper (percent) and an
optional preset. Every ok record of a listed (dataset, pair, method) must lie inside its
bounds; a listed cell with no ok record is a violation too (a silent skip is not a pass).
A bound that is not a number, NaN, infinite, or has lower > upper is an error naming its file and line
(it could never be met, or always would be).
"""
from __future__ import annotations

import csv
import math
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
    """The bounds in a CSV file (comment lines start with #). A malformed row raises ValueError naming the
    file and its line in the file (comments counted). An empty file gives [] (`check` refuses that)."""
    if not Path(path).exists():
        raise FileNotFoundError(f"bounds file {path} does not exist; see results/bounds/ for the shipped ones")
    bounds = []
    with open(path, newline="") as fh:
        for number, row in _rows_with_line_numbers(fh):
            missing = [c for c in COLUMNS if not (row.get(c) or "").strip()]
            if missing:
                raise ValueError(f"{path}:{number}: missing {', '.join(missing)} "
                                 f"(columns: {', '.join(COLUMNS)}, preset)")
            lower, upper = (_percent(path, number, row, c) for c in ("lower", "upper"))
            if lower > upper:
                raise ValueError(f"{path}:{number}: lower {lower:g} is above upper {upper:g}; no accuracy can meet it")
            bounds.append(Bound(row["dataset"].strip(), row["pair"].strip(), row["method"].strip(), lower, upper,
                                (row.get("preset") or "").strip() or None))
    return bounds


def _rows_with_line_numbers(fh):
    """(line number in the file, row) of each CSV row, skipping # comments without losing count."""
    number = 0

    def data_lines():
        nonlocal number
        for number, line in enumerate(fh, 1):
            if not line.lstrip().startswith("#"):
                yield line

    for row in csv.DictReader(data_lines()):
        yield number, row


def _percent(path: Path, number: int, row: dict, column: str) -> float:
    """A bound as a finite number; 'fifty', NaN or inf name the file, line and column."""
    text = row[column].strip()
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{path}:{number}: {column} must be a number (percent), got {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{path}:{number}: {column} must be a finite number (percent), got {text!r}")
    return value


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
