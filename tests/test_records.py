"""The results store: atomic appends, concurrent writers, torn lines, resume after SIGKILL."""
import dataclasses
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time

import pytest

from benchmark.store.disk import write_atomic
from benchmark.store.record_schema import RunRecord
from benchmark.store.records import RunStore, cell_key
from tests.helpers import REPO


def _record(i: int, status: str = "ok") -> RunRecord:
    return RunRecord.from_dict({"dataset": "synth", "teacher": "t", "student": "s", "method": "kd", "seed": i,
                                "preset": "smoke", "config_hash": "h", "status": status, "accuracy": float(i % 100),
                                "payload": "x" * 5000})  # a key this schema does not know: kept in `other`


def _writer(out: str, start: int, count: int) -> None:
    store = RunStore(out)
    for i in range(start, start + count):
        store.append(_record(i))


def test_two_concurrent_writers_never_interleave(tmp_path):
    procs = [multiprocessing.Process(target=_writer, args=(str(tmp_path), k * 100, 60)) for k in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    records = RunStore(tmp_path).read_records()
    assert sorted(r.seed for r in records) == list(range(60)) + list(range(100, 160))
    assert all(r.other == {"payload": "x" * 5000} for r in records)


def test_torn_last_line_is_skipped_with_a_warning(tmp_path):
    store = RunStore(tmp_path)
    store.append(_record(1))
    with open(store.path, "a") as fh:
        fh.write('{"dataset": "synth", "seed": 2')  # a write cut short
    with pytest.warns(UserWarning, match="torn line"):
        assert [r.seed for r in store.read_records()] == [1]


def test_latest_record_of_a_cell_wins(tmp_path):
    store = RunStore(tmp_path)
    store.append(_record(1, "failed"))
    store.append(_record(1, "ok"))
    assert store.latest_by_cell()[cell_key(_record(1))].status == "ok"
    assert store.finished_keys() == {cell_key(_record(1))}


def test_nan_is_stored_as_null(tmp_path):
    store = RunStore(tmp_path)
    store.append(dataclasses.replace(_record(1), val_accuracy=float("nan")))
    assert json.loads(store.path.read_text())["val_accuracy"] is None


def test_write_atomic_replaces_whole_file(tmp_path):
    path = tmp_path / "t.md"
    write_atomic(path, "one")
    write_atomic(path, "two")
    assert path.read_text() == "two" and not list(tmp_path.glob(".*tmp"))


def test_sweep_killed_mid_run_resumes_without_loss_or_duplicates(tmp_path):
    out = tmp_path / "res"
    env = {**os.environ, "DFKD_PROGRESS": "0"}
    argv = [sys.executable, "-m", "benchmark", "run", "--preset", "micro", "--methods", "teacher,student,kd,cmi",
            "--seeds", "3", "--out", str(out), "--no-tables",
            "--no-floor"]
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = out / "runs.jsonl"
    deadline = time.time() + 600  # generous: teachers are trained before the first cell, and CI may be busy
    while time.time() < deadline and (not runs.exists() or len(runs.read_text().splitlines()) < 2):
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = RunStore(out).read()
    assert 2 <= len(before) < 12, "the kill should land mid-sweep"
    subprocess.run(argv, cwd=REPO, env=env, check=True, capture_output=True)
    after = RunStore(out).read()
    keys = [cell_key(r) for r in after]
    assert len(after) == 12 and len(set(keys)) == 12
    assert [json.dumps(r, sort_keys=True) for r in after[: len(before)]] == [
        json.dumps(r, sort_keys=True) for r in before]
