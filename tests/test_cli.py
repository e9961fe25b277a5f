import json

import pytest

from benchmark.cli import main
from benchmark.store.records import RunStore

REQUIRED = {"dataset", "teacher", "student", "method", "seed", "preset", "status", "accuracy", "phases",
            "peak_memory_mb", "config", "config_hash", "git_commit", "packages", "device", "wall_seconds",
            "test_predictions", "test_targets", "test_ids", "accuracy_by_kind"}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke")
    code = main(["run", "--preset", "smoke", "--methods", "teacher,student", "--seeds", "1",
                 "--pairs", "wrn16_2_tiny:wrn10_2_tiny", "--out", str(out), "--no-tables"])
    return code, out


def test_run_writes_well_formed_records(smoke_run):
    code, out = smoke_run
    assert code == 0
    lines = (out / "runs.jsonl").read_text().splitlines()
    assert len(lines) == 2
    for line in lines:
        record = json.loads(line)
        assert REQUIRED <= set(record), REQUIRED - set(record)
        assert record["status"] == "ok" and record["preset"] == "smoke" and record["dataset"] == "synth"
        assert 0 <= record["accuracy"] <= 100
        assert len(record["test_predictions"]) == len(record["test_targets"]) == len(record["test_ids"])
        assert set(record["accuracy_by_kind"]) == {"TD", "TID"}
        phase = record["phases"]["evaluate"]
        assert phase["samples_per_s"] > 0 and phase["seconds"] > 0
        assert record["config"]["frontend"]["n_mels"] == 32


def test_smoke_teacher_beats_chance_by_a_wide_margin(smoke_run):
    _, out = smoke_run
    teacher = next(r for r in RunStore(out).read() if r["method"] == "teacher")
    assert teacher["accuracy"] > 25.0  # chance is 10% on 10 balanced classes


def test_rerun_skips_finished_cells(smoke_run, capsys):
    _, out = smoke_run
    assert main(["run", "--preset", "smoke", "--methods", "teacher,student", "--seeds", "1",
                 "--pairs", "wrn16_2_tiny:wrn10_2_tiny", "--out", str(out), "--no-tables"]) == 0
    assert "0 cells run" in capsys.readouterr().out
    assert len(RunStore(out).read()) == 2


@pytest.mark.parametrize("argv,needle", [
    (["run", "--methods", "bogus"], "unknown method or group 'bogus'; groups: paper, field, all; methods: teacher"),
    (["run", "--datasets", "nope"], "unknown dataset 'nope'; valid datasets:"),
    (["run", "--preset", "huge"], "unknown preset 'huge'; valid presets: smoke, micro, cpu, paper"),
    (["run", "--pairs", "resnet34:vgg"], "unknown model 'vgg'"),
    (["run", "--pairs", "resnet34"], "teacher:student"),
])
def test_bad_names_fail_with_the_valid_choices(argv, needle, capsys, tmp_path):
    assert main(argv + ["--out", str(tmp_path)]) == 2
    assert needle in capsys.readouterr().err


def test_bad_seeds_are_rejected(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--seeds", "zero"])
    assert "--seeds takes a positive count" in capsys.readouterr().err


def test_list_prints_every_method_with_a_summary(capsys):
    assert main(["list", "methods"]) == 0
    methods, groups = capsys.readouterr().out.strip().split("\n\n")  # the methods, then the method groups
    lines = methods.splitlines()
    names = [line.split()[0] for line in lines]
    assert names == ["teacher", "student", "kd", "adi", "cmi", "frami", "frami-no-finv", "frami-no-reused",
                     "frami-no-finv-no-reused", "kd-noise", "kd-subset", "dafl", "dfad", "dfq", "fast", "zskt"]
    assert all(len(line.split()) > 2 for line in lines)
    assert [line.split()[0] for line in groups.splitlines()[1:]] == ["paper", "field", "all"]


def test_list_presets_prints_each_presets_own_summary(capsys):
    """Each preset with the sentence it declares, not the Preset class's signature."""
    from benchmark.config.presets import PRESETS
    assert main(["list", "presets"]) == 0
    out = capsys.readouterr().out
    for name in PRESETS.names():
        assert f"{name}  " in out and PRESETS.get(name).summary in out
    assert "Preset(" not in out


def test_run_ends_by_writing_the_reports(smoke_run):
    _, out = smoke_run
    assert main(["run", "--preset", "smoke", "--methods", "teacher", "--seeds", "1",
                 "--pairs", "wrn16_2_tiny:wrn10_2_tiny", "--out", str(out)]) == 0
    for name in ("table2.md", "table3.md", "significance.md", "leaderboard.md"):
        assert (out / name).read_text().startswith("# DFKD audio benchmark"), name
    assert "--preset smoke" in (out / "table2.md").read_text()


def test_run_ends_by_printing_the_tables_verdicts_and_the_reference_line(tmp_path, capsys):
    assert main(["run", "--preset", "micro", "--methods", "teacher,kd", "--seeds", "1", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "== run finished in" in printed and "Table 2: methods" in printed
    assert "| synth" in printed and "Verdicts (seed-aware" in printed
    assert "reference: no committed bounds for preset 'micro'" in printed


def test_reference_line_checks_only_this_runs_cells(tmp_path):
    from benchmark.store.record_schema import RunRecord
    from benchmark.reporting.summary import reference_line

    (tmp_path / "cpu.csv").write_text("dataset,pair,method,lower,upper,preset\n"
                                      "synth,a:b,kd,50,60,cpu\nsynth,a:b,adi,10,20,cpu\n")
    record = RunRecord.from_dict({"dataset": "synth", "teacher": "a", "student": "b", "method": "kd", "seed": 0,
                                  "preset": "cpu", "status": "ok", "accuracy": 55.0})
    assert "1 bounds checked, all within" in reference_line([record], "cpu", tmp_path)
    low = RunRecord.from_dict({**record.to_dict(), "accuracy": 40.0})
    assert "1 outside: synth a:b kd seed=0: accuracy 40.00 outside [50.00, 60.00]" in reference_line([low], "cpu", tmp_path)
    assert "no committed bounds for preset 'smoke'" in reference_line([record], "smoke", tmp_path)
