"""Reproducible, well-described CUDA records, proven on CPU: TF32 and determinism are set in one place and
read back into every record; --deterministic reaches torch and CUBLAS_WORKSPACE_CONFIG and is recorded; a
CUDA record names torch's CUDA and cuDNN, the driver, the GPU's name, UUID and MIG slice (torch.cuda faked)."""
from __future__ import annotations

import json
import os
import subprocess
from types import SimpleNamespace

import pytest
import torch

from benchmark.cli import main as cli_main
from benchmark.execution import environment
from benchmark.execution.environment import cuda_facts
from benchmark.execution.numerics import Numerics, apply_numerics, numerics_state, tf32_in_effect


@pytest.fixture
def restore_numerics(monkeypatch):
    """Tests here change process-wide torch flags: put them back after each test."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
             torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)  # monkeypatch restores the old value
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[:2]
    torch.use_deterministic_algorithms(saved[2], warn_only=saved[3])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[4:]


def test_apply_numerics_sets_one_tf32_mode_and_determinism(restore_numerics):
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = False, True  # torch's defaults
    apply_numerics(Numerics())
    state = numerics_state()
    assert (state.tf32_matmul, state.tf32_cudnn, state.deterministic_algorithms, state.cudnn_deterministic,
            state.cudnn_benchmark, state.cublas_workspace_config) == (False, False, False, False, False, None)
    assert not tf32_in_effect()
    apply_numerics(Numerics(tf32=True, deterministic=True))
    state = numerics_state()
    assert state.tf32_matmul and state.tf32_cudnn and tf32_in_effect()
    assert state.deterministic_algorithms and not state.deterministic_warn_only and state.cudnn_deterministic
    assert state.cublas_workspace_config == os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"


def test_a_deterministic_workspace_already_set_is_kept(restore_numerics, monkeypatch):
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    apply_numerics(Numerics(deterministic=True))
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"
    assert Numerics(deterministic=True).env() == {"CUBLAS_WORKSPACE_CONFIG": ":4096:8"} and Numerics().env() == {}


def test_run_deterministic_and_tf32_are_recorded_outside_the_config_hash(restore_numerics, tmp_path):
    """One micro cell with and without the flags: each record carries what torch had; same config hash."""
    hashes = {}
    for flags in ([], ["--deterministic", "--tf32"]):
        out = tmp_path / ("flags" if flags else "plain")
        assert cli_main(["run", "--preset", "micro", "--methods", "student", "--seeds", "1", "--out", str(out),
                         "--device", "cpu", "--no-tables", *flags]) == 0
        (record,) = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
        assert record["status"] == "ok" and record["schema_version"] == 6
        numerics = record["numerics"]
        assert numerics["deterministic_algorithms"] is numerics["cudnn_deterministic"] is bool(flags)
        assert numerics["tf32_matmul"] is numerics["tf32_cudnn"] is bool(flags)
        assert numerics["cublas_workspace_config"] == (":4096:8" if flags else None)
        # the CPU kernels the cell computed with (capped at AVX2 on x86 hosts that have it: core/cpu_isa.py)
        assert numerics["cpu_kernels"].startswith(torch.backends.cpu.get_cpu_capability() + ", oneDNN <= ")
        assert record["cuda"]["driver"] is None and record["cuda"]["gpu"] is None  # a CPU cell asks for neither
        assert record["cuda"]["torch_cuda"] == torch.version.cuda
        assert (record["gpus_per_cell"], record["gpu_shared"]) == (0.0, None)
        hashes[bool(flags)] = record["config_hash"]
    assert hashes[True] == hashes[False]


def _fake_gpu(monkeypatch, name: str, visible: str | None = None):
    props = SimpleNamespace(name=name, uuid="58389ee6-1a2b-3c4d-5e6f-0123456789ab", total_memory=80 * 2**30)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: props)
    monkeypatch.setattr(environment, "driver_version", lambda: "570.86.15")
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)


def test_a_cuda_record_names_the_stack_and_the_gpu(monkeypatch):
    _fake_gpu(monkeypatch, "NVIDIA H200", visible="3")
    facts = cuda_facts(torch.device("cuda")).as_dict()
    assert facts["torch_cuda"] == torch.version.cuda and facts["cudnn"] == torch.backends.cudnn.version()
    assert facts["driver"] == "570.86.15"
    assert facts["gpu"] == {"index": 0, "name": "NVIDIA H200", "uuid": "GPU-58389ee6-1a2b-3c4d-5e6f-0123456789ab",
                            "mig": None, "total_memory_mb": 80 * 1024.0, "visible_devices": "3"}


@pytest.mark.parametrize("name, visible, mig", [
    ("NVIDIA A100-SXM4-40GB MIG 1g.5gb", None, "1g.5gb"),
    ("NVIDIA A100-SXM4-40GB", "MIG-0c2bd8a1-77c6-5b9a-a4a3-1f2e3d4c5b6a", "MIG-0c2bd8a1-77c6-5b9a-a4a3-1f2e3d4c5b6a"),
])
def test_a_mig_slice_is_named(monkeypatch, name, visible, mig):
    _fake_gpu(monkeypatch, name, visible)
    gpu = cuda_facts(torch.device("cuda")).gpu
    assert gpu.mig == mig and gpu.uuid.startswith("MIG-")


def test_the_driver_comes_from_nvidia_smi_and_is_none_without_it(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "pynvml", None)  # no NVML bindings: nvidia-smi is asked
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        return SimpleNamespace(stdout="570.86.15\n570.86.15\n")

    environment.driver_version.cache_clear()
    monkeypatch.setattr(environment.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    monkeypatch.setattr(environment.subprocess, "run", fake_run)
    assert environment.driver_version() == "570.86.15"
    assert calls == [["/usr/bin/nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]]

    def failing_run(cmd, **kwargs):
        raise subprocess.TimeoutExpired(cmd, 20)

    environment.driver_version.cache_clear()
    monkeypatch.setattr(environment.subprocess, "run", failing_run)
    assert environment.driver_version() is None  # a hung or broken nvidia-smi never fails a record
    environment.driver_version.cache_clear()
    monkeypatch.setattr(environment.shutil, "which", lambda name: None)
    assert environment.driver_version() is None
    environment.driver_version.cache_clear()


def test_a_gpu_that_cannot_be_queried_leaves_the_facts_empty_not_a_failed_cell(monkeypatch):
    def broken(index):
        raise RuntimeError("CUDA error: unknown error")

    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", broken)
    assert cuda_facts(torch.device("cuda:1")).gpu is None


def test_the_matmul_peak_is_measured_in_the_works_tf32_mode(restore_numerics, monkeypatch):
    """torch's defaults let convolutions use TF32 but not matmuls: a peak measured so would be an fp32 peak
    for TF32 work, and the work's % of peak could pass 100%. The peak takes the work's mode and says so."""
    from benchmark.costs import workbench

    modes = []
    real_mm = torch.mm
    monkeypatch.setattr(torch, "mm", lambda a, b: modes.append(torch.backends.cuda.matmul.allow_tf32) or real_mm(a, b))
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = False, True
    peak = workbench.measure_matmul_peak(torch.device("cpu"), 16, "fp32", warmup=1, repeats=3)
    assert peak.tf32 and modes and all(modes)
    assert torch.backends.cuda.matmul.allow_tf32 is False  # the process's mode is left as it was
    modes.clear()
    apply_numerics(Numerics(tf32=False))
    peak = workbench.measure_matmul_peak(torch.device("cpu"), 16, "fp32", warmup=1, repeats=3)
    assert not peak.tf32 and modes and not any(modes)
    assert not workbench.measure_matmul_peak(torch.device("cpu"), 16, "bf16", warmup=1, repeats=3).tf32
