"""Significance tests for method comparisons (scipy where it has the test).

- across seeds: paired t-test (n < 6) or Wilcoxon signed-rank (n >= 6) on per-seed accuracies;
- across clips: exact McNemar on per-clip correctness of the same test split, pooled over seeds;
- paired bootstrap 95% CI of the accuracy difference over clips;
- Holm's step-down correction over a family of comparisons.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps


@dataclass(frozen=True)
class SeedTest:
    name: str  # "paired t" or "wilcoxon"
    n: int
    mean_diff: float
    p_value: float  # nan when the test cannot be run (say why in `note`)
    note: str = ""


def paired_t_test(a: list[float], b: list[float]) -> SeedTest:
    a, b = np.asarray(a, float), np.asarray(b, float)
    diff = a - b
    if len(diff) < 2:
        return SeedTest("paired t", len(diff), float(diff.mean()) if len(diff) else math.nan, math.nan,
                        "needs at least 2 paired seeds")
    if np.allclose(diff, diff[0]):
        p = 1.0 if np.isclose(diff[0], 0) else 0.0  # identical differences: no variance to test against
        return SeedTest("paired t", len(diff), float(diff.mean()), p, "constant difference across seeds")
    return SeedTest("paired t", len(diff), float(diff.mean()), float(sps.ttest_rel(a, b).pvalue))


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


@dataclass(frozen=True)
class BootstrapCI:
    diff: float  # accuracy difference A - B, percentage points
    low: float
    high: float


def bootstrap_ci_diff(correct_a: np.ndarray, correct_b: np.ndarray, n_boot: int = 10000, seed: int = 0,
                      level: float = 0.95) -> BootstrapCI:
    """Paired percentile bootstrap over clips of the accuracy difference (pp)."""
    delta = np.asarray(correct_a, float) - np.asarray(correct_b, float)
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(delta), size=(n_boot, len(delta)))
    means = 100.0 * delta[index].mean(axis=1)
    tail = 100 * (1 - level) / 2
    return BootstrapCI(100.0 * float(delta.mean()), float(np.percentile(means, tail)),
                       float(np.percentile(means, 100 - tail)))


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


def paired_correctness(records_a: list[dict], records_b: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Per-clip correctness of two methods, aligned by clip id within each shared seed, pooled over seeds."""
    by_seed_b = {r["seed"]: r for r in records_b}
    correct_a, correct_b = [], []
    for ra in records_a:
        rb = by_seed_b.get(ra["seed"])
        if rb is None:
            continue
        truth = dict(zip(ra["test_ids"], ra["test_targets"]))
        pred_b = dict(zip(rb["test_ids"], rb["test_predictions"]))
        for clip, pred in zip(ra["test_ids"], ra["test_predictions"]):
            if clip in pred_b:
                correct_a.append(pred == truth[clip])
                correct_b.append(pred_b[clip] == truth[clip])
    return np.asarray(correct_a, bool), np.asarray(correct_b, bool)
