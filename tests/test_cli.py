import json

import pytest

from benchmark.cli import main
from benchmark.records import RunStore

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
    (["run", "--methods", "bogus"], "unknown method 'bogus'; valid methods: adi"),
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
    lines = capsys.readouterr().out.strip().splitlines()
    names = [line.split()[0] for line in lines]
    assert names == ["teacher", "student", "kd", "adi", "cmi", "frami", "frami-no-finv", "frami-no-reused",
                     "frami-no-finv-no-reused"]
    assert all(len(line.split()) > 2 for line in lines)


def test_run_ends_by_writing_the_reports(smoke_run):
    _, out = smoke_run
    assert main(["run", "--preset", "smoke", "--methods", "teacher", "--seeds", "1",
                 "--pairs", "wrn16_2_tiny:wrn10_2_tiny", "--out", str(out)]) == 0
    for name in ("table2.md", "table3.md", "significance.md", "leaderboard.md"):
        assert (out / name).read_text().startswith("# DFKD audio benchmark"), name
    assert "--preset smoke" in (out / "table2.md").read_text()
