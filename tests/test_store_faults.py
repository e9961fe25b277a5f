"""The results store under faults: a torn last line must not swallow the next record, a full disk
is an error, a malformed line is skipped with a warning instead of blocking every command, a busy folder is
said at once, a bad --out is a message, and a name given twice runs once."""
import errno
import fcntl
import json
import logging
import os
import threading
import warnings

import pytest

import benchmark.store.records as records
from benchmark.cli import main
from benchmark.store.record_schema import RunRecord
from benchmark.store.records import RunStore


def _record(seed: int, **changes) -> RunRecord:
    data = {"dataset": "synth", "teacher": "a", "student": "b", "method": "kd", "seed": seed, "preset": "smoke",
            "config_hash": "h", "status": "ok", "accuracy": 50.0 + seed, **changes}
    return RunRecord.from_dict(data)


def _micro_run(out, *extra) -> list[str]:
    return ["run", "--preset", "micro", "--methods", "teacher", "--seeds", "1", "--out", str(out), "--no-tables",
            *extra]


@pytest.fixture(autouse=True)
def no_wandb(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")


# a torn last line, a full disk

def test_a_record_after_a_torn_last_line_gets_its_own_line(tmp_path):
    store = RunStore(tmp_path)
    store.append(_record(1))
    with open(store.path, "a") as fh:
        fh.write('{"dataset": "synth", "seed": 2')  # a kill mid-write: no newline
    store.append(_record(3))
    with pytest.warns(UserWarning, match=r"runs.jsonl:2: skipping an unfinished JSON line"):
        assert [r.seed for r in store.read_records()] == [1, 3]


def _fake_write(monkeypatch, behaviour):
    """os.write on runs.jsonl only: `behaviour(real_write, fd, data)` decides what happens."""
    real = os.write

    def fake(fd, data):
        if os.readlink(f"/proc/self/fd/{fd}").endswith(records.RUNS_FILE):
            return behaviour(real, fd, data)
        return real(fd, data)

    monkeypatch.setattr(os, "write", fake)


def _short_then_full(real, fd, data):
    if not getattr(_short_then_full, "wrote", False):
        _short_then_full.wrote = True
        return real(fd, bytes(data)[:10])  # part of the line reaches the disk ...
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # ... then the disk is full


def _full(real, fd, data):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("behaviour", [_short_then_full, lambda real, fd, data: 0, _full],
                         ids=["short-then-enospc", "writes-nothing", "enospc"])
def test_a_full_disk_is_an_error_that_names_the_file_and_leaves_no_partial_line(tmp_path, monkeypatch, behaviour):
    _short_then_full.wrote = False
    store = RunStore(tmp_path)
    store.append(_record(1))
    before = store.path.read_bytes()
    _fake_write(monkeypatch, behaviour)
    with pytest.raises(records.StoreWriteError, match=rf"could not append a record to {store.path}: .*free disk space"):
        store.append(_record(2))
    monkeypatch.undo()
    assert store.path.read_bytes() == before  # the partial line is cut off again
    store.append(_record(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no torn or garbage line left behind
        assert [r.seed for r in store.read_records()] == [1, 3]


def test_a_full_disk_during_run_is_reported_not_counted_as_run(tmp_path, monkeypatch, capsys):
    _fake_write(monkeypatch, lambda real, fd, data: real(fd, bytes(data)[:10]) and 0)
    assert main(_micro_run(tmp_path)) == 2
    captured = capsys.readouterr()
    assert f"error: could not append a record to {tmp_path / 'runs.jsonl'}" in captured.err
    assert "cells run" not in captured.out
    assert (tmp_path / "runs.jsonl").read_bytes() == b""


# malformed lines

def _write_faulty_store(out):
    """Records 0 and 5 are good; lines 2-6 hold each kind of bad line."""
    store = RunStore(out)
    store.append(_record(0))
    good = store.path.read_text()
    no_method = {k: v for k, v in json.loads(good).items() if k != "method"}
    no_accuracy = {**json.loads(good), "seed": 2, "accuracy": None}
    with open(store.path, "a") as fh:
        fh.write(json.dumps(no_method) + "\n" + json.dumps(no_accuracy) + "\n42\n[1, 2]\nnot json at all\n")
    store.append(_record(5))
    return store


EXPECTED_WARNINGS = [
    "runs.jsonl:2: skipping a malformed line: record (synth a:b seed=0) lacks required key(s): method",
    "runs.jsonl:3: skipping a malformed line: record (synth a:b kd seed=2): an ok record needs an accuracy",
    "runs.jsonl:4: skipping a JSON number (42), not a record object",
    "runs.jsonl:5: skipping a JSON array ([1, 2]), not a record object",
    "runs.jsonl:6: skipping a line that is not JSON (Expecting value at column 1): not json at all",
]


def test_malformed_lines_are_skipped_with_a_warning_naming_line_and_fault(tmp_path):
    store = _write_faulty_store(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert [r.seed for r in store.read_records()] == [0, 5]
    messages = [str(w.message) for w in caught]
    assert len(messages) == len(EXPECTED_WARNINGS)
    for message, expected in zip(messages, EXPECTED_WARNINGS):
        assert message == f"{tmp_path}/{expected}"
    assert not any("torn" in m for m in messages)  # garbage mid-file is not an interrupted write
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert len(store.read()) == 6  # every line that parses, as it is, for callers that compare lines


@pytest.mark.parametrize("argv", [["tables"], ["leaderboard"], ["check", "--bounds", "{bounds}"]])
def test_reports_and_check_go_on_past_malformed_lines(tmp_path, argv, capsys):
    out = tmp_path / "out"
    _write_faulty_store(out)
    bounds = tmp_path / "bounds.csv"
    bounds.write_text("dataset,pair,method,lower,upper\nsynth,a:b,kd,40,60\n")
    argv = [a.format(bounds=bounds) for a in argv] + ["--out", str(out)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(argv) == 0
    assert "error" not in capsys.readouterr().err
    assert any("runs.jsonl:4: skipping a JSON number" in str(w.message) for w in caught)


def test_a_folder_with_malformed_lines_can_be_resumed(tmp_path):
    _write_faulty_store(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(_micro_run(tmp_path) + ["--allow-mixed"]) == 0  # the store holds cpu records
        assert [r.method for r in RunStore(tmp_path).read_records()] == ["kd", "kd", "teacher"]


# a second sweep into a busy folder

@pytest.fixture
def held_folder(tmp_path):
    """OUT/sweep.lock held the way a running sweep holds it, with this process's pid in the file."""
    out = tmp_path / "out"
    out.mkdir()
    lock = open(out / "sweep.lock", "a")
    fcntl.flock(lock, fcntl.LOCK_EX)
    lock.truncate(0)
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    yield out, lock
    lock.close()


def test_no_wait_exits_at_once_naming_the_holder(held_folder, capsys):
    out, _ = held_folder
    assert main(_micro_run(out, "--no-wait")) == 2
    assert f"error: another sweep (pid {os.getpid()}) holds {out}" in capsys.readouterr().err
    assert not (out / "runs.jsonl").exists()


def test_a_second_sweep_says_it_waits_then_runs(held_folder):
    out, lock = held_folder
    said = threading.Event()

    class Listener(logging.Handler):
        def emit(self, record):
            if "waiting for it" in record.getMessage():
                said.set()

    def release_once_told():  # the holder finishes only after the waiting sweep has said so (or 10 s)
        said.wait(10)
        fcntl.flock(lock, fcntl.LOCK_UN)

    listener = Listener()
    logging.getLogger("benchmark.store.records").addHandler(listener)
    releaser = threading.Thread(target=release_once_told)
    releaser.start()
    try:
        assert main(_micro_run(out)) == 0
    finally:
        releaser.join()
        logging.getLogger("benchmark.store.records").removeHandler(listener)
    assert said.is_set(), "the waiting sweep never said that another sweep holds the folder"
    assert len(RunStore(out).read_records()) == 1
    assert (out / "sweep.lock").read_text().strip() == str(os.getpid())  # the new holder's pid


# a bad --out, names given twice

def test_out_pointing_at_a_file_is_a_message(tmp_path, capsys):
    target = tmp_path / "afile"
    target.write_text("not a folder")
    assert main(_micro_run(target)) == 2
    assert f"error: results folder {target} is a file, not a folder" in capsys.readouterr().err
    assert main(_micro_run(target / "sub")) == 2
    assert f"cannot be made: {target} is a file" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into a read-only folder")
def test_out_in_a_read_only_folder_is_a_message(tmp_path, capsys):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        assert main(_micro_run(out)) == 2
    finally:
        out.chmod(0o755)
    assert f"error: cannot write to results folder {out}: Permission denied" in capsys.readouterr().err


def test_an_unwritable_out_is_a_message(tmp_path, monkeypatch, capsys):
    """As above, for root too: the probe file cannot be created."""
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr("benchmark.store.records.tempfile.TemporaryFile", refuse)
    assert main(_micro_run(tmp_path / "out")) == 2
    assert f"error: cannot write to results folder {tmp_path / 'out'}: Permission denied" in capsys.readouterr().err


def test_a_method_or_seed_given_twice_runs_once(tmp_path, capsys):
    argv = ["run", "--preset", "micro", "--methods", "teacher,teacher", "--seeds", "0,0", "--out", str(tmp_path),
            "--no-tables"]
    assert main(argv) == 0
    assert len(RunStore(tmp_path).read()) == 1
    assert "1 cells run" in capsys.readouterr().out
