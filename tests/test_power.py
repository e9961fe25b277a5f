"""Seeds a verdict needs (benchmark/stats/power.py): textbook values, an independent power integral, a simulation,
the 1-2 seed wording, the zero cases, Holm's levels, and the numbers in every report that carries a verdict."""
import math
import re

import numpy as np
import pytest
from scipy import integrate
from scipy import stats as sps

from benchmark.reporting.leaderboard import write_leaderboard
from benchmark.reporting.report_tables import write_tables
from benchmark.reporting.summary import run_summary
from benchmark.stats.power import min_detectable_difference, seed_power, seeds_needed, t_power
from benchmark.stats.significance import holm, holm_thresholds
from benchmark.store.record_schema import RunRecord


def integral_power(ncp: float, df: int, alpha: float) -> float:
    """Two-sided t power from the definition T = (Z + ncp) / sqrt(V / df), V ~ chi2(df), integrated over V
    (no noncentral-t code involved): P(T > c) + P(T < -c) = E_V[Phi(ncp - c s) + Phi(-ncp - c s)], s = sqrt(V/df)."""
    crit = sps.t.ppf(1 - alpha / 2, df)
    s = lambda v: math.sqrt(v / df)  # noqa: E731
    f = lambda v: (sps.norm.cdf(ncp - crit * s(v)) + sps.norm.cdf(-ncp - crit * s(v))) * sps.chi2.pdf(v, df)  # noqa: E731
    return integrate.quad(f, 0, np.inf, epsabs=1e-12, limit=200)[0]


def test_textbook_two_sample_17_per_group():
    # Cohen (1988) table 2.4.1: d = 1, two-sided alpha 0.05, power 0.80 -> n = 17 per group.
    assert seeds_needed(1.0, 1.0, 0.05, design="two-sample") == 17
    # independently: 16 falls short and 17 reaches 0.8 (df = 2n - 2, ncp = d sqrt(n / 2))
    assert integral_power(math.sqrt(16 / 2), 30, 0.05) < 0.8 <= integral_power(math.sqrt(17 / 2), 32, 0.05)
    # and the normal approximation with Guenther's t correction: 2 (z_.975 + z_.8)^2 + z_.975^2 / 4 = 16.66 -> 17
    z_a, z_b = sps.norm.ppf(0.975), sps.norm.ppf(0.8)
    assert math.ceil(2 * (z_a + z_b) ** 2 + z_a ** 2 / 4) == 17


def test_paired_design_by_hand():
    # one-sample t on differences (df = n - 1, ncp = d sqrt(n)): d = 1 -> 10, d = 0.5 -> 34 (G*Power's values)
    assert seeds_needed(1.0, 1.0, 0.05) == 10
    assert seeds_needed(0.5, 1.0, 0.05) == 34
    assert integral_power(math.sqrt(9), 8, 0.05) < 0.8 <= integral_power(math.sqrt(10), 9, 0.05)
    assert t_power(1.0, 1.0, 10, 0.05) == pytest.approx(integral_power(math.sqrt(10), 9, 0.05), abs=1e-7)


@pytest.mark.parametrize("n, alpha, design, df, factor", [
    (17, 0.05, "two-sample", 32, math.sqrt(2 / 17)), (3, 0.025, "paired", 2, math.sqrt(1 / 3)),
    (5, 0.01, "paired", 4, math.sqrt(1 / 5))])
def test_minimum_detectable_difference_has_80_percent_power(n, alpha, design, df, factor):
    sd = 7.0
    mdd = min_detectable_difference(sd, n, alpha, design=design)
    assert integral_power(mdd / (sd * factor), df, alpha) == pytest.approx(0.8, abs=1e-6)
    # normal approximation (z_{1-a/2} + z_.8) * se is a lower bound: the t quantiles are wider
    assert mdd > (sps.norm.ppf(1 - alpha / 2) + sps.norm.ppf(0.8)) * sd * factor


def test_simulation_reaches_the_computed_power():
    """Draw per-seed differences from the normal the numbers assume, at the computed n, and test each draw."""
    rng = np.random.default_rng(20)
    reps = 4000  # binomial se of 0.8 at 4000 draws: 0.0063; the fixed seed makes the check deterministic
    delta, sd, alpha = 3.33, 10.83, 0.05  # FRAMI vs CMI's committed spread
    n = seeds_needed(delta, sd, alpha)
    draws = rng.normal(delta, sd, size=(reps, n))
    rejected = sps.ttest_1samp(draws, 0.0, axis=1).pvalue < alpha
    assert rejected.mean() == pytest.approx(0.8, abs=0.025)
    # the minimum detectable difference at 3 seeds and Holm alpha 0.025, and the two-sample design
    mdd = min_detectable_difference(sd, 3, 0.025)
    rejected = sps.ttest_1samp(rng.normal(mdd, sd, size=(reps, 3)), 0.0, axis=1).pvalue < 0.025
    assert rejected.mean() == pytest.approx(0.8, abs=0.025)
    n2 = seeds_needed(1.0, 1.0, 0.05, design="two-sample")
    a, b = rng.normal(1.0, 1.0, size=(reps, n2)), rng.normal(0.0, 1.0, size=(reps, n2))
    assert (sps.ttest_ind(a, b, axis=1).pvalue < 0.05).mean() == pytest.approx(0.8, abs=0.025)


def test_one_or_two_seeds_say_so_instead_of_a_number():
    for diffs in ([4.0], [4.0, 9.0]):
        power = seed_power(diffs, 0.05)
        assert power.mdd is None and power.needed is None
        assert power.mdd_text() == power.needed_text() == "needs >= 3 seeds to estimate"
        assert "needs >= 3 seeds to estimate" in power.sentence()


def test_zero_difference_and_zero_variance_have_defined_answers():
    none = seed_power([5.0, -5.0, 0.0], 0.05)
    assert none.needed_text() == "no difference observed" and none.mdd == pytest.approx(
        min_detectable_difference(5.0, 3, 0.05))
    flat = seed_power([5.0, 5.0, 5.0], 0.05)  # every seed differs by the same amount
    assert flat.mdd == 0.0 and "any difference detectable" in flat.mdd_text()
    assert flat.needed == 3  # the verdict's own minimum
    assert seed_power([0.0, 0.0, 0.0], 0.05).needed_text() == "no difference observed"
    assert seeds_needed(0.0, 1.0, 0.05) is None
    assert seeds_needed(1e-6, 1.0, 0.05) is None  # beyond MAX_SEEDS
    assert seed_power([1e-3, -1.0, 1.0], 0.05).needed_text().startswith("> ")


@pytest.mark.parametrize("call, named", [
    (lambda: t_power(1, 1, 5, 1.5), "alpha"), (lambda: seeds_needed(1, -1, 0.05), "sd"),
    (lambda: min_detectable_difference(1, 1, 0.05), "n must be at least 2"),
    (lambda: seeds_needed(1, 1, 0.05, power=1.0), "power"), (lambda: t_power(1, 1, 5, 0.05, "pooled"), "design")])
def test_bad_input_names_the_bad_thing(call, named):
    with pytest.raises(ValueError, match=named):
        call()


def test_holm_thresholds_are_the_levels_the_verdicts_use():
    # sorted 0.01, 0.03, 0.04: factors 3, 2, then 2 again (1 x 0.04 < 2 x 0.03: monotonicity binds)
    assert holm_thresholds([0.01, 0.04, 0.03]) == pytest.approx([0.05 / 3, 0.05 * 0.04 / 0.06, 0.025])
    assert holm_thresholds([0.001, 0.001, 0.001]) == pytest.approx([0.05 / 3] * 3)  # ties: one shared level
    out = holm_thresholds([0.2, math.nan, 0.01])
    assert out[0] == pytest.approx(0.05) and math.isnan(out[1]) and out[2] == pytest.approx(0.025)
    rng = np.random.default_rng(1)
    for _ in range(300):
        p = np.round(rng.uniform(0, 0.1, size=4), 2) + 0.001  # ties common, none exactly on a level
        below = (p < np.array(holm_thresholds(p.tolist()))).tolist()
        assert below == (np.array(holm(p.tolist())) < 0.05).tolist()
        rejected = np.zeros(4, bool)
        for rank, i in enumerate(np.argsort(p, kind="stable")):  # the step-down by hand
            if p[i] >= 0.05 / (4 - rank):
                break
            rejected[i] = True
        assert below == rejected.tolist()


IDS = [f"c{i}" for i in range(10)]


def rec(method, seed, correct, synthesis=True):
    phases = {"synthesis": {"seconds": 1.0, "sample_iterations": 10}} if synthesis else {}
    return RunRecord("synth", "t", "s", "t:s", method, seed, "h6-none", "ok", accuracy=10.0 * correct,
                     test_ids=IDS, test_targets=[0] * 10, test_predictions=[0] * correct + [1] * (10 - correct),
                     phases=phases, wall_seconds=1.0)


# frami - adi per seed: +30, +50, +30 pp (mean 36.67, sd 11.55); frami - kd-noise: +50, +60, +70 (sd 10)
RECORDS = ([rec("frami", s, c) for s, c in enumerate([6, 9, 8])] + [rec("adi", s, c) for s, c in enumerate([3, 4, 5])]
           + [rec("kd-noise", s, c, synthesis=False) for s, c in enumerate([1, 3, 1])])


def expected(diffs, alpha):
    """MDD and seeds needed of the paired design computed here with the integral above, by bisection."""
    n, sd, mean = len(diffs), float(np.std(diffs, ddof=1)), float(np.mean(diffs))
    low, high = 0.0, 100.0
    for _ in range(80):
        mid = (low + high) / 2
        low, high = (mid, high) if integral_power(mid, n - 1, alpha) < 0.8 else (low, mid)
    needed = next(k for k in range(3, 1000) if integral_power(mean / sd * math.sqrt(k), k - 1, alpha) >= 0.8)
    return f"{high * sd / math.sqrt(n):.2f}", needed


def test_reports_carry_both_numbers(tmp_path):
    mdd_adi, needed_adi = expected([30, 50, 30], 0.05)  # one claim in Table 2's family: Holm alpha = 0.05
    mdd_floor, needed_floor = expected([50, 60, 70], 0.025)  # two data-free rows vs the floor; frami has the smaller p: 0.05 / 2
    write_tables(RECORDS, tmp_path, "")
    significance = (tmp_path / "significance.md").read_text()
    line = next(x for x in significance.splitlines() if x.startswith("- Table 2") and "frami vs adi" in x)
    assert f"detectable difference at 3 seeds {mdd_adi} pp" in line
    assert f"the observed +36.67 pp needs {needed_adi} seeds per method" in line
    row = next(x for x in significance.splitlines() if x.startswith("| synth") and "| frami  " in x)
    assert re.search(rf"\|\s+{mdd_floor}\s+\|\s+{needed_floor}\s+\|$", row)
    summary = run_summary(tmp_path, RECORDS, "h6-none", 60.0)
    assert f"detectable difference at 3 seeds {mdd_adi} pp" in summary and mdd_floor in summary
    write_leaderboard(RECORDS, tmp_path, "")
    board = (tmp_path / "leaderboard.md").read_text()
    frami_row = next(x for x in board.splitlines() if x.startswith("| synth") and "| frami " in x)
    assert re.search(rf"\|\s+{mdd_floor}\s+\|\s+{needed_floor}\s+\|", frami_row)


def test_reports_with_two_seeds_say_how_many_are_needed(tmp_path):
    two = [r for r in RECORDS if r.seed < 2]
    write_tables(two, tmp_path, "")
    significance = (tmp_path / "significance.md").read_text()
    line = next(x for x in significance.splitlines() if x.startswith("- Table 2"))
    assert "needs >= 3 seeds to estimate (2 seeds)" in line
    assert "needs >= 3 seeds to estimate" in run_summary(tmp_path, two, "h6-none", 60.0)
    write_leaderboard(two, tmp_path, "")
    assert "needs >= 3 seeds to estimate" in (tmp_path / "leaderboard.md").read_text()
