"""Where a step's time goes: torch.profiler over a few calls, reduced to the top operators and
the share of wall time spent outside them (Python, hooks, the autograd engine, host-side work).

Operator time is the *self* CPU time of `aten::` events (time in the operator itself, not in the
operators it calls), so the events can be summed without double counting; on CPU each operator
runs on the calling thread (parallelised inside), so its self time is wall time of the step.
The profiler adds its own overhead per event, which lands in "outside operators".
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
from torch.profiler import ProfilerActivity, profile

from methods.inversion.loop import synchronize


@dataclass(frozen=True)
class OperatorTime:
    name: str
    calls: int
    ms_per_step: float
    share_of_wall: float


@dataclass
class StepProfile:
    steps: int
    wall_ms_per_step: float
    operator_ms_per_step: float
    top: list[OperatorTime] = field(default_factory=list)

    @property
    def outside_operators_share(self) -> float:
        return max(0.0, 1.0 - self.operator_ms_per_step / self.wall_ms_per_step)

    def as_dict(self) -> dict:
        return asdict(self) | {"outside_operators_share": self.outside_operators_share}

    @classmethod
    def from_dict(cls, d: dict) -> "StepProfile":
        return cls(d["steps"], d["wall_ms_per_step"], d["operator_ms_per_step"],
                   [OperatorTime(**o) for o in d["top"]])


def profile_step(step: Callable[[], object], device: torch.device, warmup: int = 1, steps: int = 3,
                 top: int = 10) -> StepProfile:
    for _ in range(warmup):
        step()
    synchronize(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        start = time.perf_counter()
        for _ in range(steps):
            step()
        synchronize(device)
        wall_ms = 1000 * (time.perf_counter() - start) / steps
    ops = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    operator_ms = sum(e.self_cpu_time_total for e in ops) / 1000 / steps
    ranked = sorted(ops, key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    return StepProfile(steps, wall_ms, operator_ms, [
        OperatorTime(e.key, e.count // steps, e.self_cpu_time_total / 1000 / steps,
                     e.self_cpu_time_total / 1000 / steps / wall_ms) for e in ranked])


def profile_markdown(label: str, p: StepProfile) -> list[str]:
    lines = [f"### {label}", "",
             f"{p.wall_ms_per_step:.1f} ms/step under the profiler ({p.steps} steps); operators "
             f"{p.operator_ms_per_step:.1f} ms, outside operators {100 * p.outside_operators_share:.0f}% "
             "(Python, hooks, autograd engine, host-side work, profiler overhead).", "",
             "| operator | calls/step | ms/step | % of wall |", "|---|---|---|---|"]
    lines += [f"| `{o.name}` | {o.calls} | {o.ms_per_step:.2f} | {100 * o.share_of_wall:.1f} |" for o in p.top]
    return lines + [""]
