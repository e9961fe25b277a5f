"""Regression bounds derived from measured seeds: prediction intervals with a stated false-alarm rate.

A method's accuracy moves from seed to seed, and from machine to machine as much (another CPU gives other floats,
and a few hundred steps of training amplify them: ADI seed 0 was 15.8% on one 2-core machine and 30.0% on another).
So a bound is a prediction interval for what a *new* seed (or the mean of k new seeds) of a correct run gives:

    center +- quantile x spread x sqrt(1/k + 1/n)        (clipped to [0, 100])

with center and n the mean and number of the measured seeds. Three seeds underestimate a spread often (the sample
standard deviation of 3 values is below half the true one one time in five), so `spread` is the method's own
standard deviation floored at the pooled one of its family (the other methods of the same dataset, pair and
preset): max(s_i, sqrt(mean_i s_i^2)).

`quantile` is set for the family's false-alarm rate: the share of correct runs (every method of the family checked
once) that report any bound outside, `FALSE_ALARM` (5%) by default. It is found by simulation (parametric
bootstrap): each method's seeds are drawn from a normal with the measured mean and standard deviation, rounded to
whole test clips and clipped to [0, 100]; the bounds are derived from n such draws exactly as here (pooled floor
included), and a new run of k seeds (k = 1 and k = n) is checked against them; the quantile is the smallest that
keeps the alarm rate at or below the target for both k. `simulate_false_alarm` is the same simulation, for tests and
the derived file's header. The bounds stay sensitive where the seeds agree (see each row's comment: the smallest
drop of a mean of n seeds that fails) and wide where they do not (ADI's seeds spread over 18 pp).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..store.record_schema import RunRecord
from .bounds import COLUMNS, MACHINE_PREFIX, PREDICTION_COLUMNS, Bound

FALSE_ALARM = 0.05  # the share of correct runs (a whole family checked once) that may report a bound outside
SIMULATED_RUNS = 20_000
SIMULATION_SEED = 21


@dataclass(frozen=True)
class Measured:
    """The measured seeds of one cell (dataset, pair, method, preset)."""

    dataset: str
    pair: str
    method: str
    preset: str
    accuracies: tuple[float, ...]
    step: float | None = None  # one test clip, in pp (accuracies are multiples of it); None: unknown

    @property
    def family(self) -> tuple[str, str, str]:
        return self.dataset, self.pair, self.preset

    @property
    def mean(self) -> float:
        return float(np.mean(self.accuracies))

    @property
    def sd(self) -> float:
        return float(np.std(self.accuracies, ddof=1))


def measured_from_records(records: list[RunRecord]) -> list[Measured]:
    """Ok records grouped by cell (first-seen order); cells with fewer than two seeds give no spread and are left
    out."""
    groups: dict[tuple[str, str, str, str], list[RunRecord]] = {}
    for r in records:
        if r.ok:
            groups.setdefault((r.dataset, r.pair, r.method, r.preset), []).append(r)
    out = []
    for (dataset, pair, method, preset), rs in groups.items():
        clips = {len(r.test_targets) for r in rs if r.test_targets}
        step = 100.0 / clips.pop() if len(clips) == 1 else None
        if len(rs) >= 2:
            out.append(Measured(dataset, pair, method, preset, tuple(r.accuracy for r in rs), step))
    return out


def measured_from_bounds_file(path: Path) -> list[Measured]:
    """The per-seed values a bounds file records under each row (`# measured: a, b, ...`), to derive its bounds
    again where the records themselves were not kept."""
    rows = Path(path).read_text().splitlines()
    out = []
    for row, comment in zip(rows, rows[1:]):
        if comment.startswith("# measured:") and row and not row.startswith("#") and not row.startswith("dataset,"):
            dataset, pair, method, _, _, preset, *_ = row.split(",") + [""]
            values = tuple(float(v) for v in comment[len("# measured:"):].split("(")[0].replace(" ", "").split(",")
                           if v)
            if len(values) >= 2:
                out.append(Measured(dataset, pair, method, preset, values))
    return out


def spreads(family: list[Measured]) -> tuple[np.ndarray, float]:
    """Each method's spread (its standard deviation floored at the family's pooled one) and that floor."""
    sds = np.array([m.sd for m in family])
    floor = float(np.sqrt(np.mean(sds ** 2)))
    return np.maximum(sds, floor), floor


def _draw(rng: np.random.Generator, family: list[Measured], sigma: np.ndarray, shape: tuple[int, int],
          index: int) -> np.ndarray:
    m = family[index]
    values = rng.normal(m.mean, sigma[index], shape)
    if m.step:
        values = np.round(values / m.step) * m.step
    return np.clip(values, 0.0, 100.0)


def simulate_false_alarm(family: list[Measured], quantile: float, k: int, runs: int = SIMULATED_RUNS,
                         seed: int = SIMULATION_SEED, new_spread: float = 1.0) -> float:
    """The share of simulated correct runs of k seeds per method that report any bound of the family outside, the
    bounds being derived (as `derive`) from n simulated reference seeds per method. Truth: each method's measured
    mean and standard deviation; the new run's standard deviation times `new_spread` (a machine whose floats
    scatter more than the reference machine's)."""
    return float(np.mean(_alarms(family, [quantile], k, runs, seed, new_spread)[0]))


def _alarms(family: list[Measured], quantiles: list[float], k: int, runs: int, seed: int,
            new_spread: float = 1.0) -> np.ndarray:
    """alarms[q, run]: whether run `run` raises any alarm at quantile q (common random numbers across q)."""
    rng = np.random.default_rng(seed)
    sigma = np.array([m.sd for m in family])
    refs = [_draw(rng, family, sigma, (runs, len(m.accuracies)), i) for i, m in enumerate(family)]
    news = [_draw(rng, family, sigma * new_spread, (runs, k), i).mean(axis=1) for i in range(len(family))]
    ref_sd = np.stack([r.std(axis=1, ddof=1) for r in refs], axis=1)
    floor = np.sqrt(np.mean(ref_sd ** 2, axis=1, keepdims=True))
    spread = np.maximum(ref_sd, floor)
    center = np.stack([r.mean(axis=1) for r in refs], axis=1)
    n = np.array([len(m.accuracies) for m in family])
    new = np.stack(news, axis=1)
    out = np.zeros((len(quantiles), runs), dtype=bool)
    for qi, q in enumerate(quantiles):
        half = q * spread * np.sqrt(1 / k + 1 / n)
        lower, upper = np.maximum(center - half, 0.0), np.minimum(center + half, 100.0)
        out[qi] = np.any((new < lower - 1e-9) | (new > upper + 1e-9), axis=1)
    return out


def calibrate_quantile(family: list[Measured], target: float = FALSE_ALARM, runs: int = SIMULATED_RUNS,
                       seed: int = SIMULATION_SEED) -> float:
    """The smallest quantile (to 0.01) whose simulated false-alarm rate is at most `target` for one new seed and
    for as many new seeds as were measured."""
    grid = [round(q, 2) for q in np.arange(1.0, 12.0, 0.01)]
    ks = sorted({1, min(len(m.accuracies) for m in family)})
    ok = np.ones(len(grid), dtype=bool)
    for k in ks:
        ok &= _alarms(family, grid, k, runs, seed).mean(axis=1) <= target
    passing = [q for q, good in zip(grid, ok) if good]
    if not passing:
        raise ValueError(f"no quantile up to {grid[-1]} keeps the false-alarm rate at {target:.0%}")
    # the smallest q from which every larger q passes too (alarm rates fall with q up to simulation noise)
    last_fail = max((i for i, good in enumerate(ok) if not good), default=-1)
    return float(grid[last_fail + 1] if last_fail + 1 < len(grid) else passing[-1])


@dataclass(frozen=True)
class Derived:
    bound: Bound
    measured: Measured
    floor: float


def derive(measured: list[Measured], target: float = FALSE_ALARM) -> tuple[list[Derived], dict]:
    """Prediction bounds for every measured cell, family by family; and per family its quantile and the simulated
    false-alarm rates at one new seed and at n."""
    families: dict[tuple[str, str, str], list[Measured]] = {}
    for m in measured:
        families.setdefault(m.family, []).append(m)
    derived, facts = [], {}
    for family_key, family in families.items():
        quantile = calibrate_quantile(family, target)
        spread, floor = spreads(family)
        n = min(len(m.accuracies) for m in family)
        facts[family_key] = {"quantile": quantile, "floor": floor, "methods": len(family), "seeds": n,
                             "rates": {k: simulate_false_alarm(family, quantile, k) for k in sorted({1, n})}}
        for m, s in zip(family, spread):
            bound = Bound(m.dataset, m.pair, m.method, 0.0, 0.0, m.preset, round(m.mean, 4), round(float(s), 4),
                          len(m.accuracies), quantile)
            lower, upper = bound.interval(1)
            derived.append(Derived(dataclasses.replace(bound, lower=round(lower, 2), upper=round(upper, 2)), m, floor))
    return derived, facts


def smallest_failing_drop(bound: Bound, k: int) -> float:
    """How far below the center a mean of k seeds must fall to fail (pp); inf if no accuracy >= 0 fails."""
    lower, _ = bound.interval(k)
    return bound.center - lower if lower > 0 else math.inf


def write_derived(path: Path, derived: list[Derived], facts: dict, command: str, source: str,
                  run_commands: list[str], machines: list[str], target: float = FALSE_ALARM) -> None:
    """The bounds file: how it was made (`command`, and the runs that made `source`), the machine, the method,
    per family the quantile and simulated false-alarm rates, then each bound with its measured seeds."""
    lines = ["# Regression bounds derived from measured seeds (not from the paper) by",
             f"#   {command}",
             *(f"#   with {source} from: {run}" for run in run_commands),
             f"{MACHINE_PREFIX} {'; '.join(machines) or 'unknown'}",
             "# Bound: prediction interval for the mean of k new seeds of a correct run (k = 1: lower, upper):",
             "#   center +- quantile x spread x sqrt(1/k + 1/seeds), clipped to [0, 100]; center: mean of the measured",
             "#   seeds; spread: their standard deviation, floored at the family's pooled one (few seeds underestimate it).",
             f"# quantile: the smallest keeping the false-alarm rate (a correct run reporting any bound of the family",
             f"#   outside) at <= {target:.0%}, by simulation from the measured seeds "
             "(benchmark/stats/bounds_derive.py)."]
    for (dataset, pair, preset), f in facts.items():
        rates = ", ".join(f"{r:.1%} at {k} new seed{'s' if k > 1 else ''}" for k, r in f["rates"].items())
        lines.append(f"# {dataset} {pair} {preset}: {f['methods']} bounds, quantile {f['quantile']:.2f}, pooled spread "
                     f"{f['floor']:.2f} pp; simulated false-alarm rate {rates}")
    lines.append(",".join(COLUMNS + ("preset",) + PREDICTION_COLUMNS))
    for d in derived:
        b, n = d.bound, d.bound.seeds
        lines.append(f"{b.dataset},{b.pair},{b.method},{b.lower:.2f},{b.upper:.2f},{b.preset},"
                     f"{b.center:.4f},{b.spread:.4f},{b.seeds},{b.quantile:.2f}")
        drop = smallest_failing_drop(b, n)
        fails = f"a mean of {n} seeds fails {drop:.1f} pp below the center" if math.isfinite(drop) else \
            f"no mean of {n} seeds fails below (the interval reaches 0)"
        lines.append(f"# measured: {', '.join(f'{a:.2f}' for a in d.measured.accuracies)} (sd {d.measured.sd:.2f}"
                     f"{', floored' if b.spread > d.measured.sd + 1e-3 else ''}); {fails}")
    Path(path).write_text("\n".join(lines) + "\n")
