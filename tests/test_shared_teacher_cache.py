"""The teacher cache on shared storage: two Ray workers sharing one cache folder train one teacher per key
(the second waits on the key's lock and loads the first's), temp files carry pid and host, and a sweep cell
that finds no cached teacher fails naming the cache instead of training its own."""
from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
from pathlib import Path

import pytest
import torch

from benchmark.checkpoints import teachers
from benchmark.checkpoints.teachers import TeacherCache, TeacherNotCached
from benchmark.config.cells import Cell
from benchmark.config.presets import PRESETS
from benchmark.execution.cell import train_or_load_teacher
from benchmark.execution.executors import ExecutorOptions, RayExecutor
from benchmark.execution.grid import SweepSpec
from benchmark.execution.jobs import Runtime
from benchmark.execution.loading import DataProvider
from benchmark.execution.numerics import Numerics
from benchmark.store.disk import host_tag, key_lock

ray = pytest.importorskip("ray")

MICRO = PRESETS.get("micro")
SPEC = SweepSpec(MICRO, ("synth",), (("wrn16_2_tiny", "wrn10_2_tiny"),), ("kd",), (0,))


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """A local Ray of two workers whose processes all see one cache folder (set before Ray starts them)."""
    cache = tmp_path_factory.mktemp("shared-cache")
    before = {k: os.environ.get(k) for k in ("DFKD_CACHE", "DFKD_PROGRESS")}
    os.environ.update(DFKD_CACHE=str(cache), DFKD_PROGRESS="0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield cache
    ray.shutdown()
    for key, value in before.items():
        os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


def _teacher_in_a_worker(cache: str, gate: str, index: int) -> dict:
    """Runs in a Ray worker: meet the other worker at a file gate, then ask the shared cache for the same
    teacher. Training is held back two seconds, so without a lock both would find no file and train."""
    os.environ.update(DFKD_CACHE=cache, DFKD_PROGRESS="0")
    torch.set_num_threads(1)
    data = DataProvider(SPEC).get("synth")
    real_train = teachers.train_supervised
    temp_names = []

    def slow_train(*args, **kwargs):
        time.sleep(2.0)
        return real_train(*args, **kwargs)

    def noting_save(self, path, model, info):
        temp_names.append(teachers.temp_path(path).name)
        return real_save(self, path, model, info)

    real_save = TeacherCache._save
    teachers.train_supervised, TeacherCache._save = slow_train, noting_save
    try:
        Path(gate, str(index)).touch()
        deadline = time.time() + 120
        while len(os.listdir(gate)) < 2 and time.time() < deadline:
            time.sleep(0.02)
        _, info = train_or_load_teacher(MICRO, data, "wrn16_2_tiny", 0, TeacherCache(Path(cache) / "teachers"),
                                        torch.device("cpu"))
    finally:
        teachers.train_supervised, TeacherCache._save = real_train, real_save
    blob = torch.load(Path(cache) / "teachers" / f"{info['key']}.pt", weights_only=True)
    digest = hashlib.sha1(b"".join(t.numpy().tobytes() for t in blob["state_dict"].values())).hexdigest()
    return {"cached": info["cached"], "digest": digest, "temp_names": temp_names, "pid": os.getpid()}


def test_two_ray_workers_sharing_a_cache_train_one_teacher(shared_cache, tmp_path):
    gate = tmp_path / "gate"
    gate.mkdir()
    task = ray.remote(num_cpus=1)(_teacher_in_a_worker)
    results = ray.get([task.remote(str(shared_cache), str(gate), i) for i in range(2)])
    assert results[0]["pid"] != results[1]["pid"]  # two worker processes
    assert sorted(r["cached"] for r in results) == [False, True]  # one trained, the other waited and loaded
    assert results[0]["digest"] == results[1]["digest"]
    (trainer,) = [r for r in results if not r["cached"]]
    assert trainer["temp_names"] and all(f".{trainer['pid']}@{host_tag()}.tmp" in n for n in trainer["temp_names"])
    assert len(list((shared_cache / "teachers").glob("*.pt"))) == 1
    assert not list((shared_cache / "teachers").glob(".*.tmp"))


def test_a_ray_cell_without_its_cached_teacher_fails_instead_of_training(shared_cache, tmp_path):
    """No teacher phase ran for seed 7: the cell's record says which teacher is missing and where, and no
    teacher was trained inside the cell. (Under --deterministic, so Ray also starts the task's process with
    the fixed cuBLAS workspace in its environment.)"""
    records = []
    runtime = Runtime(SPEC, "cpu", "test", threads=1, numerics=Numerics(deterministic=True))
    before = set((shared_cache / "teachers").glob("*.pt"))
    RayExecutor(ExecutorOptions(cpus_per_cell=1)).run(
        [], [Cell("synth", "wrn16_2_tiny", "wrn10_2_tiny", "kd", 7)], runtime, lambda cell, r: records.append(r))
    (record,) = records
    assert record.status == "failed" and record.error.startswith("TeacherNotCached: no cached teacher")
    assert "wrn16_2_tiny seed=7" in record.error and "DFKD_CACHE" in record.error
    assert set((shared_cache / "teachers").glob("*.pt")) == before
    assert record.numerics["deterministic_algorithms"] and record.numerics["cublas_workspace_config"] == ":4096:8"


def test_a_loading_only_cache_never_trains(tmp_path, monkeypatch):
    data = DataProvider(SPEC).get("synth")
    monkeypatch.setattr(teachers, "train_supervised", lambda *a, **k: pytest.fail("a teacher was trained"))
    with pytest.raises(TeacherNotCached, match=r"no cached teacher .* at .*\.pt: a sweep's cells load"):
        train_or_load_teacher(MICRO, data, "wrn16_2_tiny", 3, TeacherCache(tmp_path).loading_only(),
                              torch.device("cpu"))


def test_a_held_key_lock_makes_the_next_holder_wait_and_names_the_holder(tmp_path, caplog):
    """The lock is the kernel's flock on KEY.lock: a second holder waits (saying who holds it) until release."""
    lock = tmp_path / "abc.lock"
    logger = logging.getLogger("benchmark.checkpoints.teachers")
    caplog.set_level(logging.INFO, logger="benchmark.checkpoints.teachers")
    order = []

    def second_holder():
        with key_lock(lock, "teacher abc", logger):
            order.append("second")

    with key_lock(lock, "teacher abc", logger) as locked:
        assert locked and lock.read_text() == f"host {socket.gethostname()} pid {os.getpid()}\n"
        waiter = threading.Thread(target=second_holder)
        waiter.start()
        deadline = time.time() + 30
        while "waiting for teacher abc" not in caplog.text and time.time() < deadline:
            time.sleep(0.01)
        order.append("first")
    waiter.join(30)
    assert order == ["first", "second"]
    assert f"waiting for teacher abc: host {socket.gethostname()} pid {os.getpid()} holds its lock" in caplog.text
    assert lock.exists()  # never deleted: a waiter on it would otherwise lock another file


def test_a_cache_where_no_lock_can_be_made_goes_on_unlocked(tmp_path):
    (tmp_path / "a-file").write_text("")
    with key_lock(tmp_path / "a-file" / "abc.lock", "teacher abc", logging.getLogger("t")) as locked:
        assert locked is False
