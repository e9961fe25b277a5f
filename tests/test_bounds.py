from benchmark.cli import main
from benchmark.stats.bounds import Bound, violations
from benchmark.store.record_schema import RunRecord
from benchmark.store.records import RunStore


def _rec(method, acc, seed=0, status="ok"):
    return RunRecord.from_dict({"dataset": "synth", "teacher": "a", "student": "b", "pair": "a:b", "method": method,
                                "seed": seed, "preset": "smoke", "config_hash": "h", "status": status,
                                "accuracy": acc})


def test_violations_name_each_cell():
    bounds = [Bound("synth", "a:b", "kd", 40, 60), Bound("synth", "a:b", "adi", 0, 100)]
    records = [_rec("kd", 50, 0), _rec("kd", 70, 1), _rec("adi", None, 0, "failed")]
    problems = violations(records, bounds)
    assert problems == ["synth a:b kd seed=1: accuracy 70.00 outside [40.00, 60.00]",
                        "synth a:b adi: no ok record (bounds 0.00..100.00)"]


def test_check_cli_fails_on_violation_and_passes_when_met(tmp_path, capsys):
    store = RunStore(tmp_path)
    store.append(_rec("kd", 55.0))
    good = tmp_path / "good.csv"
    good.write_text("# comment\ndataset,pair,method,lower,upper,preset\nsynth,a:b,kd,50,60,smoke\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("dataset,pair,method,lower,upper\nsynth,a:b,kd,56,60\n")
    assert main(["check", "--out", str(tmp_path), "--bounds", str(good)]) == 0
    assert main(["check", "--out", str(tmp_path), "--bounds", str(bad)]) == 1
    assert "synth a:b kd seed=0: accuracy 55.00 outside [56.00, 60.00]" in capsys.readouterr().out


def test_bounds_file_errors_name_the_problem(tmp_path, capsys):
    broken = tmp_path / "b.csv"
    broken.write_text("dataset,pair,method,lower,upper\nsynth,a:b,kd,,60\n")
    assert main(["check", "--out", str(tmp_path), "--bounds", str(broken)]) == 2
    assert "b.csv:2: missing lower" in capsys.readouterr().err
