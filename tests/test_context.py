"""Every answer carries its context: a run with data-free methods runs the kd-noise floor,
and its summary and Table 2 show the teacher's test accuracy and each data-free row's margin over the floor."""
from __future__ import annotations

import argparse

from benchmark.cli import build_parser, main as cli_main
from benchmark.commands.options import sweep_spec
from benchmark.commands.run import with_models
from benchmark.reporting.report_tables import FLOOR_COLUMN, table2
from benchmark.reporting.summary import teacher_lines
from benchmark.store.record_schema import RunRecord
from methods import with_floor

PAIR = ("t", "s")


def _record(method: str, seed: int, accuracy: float, teacher: float | None = None, checkpoint: str | None = None,
            synthesis: bool = False) -> RunRecord:
    targets = [0] * 10
    predictions = [0] * round(accuracy / 10) + [1] * (10 - round(accuracy / 10))
    phases = {"synthesis": {"sample_iterations": 8}} if synthesis else {}
    return RunRecord("synth", *PAIR, "t:s", method, seed, "micro", "ok", accuracy=accuracy, test_targets=targets,
                     test_predictions=predictions, test_ids=[str(i) for i in range(10)], phases=phases,
                     teacher_accuracy=teacher, teacher_val_accuracy=None if teacher is None else teacher - 10,
                     teacher_checkpoint=checkpoint)


def test_the_teacher_column_comes_from_the_cells_when_the_teacher_method_did_not_run():
    records = [_record("adi", 0, 30, teacher=80, synthesis=True), _record("adi", 1, 40, teacher=90, synthesis=True),
               _record("kd-noise", 0, 10, teacher=80), _record("kd-noise", 1, 20, teacher=90)]
    row = table2(records).set_index("row").loc["ours"]
    assert row["Teacher"] == "85.00 ± 7.07 (n=2) †"  # one teacher per seed: 80 and 90
    assert row[FLOOR_COLUMN] == "15.00 ± 7.07 (n=2)" and row["ADI"] == "35.00 ± 7.07 (n=2)"
    assert teacher_lines(records)[2:] == ["- synth t:s: test 80.00%, val 70.00% (trained here, seed 0)",
                                          "- synth t:s: test 90.00%, val 80.00% (trained here, seed 1)"]


def test_a_given_teacher_counts_once_and_the_teacher_method_wins_when_it_ran():
    given = [_record("adi", seed, 30, teacher=70, checkpoint="ab" * 32, synthesis=True) for seed in (0, 1, 2)]
    assert table2(given).set_index("row").loc["ours", "Teacher"] == "70.00 (n=1) †"
    assert "--teacher-checkpoint sha256 abababababab" in teacher_lines(given)[2]
    ran = [*given, _record("teacher", 0, 60)]
    assert table2(ran).set_index("row").loc["ours", "Teacher"] == "60.00 (n=1)"


def test_the_floor_joins_a_grid_with_data_free_methods_unless_no_floor():
    assert with_floor(("adi", "frami")) == ("adi", "frami", "kd-noise")
    assert with_floor(("teacher", "student", "kd")) == ("teacher", "student", "kd")  # nothing data-free
    assert with_floor(("kd-noise", "adi")) == ("kd-noise", "adi")
    parse = build_parser().parse_args
    for argv, floor in ((["run", "--methods", "adi"], True), (["run", "--methods", "adi", "--no-floor"], False)):
        args = parse(argv)
        assert ("kd-noise" in with_models(sweep_spec(args), args).methods) is floor
    assert isinstance(args, argparse.Namespace)


def test_the_missions_command_prints_a_teacher_value_and_a_margin_for_every_data_free_row(tmp_path, capsys):
    """`run --methods adi,frami` (micro, synth, 1 seed): Table 2's Teacher is a number, and adi and frami each
    have a row in the margin-over-kd-noise table."""
    assert cli_main(["run", "--preset", "micro", "--methods", "adi,frami", "--seeds", "1", "--out", str(tmp_path),
                     "--device", "cpu", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    table, margins = out.split("Table 2: methods")[1], out.split("Margin over the kd-noise floor")[1]
    header, _, ours = [line for line in table.splitlines() if line.startswith("|")][:3]
    cells = dict(zip([c.strip() for c in header.split("|")], [c.strip() for c in ours.split("|")]))
    assert cells["Teacher"].endswith("(n=1) †") and float(cells["Teacher"].split()[0]) >= 0
    assert cells[FLOOR_COLUMN].endswith("(n=1)")
    rows = {line.split("|")[3].strip(): line for line in margins.splitlines()[3:] if line.startswith("|")}
    assert set(rows) == {"adi", "frami"}
    assert "Teacher the cells used" in out
    assert "Margin over the kd-noise floor" in (tmp_path / "table2.md").read_text()
