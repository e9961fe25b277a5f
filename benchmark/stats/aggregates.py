"""Robust aggregates over training runs and the probability of improvement, with stratified bootstrap intervals
(Agarwal et al. 2021, "Deep Reinforcement Learning at the Edge of the Statistical Precipice", the rliable
library's definitions):

- the interquartile mean (IQM): the mean of the middle half of the runs (`scipy.stats.trim_mean` cutting 25%
  at each end), less swayed by one lucky or broken seed than the mean and less wasteful than the median;
  given where there are 4 or more runs, since with fewer it cuts nothing or everything;
- the probability of improvement P(A > B): the chance that a run of A beats a run of B, over every pair of
  one run of each (ties count half), i.e. the Mann-Whitney U statistic over n_A * n_B. It asks how often A
  wins, not by how much, so one outlying seed cannot carry it.

Intervals are percentile bootstraps that resample each method's runs with replacement, separately (stratified:
runs are never mixed across methods or tasks). The unit is the run (seed); clips within a run are not resampled
here, as they are not independent evidence about the method (the two-level bootstrap in significance.py tests
the claims)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

MIN_RUNS_FOR_IQM = 4
N_BOOT = 10000
LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its percentile bootstrap interval (nan where it cannot be formed)."""

    value: float
    low: float
    high: float
    runs: int  # runs it rests on (for a comparison: the smaller side)

    def text(self, digits: int = 2) -> str:
        if math.isnan(self.value):
            return "—"
        interval = f" [{self.low:.{digits}f}, {self.high:.{digits}f}]" if math.isfinite(self.low) else ""
        return f"{self.value:.{digits}f}{interval}"


NOT_AVAILABLE = Estimate(math.nan, math.nan, math.nan, 0)


def interquartile_mean(values) -> float:
    """Mean of the middle 50% of the runs; nan below MIN_RUNS_FOR_IQM runs."""
    values = np.asarray(values, float)
    if len(values) < MIN_RUNS_FOR_IQM:
        return math.nan
    return float(sps.trim_mean(values, 0.25))


def probability_of_improvement(a, b) -> float:
    """P(a run of A scores higher than a run of B), ties counting half, over all n_A * n_B pairs of runs."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if not len(a) or not len(b):
        return math.nan
    wins = (a[:, None] > b[None, :]).sum() + 0.5 * (a[:, None] == b[None, :]).sum()
    return float(wins / (len(a) * len(b)))


def _interval(samples: np.ndarray, level: float) -> tuple[float, float]:
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def iqm_estimate(values, n_boot: int = N_BOOT, seed: int = 0, level: float = LEVEL) -> Estimate:
    """The IQM of the runs with a bootstrap interval over runs; nan below MIN_RUNS_FOR_IQM runs."""
    values = np.asarray(values, float)
    if len(values) < MIN_RUNS_FOR_IQM:
        return Estimate(math.nan, math.nan, math.nan, len(values))
    rng = np.random.default_rng(seed)
    draws = values[rng.integers(0, len(values), size=(n_boot, len(values)))]
    return Estimate(interquartile_mean(values), *_interval(sps.trim_mean(draws, 0.25, axis=1), level), len(values))


def improvement_estimate(a, b, n_boot: int = N_BOOT, seed: int = 0, level: float = LEVEL) -> Estimate:
    """P(A > B) with a stratified bootstrap interval: A's and B's runs resampled separately."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if not len(a) or not len(b):
        return NOT_AVAILABLE
    rng = np.random.default_rng(seed)
    draws_a = a[rng.integers(0, len(a), size=(n_boot, len(a)))]
    draws_b = b[rng.integers(0, len(b), size=(n_boot, len(b)))]
    greater = (draws_a[:, :, None] > draws_b[:, None, :]).sum(axis=(1, 2))
    ties = (draws_a[:, :, None] == draws_b[:, None, :]).sum(axis=(1, 2))
    samples = (greater + 0.5 * ties) / (len(a) * len(b))
    return Estimate(probability_of_improvement(a, b), *_interval(samples, level), min(len(a), len(b)))
