"""Results of different settings (preset + --set/--config changes) or configs are never averaged together, and
`run` refuses to mix settings in one folder unless asked to."""
from __future__ import annotations

import pytest

from benchmark.cli import main
from benchmark.reporting.leaderboard import leaderboard_by_setting
from benchmark.reporting.report_tables import write_tables
from benchmark.store.record_schema import RunRecord
from benchmark.store.records import RunStore
from benchmark.store.settings import MixedSettings, check_not_mixed, newest_config_only, setting_of, split_by_setting


def record(method: str, seed: int, accuracy: float, preset: str = "cpu", config_hash: str = "h",
           overrides: dict | None = None) -> RunRecord:
    targets = [i % 2 for i in range(10)]
    correct = round(accuracy / 10)
    return RunRecord.from_dict({
        "dataset": "synth", "teacher": "t", "student": "s", "pair": "t:s", "method": method, "seed": seed,
        "preset": preset, "config_hash": config_hash, "status": "ok", "accuracy": accuracy,
        "config": {"overrides": overrides} if overrides else {},
        "test_ids": [str(i) for i in range(10)], "test_targets": targets,
        "test_predictions": [t if i < correct else 1 - t for i, t in enumerate(targets)]})


def test_a_setting_is_the_preset_and_its_changes():
    assert setting_of(record("adi", 0, 50)) == "cpu"
    assert setting_of(record("adi", 0, 50, overrides={"adi": {"input_lr": 0.3}})) == 'cpu + {"adi":{"input_lr":0.3}}'


def test_the_table_cell_that_averaged_a_smoke_and_a_cpu_teacher_is_two_cells(tmp_path):
    """The case this guards against: a smoke teacher (50%) and a cpu teacher (90%) in one folder gave
    70.00 ± 28.28 (n=2)."""
    records = [record("teacher", 0, 50.0, preset="smoke"), record("teacher", 0, 90.0, preset="cpu")]
    write_tables(records, tmp_path, "")
    text = (tmp_path / "table2.md").read_text()
    assert "70.00" not in text and "28.28" not in text
    assert "## Table 2: methods (setting: smoke)" in text and "## Table 2: methods (setting: cpu)" in text
    assert "50.00 (n=1)" in text and "90.00 (n=1)" in text
    assert set((tmp_path / "table2.csv").read_text().splitlines()[0].split(",")) >= {"setting", "Teacher"}
    board = leaderboard_by_setting(records)
    assert sorted(zip(board.setting, board.accuracy)) == [("cpu", 90.0), ("smoke", 50.0)]


def test_one_setting_keeps_the_reports_as_they_were(tmp_path):
    write_tables([record("teacher", 0, 90.0)], tmp_path, "")
    assert (tmp_path / "table2.md").read_text().startswith("## Table 2: methods\n")
    assert "setting" not in leaderboard_by_setting([record("teacher", 0, 90.0)])


def test_an_older_config_of_the_same_cell_is_left_out_not_averaged():
    records = [record("adi", 0, 20.0, config_hash="old"), record("adi", 1, 30.0, config_hash="old"),
               record("adi", 0, 60.0, config_hash="new")]
    with pytest.warns(UserWarning, match="2 record\\(s\\) of an older config hash left out"):
        kept = newest_config_only(records)
    assert [r.accuracy for r in kept] == [60.0]
    assert list(split_by_setting([records[2]])) == ["cpu"]


def test_run_refuses_another_setting_in_the_same_folder(tmp_path, capsys):
    check_not_mixed([record("adi", 0, 10)], "cpu", tmp_path)  # the same setting may resume
    with pytest.raises(MixedSettings, match="already holds records of another setting \\(smoke\\); this run is cpu"):
        check_not_mixed([record("adi", 0, 10, preset="smoke")], "cpu", tmp_path)
    argv = ["run", "--preset", "micro", "--methods", "student", "--seeds", "1", "--out", str(tmp_path), "--no-tables"]
    assert main(argv) == 0
    assert main(argv + ["--set", "supervised.epochs=2"]) == 2
    assert "--allow-mixed" in capsys.readouterr().err
    assert len(RunStore(tmp_path).read_records()) == 1  # nothing appended
    assert main(argv + ["--set", "supervised.epochs=2", "--allow-mixed"]) == 0
    assert {setting_of(r) for r in RunStore(tmp_path).read_records()} == {
        "micro", 'micro + {"supervised":{"epochs":2}}'}
