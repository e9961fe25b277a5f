"""Accuracy-bound regression checks (the `check` command and the end of every `run`).

A bounds file is a CSV with columns dataset, pair, method, lower, upper (percent), an optional
preset, and optionally center, spread, seeds, quantile: a *prediction bound* derived from measured
seeds (benchmark/stats/bounds_derive.py). A prediction bound checks the mean of the k seeds a run has of
its cell against center +- quantile x spread x sqrt(1/k + 1/seeds) (clipped to [0, 100]); its lower
and upper are that interval for one seed. A bound without them (a fixed range, e.g. the paper's
numbers +- 5 pp) checks every seed against [lower, upper].
A bound whose cell has no ok record is reported as *not run*, apart from the bounds a run is
*outside*. A bound that is not a number, NaN, infinite, or has lower > upper is an error naming its
file and line (it could never be met, or always would be). `# machine: ...` names the machine the
measured seeds came from (the run's reference line repeats it).
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..store.record_schema import RunRecord, as_record

COLUMNS = ("dataset", "pair", "method", "lower", "upper")
PREDICTION_COLUMNS = ("center", "spread", "seeds", "quantile")  # optional, all four or none
MACHINE_PREFIX = "# machine:"


@dataclass(frozen=True)
class Bound:
    dataset: str
    pair: str
    method: str
    lower: float
    upper: float
    preset: str | None = None
    center: float | None = None  # prediction bound: mean of the measured seeds
    spread: float | None = None  # their standard deviation, floored (bounds_derive.py)
    seeds: int | None = None  # how many seeds were measured
    quantile: float | None = None  # multiplier of the spread, set for the file's false-alarm rate

    def matches(self, record: RunRecord) -> bool:
        return (record.dataset, record.pair, record.method) == (self.dataset, self.pair, self.method) and (
            self.preset is None or record.preset == self.preset)

    @property
    def predictive(self) -> bool:
        return self.center is not None

    def interval(self, k: int = 1) -> tuple[float, float]:
        """Where the mean of k new seeds should lie (a fixed bound: [lower, upper] for every seed)."""
        if not self.predictive:
            return self.lower, self.upper
        half = self.quantile * self.spread * math.sqrt(1 / k + 1 / self.seeds)
        return max(0.0, self.center - half), min(100.0, self.center + half)

    @property
    def where(self) -> str:
        return f"{self.dataset} {self.pair} {self.method}"


@dataclass
class BoundsCheck:
    """The bounds a run's records are outside of, those whose cells were not run, and those met."""

    outside: list[str] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)
    within: list[str] = field(default_factory=list)

    @property
    def checked(self) -> int:
        return len(self.outside) + len(self.within)


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
                                (row.get("preset") or "").strip() or None, **_prediction(path, number, row)))
    return bounds


def _prediction(path: Path, number: int, row: dict) -> dict:
    """center, spread, seeds, quantile of a prediction bound (all four or none), each checked."""
    given = [c for c in PREDICTION_COLUMNS if (row.get(c) or "").strip()]
    if not given:
        return {}
    if len(given) < len(PREDICTION_COLUMNS):
        missing = [c for c in PREDICTION_COLUMNS if c not in given]
        raise ValueError(f"{path}:{number}: a prediction bound needs {', '.join(PREDICTION_COLUMNS)}; "
                         f"missing {', '.join(missing)}")
    center, spread, quantile = (_percent(path, number, row, c) for c in ("center", "spread", "quantile"))
    seeds = _percent(path, number, row, "seeds")
    if spread < 0 or quantile <= 0 or seeds < 2 or seeds != int(seeds):
        raise ValueError(f"{path}:{number}: spread must be >= 0, quantile > 0 and seeds a whole number >= 2; got "
                         f"spread {spread:g}, quantile {quantile:g}, seeds {seeds:g}")
    return {"center": center, "spread": spread, "seeds": int(seeds), "quantile": quantile}


def reference_machine(path: Path) -> str | None:
    """The `# machine: ...` line of a bounds file: where its measured seeds were made."""
    for line in Path(path).read_text().splitlines():
        if line.startswith(MACHINE_PREFIX):
            return line[len(MACHINE_PREFIX):].strip()
    return None


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


def check_bounds(records: list[RunRecord], bounds: list[Bound]) -> BoundsCheck:
    """Each bound against the ok records of its cell: a prediction bound checks the mean of the run's k seeds (one
    seed: that seed), a fixed bound every seed; a bound without an ok record is not run."""
    records = [as_record(r) for r in records]  # stored dicts from RunStore.read() are accepted too
    result = BoundsCheck()
    for bound in bounds:
        matching = sorted((r for r in records if bound.matches(r) and r.ok), key=lambda r: r.seed)
        if not matching:
            result.not_run.append(f"{bound.where}: no ok record (bounds {bound.lower:.2f}..{bound.upper:.2f})")
            continue
        if bound.predictive and len(matching) > 1:
            lower, upper = bound.interval(len(matching))
            mean = sum(r.accuracy for r in matching) / len(matching)
            seeds = ", ".join(f"seed {r.seed}: {r.accuracy:.2f}" for r in matching)
            line = (f"{bound.where}: mean of {len(matching)} seeds {mean:.2f} "
                    f"{'within' if lower <= mean <= upper else 'outside'} [{lower:.2f}, {upper:.2f}] ({seeds})")
            (result.within if lower <= mean <= upper else result.outside).append(line)
            continue
        lower, upper = bound.interval(1)
        for r in matching:
            inside = lower <= r.accuracy <= upper
            (result.within if inside else result.outside).append(
                f"{bound.where} seed={r.seed}: accuracy {r.accuracy:.2f} {'within' if inside else 'outside'} "
                f"[{lower:.2f}, {upper:.2f}]")
    return result


def violations(records: list[RunRecord], bounds: list[Bound]) -> list[str]:
    """Every bound the records are outside of, then every bound not run (a silent skip is not a pass)."""
    result = check_bounds(records, bounds)
    return result.outside + result.not_run
