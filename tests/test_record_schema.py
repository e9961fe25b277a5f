"""The typed record: version-1 lines (as the code before the schema wrote them) still read, round-trip,
and malformed records fail naming the key."""
import dataclasses
import gzip
import json

import pytest

from benchmark.cli import main
from benchmark.store.record_schema import REQUIRED, SCHEMA_VERSION, MalformedRecord, RunRecord
from benchmark.store.records import RunStore, cell_key
from tests.helpers import V1_RUNS

# The committed cpu-preset records of commit 905ebdc~3 (`git show 905ebdc~3:results/runs.jsonl`), byte for byte.


def v1_lines() -> list[str]:
    with gzip.open(V1_RUNS, "rt") as fh:
        return fh.read().splitlines()


def test_a_version_1_line_parses_and_round_trips():
    line = v1_lines()[0]
    stored = json.loads(line)
    assert "schema_version" not in stored  # written before the schema existed
    record = RunRecord.from_dict(stored)
    assert record.schema_version == 1 and record.other == {}
    assert (record.dataset, record.pair, record.method, record.seed) == (
        "synth", "wrn16_2_tiny:wrn10_2_tiny", "teacher", 0)
    assert record.ok and record.accuracy == stored["accuracy"] and record.phases == stored["phases"]
    out = record.to_dict()
    assert {k: out[k] for k in stored} == stored  # nothing lost or changed
    assert set(out) - set(stored) == {"schema_version", "error", "traceback", "torch_threads", "executor",
                                      "worker_pid", "data_key", "cuda", "numerics", "gpus_per_cell", "gpu_shared",
                                      "teacher_checkpoint", "teacher_val_accuracy", "teacher_accuracy", "teacher_sha256",
                                      "final_accuracy", "final_val_accuracy"}
    assert out["schema_version"] == 1 and RunRecord.from_dict(out) == record


def test_every_committed_version_1_record_reads_through_the_store(tmp_path):
    (tmp_path / "runs.jsonl").write_text("\n".join(v1_lines()) + "\n")
    store = RunStore(tmp_path)
    records = store.read_records()
    assert len(records) == 27 and all(r.ok and r.schema_version == 1 for r in records)
    assert [RunRecord.from_dict(r.to_dict()) for r in records] == records
    assert len(store.latest_by_cell()) == 27 and store.finished_keys() == {cell_key(r) for r in records}
    assert [cell_key(r) for r in store.read()] == [cell_key(r) for r in records]  # stored dicts key the same


def test_a_new_record_is_written_whole_with_the_current_version(tmp_path):
    store = RunStore(tmp_path)
    store.append(RunRecord("synth", "t", "s", "t:s", "kd", 0, "smoke", "failed", error="RuntimeError: boom"))
    (stored,) = store.read()
    assert stored["schema_version"] == SCHEMA_VERSION == 6
    assert set(stored) == {f.name for f in dataclasses.fields(RunRecord)} - {"other"}
    assert stored["accuracy"] is None and stored["test_predictions"] == []
    (record,) = store.read_records()
    assert record.error == "RuntimeError: boom" and not record.ok


def test_a_version_4_record_reads_with_its_teacher_unknown():
    """v5 added the teacher a cell used (a given checkpoint's hash, its val and test accuracy); a v4 line reads
    with them None (not known), and a v5 teacher accuracy outside [0, 100] is refused by name."""
    stored = json.loads(v1_lines()[0]) | {"schema_version": 4, "data_key": "synth-abc"}
    record = RunRecord.from_dict(stored)
    assert record.teacher_checkpoint is record.teacher_accuracy is record.teacher_val_accuracy is None
    with pytest.raises(MalformedRecord, match="teacher_accuracy 101 is outside"):
        RunRecord.from_dict(stored | {"schema_version": 5, "teacher_accuracy": 101})


def test_a_version_3_record_reads_with_its_cuda_facts_unknown():
    """v4 added the CUDA stack, numerics flags and GPU share; a v3 line (without them) still reads and
    says 'not known' (empty / None), not a default that would claim a CPU or an unshared GPU."""
    stored = json.loads(v1_lines()[0]) | {"schema_version": 3, "data_key": "synth-abc"}
    record = RunRecord.from_dict(stored)
    assert record.schema_version == 3 and record.other == {}
    assert record.cuda == {} and record.numerics == {}
    assert record.gpus_per_cell is None and record.gpu_shared is None
    assert RunRecord.from_dict(record.to_dict()) == record


def test_a_failed_version_1_record_without_outcome_keys_reads():
    stored = json.loads(v1_lines()[0])
    for key in ("accuracy", "val_accuracy", "accuracy_by_kind", "test_ids", "test_targets", "test_predictions",
                "phases", "extras"):
        del stored[key]
    record = RunRecord.from_dict(stored | {"status": "failed", "error": "ValueError: x", "accuracy": None})
    assert not record.ok and record.test_predictions == [] and record.phases == {}


def test_a_record_missing_method_names_it():
    stored = json.loads(v1_lines()[0])
    del stored["method"]
    with pytest.raises(MalformedRecord, match="lacks required key.*: method$"):
        RunRecord.from_dict(stored)
    assert "method" in REQUIRED


def test_a_malformed_line_in_the_store_names_its_line_and_key(tmp_path, capsys):
    lines = v1_lines()[:3]
    bad = json.loads(lines[1])
    del bad["method"]
    lines[1] = json.dumps(bad)
    (tmp_path / "runs.jsonl").write_text("\n".join(lines) + "\n")
    # skipped with a warning naming the line and the key, so every command (and resume) goes on
    with pytest.warns(UserWarning, match=r"runs.jsonl:2: skipping a malformed line: record .* lacks required "
                                         r"key\(s\): method"):
        records = RunStore(tmp_path).read_records()
    assert len(records) == 2
    with pytest.warns(UserWarning, match="runs.jsonl:2:"):
        assert main(["tables", "--out", str(tmp_path)]) == 0


@pytest.mark.parametrize("change,needle", [
    ({"seed": "0"}, "seed must be int, got str '0'"),
    ({"accuracy": True}, "accuracy must be float | None, got bool True"),
    ({"phases": []}, "phases must be dict[str, dict[str, Any]], got list []"),
    ({"accuracy": None}, "an ok record needs an accuracy"),
])
def test_wrong_types_are_named(change, needle):
    with pytest.raises(MalformedRecord, match=needle.replace("[", r"\[").replace("|", r"\|")):
        RunRecord.from_dict(json.loads(v1_lines()[0]) | change)


def test_keys_of_a_newer_schema_are_kept_and_written_back(tmp_path):
    stored = json.loads(v1_lines()[0]) | {"schema_version": 3, "energy_joules": 12.5}
    record = RunRecord.from_dict(stored)
    assert record.schema_version == 3 and record.other == {"energy_joules": 12.5}
    store = RunStore(tmp_path)
    store.append(record)
    assert store.read()[0]["energy_joules"] == 12.5 and store.read_records() == [record]


def test_the_writer_refuses_a_record_the_reader_would_reject(tmp_path):
    store = RunStore(tmp_path)
    ok_without_accuracy = RunRecord("synth", "t", "s", "t:s", "kd", 0, "smoke", "ok", accuracy=float("nan"))
    with pytest.raises(MalformedRecord, match="an ok record needs an accuracy"):
        store.append(ok_without_accuracy)  # NaN is stored as null
    assert store.read() == []


def test_a_version_5_record_reads_with_its_teacher_hash_and_end_of_budget_unknown():
    """v6 added the hash of the teacher's weights and the student at the end of the budget; a v5 line reads with
    them None (not known), and a v6 end-of-budget accuracy outside [0, 100] is refused by name."""
    stored = json.loads(v1_lines()[0]) | {"schema_version": 5, "teacher_val_accuracy": 90.0}
    record = RunRecord.from_dict(stored)
    assert (record.teacher_sha256, record.final_accuracy, record.final_val_accuracy) == (None, None, None)
    with pytest.raises(MalformedRecord, match="final_accuracy 101"):
        RunRecord.from_dict(stored | {"schema_version": 6, "final_accuracy": 101.0})
