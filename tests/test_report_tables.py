"""Tables and significance from a fixture of hand-made records."""
import pytest

from benchmark.report_tables import comparisons, format_cell, kind_table, table2, table3, write_tables

IDS = [f"c{i}" for i in range(10)]
TARGETS = [0] * 10


def rec(dataset, pair, method, seed, acc, status="ok", correct=None):
    correct = correct if correct is not None else int(round((acc or 0) / 10))
    preds = [0] * correct + [1] * (10 - correct)
    return {"dataset": dataset, "teacher": pair.split(":")[0], "student": pair.split(":")[1], "pair": pair,
            "method": method, "seed": seed, "preset": "cpu", "config_hash": "h", "status": status,
            "accuracy": acc if status == "ok" else None, "test_ids": IDS, "test_targets": TARGETS,
            "test_predictions": preds, "accuracy_by_kind": {"TD": acc - 5, "TID": acc + 5} if acc is not None else {}}


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
    assert ours["ADI"] == "20.00 ± 10.00 (n=3)*"  # 3 x 10 clips, FRAMI right on 27, ADI on 6: significant
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
    assert adi.discordant == "21/0"  # FRAMI right 27 of 30, ADI 6, ADI's right clips a subset
    assert adi.mcnemar_p == pytest.approx(2 / 2**21)
    assert adi.verdict() == "supported"
    # family of two testable comparisons (KD has no ok record): Holm multiplies the smallest p by 2
    assert adi.holm_p == pytest.approx(min(1.0, 2 * adi.mcnemar_p))
    assert ("frami", "kd") not in comps


def test_kind_split_and_written_files(tmp_path):
    kinds = kind_table(RECORDS).set_index("method")
    assert kinds.loc["frami", "TD"] == pytest.approx(85.0) and kinds.loc["frami", "TD - TID"] == pytest.approx(-10)
    write_tables(RECORDS, tmp_path, "# head\n\n")
    for name in ("table2.md", "table2.csv", "table2.tex", "table3.md", "table3.csv", "table3.tex",
                 "significance.md", "table_td_tid.md"):
        assert (tmp_path / name).stat().st_size > 0, name
    text = (tmp_path / "significance.md").read_text()
    assert text.startswith("# head") and "frami beats adi is **supported**" in text
