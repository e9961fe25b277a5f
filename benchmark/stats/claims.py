"""The claims the reports test, and their verdicts: each claim (a method beats a baseline on one dataset and
pair) is a `Comparison` whose verdict is the Holm-adjusted two-level bootstrap over seeds, then clips within
seeds (benchmark/stats/significance.py), with the paired seed test, McNemar and power beside it. The paper's
claims (Tables 2 and 3) and each data-free row's margin over the kd-noise floor are the families."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from methods import FLOOR, TABLE_ORDER

from ..store.record_schema import RunRecord
from ..store.records import cell_key
from .power import SeedPower, seed_power
from .significance import (MIN_SEEDS, McNemar, SeedTest, TwoLevelBootstrap, holm, holm_thresholds, mcnemar_by_seed,
                           mcnemar_exact, paired_correctness, paired_correctness_by_seed, paired_seed_test,
                           two_level_bootstrap)

# The comparisons the paper's claims rest on: (method, baseline), claim = method beats baseline.
TABLE2_CLAIMS = [("frami", "adi"), ("frami", "kd"), ("frami", "cmi")]
TABLE3_CLAIMS = [("frami", m) for m in ("frami-no-finv", "frami-no-reused", "frami-no-finv-no-reused")]
ALPHA = 0.05
FLOOR_FAMILY = "margin over kd-noise"


def latest(records: list[RunRecord]) -> list[RunRecord]:
    newest: dict[str, RunRecord] = {}
    for r in records:
        newest[cell_key(r)] = r
    return list(newest.values())


def groups(records: list[RunRecord]) -> list[tuple[str, str]]:
    return sorted({(r.dataset, r.pair) for r in records})


def select(records: list[RunRecord], dataset: str, pair: str, method: str) -> tuple[list[RunRecord], int]:
    """(ok records, number of failed/diverged) of one table cell."""
    cell = [r for r in records if (r.dataset, r.pair, r.method) == (dataset, pair, method)]
    return [r for r in cell if r.ok], sum(not r.ok for r in cell)


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
    by_seed = {r.seed: r.accuracy for r in ok_b}
    shared = sorted((r for r in ok_m if r.seed in by_seed), key=lambda r: r.seed)
    seed_test = paired_seed_test([r.accuracy for r in shared], [by_seed[r.seed] for r in shared])
    differences = {r.seed: r.accuracy - by_seed[r.seed] for r in shared}
    pairs = paired_correctness_by_seed(shared, ok_b)
    if not pairs:
        return Comparison(dataset, pair, family, method, baseline, seed_test, None, seed_differences=differences)
    pooled_m, pooled_b = paired_correctness(shared, ok_b)
    return Comparison(dataset, pair, family, method, baseline, seed_test, two_level_bootstrap(pairs),
                      mcnemar_by_seed(pairs), mcnemar_exact(pooled_m, pooled_b), seed_differences=differences)


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
    return any(r.ok and r.method == method and (r.phases.get("synthesis") or {}).get("sample_iterations", 0) > 0
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


def significant_vs_frami(comps: list[Comparison]) -> set[tuple[str, str, str]]:
    """Cells to mark `*`: the seed-aware test (Holm-adjusted two-level bootstrap) says they differ from FRAMI."""
    return {(c.dataset, c.pair, c.baseline) for c in comps if c.significant()}
