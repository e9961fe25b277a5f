"""The robust aggregates (IQM) and the probability of improvement: against values derived by hand, and against
a simulation where the truth is known."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from benchmark.stats.aggregates import (improvement_estimate, interquartile_mean, iqm_estimate,
                                        probability_of_improvement)


def test_iqm_is_the_mean_of_the_middle_half():
    assert interquartile_mean([4, 1, 3, 2]) == pytest.approx(2.5)  # (2 + 3) / 2
    # 8 runs: 2 cut at each end, sorted 1 2 [3 4 5 6] 10 100
    assert interquartile_mean([10, 1, 2, 3, 4, 100, 5, 6]) == pytest.approx(4.5)
    # 5 runs: int(0.25 * 5) = 1 cut at each end, as scipy.stats.trim_mean and rliable do
    assert interquartile_mean([1, 2, 3, 4, 100]) == pytest.approx(3.0)


def test_iqm_needs_four_runs():
    assert math.isnan(interquartile_mean([1.0, 2.0, 3.0]))
    assert math.isnan(iqm_estimate([1.0, 2.0, 3.0]).value)


def test_one_broken_seed_moves_the_mean_not_the_iqm():
    runs = [40.0, 41.0, 42.0, 43.0, 44.0, 45.0, 46.0, 10.0]  # one run collapsed
    assert np.mean(runs) == pytest.approx(38.875)
    assert interquartile_mean(runs) == pytest.approx(42.5)  # (41 + 42 + 43 + 44) / 4


def test_probability_of_improvement_by_hand():
    # a = 3, 1, 2 against b = 2, 2, 0: 3 beats all three (3); 1 beats 0 (1); 2 ties twice, beats 0 (2): 6 of 9
    assert probability_of_improvement([3, 1, 2], [2, 2, 0]) == pytest.approx(6 / 9)
    assert probability_of_improvement([2, 2, 0], [3, 1, 2]) == pytest.approx(3 / 9)
    assert probability_of_improvement([5, 5], [5, 5]) == 0.5
    assert probability_of_improvement([9], [1, 2, 3]) == 1.0
    assert math.isnan(probability_of_improvement([], [1.0]))


def test_the_interval_holds_the_estimate_and_is_reproducible():
    a, b = [30.0, 35.0, 41.0, 28.0], [20.0, 22.0, 29.0, 31.0]
    first, again = improvement_estimate(a, b, n_boot=2000, seed=3), improvement_estimate(a, b, n_boot=2000, seed=3)
    assert first == again
    assert first.low <= first.value <= first.high and 0 <= first.low and first.high <= 1
    assert first.value == pytest.approx(probability_of_improvement(a, b))
    iqm = iqm_estimate(a, n_boot=2000)
    assert iqm.low <= iqm.value <= iqm.high


@pytest.mark.parametrize("shift", [0.0, 1.0])
def test_simulation_the_estimate_is_unbiased_and_the_interval_covers(shift):
    """Runs of A ~ N(shift, 1), of B ~ N(0, 1): P(A > B) = Phi(shift / sqrt 2). Over 300 simulated comparisons of
    10 runs each, the estimate averages to the truth and the 95% interval holds it 88-98% of the time (the
    percentile bootstrap under-covers a little at few runs: about 89% at 5 runs, measured the same way)."""
    truth = norm.cdf(shift / math.sqrt(2))
    rng = np.random.default_rng(7)
    estimates, covered = [], 0
    for trial in range(300):
        estimate = improvement_estimate(rng.normal(shift, 1, 10), rng.normal(0, 1, 10), n_boot=1000, seed=trial)
        estimates.append(estimate.value)
        covered += estimate.low <= truth <= estimate.high
    assert abs(np.mean(estimates) - truth) < 0.02
    assert 0.88 <= covered / 300 <= 0.98


def test_simulation_the_iqm_interval_covers_the_centre():
    rng = np.random.default_rng(11)
    covered = sum(e.low <= 0.0 <= e.high for e in
                  (iqm_estimate(rng.normal(0, 1, 8), n_boot=1000, seed=t) for t in range(300)))
    assert 0.88 <= covered / 300 <= 0.98
