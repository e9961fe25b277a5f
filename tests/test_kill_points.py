"""A sweep SIGKILLed at chosen moments (inside a record write, inside a teacher save) resumes without losing or
duplicating a record. The kill is injected by a wrapper that patches the write in the child process only, so the
moment is exact instead of a race with a timer; the kill between cells is tests/test_records.py's test."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.store.records import RunStore, cell_key
from tests.helpers import REPO

ARGV = ["run", "--preset", "micro", "--methods", "teacher,student,cmi", "--seeds", "2", "--no-tables", "--no-floor"]
CELLS = 6

# Run the CLI in a child whose Nth record write (or first teacher save) writes half its bytes and dies.
WRAPPER = r'''
import os, signal, sys
import benchmark.store.records as records
import benchmark.checkpoints.teachers as teachers
import torch
from benchmark.cli import main

where, count = sys.argv[1], int(sys.argv[2])
calls = {"n": 0}
real_write = os.write

real_write_whole = records._write_whole

def dying_write(fd, data, path):  # the store's one writer of record lines
    calls["n"] += 1
    if calls["n"] == count:
        real_write(fd, bytes(data[: len(data) // 2]))
        os.kill(os.getpid(), signal.SIGKILL)
    return real_write_whole(fd, data, path)

def dying_save(obj, path, *args, **kwargs):
    with open(path, "wb") as fh:
        fh.write(b"PK\x03\x04 half a teacher")
    os.kill(os.getpid(), signal.SIGKILL)

if where == "record":
    records._write_whole = dying_write
else:
    teachers.torch.save = dying_save
sys.exit(main(sys.argv[3:]))
'''


def run_child(out: Path, cache: Path, *wrapper_args: str) -> int:
    env = {**os.environ, "DFKD_PROGRESS": "0", "DFKD_CACHE": str(cache), "WANDB_MODE": "disabled"}
    command = ([sys.executable, "-c", WRAPPER, *wrapper_args] if wrapper_args
               else [sys.executable, "-m", "benchmark"]) + ARGV + ["--out", str(out)]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True).returncode


def test_killed_inside_a_record_write_resumes_without_loss_or_duplicates(tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    assert run_child(out, cache, "record", "3") == -signal.SIGKILL
    text = (out / "runs.jsonl").read_text()
    assert text.count("\n") == 2 and not text.endswith("\n")  # two records, then half of the third
    whole_before = text.splitlines()[:2]
    assert run_child(out, cache) == 0
    after = (out / "runs.jsonl").read_text().splitlines()
    assert after[:2] == whole_before  # nothing written before the kill changed
    with pytest.warns(UserWarning, match="runs.jsonl:3: skipping"):  # the half line, named, then skipped
        records = RunStore(out).read_records()
    assert len(records) == CELLS and len({cell_key(r) for r in records}) == CELLS and all(r.ok for r in records)


def test_killed_inside_a_teacher_save_resumes_and_retrains_the_teacher(tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    assert run_child(out, cache, "teacher", "1") == -signal.SIGKILL
    assert not (out / "runs.jsonl").exists() or not (out / "runs.jsonl").read_text()  # died before any cell
    leftovers = list((cache / "teachers").glob(".*.tmp"))
    assert len(leftovers) == 1 and not list((cache / "teachers").glob("*.pt"))  # half a teacher, never renamed
    assert run_child(out, cache) == 0
    assert not list((cache / "teachers").glob(".*.tmp"))  # the dead process's temp file was removed
    assert len(list((cache / "teachers").glob("*.pt"))) == 2  # one teacher per seed, trained again
    records = RunStore(out).read_records()
    assert len(records) == CELLS and len({cell_key(r) for r in records}) == CELLS and all(r.ok for r in records)
