"""Every record names the teacher it distilled from, and seed-paired comparisons pair only records of one teacher;
the rule for failed and diverged runs; the student at the end of the budget beside the selected one."""
from __future__ import annotations

import json
import logging

import pytest
import torch

from benchmark.checkpoints.model_io import weights_sha256
from benchmark.cli import main
from benchmark.reporting.report_tables import format_cell, write_tables
from benchmark.stats.claims import compare, refused_pairs, same_teacher, select
from benchmark.store.record_schema import SCHEMA_VERSION, RunRecord
from benchmark.store.records import RunStore
from models import create_model

IDS = [f"c{i}" for i in range(10)]
TARGETS = [0] * 5 + [1] * 5
PAIR = "wrn16_2_tiny:wrn10_2_tiny"


def rec(method, seed, correct, teacher=None, teacher_val=None, status="ok", predictions=None):
    preds = predictions if predictions is not None else [t if i < correct else 1 - t for i, t in enumerate(TARGETS)]
    scored = status == "ok" or predictions is not None
    return RunRecord.from_dict({
        "dataset": "synth", "teacher": "wrn16_2_tiny", "student": "wrn10_2_tiny", "pair": PAIR, "method": method,
        "seed": seed, "preset": "cpu", "config_hash": "h", "status": status,
        "accuracy": 100.0 * sum(p == t for p, t in zip(preds, TARGETS)) / 10 if scored else None,
        "test_ids": IDS if scored else [], "test_targets": TARGETS if scored else [],
        "test_predictions": preds if scored else [], "teacher_sha256": teacher, "teacher_val_accuracy": teacher_val,
        "phases": {"synthesis": {"sample_iterations": 10}}})


# --- the hash of the weights ----------------------------------------------------------------------------------

def test_the_weights_hash_follows_the_numbers_not_the_object():
    torch.manual_seed(0)
    a = create_model("wrn10_2_tiny", 4, 16)
    b = create_model("wrn10_2_tiny", 4, 16)
    b.load_state_dict(a.state_dict())
    assert weights_sha256(a) == weights_sha256(b)
    with torch.no_grad():
        next(b.parameters()).view(-1)[0] += 1e-6  # one float, one ulp-scale change
    assert weights_sha256(a) != weights_sha256(b)
    b.load_state_dict(a.state_dict())
    for module in b.modules():  # BatchNorm statistics are part of the teacher too
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean += 1.0
            break
    assert weights_sha256(a) != weights_sha256(b)


# --- pairing by teacher ---------------------------------------------------------------------------------------

def test_same_teacher_by_hash_then_by_accuracy_then_unknown():
    assert same_teacher(rec("frami", 0, 5, teacher="aa"), rec("kd-noise", 0, 5, teacher="aa")) is True
    assert same_teacher(rec("frami", 0, 5, teacher="aa"), rec("kd-noise", 0, 5, teacher="bb")) is False
    # older records: the same weights score the same on the same data, so different accuracies mean other weights
    assert same_teacher(rec("frami", 0, 5, teacher_val=76.7), rec("kd-noise", 0, 5, teacher_val=65.8)) is False
    assert same_teacher(rec("frami", 0, 5, teacher_val=76.7), rec("kd-noise", 0, 5, teacher_val=76.7)) is True
    assert same_teacher(rec("frami", 0, 5), rec("kd-noise", 0, 5)) is None


def test_a_pair_of_different_teachers_is_refused_named_and_counted(caplog):
    """Seeds 0 and 1 share a teacher; seed 2's records came from two teachers (as h21's kd-noise seed 5 did before
    it was rerun): that pair is left out of every paired statistic and named in a warning."""
    records = [rec("frami", 0, 8, "t0"), rec("frami", 1, 9, "t1"), rec("frami", 2, 10, "t2"),
               rec("kd-noise", 0, 5, "t0"), rec("kd-noise", 1, 5, "t1"), rec("kd-noise", 2, 0, "t2-other")]
    with caplog.at_level(logging.WARNING, logger="benchmark.stats.claims"):
        c = compare(records, "synth", PAIR, "family", "frami", "kd-noise")
    assert [(m.seed, b.seed) for m, b in c.refused] == [(2, 2)]
    assert c.seed_differences == {0: 30.0, 1: 40.0}  # seed 2 (+100) is not among them
    assert c.n_seeds == 2 and c.mean_diff == pytest.approx(35.0)
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "frami seed=2 (teacher sha256 t2" in warning and "kd-noise seed=2 (teacher sha256 t2-other" in warning
    assert len(refused_pairs(records)) == 1


def test_tables_and_check_say_how_many_pairs_were_refused(tmp_path, capsys):
    records = [rec(m, s, c, teacher=f"t{s}" if (m, s) != ("kd-noise", 2) else "other")
               for m, cs in (("frami", (8, 9, 10)), ("kd-noise", (5, 5, 5))) for s, c in enumerate(cs)]
    write_tables(records, tmp_path, "# t\n")
    significance = (tmp_path / "significance.md").read_text()
    assert "seed pairs refused (different teachers)" in significance
    store = RunStore(tmp_path)
    for r in records:
        store.append(r)
    bounds = tmp_path / "bounds.csv"
    bounds.write_text("dataset,pair,method,lower,upper\nsynth,wrn16_2_tiny:wrn10_2_tiny,frami,0,100\n")
    assert main(["check", "--out", str(tmp_path), "--bounds", str(bounds)]) == 0
    out = capsys.readouterr().out
    assert "seed pairs refused for different teachers: 1" in out
    assert "REFUSED PAIR (different teachers): synth wrn16_2_tiny:wrn10_2_tiny frami seed=2" in out


# --- failed and diverged runs -----------------------------------------------------------------------------------

def test_the_rule_for_runs_that_do_not_end_well():
    """Failed: left out and counted. Diverged and scored (the constant predictor): a run of the method, in n and the
    mean. Diverged from before the rule (nothing stored to score): left out with the failed ones."""
    constant = [0] * 10  # class 0 for every clip: 5 of 10 right here
    records = [rec("adi", 0, 8), rec("adi", 1, 0, status="failed"),
               rec("adi", 2, 0, status="diverged", predictions=constant), rec("adi", 3, 0, status="diverged")]
    counted, left_out = select(records, "synth", PAIR, "adi")
    assert [r.seed for r in counted] == [0, 2] and left_out == 2
    assert [r.accuracy for r in counted] == [80.0, 50.0]
    assert format_cell(counted, left_out) == "65.00 ± 21.21 (n=2), 1 diverged, 2 failed"


def test_a_diverged_record_must_hold_the_accuracy_its_predictions_imply():
    with pytest.raises(ValueError, match="not what its predictions imply"):
        RunRecord.from_dict({**rec("adi", 0, 0, status="diverged", predictions=[0] * 10).to_dict(), "accuracy": 90.0})


# --- end to end at the micro preset ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def micro_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("micro")
    import os
    os.environ["DFKD_CACHE"] = str(root / "cache")
    try:
        assert main(["run", "--preset", "micro", "--methods", "kd,adi", "--seeds", "1", "--threads", "1",
                     "--no-floor", "--out", str(root / "out")]) == 0
    finally:
        os.environ.pop("DFKD_CACHE")
    return root


def test_records_name_their_teacher_and_the_end_of_budget_student(micro_run):
    records = [json.loads(line) for line in (micro_run / "out" / "runs.jsonl").read_text().splitlines()]
    assert {r["method"] for r in records} == {"kd", "adi"}
    assert all(r["schema_version"] == SCHEMA_VERSION == 6 for r in records)
    hashes = {r["teacher_sha256"] for r in records}
    assert len(hashes) == 1 and len(hashes.pop()) == 64  # both cells distilled from the one teacher of seed 0
    assert all(r["final_accuracy"] is not None and r["final_val_accuracy"] is not None for r in records)
    assert all("evaluate_end_of_budget" in r["phases"] for r in records)
    seeds = (micro_run / "out" / "seeds.md").read_text()
    assert "selection adds (pp)" in seeds and "Runs that do not end well" in seeds


# --- reproduce ----------------------------------------------------------------------------------------------------

def test_reproduce_reruns_a_record_from_its_own_config_in_a_fresh_cache(micro_run, capsys):
    assert main(["reproduce", "--out", str(micro_run / "out"), "--cell", f"synth/{PAIR}/adi/0"]) == 0
    out = capsys.readouterr().out
    assert "verdict: identical" in out and "teacher:        same" in out and "cache fresh" in out
    (rerun,) = RunStore(micro_run / "out" / "reproduce").read_records()
    (original,) = [r for r in RunStore(micro_run / "out").read_records() if r.method == "adi"]
    assert rerun.config_hash == original.config_hash and rerun.teacher_sha256 == original.teacher_sha256


def test_reproduce_says_how_a_result_differs(micro_run, tmp_path, capsys):
    """A stored record whose predictions and accuracy are not what the code gives: `differs`, exit 1."""
    (original,) = [r for r in RunStore(micro_run / "out").read_records() if r.method == "kd"]
    flipped = [(p + 1) % 10 for p in original.test_predictions[:3]] + original.test_predictions[3:]
    hits = sum(p == t for p, t in zip(flipped, original.test_targets))
    store = RunStore(tmp_path)
    store.append(RunRecord.from_dict({**original.to_dict(), "test_predictions": flipped,
                                      "accuracy": 100.0 * hits / len(flipped), "teacher_sha256": "0" * 64}))
    env_cache = {"DFKD_CACHE": str(micro_run / "cache")}
    import os
    os.environ.update(env_cache)
    try:
        assert main(["reproduce", "--out", str(tmp_path), "--cell", f"synth/{PAIR}/kd/0", "--cache", "shared"]) == 1
    finally:
        os.environ.pop("DFKD_CACHE")
    out = capsys.readouterr().out
    assert "verdict: differs" in out and "3 of 10 test predictions changed" in out
    assert "a different teacher (sha256 000000000000" in out


def test_reproduce_refuses_a_record_todays_code_would_not_rerun(micro_run, tmp_path, capsys):
    (original,) = [r for r in RunStore(micro_run / "out").read_records() if r.method == "kd"]
    store = RunStore(tmp_path)
    store.append(RunRecord.from_dict({**original.to_dict(), "config_hash": "0123456789ab"}))
    assert main(["reproduce", "--out", str(tmp_path), "--cell", f"synth/{PAIR}/kd/0"]) == 2
    err = capsys.readouterr().err
    assert "today's code gives this cell config hash" in err and "0123456789ab" in err
    assert main(["reproduce", "--out", str(tmp_path), "--cell", "synth/kd/0"]) == 2
    assert "--cell takes DATASET/TEACHER:STUDENT/METHOD/SEED" in capsys.readouterr().err
    assert main(["reproduce", "--out", str(tmp_path), "--cell", f"synth/{PAIR}/adi/0"]) == 2
    assert "holds no record of synth/" in capsys.readouterr().err
