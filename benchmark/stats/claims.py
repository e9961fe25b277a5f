"""The claims the reports test, and their verdicts: each claim (a method beats a baseline on one dataset and
pair) is a `Comparison` whose verdict is the Holm-adjusted two-level bootstrap over seeds, then clips within
seeds (benchmark/stats/significance.py), with the paired seed test, McNemar and power beside it. The paper's
claims (Tables 2 and 3) and each data-free row's margin over the kd-noise floor are the families.

A seed-paired comparison pairs two records of one seed only when they distilled from the same teacher: a pair
whose teachers differ (by the hash of the weights, or, for records older than that hash, by the teacher's
accuracies) is refused with a warning naming both records and counted on the comparison, never compared."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from methods import FLOOR, TABLE_ORDER

from ..store.record_schema import RunRecord
from ..store.records import cell_key
from .aggregates import NOT_AVAILABLE, Estimate, improvement_estimate
from .power import SeedPower, seed_power
from .significance import (MIN_SEEDS, McNemar, SeedTest, TwoLevelBootstrap, holm, holm_thresholds, mcnemar_by_seed,
                           mcnemar_exact, paired_correctness, paired_correctness_by_seed, paired_seed_test,
                           two_level_bootstrap)

# The comparisons the paper's claims rest on: (method, baseline), claim = method beats baseline.
TABLE2_CLAIMS = [("frami", "adi"), ("frami", "kd"), ("frami", "cmi")]
TABLE3_CLAIMS = [("frami", m) for m in ("frami-no-finv", "frami-no-reused", "frami-no-finv-no-reused")]
ALPHA = 0.05
FLOOR_FAMILY = "margin over kd-noise"
# What a run that does not end well counts as, in every report (means, per-seed values, IQM, probability of
# improvement, the paired tests and the verdicts). Stated before any result, as MLPerf Training fixes what a
# non-converging run means, so no report can choose it afterwards.
RUN_RULE = ("Runs that do not end well: a *failed* cell (an exception: a fault of the code, the machine or the "
            "data, not an outcome of training) is left out of every statistic, counted as `k failed` in its cell, "
            "and rerun with `run --retry-failed`. A *diverged* cell (a loss became non-finite: the method's own "
            "outcome at this budget) counts as a run of the method, scored as the constant predictor its "
            "non-finite outputs give under argmax (class 0 for every test clip: about chance on a balanced test "
            "split); it enters n, the mean, the per-seed values, the IQM, the probability of improvement and the "
            "paired tests, and its cell says `k diverged`. A diverged record written before this rule (no "
            "predictions stored) cannot be scored and is counted with the failed ones.")

log = logging.getLogger(__name__)


def latest(records: list[RunRecord]) -> list[RunRecord]:
    newest: dict[str, RunRecord] = {}
    for r in records:
        newest[cell_key(r)] = r
    return list(newest.values())


def groups(records: list[RunRecord]) -> list[tuple[str, str]]:
    return sorted({(r.dataset, r.pair) for r in records})


def select(records: list[RunRecord], dataset: str, pair: str, method: str) -> tuple[list[RunRecord], int]:
    """(the runs that count, by RUN_RULE; the number left out) of one table cell."""
    cell = [r for r in records if (r.dataset, r.pair, r.method) == (dataset, pair, method)]
    return [r for r in cell if r.counted], sum(not r.counted for r in cell)


def same_teacher(a: RunRecord, b: RunRecord) -> bool | None:
    """Whether two records distilled from one teacher: by the weights' hash where both have it; else, since the
    same weights score the same on the same data, different teacher accuracies mean different teachers; None
    where neither says (a method without a teacher, or records older than both)."""
    if a.teacher_sha256 and b.teacher_sha256:
        return a.teacher_sha256 == b.teacher_sha256
    pairs = [(x, y) for x, y in ((a.teacher_val_accuracy, b.teacher_val_accuracy),
                                 (a.teacher_accuracy, b.teacher_accuracy)) if x is not None and y is not None]
    if pairs:
        return all(abs(x - y) < 1e-6 for x, y in pairs)
    return None


def describe_record(r: RunRecord) -> str:
    teacher = (f"teacher sha256 {r.teacher_sha256[:12]}" if r.teacher_sha256 else
               f"teacher val {r.teacher_val_accuracy:.2f}" if r.teacher_val_accuracy is not None else "teacher unknown")
    return f"{r.dataset} {r.pair} {r.method} seed={r.seed} ({teacher}, config {r.config_hash}, {r.started_at})"


def pair_by_teacher(method_runs: list[RunRecord], baseline_runs: list[RunRecord]
                    ) -> tuple[list[tuple[RunRecord, RunRecord]], list[tuple[RunRecord, RunRecord]]]:
    """(seed pairs of one teacher, refused pairs): the two records of each shared seed, in seed order."""
    by_seed = {r.seed: r for r in baseline_runs}
    paired, refused = [], []
    for r in sorted((r for r in method_runs if r.seed in by_seed), key=lambda r: r.seed):
        b = by_seed[r.seed]
        if same_teacher(r, b) is False:
            log.warning("refused to pair %s with %s: they distilled from different teachers",
                        describe_record(r), describe_record(b))
            refused.append((r, b))
        else:
            paired.append((r, b))
    return paired, refused


@dataclass
class Comparison:
    """One claim (method beats baseline) in one family, with the verdict's test and the tests beside it."""
    dataset: str
    pair: str
    family: str
    method: str
    baseline: str
    seed_test: SeedTest  # paired over seeds; context, not the verdict
    bootstrap: TwoLevelBootstrap | None  # drives the verdict; None without shared clips
    mcnemar_by_seed: list[McNemar] = field(default_factory=list)  # one per shared seed, in seed order
    mcnemar_pooled: McNemar | None = None  # every (seed, clip) as independent: context only
    holm_p: float = np.nan  # Holm over the family's two-level bootstrap p-values
    holm_alpha: float = np.nan  # the level its verdict used: p < holm_alpha exactly when holm_p < ALPHA
    seed_differences: dict[int, float] = field(default_factory=dict)  # seed -> method - baseline (pp)
    refused: list[tuple[RunRecord, RunRecord]] = field(default_factory=list)  # seed pairs of different teachers
    improvement: Estimate = NOT_AVAILABLE  # P(a run of method > a run of baseline), over all runs of each

    @property
    def n_seeds(self) -> int:
        return self.bootstrap.n_seeds if self.bootstrap else self.seed_test.n

    @property
    def mean_diff(self) -> float:
        return self.seed_test.mean_diff

    @property
    def bootstrap_p(self) -> float:
        return self.bootstrap.p_value if self.bootstrap else np.nan

    def power(self) -> SeedPower:
        """Minimum detectable difference at these seeds and seeds needed for the observed one
        (benchmark.stats.power)."""
        return seed_power(list(self.seed_differences.values()), self.holm_alpha)

    def significant(self) -> bool:
        """Holm-adjusted two-level bootstrap p < ALPHA with enough seeds for the seed level to mean something."""
        return self.n_seeds >= MIN_SEEDS and bool(self.holm_p < ALPHA)

    def verdict(self) -> str:
        if self.bootstrap is None or np.isnan(self.holm_p):
            return "not testable (missing records)"
        if self.n_seeds < MIN_SEEDS:
            return f"not reached ({self.n_seeds} seeds < {MIN_SEEDS}: the seed level cannot be judged)"
        if self.significant() and self.bootstrap.low > 0:
            return "supported"
        if self.significant() and self.bootstrap.high < 0:
            return "contradicted (significant in the opposite direction)"
        return "not significant"


def compare(records, dataset, pair, family, method, baseline) -> Comparison:
    ok_m, _ = select(records, dataset, pair, method)
    ok_b, _ = select(records, dataset, pair, baseline)
    paired, refused = pair_by_teacher(ok_m, ok_b)
    shared, shared_b = [m for m, _ in paired], [b for _, b in paired]
    seed_test = paired_seed_test([m.accuracy for m in shared], [b.accuracy for b in shared_b])
    differences = {m.seed: m.accuracy - b.accuracy for m, b in paired}
    improvement = improvement_estimate([r.accuracy for r in ok_m], [r.accuracy for r in ok_b])
    pairs = paired_correctness_by_seed(shared, shared_b)
    if not pairs:
        return Comparison(dataset, pair, family, method, baseline, seed_test, None, seed_differences=differences,
                          refused=refused, improvement=improvement)
    pooled_m, pooled_b = paired_correctness(shared, shared_b)
    return Comparison(dataset, pair, family, method, baseline, seed_test, two_level_bootstrap(pairs),
                      mcnemar_by_seed(pairs), mcnemar_exact(pooled_m, pooled_b), seed_differences=differences,
                      refused=refused, improvement=improvement)


def comparisons(records: list[RunRecord]) -> list[Comparison]:
    """Holm's correction runs over each family: one table's claims for one dataset and pair."""
    records = latest(records)
    out = []
    for dataset, pair in groups(records):
        for family, claims in (("Table 2", TABLE2_CLAIMS), ("Table 3", TABLE3_CLAIMS)):
            family_rows = [compare(records, dataset, pair, family, m, b) for m, b in claims
                           if select(records, dataset, pair, m)[0] and select(records, dataset, pair, b)[0]]
            out.extend(apply_holm(family_rows))
    return out


def apply_holm(family: list[Comparison]) -> list[Comparison]:
    """Holm over one family's bootstrap p-values: each row's adjusted p and the level it was tested at."""
    p_values = [r.bootstrap_p for r in family]
    for row, p, level in zip(family, holm(p_values), holm_thresholds(p_values, ALPHA)):
        row.holm_p, row.holm_alpha = p, level
    return family


def synthesizes(records: list[RunRecord], method: str) -> bool:
    """A data-free row: its cells optimise a transfer set through the teacher (synthesis sample-iterations > 0);
    the controls and the data-driven methods do not."""
    return any(r.counted and r.method == method and (r.phases.get("synthesis") or {}).get("sample_iterations", 0) > 0
               for r in records)


def floor_comparisons(records: list[RunRecord]) -> list[Comparison]:
    """Each data-free method against the kd-noise floor, per dataset and pair; Holm over each such family."""
    records = latest(records)
    out = []
    for dataset, pair in groups(records):
        if not select(records, dataset, pair, FLOOR)[0]:
            continue
        methods = [m for m in TABLE_ORDER if synthesizes(records, m) and select(records, dataset, pair, m)[0]]
        family_rows = [compare(records, dataset, pair, FLOOR_FAMILY, m, FLOOR) for m in methods]
        out.extend(apply_holm(family_rows))
    return out


def refused_pairs(records: list[RunRecord]) -> list[tuple[RunRecord, RunRecord]]:
    """Every seed pair the reports' comparisons (the paper's claims and the floor margins) refused, once each."""
    seen, out = set(), []
    for comparison in comparisons(records) + floor_comparisons(records):
        for pair in comparison.refused:
            key = (cell_key(pair[0]), cell_key(pair[1]))
            if key not in seen:
                seen.add(key)
                out.append(pair)
    return out


def significant_vs_frami(comps: list[Comparison]) -> set[tuple[str, str, str]]:
    """Cells to mark `*`: the seed-aware test (Holm-adjusted two-level bootstrap) says they differ from FRAMI."""
    return {(c.dataset, c.pair, c.baseline) for c in comps if c.significant()}
