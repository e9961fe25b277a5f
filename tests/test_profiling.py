"""The profiler ranks operators on the clock where their work runs: device time on CUDA (the kernels an
operator launched; its CPU time there is only the launch), CPU time on CPU. Tested on a fake key-averages
list, so no GPU is needed."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from benchmark.costs.profiling import StepProfile, clock_for, profile_markdown, summarize


def _event(key: str, cpu_us: float, device_us: float, count: int = 2) -> SimpleNamespace:
    return SimpleNamespace(key=key, count=count, self_cpu_time_total=cpu_us, self_device_time_total=device_us)


# On a GPU a convolution is a cheap launch with a long kernel; a host-side copy the reverse.
EVENTS = [_event("aten::cudnn_convolution", cpu_us=200, device_us=9000),
          _event("aten::copy_", cpu_us=3000, device_us=100),
          _event("aten::add_", cpu_us=400, device_us=900),
          _event("Optimizer.step#Adam.step", cpu_us=5000, device_us=0)]  # not an aten operator: never ranked


def test_on_cuda_operators_rank_by_device_time():
    profile = summarize(EVENTS, steps=2, wall_ms=10.0, clock=clock_for(torch.device("cuda")))
    assert [o.name for o in profile.top] == ["aten::cudnn_convolution", "aten::add_", "aten::copy_"]
    assert profile.top[0].ms_per_step == pytest.approx(4.5) and profile.top[0].share_of_wall == pytest.approx(0.45)
    assert profile.operator_ms_per_step == pytest.approx(5.0) and profile.outside_operators_share == pytest.approx(0.5)
    assert profile.clock == "device time"
    assert "ms/step (device time)" in "\n".join(profile_markdown("cmi synthesis", profile))


def test_on_cpu_operators_rank_by_cpu_time():
    profile = summarize(EVENTS, steps=2, wall_ms=10.0, clock=clock_for(torch.device("cpu")), top=2)
    assert [o.name for o in profile.top] == ["aten::copy_", "aten::add_"]
    assert profile.operator_ms_per_step == pytest.approx(1.8) and profile.clock == "CPU time"


def test_a_profile_stored_before_the_clock_field_reads_as_cpu_time():
    stored = {"steps": 3, "wall_ms_per_step": 10.0, "operator_ms_per_step": 8.0,
              "top": [{"name": "aten::mm", "calls": 1, "ms_per_step": 8.0, "share_of_wall": 0.8}]}
    profile = StepProfile.from_dict(stored)
    assert profile.clock == "CPU time" and StepProfile.from_dict(profile.as_dict()) == profile
    with pytest.raises(ValueError, match="no profiler clock for device 'meta'; known: cpu, cuda"):
        clock_for(torch.device("meta"))
