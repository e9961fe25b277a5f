"""Each test against a worked example computed by hand."""
import math

import numpy as np
import pytest

from benchmark.statistics import (bootstrap_ci_diff, holm, mcnemar_exact, paired_correctness, paired_seed_test,
                                  paired_t_test, wilcoxon_signed_rank)


def test_mcnemar_exact_by_hand():
    # 1 clip only A right, 9 only B right: p = 2 * sum_{k<=1} C(10,k) / 2^10 = 2 * 11 / 1024
    a = np.array([1] * 1 + [0] * 9 + [1] * 5, bool)
    b = np.array([0] * 1 + [1] * 9 + [1] * 5, bool)
    result = mcnemar_exact(a, b)
    assert (result.a_only, result.b_only) == (1, 9)
    assert result.p_value == pytest.approx(22 / 1024)
    assert mcnemar_exact(a, a).p_value == 1.0


def test_paired_t_by_hand():
    # diffs 1, 2, 3: mean 2, sd 1, t = 2 / (1/sqrt3) = 3.4641 with 2 df -> two-sided p = 0.07418
    test = paired_t_test([11, 12, 13], [10, 10, 10])
    assert test.mean_diff == pytest.approx(2.0)
    assert test.p_value == pytest.approx(0.074180, abs=1e-5)
    assert paired_t_test([5, 5], [5, 5]).p_value == 1.0
    assert math.isnan(paired_t_test([5], [4]).p_value)


def test_wilcoxon_by_hand_and_the_switch_at_six_seeds():
    # 6 positive differences with distinct ranks: exact two-sided p = 2 / 2^6 = 0.03125
    a, b = [1, 2, 3, 4, 5, 6], [0, 0, 0, 0, 0, 0]
    assert wilcoxon_signed_rank(a, b).p_value == pytest.approx(0.03125)
    assert paired_seed_test(a, b).name == "wilcoxon"
    assert paired_seed_test(a[:5], b[:5]).name == "paired t"


def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04 -> 3*0.01, max(0.03, 2*0.03), max(0.06, 1*0.04) = 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    adjusted = holm([0.02, float("nan")])
    assert adjusted[0] == pytest.approx(0.02) and math.isnan(adjusted[1])


def test_bootstrap_ci_contains_the_difference_and_is_seeded():
    rng = np.random.default_rng(1)
    a = rng.random(400) < 0.8
    b = rng.random(400) < 0.6
    ci = bootstrap_ci_diff(a, b, n_boot=2000, seed=3)
    assert ci.diff == pytest.approx(100 * (a.mean() - b.mean()))
    assert ci.low < ci.diff < ci.high and ci.low > 0
    assert ci == bootstrap_ci_diff(a, b, n_boot=2000, seed=3)
    same = bootstrap_ci_diff(a, a, n_boot=500)
    assert (same.low, same.diff, same.high) == (0.0, 0.0, 0.0)


def test_paired_correctness_aligns_by_clip_and_seed():
    ra = [{"seed": 0, "test_ids": ["x", "y"], "test_targets": [1, 2], "test_predictions": [1, 0]},
          {"seed": 1, "test_ids": ["x", "y"], "test_targets": [1, 2], "test_predictions": [1, 2]}]
    rb = [{"seed": 0, "test_ids": ["y", "x"], "test_targets": [2, 1], "test_predictions": [2, 0]}]
    a, b = paired_correctness(ra, rb)  # seed 1 has no partner and is left out
    assert a.tolist() == [True, False] and b.tolist() == [False, True]
