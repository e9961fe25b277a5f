"""Bounds files that would make `check` pass without checking anything, or check against nonsense, are errors
that name the file and the line."""
import pytest

from benchmark.cli import main
from benchmark.stats.bounds import read_bounds
from benchmark.store.record_schema import RunRecord
from benchmark.store.records import RunStore

HEADER = "dataset,pair,method,lower,upper,preset\n"


@pytest.fixture
def out(tmp_path):
    """A results folder with one ok record that a bound 50..60 would accept."""
    RunStore(tmp_path / "out").append(RunRecord.from_dict(
        {"dataset": "synth", "teacher": "a", "student": "b", "method": "kd", "seed": 0, "preset": "smoke",
         "config_hash": "h", "status": "ok", "accuracy": 55.0}))
    return tmp_path / "out"


@pytest.mark.parametrize("text", ["", HEADER, "# only a comment\n" + HEADER + "# measured: 1\n"],
                         ids=["empty", "header-only", "comments"])
def test_a_bounds_file_without_bounds_fails_the_check(out, tmp_path, capsys, text):
    path = tmp_path / "bounds.csv"
    path.write_text(text)
    assert main(["check", "--out", str(out), "--bounds", str(path)]) == 2
    captured = capsys.readouterr()
    assert f"{path} holds no bounds" in captured.err and "all met" not in captured.out


@pytest.mark.parametrize("row, message", [
    ("synth,a:b,kd,nan,60,smoke", "lower must be a finite number (percent), got 'nan'"),
    ("synth,a:b,kd,50,NaN,smoke", "upper must be a finite number (percent), got 'NaN'"),
    ("synth,a:b,kd,50,inf,smoke", "upper must be a finite number (percent), got 'inf'"),
    ("synth,a:b,kd,60,50,smoke", "lower 60 is above upper 50"),
    ("synth,a:b,kd,fifty,60,smoke", "lower must be a number (percent), got 'fifty'"),
])
def test_a_bound_that_is_no_range_is_an_error_naming_file_and_line(out, tmp_path, capsys, row, message):
    path = tmp_path / "bounds.csv"
    path.write_text("# derived by hand\n" + HEADER + "synth,a:b,kd,50,60,smoke\n# measured: 55\n" + row + "\n")
    assert main(["check", "--out", str(out), "--bounds", str(path)]) == 2
    assert f"error: {path}:5: {message}" in capsys.readouterr().err  # line 5 of the file, comments counted


def test_line_numbers_count_comment_lines(tmp_path):
    path = tmp_path / "bounds.csv"
    path.write_text("# one\n# two\n" + HEADER + "synth,a:b,kd,,60\n")
    with pytest.raises(ValueError, match=r"bounds.csv:4: missing lower"):
        read_bounds(path)


def test_a_good_file_still_passes(out, tmp_path):
    path = tmp_path / "bounds.csv"
    path.write_text("# comment\n" + HEADER + "synth,a:b,kd,50,60,smoke\n# measured: 55.00\n")
    assert [(b.lower, b.upper, b.preset) for b in read_bounds(path)] == [(50.0, 60.0, "smoke")]
    assert main(["check", "--out", str(out), "--bounds", str(path)]) == 0
