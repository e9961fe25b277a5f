"""One method's accuracy over seeds, with the interval every plot and the frontier draw.

The interval is the two-level bootstrap the verdicts use (benchmark/stats/significance.py: seeds with replacement,
then clips within each drawn seed), run on the method's own per-clip correctness against an all-wrong
baseline, so its percentiles are accuracies and stay within [0, 100]. A t-interval over two seeds spanned
-100% to 160% on the committed curve. Below MIN_SEEDS seeds no interval is given: the seeds themselves are
what a reader should see.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..stats.significance import MIN_SEEDS, SeedPair, two_level_bootstrap
from ..store.record_schema import RunRecord

N_BOOT = 10000  # as the verdicts (stats.claims.compare -> two_level_bootstrap's default)


@dataclass(frozen=True)
class AccuracyInterval:
    """Mean accuracy over seeds (%), its 95% interval (nan below MIN_SEEDS seeds) and each seed's accuracy."""

    mean: float
    low: float
    high: float
    seeds: tuple[float, ...]

    @property
    def has_interval(self) -> bool:
        return len(self.seeds) >= MIN_SEEDS and math.isfinite(self.low) and math.isfinite(self.high)

    def text(self) -> str:
        """'34.17 [31.67, 37.50]' with an interval, else '34.17 (seeds 33.3, 35.0)'."""
        if self.has_interval:
            return f"{self.mean:.2f} [{self.low:.2f}, {self.high:.2f}]"
        return f"{self.mean:.2f} (seeds {', '.join(f'{a:.1f}' for a in self.seeds)})"


def _correctness(record: RunRecord) -> np.ndarray | None:
    if not record.test_predictions or len(record.test_predictions) != len(record.test_targets):
        return None
    return np.asarray(record.test_predictions) == np.asarray(record.test_targets)


def accuracy_interval(records: list[RunRecord], n_boot: int = N_BOOT, seed: int = 0,
                      level: float = 0.95) -> AccuracyInterval:
    """The interval of the ok `records` of one method (one record per seed). Records without per-clip
    predictions fall back to the seed level alone (a percentile bootstrap of the seeds' accuracies), which
    also stays within [0, 100]."""
    ok = sorted((r for r in records if r.ok and r.accuracy is not None), key=lambda r: r.seed)
    if not ok:
        raise ValueError("an accuracy interval needs at least one ok record")
    accuracies = tuple(float(r.accuracy) for r in ok)
    mean = float(np.mean(accuracies))
    if len(ok) < MIN_SEEDS:
        return AccuracyInterval(mean, math.nan, math.nan, accuracies)
    correct = [_correctness(r) for r in ok]
    if all(c is not None and len(c) for c in correct):
        pairs = [SeedPair(r.seed, c, np.zeros_like(c)) for r, c in zip(ok, correct)]
        boot = two_level_bootstrap(pairs, n_boot=n_boot, seed=seed, level=level)
        low, high = boot.low, boot.high
    else:
        rng = np.random.default_rng(seed)
        draws = np.asarray(accuracies)[rng.integers(0, len(ok), (n_boot, len(ok)))].mean(axis=1)
        tail = 100 * (1 - level) / 2
        low, high = np.percentile(draws, [tail, 100 - tail])
    return AccuracyInterval(mean, float(low), float(high), accuracies)


def interval_of(row) -> AccuracyInterval:
    """A report row's accuracy (columns accuracy, ci_low, ci_high, seed_accuracies) as the interval plots draw."""
    return AccuracyInterval(row["accuracy"], row["ci_low"], row["ci_high"], tuple(row["seed_accuracies"]))


def interval_columns(interval: AccuracyInterval) -> dict:
    """The columns `interval_of` reads back."""
    return {"accuracy": interval.mean, "ci_low": interval.low, "ci_high": interval.high,
            "seed_accuracies": interval.seeds}
