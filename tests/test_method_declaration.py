"""One declaration per method: a method's module says everything about it (config, summary, table place,
the paper's numbers); a new method is one new file. The tables and the paper's numbers are those the
hard-coded lists gave before (golden files written by that code: tests/fixtures/golden_reports.json)."""
import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.cli import main
from benchmark.reporting.reference import paper_accuracy
from methods import METHODS, TABLE_ORDER, TablePlacement
from tests.helpers import FIXTURES, REPO, V1_RUNS

GOLDEN = json.loads((FIXTURES / "golden_reports.json").read_text())
PAPER_DATASETS, PAPER_PAIRS = ("us8k", "esc50", "audiomnist"), ("resnet34:resnet18", "wrn40_2:wrn16_2")


def paper_grid_records() -> list[dict]:
    """Deterministic hand-made version-1 records on the paper's datasets and pairs (every method, 3 seeds,
    one failure), so the paper rows of both tables are exercised."""
    records = []
    ids = [f"clip{i}" for i in range(20)]
    targets = [i % 5 for i in range(20)]
    for d, dataset in enumerate(PAPER_DATASETS):
        for p, pair in enumerate(PAPER_PAIRS):
            teacher, student = pair.split(":")
            for m, method in enumerate(("teacher", "student", "kd", "adi", "cmi", "frami", "frami-no-finv",
                                        "frami-no-reused", "frami-no-finv-no-reused")):
                for seed in range(3):
                    base = {"dataset": dataset, "teacher": teacher, "student": student, "pair": pair,
                            "method": method, "seed": seed, "preset": "paper", "config_hash": "h",
                            "command": "python -m benchmark run --preset paper", "device": "cuda:H100",
                            "git_commit": "abc", "started_at": f"2026-01-01T00:{m:02d}:{seed:02d}+00:00",
                            "finished_at": f"2026-01-01T01:{m:02d}:{seed:02d}+00:00", "wall_seconds": 60.0 + m}
                    if (d, p, m, seed) == (0, 1, 2, 2):
                        records.append(base | {"status": "failed", "error": "RuntimeError: boom", "accuracy": None})
                        continue
                    correct = (7 + 2 * m + 3 * seed + d + p) % 20 if m > 2 else 15 + seed + (m + d) % 3
                    preds = [t if i < correct else (t + 1) % 5 for i, t in enumerate(targets)]
                    phases = {"synthesis": {"seconds": 10.0 + m, "sample_iterations": 1000 * m}} if m > 2 else {}
                    records.append(base | {"status": "ok", "accuracy": 100.0 * correct / 20, "test_ids": ids,
                                           "test_targets": targets, "test_predictions": preds, "phases": phases,
                                           "accuracy_by_kind": {}})
    return records


def _write_reports(out: Path) -> None:
    assert main(["tables", "--out", str(out)]) == 0
    assert main(["leaderboard", "--out", str(out)]) == 0


@pytest.mark.parametrize("fixture", ["committed_v1", "paper_grid"])
def test_reports_are_unchanged(fixture, tmp_path):
    if fixture == "committed_v1":
        with gzip.open(V1_RUNS, "rt") as fh:
            (tmp_path / "runs.jsonl").write_text(fh.read())
    else:
        (tmp_path / "runs.jsonl").write_text("".join(json.dumps(r, sort_keys=True) + "\n"
                                                     for r in paper_grid_records()))
    _write_reports(tmp_path)
    for name, text in GOLDEN[fixture].items():
        assert (tmp_path / name).read_text() == text, name


def test_the_papers_numbers_are_unchanged():
    golden = GOLDEN["paper_numbers"]
    ours = {f"{d} {p} {m}": paper_accuracy(d, p, m) for d in (*PAPER_DATASETS, "synth") for p in PAPER_PAIRS
            for m in METHODS.names() if paper_accuracy(d, p, m) is not None}
    assert ours == golden and len(golden) == 38


def test_table_order_follows_the_declarations():
    # the paper's tables, then the controls (no table of their own: registration order)
    assert list(TABLE_ORDER) == ["teacher", "student", "kd", "adi", "cmi", "frami", "frami-no-finv",
                                 "frami-no-reused", "frami-no-finv-no-reused", "kd-noise", "kd-subset",
                                 "dafl", "dfad", "dfq", "fast", "zskt"]  # the field's methods: no paper table
    assert set(TABLE_ORDER) == set(METHODS.names())
    frami = METHODS.get("frami")
    assert (frami.table2.label, frami.table3.label) == ("FRAMI", "FRAMI (full)")
    assert frami.paper_accuracy("audiomnist", "wrn40_2:wrn16_2") == 99.73  # Table 2's, where Table 3 prints "-"


def test_a_placement_rejects_a_number_that_is_not_a_percentage():
    with pytest.raises(ValueError, match="us8k wrn40_2:wrn16_2 must be a percentage or None"):
        TablePlacement("X", paper={"wrn40_2:wrn16_2": {"us8k": "78.1"}})


TOY_METHOD = '''"""A toy method in one file: the student trained from scratch, under another name."""
from benchmark.core.training import TrainConfig

from .registry import register_method
from .supervised import StudentMethod

register_method("toy", StudentMethod, TrainConfig(), "toy: a student by another name",
                table2=dict(label="Toy", order=6, paper={"wrn40_2:wrn16_2": {"us8k": 50.0}}))
'''

CHECK_TOY = '''
import json, sys
import methods
from benchmark.cli import build_parser, main
from benchmark.commands.run import sweep_spec
from benchmark.reporting.report_tables import table2_columns
assert methods.__file__.startswith(sys.argv[1]), methods.__file__
spec = sweep_spec(build_parser().parse_args(["run", "--methods", "all"]))
print(json.dumps({"all": list(spec.methods), "columns": list(table2_columns().values())}))
sys.exit(main(["tables", "--out", sys.argv[2]]))
'''


def test_a_new_method_is_one_new_file(tmp_path):
    """Copy the methods package, add one module and nothing else: the method is listed, run by
    `--methods all`, and has its Table 2 column (with the paper number it declares)."""
    shutil.copytree(REPO / "methods", tmp_path / "methods", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "methods" / "toy.py").write_text(TOY_METHOD)
    out = tmp_path / "out"
    out.mkdir()
    record = {"dataset": "us8k", "teacher": "wrn40_2", "student": "wrn16_2", "pair": "wrn40_2:wrn16_2",
              "preset": "paper", "seed": 0, "status": "ok", "accuracy": 40.0}
    (out / "runs.jsonl").write_text("".join(json.dumps(record | {"method": m}) + "\n" for m in ("toy", "frami")))
    # the copy comes first on sys.path (the working directory); benchmark/ and models/ come from the repo
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}

    def run(*argv):
        done = subprocess.run([sys.executable, *argv], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    listing = run("-m", "benchmark", "list", "methods").split("\n\n")[0]  # the methods, then the groups
    listed = [line.split()[0] for line in listing.splitlines()]
    assert listed == ["teacher", "student", "kd", "adi", "cmi", "frami", "toy", "frami-no-finv", "frami-no-reused",
                      "frami-no-finv-no-reused", "kd-noise", "kd-subset",
                      "dafl", "dfad", "dfq", "fast", "zskt"]  # the field's methods: in no paper table
    found = json.loads(run("-c", CHECK_TOY, str(tmp_path / "methods"), str(out)).splitlines()[0])
    assert found["all"] == listed
    assert found["columns"] == ["Teacher", "Student", "KD", "ADI", "CMI", "FRAMI", "Toy"]
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in (out / "table2.md").read_text().splitlines()
            if line.startswith(("| dataset", "| us8k"))]
    assert [row[-1] for row in rows] == ["Toy", "40.00 (n=1)", "50.00 (Δ -10.00)"]  # ours, the declared paper number
