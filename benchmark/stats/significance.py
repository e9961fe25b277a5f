"""Significance tests for method comparisons, with the training run (seed) as the unit of a claim.

A method's accuracy varies with the training seed as well as with the test clips, so a claim rests on a
two-level bootstrap that resamples seeds, then clips within each resampled seed (the practice of Bouthillier
et al. 2021, "Accounting for Variance in Machine Learning Benchmarks"). The other tests stay as context:

- across seeds: paired t-test (n < 6) or Wilcoxon signed-rank (n >= 6) on per-seed accuracies;
- within one seed: exact McNemar on per-clip correctness of the same test clips (one p-value per seed);
  pooled over seeds it treats every (seed, clip) as independent and so overstates the evidence;
- Holm's step-down correction over a family of comparisons.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from ..store.record_schema import RunRecord

MIN_SEEDS = 3  # below this a seed-level test has too little to say (see `two_level_bootstrap`)


@dataclass(frozen=True)
class SeedTest:
    name: str  # "paired t" or "wilcoxon"
    n: int
    mean_diff: float
    p_value: float  # nan when the test has no answer (`note` says why)
    note: str = ""  # flags: zero variance, fewer than MIN_SEEDS seeds


def _few_seeds_note(n: int) -> str:
    return f"only {n} seeds (< {MIN_SEEDS}): unreliable" if n < MIN_SEEDS else ""


def paired_t_test(a: list[float], b: list[float]) -> SeedTest:
    """Paired t-test over seeds. When every seed differs by the same nonzero amount the t statistic is
    undefined (zero variance); p is then nan with a note rather than a made-up 0."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    diff = a - b
    n = len(diff)
    if n < 2:
        return SeedTest("paired t", n, float(diff.mean()) if n else math.nan, math.nan,
                        "needs at least 2 paired seeds")
    mean = float(diff.mean())
    if np.allclose(diff, diff[0]):
        if np.isclose(diff[0], 0):
            return SeedTest("paired t", n, mean, 1.0, "; ".join(filter(None, [
                "no seed shows a difference", _few_seeds_note(n)])))
        return SeedTest("paired t", n, mean, math.nan, "; ".join(filter(None, [
            f"zero variance: every seed differs by {diff[0]:+.2f}", _few_seeds_note(n)])))
    return SeedTest("paired t", n, mean, float(sps.ttest_rel(a, b).pvalue), _few_seeds_note(n))


def wilcoxon_signed_rank(a: list[float], b: list[float]) -> SeedTest:
    diff = np.asarray(a, float) - np.asarray(b, float)
    if np.allclose(diff, 0):
        return SeedTest("wilcoxon", len(diff), 0.0, 1.0, "all differences are zero")
    return SeedTest("wilcoxon", len(diff), float(diff.mean()), float(sps.wilcoxon(diff).pvalue))


def paired_seed_test(a: list[float], b: list[float]) -> SeedTest:
    """t-test for few seeds (Wilcoxon cannot reach p < 0.05 with n < 6), Wilcoxon from 6 on."""
    return wilcoxon_signed_rank(a, b) if len(a) >= 6 else paired_t_test(a, b)


@dataclass(frozen=True)
class McNemar:
    a_only: int  # clips A got right and B wrong
    b_only: int
    p_value: float


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> McNemar:
    """Exact two-sided McNemar: binomial test of the discordant pairs against p = 1/2."""
    correct_a, correct_b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    if correct_a.shape != correct_b.shape:
        raise ValueError(f"McNemar needs the same clips for both methods, got {correct_a.shape} vs {correct_b.shape}")
    a_only = int(np.sum(correct_a & ~correct_b))
    b_only = int(np.sum(~correct_a & correct_b))
    if a_only + b_only == 0:
        return McNemar(0, 0, 1.0)
    return McNemar(a_only, b_only, float(sps.binomtest(a_only, a_only + b_only, 0.5).pvalue))


@dataclass(frozen=True, eq=False)
class SeedPair:
    """Per-clip correctness of two methods on the same test clips, for one training seed."""
    seed: int
    correct_a: np.ndarray
    correct_b: np.ndarray


def mcnemar_by_seed(pairs: list[SeedPair]) -> list[McNemar]:
    """One exact McNemar per seed: within a seed the clips are the only source of chance."""
    return [mcnemar_exact(p.correct_a, p.correct_b) for p in pairs]


@dataclass(frozen=True)
class BootstrapCI:
    diff: float  # accuracy difference A - B, percentage points
    low: float
    high: float


def bootstrap_ci_diff(correct_a: np.ndarray, correct_b: np.ndarray, n_boot: int = 10000, seed: int = 0,
                      level: float = 0.95) -> BootstrapCI:
    """Paired percentile bootstrap over clips of one seed (pp); across seeds use `two_level_bootstrap`."""
    result = two_level_bootstrap([SeedPair(0, correct_a, correct_b)], n_boot=n_boot, seed=seed, level=level)
    return BootstrapCI(result.diff, result.low, result.high)


@dataclass(frozen=True)
class TwoLevelBootstrap:
    diff: float  # observed accuracy difference A - B (pp): mean over seeds of each seed's difference
    low: float  # percentile CI of the difference (pp)
    high: float
    p_value: float  # two-sided bootstrap p, see `two_level_bootstrap`
    n_seeds: int
    n_boot: int

    @property
    def seed_resamples(self) -> int:
        """Equally likely ordered draws of seeds at the seed level: n^n."""
        return self.n_seeds ** self.n_seeds

    @property
    def distinct_seed_sets(self) -> int:
        """Distinct multisets of seeds among them, C(2n - 1, n): what the mean of a resample depends on."""
        return math.comb(2 * self.n_seeds - 1, self.n_seeds)


CHUNK_BYTES = 64 * 2**20  # memory for one chunk of resamples
# Bytes per drawn clip in a chunk: float64 uniform (8) + int64 clip index (8) + int8 value and mask (2),
# rounded up for slack. Measured against tracemalloc in tests/test_statistics.py.
BYTES_PER_DRAW = 24


def chunk_size(n_seeds: int, max_clips: int, budget_bytes: int = CHUNK_BYTES) -> int:
    """Resamples per chunk so that one chunk's arrays stay within `budget_bytes` (at least one)."""
    per_resample = BYTES_PER_DRAW * n_seeds * (max_clips + 1)
    return max(1, budget_bytes // per_resample)


def two_level_bootstrap(pairs: list[SeedPair], n_boot: int = 10000, seed: int = 0, level: float = 0.95,
                        budget_bytes: int = CHUNK_BYTES) -> TwoLevelBootstrap:
    """Paired two-level bootstrap of the accuracy difference A - B (pp): each resample draws n seeds with
    replacement, then, within each drawn seed, as many of its clips with replacement as it has; its statistic
    is the mean over the drawn seeds of the per-seed difference. Both methods keep the same seed and clips.

    CI: percentiles of the resampled differences. p-value (two-sided, H0: no difference), with
    k_le = #{resamples <= 0} and k_ge = #{resamples >= 0}: p = min(1, 2 * (min(k_le, k_ge) + 1) / (n_boot + 1)).
    The +1 counts the observed data as one more resample, so p is never 0; its floor is 2 / (n_boot + 1).

    Limits: the seed level has only n^n ordered draws, so with n = 3 a single seed fills every slot with
    probability 1/27; one seed whose own difference is <= 0 keeps p near 2/27 * 1/2 or above. Below MIN_SEEDS
    the seed level says next to nothing and a verdict should not be drawn from it.

    Resamples are drawn in chunks of `chunk_size` (memory stays near `budget_bytes`). Indices come from uniform
    doubles, one 64-bit draw each with no rejection step, so each resample consumes a fixed slice of the
    random stream: the result depends on `seed` only, not on the chunk size.
    """
    if not pairs or any(len(p.correct_a) == 0 for p in pairs):
        raise ValueError("the two-level bootstrap needs at least one seed with at least one shared clip")
    table, sizes = _delta_table(pairs)
    rng = np.random.default_rng(seed)
    step = chunk_size(len(pairs), table.shape[1], budget_bytes)
    diffs = np.concatenate([_resample_chunk(rng, table, sizes, min(step, n_boot - start))
                            for start in range(0, n_boot, step)])
    observed = _round_ties(100.0 * np.mean(table.sum(axis=1) / sizes))
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(diffs, [tail, 100 - tail])
    return TwoLevelBootstrap(float(observed), float(low), float(high), bootstrap_p_value(diffs), len(pairs), n_boot)


def bootstrap_p_value(diffs: np.ndarray) -> float:
    """Two-sided p of H0 "difference = 0": 2 * min(P(diff <= 0), P(diff >= 0)), each tail estimated as
    (count + 1) / (n + 1) so that it is never 0; capped at 1."""
    diffs = np.asarray(diffs, float)
    tail = min(np.count_nonzero(diffs <= 0), np.count_nonzero(diffs >= 0))
    return float(min(1.0, 2 * (tail + 1) / (len(diffs) + 1)))


def _delta_table(pairs: list[SeedPair]) -> tuple[np.ndarray, np.ndarray]:
    """Per-seed clip differences (+1, 0, -1) as rows of an int8 table padded with 0, and each row's length."""
    deltas = [np.asarray(p.correct_a, bool).astype(np.int8) - np.asarray(p.correct_b, bool).astype(np.int8)
              for p in pairs]
    sizes = np.array([len(d) for d in deltas])
    table = np.zeros((len(deltas), sizes.max()), np.int8)
    for row, delta in zip(table, deltas):
        row[:len(delta)] = delta
    return table, sizes


def _resample_chunk(rng: np.random.Generator, table: np.ndarray, sizes: np.ndarray, count: int) -> np.ndarray:
    """`count` two-level resamples of the mean difference (pp). Each consumes n + n * width uniforms."""
    n, width = table.shape
    uniforms = rng.random((count, n * (1 + width)))
    seeds = np.minimum((uniforms[:, :n] * n).astype(np.intp), n - 1)  # (count, n): the drawn seeds
    slot_sizes = sizes[seeds]
    clips = uniforms[:, n:].reshape(count, n, width)
    clips *= slot_sizes[..., None]  # in place: uniform in [0, size) of the drawn seed
    index = clips.astype(np.intp)
    del uniforms, clips
    np.minimum(index, (slot_sizes - 1)[..., None], out=index)  # guards the rare rounding up to `size`
    values = table[seeds[..., None], index]
    del index
    if (sizes < width).any():  # seeds with fewer clips draw only their own count: drop the extra columns
        values *= np.arange(width) < slot_sizes[..., None]
    per_slot = values.sum(axis=2, dtype=np.int64) / slot_sizes
    return _round_ties(100.0 * per_slot.mean(axis=1))


def _round_ties(diffs: np.ndarray) -> np.ndarray:
    """Sums of fractions carry ~1e-15 rounding error; round so that a tie with 0 counts as a tie."""
    return np.round(diffs, 9)


def holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1); nan stays nan."""
    p = np.asarray(p_values, float)
    valid = np.flatnonzero(~np.isnan(p))
    adjusted = np.full(len(p), np.nan)
    m = len(valid)
    running = 0.0
    for rank, i in enumerate(valid[np.argsort(p[valid], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def holm_thresholds(p_values: list[float], alpha: float = 0.05) -> list[float]:
    """The Holm-adjusted alpha of each test: alpha / f, where f = holm(p) / p is the factor Holm multiplied
    its p by (before the cap at 1), so p < threshold exactly when holm(p) < alpha, i.e. the level its verdict
    used. f is m - rank for the rank-th smallest p, larger where the step-down's monotonicity lifts it (tied
    p-values all get the smallest rank's m); nan p stays nan and is not counted in m."""
    p = np.asarray(p_values, float)
    valid = np.flatnonzero(~np.isnan(p))
    thresholds = np.full(len(p), np.nan)
    running = 0.0
    for rank, i in enumerate(valid[np.argsort(p[valid], kind="stable")]):
        running = max(running, (len(valid) - rank) * p[i])
        thresholds[i] = alpha * p[i] / running if p[i] > 0 else alpha / (len(valid) - rank)
    return thresholds.tolist()


def paired_correctness_by_seed(records_a: list[RunRecord], records_b: list[RunRecord]) -> list[SeedPair]:
    """Per-clip correctness of two methods, aligned by clip id, for each seed both have (in A's order)."""
    by_seed_b = {r.seed: r for r in records_b}
    pairs = []
    for ra in records_a:
        rb = by_seed_b.get(ra.seed)
        if rb is None:
            continue
        truth = dict(zip(ra.test_ids, ra.test_targets))
        pred_b = dict(zip(rb.test_ids, rb.test_predictions))
        shared = [(pred, pred_b[clip], truth[clip]) for clip, pred in zip(ra.test_ids, ra.test_predictions)
                  if clip in pred_b]
        if shared:
            pairs.append(SeedPair(ra.seed, np.array([pa == t for pa, _, t in shared], bool),
                                  np.array([pb == t for _, pb, t in shared], bool)))
    return pairs


def paired_correctness(records_a: list[RunRecord], records_b: list[RunRecord]) -> tuple[np.ndarray, np.ndarray]:
    """Per-clip correctness pooled over shared seeds (for the pooled McNemar, which ignores seeds)."""
    pairs = paired_correctness_by_seed(records_a, records_b)
    if not pairs:
        return np.zeros(0, bool), np.zeros(0, bool)
    return np.concatenate([p.correct_a for p in pairs]), np.concatenate([p.correct_b for p in pairs])
