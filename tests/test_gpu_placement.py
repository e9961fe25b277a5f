"""Many GPUs, proven on CPU: contradictory flags fail before work with one line naming them; `--jobs N`
pins worker i to GPU i mod count; Ray cells get a whole GPU unless told otherwise; every record states its
GPU share and whether the GPU was shared. CUDA is faked by monkeypatching torch.cuda; nothing here needs a GPU."""
from __future__ import annotations

import multiprocessing
import os
from types import SimpleNamespace

import pytest
import torch

from benchmark.cli import main as cli_main
from benchmark.config.cells import Cell
from benchmark.config.presets import PRESETS
from benchmark.execution import executors, jobs
from benchmark.execution.executors import ExecutorOptions, RayExecutor, worker_pool
from benchmark.execution.grid import SweepSpec
from benchmark.execution.numerics import Numerics
from benchmark.execution.placement import (GpuSlot, PlacementError, PlacementRequest, check_ray_gpus, local_gpu_slots,
                                           resolve_placement)
from benchmark.store.record_schema import RunRecord

SPEC = SweepSpec(PRESETS.get("micro"), ("synth",), (("wrn16_2_tiny", "wrn10_2_tiny"),), ("kd",), (0,))


def _request(executor="local", device="auto", gpus=None, address=None, cuda=False) -> PlacementRequest:
    return PlacementRequest(executor, device, gpus, address, cuda)


@pytest.mark.parametrize("request_, flags", [
    (_request(device="cuda", gpus=0.0, cuda=True), ["--device cuda --gpus-per-cell 0", "--gpus-per-cell 1"]),
    (_request("ray", "cuda", 0.0, "auto", cuda=True), ["--device cuda --gpus-per-cell 0", "--device cpu"]),
    (_request("ray", "cpu", 1.0), ["--device cpu --gpus-per-cell 1", "drop --gpus-per-cell"]),
    (_request("ray", "cuda"), ["--device cuda asks for CUDA workers", "no visible CUDA GPU",
                               "a Ray started on this machine", "--ray-address ADDR"]),
    (_request("ray", "auto", 1.0), ["--gpus-per-cell 1 asks for CUDA workers", "--ray-address ADDR"]),
    (_request("local", "cuda"), ["--device cuda asks for CUDA workers", "--executor local", "--device cpu"]),
    (_request("local", "auto", 1.0, cuda=True), ["--gpus-per-cell is a Ray option", "GPU i mod count"]),
    (_request("ray", "auto", -1.0), ["--gpus-per-cell -1 is negative"]),
    (_request(device="tpu"), ["valid devices: auto, cpu, cuda"]),
])
def test_contradictory_flags_are_one_line_naming_flags_and_fix(request_, flags):
    with pytest.raises(PlacementError) as info:
        resolve_placement(request_)
    message = str(info.value)
    assert "\n" not in message and all(flag in message for flag in flags), message


@pytest.mark.parametrize("request_, device, gpus", [
    (_request("ray", "cuda", None, "ray://head:10001"), "cuda", 1.0),  # GPU-less head, GPU cluster: whole GPU
    (_request("ray", "auto", None, cuda=True), "cuda", 1.0),
    (_request("ray", "auto", 0.25, cuda=True), "cuda", 0.25),
    (_request("ray", "auto", 0.0, cuda=True), "cpu", 0.0),
    (_request("ray", "auto"), "cpu", 0.0),
    (_request("local", "auto", cuda=True), "cuda", 1.0),
    (_request("local", "auto"), "cpu", 0.0),
])
def test_placement_defaults_give_ray_cells_a_whole_gpu(request_, device, gpus):
    assert resolve_placement(request_) == type(resolve_placement(request_))(device, gpus)


def test_run_refuses_contradictory_flags_before_any_work(tmp_path, capsys):
    out = tmp_path / "out"
    code = cli_main(["run", "--preset", "micro", "--methods", "kd", "--seeds", "1", "--out", str(out),
                     "--device", "cuda", "--gpus-per-cell", "0", "--executor", "ray", "--no-tables"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: --device cuda --gpus-per-cell 0") and "\n" not in err
    assert not (out / "runs.jsonl").exists()


def test_workers_are_pinned_to_gpu_i_mod_count():
    slots = local_gpu_slots(5, ["0", "1"])
    assert [s.visible_device for s in slots] == ["0", "1", "0", "1", "0"]
    assert [s.share for s in slots] == [pytest.approx(1 / 3), 0.5, pytest.approx(1 / 3), 0.5, pytest.approx(1 / 3)]
    assert all(s.shared for s in slots)
    assert [(s.visible_device, s.shared) for s in local_gpu_slots(2, ["GPU-a", "GPU-b", "GPU-c"])] == [
        ("GPU-a", False), ("GPU-b", False)]
    with pytest.raises(PlacementError, match="no CUDA GPU is visible"):
        local_gpu_slots(2, [])


def _probe(barrier) -> tuple[str | None, GpuSlot | None]:
    barrier.wait(timeout=120)  # every worker holds one probe, so each of them answers once
    return os.environ.get("CUDA_VISIBLE_DEVICES"), jobs._STATE.gpu_slot


def test_jobs_workers_each_see_their_own_gpu(monkeypatch):
    """Three spawned workers on two (faked) GPUs: worker i sees only GPU i mod 2, before CUDA starts in it."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    runtime = jobs.Runtime(SPEC, "cuda", "test", threads=1, numerics=Numerics(deterministic=True))
    with multiprocessing.Manager() as manager, worker_pool(3, runtime) as pool:
        barrier = manager.Barrier(3)
        seen = sorted((env, slot.visible_device, slot.share) for env, slot in
                      [f.result() for f in [pool.submit(_probe, barrier) for _ in range(3)]])
    assert seen == [("0", "0", 0.5), ("0", "0", 0.5), ("1", "1", 1.0)]


def _fake_cell_run(monkeypatch, gpu_slot: GpuSlot | None):
    """run_cell_job with the cell, its data and its device faked: the CUDA device is only named, never used."""
    state = jobs._WorkerState()
    state.gpu_slot = gpu_slot
    monkeypatch.setattr(state, "data", lambda spec, name: SimpleNamespace(class_names=[]))
    monkeypatch.setattr(jobs, "_STATE", state)
    monkeypatch.setattr(jobs, "_configure", lambda runtime: torch.device(runtime.device))
    monkeypatch.setattr(jobs, "run_cell", lambda cell, *a, **k: RunRecord(
        cell.dataset, cell.teacher, cell.student, cell.pair, cell.method, cell.seed, "micro", "failed"))


@pytest.mark.parametrize("device, share, slot, expected", [
    ("cuda", 1.0, None, (1.0, False)),  # in-process, or a Ray task with a whole GPU
    ("cuda", 0.25, None, (0.25, True)),  # Ray --gpus-per-cell 0.25
    ("cuda", 1.0, GpuSlot("1", 0.5), (0.5, True)),  # --jobs 4 on 2 GPUs: the worker's own share
    ("cpu", 1.0, None, (0.0, None)),
])
def test_every_record_states_its_gpu_share(monkeypatch, device, share, slot, expected):
    _fake_cell_run(monkeypatch, slot)
    runtime = jobs.Runtime(SPEC, device, "test", gpu_share=share)
    record = jobs.run_cell_job(Cell("synth", "wrn16_2_tiny", "wrn10_2_tiny", "kd", 0), runtime)
    assert (record.gpus_per_cell, record.gpu_shared) == expected


class _FakeRay:
    """Enough of Ray to run RayExecutor in this process: tasks run at once, their options are kept."""

    def __init__(self, gpus: float):
        self.gpus = gpus
        self.options: list[dict] = []

    def cluster_resources(self):
        return {"CPU": 2.0, "GPU": self.gpus} if self.gpus else {"CPU": 2.0}

    def remote(self, **options):
        self.options.append(options)
        return lambda fn: SimpleNamespace(remote=lambda *args: fn(*args))

    def get(self, refs):
        return refs

    def wait(self, refs, num_returns=1):
        return refs[:num_returns], refs[num_returns:]


def test_ray_tasks_ask_for_the_share_and_its_records_say_so(monkeypatch):
    fake = _FakeRay(gpus=2)
    runtimes = []
    monkeypatch.setattr(RayExecutor, "_connect", lambda self: fake)
    monkeypatch.setattr(executors, "run_cell_job", lambda cell, runtime: runtimes.append(runtime) or cell)
    cell = Cell("synth", "wrn16_2_tiny", "wrn10_2_tiny", "adi", 0)
    runtime = jobs.Runtime(SPEC, "cuda", "test", numerics=Numerics(deterministic=True))
    got = []
    RayExecutor(ExecutorOptions(gpus_per_cell=0.5)).run([], [cell], runtime, lambda c, r: got.append(r))
    assert got == [cell] and runtimes[0].gpu_share == 0.5 and runtimes[0].executor == "ray"
    assert {o["num_gpus"] for o in fake.options} == {0.5}
    # the fixed cuBLAS workspace is in the task's environment before its process starts
    assert all(o["runtime_env"] == {"env_vars": {"CUBLAS_WORKSPACE_CONFIG": ":4096:8"}} for o in fake.options)


def test_ray_refuses_before_work_when_the_cluster_has_too_few_gpus(monkeypatch):
    fake = _FakeRay(gpus=0)
    monkeypatch.setattr(RayExecutor, "_connect", lambda self: fake)
    monkeypatch.setattr(executors, "run_teacher_job", lambda *a: pytest.fail("a job ran"))
    options = ExecutorOptions(gpus_per_cell=1.0, ray_address="ray://head:10001")
    with pytest.raises(PlacementError, match="at ray://head:10001 has 0 GPUs but every task asks for 1"):
        RayExecutor(options).run([jobs.TeacherJob("synth", "wrn16_2_tiny", 0)], [],
                                 jobs.Runtime(SPEC, "cuda", "test"), lambda c, r: None)
    check_ray_gpus(0.0, 0.0, None)  # CPU tasks need no GPU
    check_ray_gpus(1.0, 0.5, None)
