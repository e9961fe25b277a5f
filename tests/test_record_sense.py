"""Records are read for sense, not only type: an accuracy that is no percentage (250, -3, NaN),
per-clip lists of different lengths or not matching the accuracy, and a schema version this code does not know
are skipped with a warning naming the line and the reason, so no impossible number reaches a table."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from benchmark.cli import main
from benchmark.store.record_schema import SCHEMA_VERSION, MalformedRecord, RunRecord
from benchmark.store.records import RunStore, cell_key
from tests.helpers import REPO, V1_RUNS


def committed() -> list[dict]:
    with gzip.open(V1_RUNS, "rt") as fh:
        return [json.loads(line) for line in fh.read().splitlines()]


def of(records: list[dict], method: str, seed: int) -> dict:
    return next(r for r in records if (r["method"], r["seed"]) == (method, seed))


def shortened(record: dict) -> dict:
    return record | {"test_predictions": record["test_predictions"][: len(record["test_predictions"]) // 2]}


def write(folder: Path, records: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))  # NaN as JSON NaN
    return folder


BAD = {
    "accuracy 250": (lambda r: r | {"accuracy": 250.0}, r"accuracy 250.0 is outside \[0, 100\]"),
    "accuracy -3": (lambda r: r | {"accuracy": -3.0}, r"accuracy -3.0 is outside \[0, 100\]"),
    "accuracy NaN": (lambda r: r | {"accuracy": float("nan")}, "accuracy is nan, not a finite number"),
    "val_accuracy inf": (lambda r: r | {"val_accuracy": float("inf")}, "val_accuracy is inf, not a finite number"),
    "by kind 120": (lambda r: r | {"accuracy_by_kind": {"TD": 120.0}}, r"accuracy_by_kind\['TD'\] 120.0 is outside"),
    "short predictions": (shortened, r"per-clip lists differ in length \(test_ids 120, test_targets 120, "
                                     r"test_predictions 60\)"),
    "accuracy not implied": (lambda r: r | {"accuracy": r["accuracy"] - 5},
                             r"is not what its predictions imply \(\d+ of 120 clips right"),
    "schema 99": (lambda r: r | {"schema_version": 99},
                  rf"schema_version 99 is not one this code reads \(1 to {SCHEMA_VERSION}\)"),
}


@pytest.mark.parametrize("name", BAD)
def test_an_impossible_record_is_refused_naming_the_reason(name):
    change, needle = BAD[name]
    with pytest.raises(MalformedRecord, match=needle):
        RunRecord.from_dict(change(committed()[0]))


@pytest.mark.parametrize("name", BAD)
def test_the_store_skips_it_with_a_warning_naming_its_line(tmp_path, name):
    change, needle = BAD[name]
    records = committed()[:3]
    key = cell_key(records[1])
    records[1] = change(records[1])
    write(tmp_path, records)
    with pytest.warns(UserWarning, match=rf"runs.jsonl:2: skipping a malformed line: record .*{needle}"):
        read = RunStore(tmp_path).read_records()
    assert [cell_key(r) for r in read] == [cell_key(records[0]), cell_key(records[2])]
    with pytest.warns(UserWarning):
        assert key not in RunStore(tmp_path).finished_keys()  # a resumed run runs that cell again


def test_every_committed_record_is_sensible():
    """The checks reject nothing that the harness wrote (float32 accuracies, v1 records, the cpu results)."""
    lines = [json.loads(l) for l in (REPO / "results" / "runs.jsonl").read_text().splitlines()]
    assert all(RunRecord.from_dict(r) for r in committed() + lines)


def test_impossible_accuracies_do_not_reach_table_2(tmp_path):
    records = committed()
    of(records, "student", 0)["accuracy"] = 250.0
    of(records, "student", 1)["accuracy"] = -3.0
    write(tmp_path, records)
    with pytest.warns(UserWarning, match="outside \\[0, 100\\]"):
        assert main(["tables", "--out", str(tmp_path)]) == 0
    table = (tmp_path / "table2.md").read_text()
    student = of(records, "student", 2)["accuracy"]
    assert "147.00" not in table and f"{student:.2f} (n=1)" in table


def test_a_nan_accuracy_is_skipped_and_the_leaderboard_is_written(tmp_path):
    records = committed()
    of(records, "kd", 0)["accuracy"] = float("nan")
    write(tmp_path, records)
    with pytest.warns(UserWarning, match="runs.jsonl:\\d+: skipping .* accuracy is nan"):
        assert main(["leaderboard", "--out", str(tmp_path)]) == 0
    with pytest.warns(UserWarning):
        assert main(["tables", "--out", str(tmp_path)]) == 0
    assert "nan" not in (tmp_path / "table2.md").read_text().lower()
    assert "nan ±" not in (tmp_path / "leaderboard.md").read_text()


def test_short_predictions_never_enter_a_paired_test(tmp_path):
    from benchmark.stats.claims import comparisons

    records = committed()
    index = records.index(of(records, "frami", 0))
    records[index] = shortened(records[index])
    write(tmp_path, records)
    with pytest.warns(UserWarning, match="per-clip lists differ in length"):
        read = RunStore(tmp_path).read_records()
    assert all(len(r.test_predictions) == len(r.test_ids) for r in read)
    assert not any(r.method == "frami" and r.seed == 0 for r in read)
    with_frami = [c for c in comparisons(read) if "frami" in (c.method, c.baseline)]
    assert with_frami and all(set(c.seed_differences) == {1, 2} for c in with_frami)  # seed 0 left out whole
