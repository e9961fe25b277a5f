"""Executors: local worker processes and Ray give the same records as one process; Ray retries a
cell whose worker was killed; teachers are trained before the cells that use them."""
from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from benchmark.config.cells import Cell
from benchmark.config.presets import PRESETS
from benchmark.core.registry import UnknownNameError
from benchmark.execution.executors import ExecutorOptions, LocalExecutor, RayExecutor, default_threads, make_executor
from benchmark.execution.grid import SweepSpec
from benchmark.execution.jobs import Runtime, TeacherJob, teacher_jobs
from benchmark.execution.sweep import run_sweep
from benchmark.store.records import RunStore

ray = pytest.importorskip("ray")

# The smoke preset cut further (one synthesis round): these tests compare executors, not methods. Not the
# micro preset: its barely trained students have near-tied logits, and in a long pytest process a worker's
# and the parent's float rounding differed enough to flip one test prediction.
MICRO = PRESETS.get("micro")
_SMOKE = PRESETS.get("smoke")
TINY = dataclasses.replace(_SMOKE, supervised={**_SMOKE.supervised, "epochs": 4, "min_epochs_before_stop": 4},
                           data_free={**_SMOKE.data_free, "rounds": 1})
SPEC = SweepSpec(TINY, ("synth",), (("wrn16_2_tiny", "wrn10_2_tiny"),), ("teacher", "student", "kd", "cmi"), (0, 1))
# Cells that last long enough (tens of epochs) for the watcher to catch one running and kill its worker.
LONGER = dataclasses.replace(MICRO, supervised={**MICRO.supervised, "epochs": 30, "min_epochs_before_stop": 30,
                                                "patience": 30})
COMPARED = ("status", "accuracy", "val_accuracy", "test_predictions", "config_hash", "torch_threads")


def _sweep(out: Path, executor, spec: SweepSpec = SPEC) -> dict:
    runtime = Runtime(spec, "cpu", "test", threads=1)
    run_sweep(spec, RunStore(out), runtime, executor)
    records = RunStore(out).read()
    return {(r["method"], r["seed"]): r for r in records}


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    return _sweep(tmp_path_factory.mktemp("serial"), LocalExecutor(ExecutorOptions(jobs=1)))


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _same_results(a: dict, b: dict) -> None:
    assert a.keys() == b.keys() and len(a) == len(SPEC.methods) * len(SPEC.seeds)
    for key in a:
        for field in COMPARED:
            assert a[key][field] == b[key][field], (key, field)


def test_local_worker_processes_equal_one_process(serial, tmp_path):
    parallel = _sweep(tmp_path, LocalExecutor(ExecutorOptions(jobs=2)))
    _same_results(serial, parallel)
    assert len({r["worker_pid"] for r in parallel.values()} - {os.getpid()}) >= 1  # really other processes
    assert {r["executor"] for r in parallel.values()} == {"local"}


def test_ray_executor_equals_the_local_executor(serial, local_ray, tmp_path):
    on_ray = _sweep(tmp_path, RayExecutor(ExecutorOptions(cpus_per_cell=1)))
    _same_results(serial, on_ray)
    assert {r["executor"] for r in on_ray.values()} == {"ray"}


def _ray_task_pids(task: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and f"ray::{task}".encode() in (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def test_a_killed_ray_worker_has_its_cell_retried(local_ray, tmp_path):
    spec = dataclasses.replace(SPEC, preset=LONGER, methods=("student",), seeds=(0, 1, 2))
    killed: list[int] = []

    def kill_first_cell_worker():
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            for pid in _ray_task_pids("run_cell_job"):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                break
            time.sleep(0.05)

    watcher = threading.Thread(target=kill_first_cell_worker, daemon=True)
    watcher.start()
    records = _sweep(tmp_path, RayExecutor(ExecutorOptions(cpus_per_cell=1, max_retries=2)), spec)
    watcher.join()
    assert killed, "no Ray worker was running a cell to kill"
    assert sorted(records) == [("student", s) for s in (0, 1, 2)]
    assert all(r["status"] == "ok" for r in records.values())
    assert killed[0] not in {r["worker_pid"] for r in records.values()}  # the retried cell ran elsewhere
    assert len(RunStore(tmp_path).read()) == 3  # one record per cell: no duplicate from the lost attempt


def test_teachers_are_planned_once_each_before_their_cells():
    cells = [Cell("synth", "t", "s", m, seed) for seed in (0, 1) for m in ("student", "kd", "frami", "teacher")]
    assert teacher_jobs(cells) == [TeacherJob("synth", "t", 0), TeacherJob("synth", "t", 1)]
    assert teacher_jobs([Cell("synth", "t", "s", "student", 0)]) == []  # a student from scratch needs none


def test_executor_names_jobs_and_threads_are_checked():
    with pytest.raises(UnknownNameError, match="valid executors: local, ray"):
        make_executor("slurm", ExecutorOptions())
    with pytest.raises(ValueError, match="--jobs must be at least 1"):
        LocalExecutor(ExecutorOptions(jobs=0))
    assert default_threads("ray", ExecutorOptions(cpus_per_cell=3)) == 3
    assert default_threads("local", ExecutorOptions(jobs=1)) is None
    assert default_threads("local", ExecutorOptions(jobs=os.cpu_count() or 1)) == 1
