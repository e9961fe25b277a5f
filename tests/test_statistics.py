"""Each test against a worked example computed by hand, an exact enumeration or scipy."""
import itertools
import math
import tracemalloc

import numpy as np
import pytest
from scipy import stats as sps

from benchmark.stats.significance import (BYTES_PER_DRAW, CHUNK_BYTES, SeedPair, bootstrap_ci_diff, bootstrap_p_value,
                                          chunk_size, holm, mcnemar_by_seed, mcnemar_exact, paired_correctness,
                                          paired_correctness_by_seed, paired_seed_test, paired_t_test,
                                          two_level_bootstrap, wilcoxon_signed_rank)
from benchmark.store.record_schema import RunRecord


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


def _predictions(method: str, seed: int, ids: list[str], targets: list[int], preds: list[int]) -> RunRecord:
    return RunRecord("synth", "t", "s", "t:s", method, seed, "smoke", "ok", accuracy=0.0, test_ids=ids,
                     test_targets=targets, test_predictions=preds)


def test_paired_correctness_aligns_by_clip_and_seed():
    ra = [_predictions("a", 0, ["x", "y"], [1, 2], [1, 0]), _predictions("a", 1, ["x", "y"], [1, 2], [1, 2])]
    rb = [_predictions("b", 0, ["y", "x"], [2, 1], [2, 0])]
    a, b = paired_correctness(ra, rb)  # seed 1 has no partner and is left out
    assert a.tolist() == [True, False] and b.tolist() == [False, True]


# --- seeds as the unit of a claim -------------------------------------------------------------------------------


def test_paired_t_with_zero_variance_is_flagged_not_zero():
    # every seed differs by +1: the t statistic is 1/0; an honest test has no p-value here (scipy gives nan too)
    test = paired_t_test([11, 12, 13], [10, 11, 12])
    assert test.mean_diff == pytest.approx(1.0)
    assert math.isnan(test.p_value) and "zero variance" in test.note


def test_paired_t_flags_fewer_than_three_seeds():
    test = paired_t_test([11, 14], [10, 10])  # diffs 1, 4: t = 2.5 / 1.5 with 1 df -> p = 0.3440
    assert test.p_value == pytest.approx(sps.ttest_rel([11, 14], [10, 10]).pvalue)
    assert test.p_value == pytest.approx(0.34404, abs=1e-4)
    assert "< 3" in test.note
    assert paired_t_test([11, 12, 14], [10, 10, 10]).note == ""


def test_paired_t_and_wilcoxon_match_scipy():
    rng = np.random.default_rng(4)
    for n in (3, 4, 5):
        a, b = rng.normal(50, 5, n), rng.normal(48, 5, n)
        assert paired_seed_test(a, b).p_value == pytest.approx(sps.ttest_rel(a, b).pvalue)
    for n in (6, 8, 10):
        a, b = rng.normal(50, 5, n), rng.normal(48, 5, n)
        assert paired_seed_test(a, b).p_value == pytest.approx(sps.wilcoxon(a - b).pvalue)


def test_mcnemar_per_seed_by_hand_and_against_binomtest():
    pairs = [SeedPair(0, np.array([1, 1, 1, 0, 1], bool), np.array([0, 0, 1, 0, 1], bool)),  # 2 vs 0
             SeedPair(1, np.array([1, 0, 0, 1], bool), np.array([0, 1, 1, 1], bool))]  # 1 vs 2
    tests = mcnemar_by_seed(pairs)
    assert [(t.a_only, t.b_only) for t in tests] == [(2, 0), (1, 2)]
    assert tests[0].p_value == pytest.approx(2 / 2**2)  # both discordant clips on one side: 2 * (1/2)^2
    assert tests[1].p_value == pytest.approx(1.0)
    for pair, test in zip(pairs, tests):
        k, n = int(np.sum(pair.correct_a & ~pair.correct_b)), int(np.sum(pair.correct_a != pair.correct_b))
        assert test.p_value == pytest.approx(sps.binomtest(k, n, 0.5).pvalue)


def test_paired_correctness_by_seed_keeps_seeds_apart():
    ra = [_predictions("a", 0, ["x", "y"], [1, 2], [1, 0]), _predictions("a", 1, ["x", "y"], [1, 2], [1, 2])]
    rb = [_predictions("b", 1, ["y", "x"], [2, 1], [0, 0]), _predictions("b", 0, ["y", "x"], [2, 1], [2, 0])]
    pairs = paired_correctness_by_seed(ra, rb)
    assert [p.seed for p in pairs] == [0, 1]
    assert pairs[0].correct_a.tolist() == [True, False] and pairs[0].correct_b.tolist() == [False, True]
    assert pairs[1].correct_a.tolist() == [True, True] and pairs[1].correct_b.tolist() == [False, False]


def test_bootstrap_p_value_by_hand():
    # k_le = 1 (the -1), k_ge = 3: p = 2 * (1 + 1) / (4 + 1) = 0.8
    assert bootstrap_p_value(np.array([1.0, 2.0, 3.0, -1.0])) == pytest.approx(0.8)
    assert bootstrap_p_value(np.ones(99)) == pytest.approx(2 / 100)  # never 0: floor 2 / (n + 1)
    assert bootstrap_p_value(np.array([0.0, 1.0, -1.0])) == 1.0  # capped


def _enumerate_two_level(deltas: list[list[int]]) -> dict[float, float]:
    """Exact distribution (pp -> probability) of the two-level bootstrap mean, by listing every draw."""
    n = len(deltas)
    dist: dict[float, float] = {}
    for seeds in itertools.product(range(n), repeat=n):
        per_slot = [{} for _ in seeds]
        for slot, s in enumerate(seeds):
            m = len(deltas[s])
            for clips in itertools.product(range(m), repeat=m):
                value = sum(deltas[s][c] for c in clips) / m
                per_slot[slot][value] = per_slot[slot].get(value, 0) + 1 / m**m
        for combo in itertools.product(*(d.items() for d in per_slot)):
            value = round(100 * sum(v for v, _ in combo) / n, 9)
            dist[value] = dist.get(value, 0) + math.prod(p for _, p in combo) / n**n
    return dist


def test_two_level_bootstrap_matches_the_enumerated_distribution_2_seeds_x_2_clips():
    # seed 0: A right on both clips, B on the second -> deltas (1, 0); seed 1: deltas (1, 1).
    # By hand: slot from seed 0 gives 100 / 50 / 0 pp with prob 1/4, 1/2, 1/4; seed 1 always 100.
    # P(mean <= 0) = P(both slots seed 0) * P(both give 0) = 1/4 * 1/16 = 1/64 -> p = 2/64.
    pairs = [SeedPair(0, np.array([1, 1], bool), np.array([0, 1], bool)),
             SeedPair(1, np.array([1, 1], bool), np.array([0, 0], bool))]
    exact = _enumerate_two_level([[1, 0], [1, 1]])
    assert exact[0.0] == pytest.approx(1 / 64) and sum(exact.values()) == pytest.approx(1.0)
    assert sum(p for v, p in exact.items() if v <= 25) == pytest.approx(1 / 64 + 1 / 16)  # 2.5% quantile is 25
    result = two_level_bootstrap(pairs, n_boot=40000, seed=1)
    assert result.diff == pytest.approx(75.0)  # (50 + 100) / 2
    assert result.p_value == pytest.approx(2 / 64, abs=0.004)  # Monte Carlo sd of this estimate ~0.001
    assert (result.low, result.high) == (25.0, 100.0)
    assert (result.seed_resamples, result.distinct_seed_sets) == (4, 3)


def test_two_level_bootstrap_degenerate_cases_by_hand():
    every_clip_better = [SeedPair(s, np.ones(5, bool), np.zeros(5, bool)) for s in range(3)]
    result = two_level_bootstrap(every_clip_better, n_boot=999)
    assert (result.diff, result.low, result.high) == (100.0, 100.0, 100.0)
    assert result.p_value == pytest.approx(2 / 1000)  # no resample <= 0: the floor 2 / (B + 1)
    # clips constant within seeds, seeds differ: only the seed level varies; 100 / 50 / 0 with 1/4, 1/2, 1/4
    seed_level_only = [SeedPair(0, np.ones(4, bool), np.zeros(4, bool)), SeedPair(1, np.ones(4, bool),
                                                                               np.ones(4, bool))]
    result = two_level_bootstrap(seed_level_only, n_boot=20000)
    assert result.p_value == pytest.approx(2 * 1 / 4, abs=0.02)
    assert (result.low, result.high) == (0.0, 100.0)


def test_two_level_bootstrap_with_unequal_clip_counts():
    # seed 0: one clip, +1; seed 1: three clips, all 0 -> same distribution as above: 100 / 50 / 0
    pairs = [SeedPair(0, np.array([True]), np.array([False])), SeedPair(1, np.zeros(3, bool), np.zeros(3, bool))]
    result = two_level_bootstrap(pairs, n_boot=20000, seed=2)
    assert result.diff == pytest.approx(50.0)
    assert result.high == 100.0 and result.p_value == pytest.approx(0.5, abs=0.02)


def test_two_level_bootstrap_counts_seeds_where_pooled_clips_would_not():
    # two seeds +20 pp, one seed -5 pp on 120 clips: pooled over clips the CI excludes 0, over seeds it must not
    rng = np.random.default_rng(5)
    pairs = []
    for seed, gain in enumerate([24, 24, -6]):
        b = rng.random(120) < 0.3
        a = b.copy()
        flip = rng.choice(np.flatnonzero(~b if gain > 0 else b), abs(gain), replace=False)
        a[flip] = gain > 0
        pairs.append(SeedPair(seed, a, b))
    pooled = bootstrap_ci_diff(np.concatenate([p.correct_a for p in pairs]),
                               np.concatenate([p.correct_b for p in pairs]))
    assert pooled.low > 0
    two_level = two_level_bootstrap(pairs)
    assert two_level.diff == pytest.approx(pooled.diff)
    assert two_level.low < 0 and two_level.p_value > 0.05


def test_two_level_bootstrap_does_not_depend_on_chunk_size():
    rng = np.random.default_rng(6)
    pairs = [SeedPair(s, rng.random(50) < 0.6, rng.random(50) < 0.5) for s in range(3)]
    reference = two_level_bootstrap(pairs, n_boot=500, seed=7)
    for budget in (1, 5000, 100_000):  # 1 resample, a few, and all 500 per chunk
        assert two_level_bootstrap(pairs, n_boot=500, seed=7, budget_bytes=budget) == reference
    assert two_level_bootstrap(pairs, n_boot=500, seed=8) != reference


def test_chunk_size_arithmetic_at_audiomnist_scale():
    # 3000 clips x 3 seeds x 10000 resamples: one int64 index per draw alone would be 720 MB
    assert 10000 * 3 * 3000 * 8 == 720_000_000
    per_chunk = chunk_size(3, 3000)
    assert per_chunk * BYTES_PER_DRAW * 3 * 3001 <= CHUNK_BYTES < 200 * 2**20
    assert per_chunk >= 100  # still vectorised: chunks of hundreds of resamples
    assert chunk_size(3, 3000, budget_bytes=1) == 1


def test_two_level_bootstrap_peak_memory_follows_the_chunk_budget():
    # numpy reports its allocations to tracemalloc; peak must follow the budget, not n_boot x seeds x clips
    rng = np.random.default_rng(8)
    pairs = [SeedPair(s, rng.random(3000) < 0.8, rng.random(3000) < 0.7) for s in range(3)]
    budget = 8 * 2**20
    tracemalloc.start()
    try:
        two_level_bootstrap(pairs, n_boot=2000, budget_bytes=budget)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    unchunked = 2000 * 3 * 3000 * 8  # one int64 index per draw, all resamples at once: 144 MB
    assert peak < budget + 2 * 2**20 < unchunked / 10
