"""Tables and significance from a fixture of hand-made records."""
import math

import pytest

from benchmark.reporting.report_tables import LEGEND, format_cell, kind_table, table2, table3, write_tables
from benchmark.stats.claims import comparisons
from benchmark.store.record_schema import RunRecord

IDS = [f"c{i}" for i in range(10)]
TARGETS = [0] * 10


def rec(dataset, pair, method, seed, acc, status="ok", correct=None):
    correct = correct if correct is not None else int(round((acc or 0) / 10))
    preds = [0] * correct + [1] * (10 - correct)
    return RunRecord.from_dict({
        "dataset": dataset, "teacher": pair.split(":")[0], "student": pair.split(":")[1], "pair": pair,
        "method": method, "seed": seed, "preset": "cpu", "config_hash": "h", "status": status,
        "accuracy": acc if status == "ok" else None, "test_ids": IDS, "test_targets": TARGETS,
        "test_predictions": preds,  # accuracies by kind within [0, 100], as the reader checks
        "accuracy_by_kind": {"TD": max(acc - 10, 0.0), "TID": acc} if acc is not None else {}})


PAIR = "wrn40_2:wrn16_2"
RECORDS = (
    [rec("us8k", PAIR, "frami", s, a) for s, a in enumerate([80.0, 90.0, 100.0])]
    + [rec("us8k", PAIR, "adi", s, a) for s, a in enumerate([10.0, 20.0, 30.0])]
    + [rec("us8k", PAIR, "teacher", 0, 70.0)]
    + [rec("us8k", PAIR, "kd", 0, None, status="failed")]
    + [rec("us8k", PAIR, "cmi", 0, None, status="failed"), rec("us8k", PAIR, "cmi", 0, 50.0)]  # retried
)


def test_format_cell_by_hand():
    ok = [rec("d", PAIR, "m", s, a) for s, a in enumerate([80.0, 90.0, 100.0])]
    assert format_cell(ok, 0) == "90.00 ± 10.00 (n=3)"  # sample std of 80, 90, 100 is 10
    assert format_cell([], 2) == "— (2 failed)"


def test_table2_cells_paper_numbers_and_failures():
    frame = table2(RECORDS).set_index("row")
    ours, paper = frame.loc["ours"], frame.loc["paper"]
    assert ours["FRAMI"] == "90.00 ± 10.00 (n=3)"
    assert ours["ADI"] == "20.00 ± 10.00 (n=3)*"  # +70 pp in every seed: two-level bootstrap p at its floor
    assert ours["KD"] == "— (1 failed)"
    assert ours["CMI"] == "50.00 (n=1)"  # the retry supersedes the failure
    assert ours["Teacher"] == "70.00 (n=1)"
    assert paper["FRAMI"] == "78.14 (Δ +11.86)"
    assert paper["ADI"] == "63.44 (Δ -43.44)"
    assert paper["CMI"] == "—"


def test_table3_rows_and_paper_column():
    frame = table3(RECORDS).set_index("method")
    assert list(frame.index) == ["FRAMI (full)", "w/o T_finv", "w/o Reused", "w/o T_finv w/o Reused"]
    assert frame.loc["FRAMI (full)", f"us8k {PAIR}"] == "90.00 ± 10.00 (n=3) | paper 78.14 (Δ +11.86)"
    assert frame.loc["w/o T_finv", f"us8k {PAIR}"].startswith("— | paper 76.82")


def test_comparisons_and_holm_family():
    comps = {(c.method, c.baseline): c for c in comparisons(RECORDS)}
    adi = comps[("frami", "adi")]
    assert adi.n_seeds == 3 and adi.mean_diff == pytest.approx(70.0)
    # per seed FRAMI is right on 8, 9, 10 of 10 clips and ADI on 1, 2, 3 (a subset): 7 discordant, all FRAMI's
    assert [(m.a_only, m.b_only) for m in adi.mcnemar_by_seed] == [(7, 0)] * 3
    assert [m.p_value for m in adi.mcnemar_by_seed] == pytest.approx([2 / 2**7] * 3)
    assert (adi.mcnemar_pooled.a_only, adi.mcnemar_pooled.b_only) == (21, 0)  # kept as context only
    # no resample can reach a difference <= 0 here: the bootstrap p sits at its floor 2 / (B + 1)
    assert adi.bootstrap_p == pytest.approx(2 / 10001)
    assert adi.bootstrap.diff == pytest.approx(70.0) and adi.bootstrap.low > 0
    assert adi.verdict() == "supported"
    # family of two testable comparisons (KD has no ok record): Holm multiplies the smallest p by 2
    assert adi.holm_p == pytest.approx(min(1.0, 2 * adi.bootstrap_p))
    assert ("frami", "kd") not in comps


# FRAMI beats ADI by 100 pp in two seeds and loses by 20 pp in the third: pooled over (seed, clip) McNemar says
# 20 vs 2 discordant clips (p ~ 1e-4), but one training run in three goes the other way.
ONE_SEED_DISAGREES = ([rec("us8k", PAIR, "frami", s, 10.0 * c, correct=c) for s, c in enumerate([10, 10, 3])]
                      + [rec("us8k", PAIR, "adi", s, 10.0 * c, correct=c) for s, c in enumerate([0, 0, 5])])


def test_verdict_and_marks_count_seeds_not_pooled_clips():
    (adi,) = comparisons(ONE_SEED_DISAGREES)
    assert adi.mcnemar_pooled.p_value < 1e-3  # what used to drive the verdict
    # per seed: 10 vs 0, 10 vs 0, 0 vs 2 discordant clips -> 2 / 2^10, 2 / 2^10, 2 / 2^2
    assert [m.p_value for m in adi.mcnemar_by_seed] == pytest.approx([2 / 2**10, 2 / 2**10, 0.5])
    # all three slots drawn from seed 2 (prob 1/27) gives -20 pp: p ~ 2/27 = 0.074
    assert adi.bootstrap_p == pytest.approx(2 / 27, abs=0.01)
    assert adi.bootstrap.low < 0 and adi.verdict() == "not significant"
    assert table2(ONE_SEED_DISAGREES).set_index("row").loc["ours", "ADI"] == "16.67 ± 28.87 (n=3)"  # no `*`
    assert "two-level bootstrap" in LEGEND and "McNemar" not in LEGEND


def test_fewer_than_three_seeds_reach_no_verdict(tmp_path):
    two_seeds = [r for r in RECORDS if r.seed < 2]
    (adi,) = [c for c in comparisons(two_seeds) if c.baseline == "adi"]
    assert adi.n_seeds == 2 and adi.holm_p < 0.05
    assert adi.verdict().startswith("not reached")
    assert table2(two_seeds).set_index("row").loc["ours", "ADI"] == "15.00 ± 7.07 (n=2)"  # no `*`
    write_tables(two_seeds, tmp_path, "")
    text = (tmp_path / "significance.md").read_text()
    assert "2 seed(s): the seed level has only 4 ordered draw(s)" in text
    assert "only 2 seeds (< 3): unreliable" in text  # the paired t-test's flag


def test_zero_variance_is_shown_as_a_flag_not_a_p_value(tmp_path):
    (adi,) = [c for c in comparisons(RECORDS) if c.baseline == "adi"]
    assert math.isnan(adi.seed_test.p_value)  # every seed +70 pp: today's t-test would say p = 0
    write_tables(RECORDS, tmp_path, "")
    text = (tmp_path / "significance.md").read_text()
    assert "paired t: n/a (zero variance: every seed differs by +70.00)" in text
    assert "0.0019, 0.0019" not in text and "0.016, 0.016, 0.016" in text  # McNemar per seed: 2 / 2^7


def test_kind_split_and_written_files(tmp_path):
    kinds = kind_table(RECORDS).set_index("method")
    assert kinds.loc["frami", "TD"] == pytest.approx(80.0) and kinds.loc["frami", "TD - TID"] == pytest.approx(-10)
    write_tables(RECORDS, tmp_path, "# head\n\n")
    for name in ("table2.md", "table2.csv", "table2.tex", "table3.md", "table3.csv", "table3.tex",
                 "significance.md", "table_td_tid.md"):
        assert (tmp_path / name).stat().st_size > 0, name
    text = (tmp_path / "significance.md").read_text()
    assert text.startswith("# head") and "frami beats adi is **supported**" in text
    assert "Bouthillier" in text and "2 x (min(k_le, k_ge) + 1) / (B + 1)" in text
    assert "3 seeds: the seed level has only 3^3 = 27 equally likely ordered draws" in text
