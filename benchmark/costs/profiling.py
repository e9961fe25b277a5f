"""Where a step's time goes: torch.profiler over a few calls, reduced to the top operators and
the share of wall time spent outside them (Python, hooks, the autograd engine, host-side work).

Operator time is *self* time of `aten::` events (time in the operator itself, not in the operators it
calls), so the events can be summed without double counting, on the clock where the work runs
(`CLOCKS`): on CPU the self CPU time (each operator runs on the calling thread, parallelised inside, so
its self time is wall time of the step); on CUDA the self *device* time, the kernels each operator
launched, since its CPU time is only the launch. On CUDA, "outside operators" is then the share of wall
time the GPU had no kernel of the step: waiting on the host. The profiler adds its own overhead per
event, which lands there too.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable

import torch
from torch.profiler import ProfilerActivity, profile

from methods.inversion.loop import synchronize


@dataclass(frozen=True)
class Clock:
    """How an operator's time is read from a profiler event (microseconds), per device type."""

    name: str  # as reports print it
    self_us: Callable[[Any], float]


CLOCKS: dict[str, Clock] = {
    "cpu": Clock("CPU time", lambda event: event.self_cpu_time_total),
    "cuda": Clock("device time", lambda event: event.self_device_time_total),
}


def clock_for(device: torch.device) -> Clock:
    if device.type not in CLOCKS:
        raise ValueError(f"no profiler clock for device {device.type!r}; known: {', '.join(CLOCKS)}")
    return CLOCKS[device.type]


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
    clock: str = "CPU time"  # what operator time is (Clock.name); profiles before it had only CPU time

    @property
    def outside_operators_share(self) -> float:
        return max(0.0, 1.0 - self.operator_ms_per_step / self.wall_ms_per_step)

    def as_dict(self) -> dict:
        return asdict(self) | {"outside_operators_share": self.outside_operators_share}

    @classmethod
    def from_dict(cls, d: dict) -> "StepProfile":
        return cls(d["steps"], d["wall_ms_per_step"], d["operator_ms_per_step"],
                   [OperatorTime(**o) for o in d["top"]], d.get("clock", "CPU time"))


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
    return summarize(prof.key_averages(), steps, wall_ms, clock_for(device), top)


def summarize(events: Iterable[Any], steps: int, wall_ms: float, clock: Clock, top: int = 10) -> StepProfile:
    """The step's profile from the profiler's key averages: `aten::` operators ranked by self time on `clock`."""
    ops = [e for e in events if e.key.startswith("aten::")]
    operator_ms = sum(clock.self_us(e) for e in ops) / 1000 / steps
    ranked = sorted(ops, key=clock.self_us, reverse=True)[:top]
    return StepProfile(steps, wall_ms, operator_ms, [
        OperatorTime(e.key, e.count // steps, clock.self_us(e) / 1000 / steps,
                     clock.self_us(e) / 1000 / steps / wall_ms) for e in ranked], clock.name)


def profile_markdown(label: str, p: StepProfile) -> list[str]:
    lines = [f"### {label}", "",
             f"{p.wall_ms_per_step:.1f} ms/step under the profiler ({p.steps} steps); operators "
             f"{p.operator_ms_per_step:.1f} ms of {p.clock}, outside operators "
             f"{100 * p.outside_operators_share:.0f}% (Python, hooks, autograd engine, host-side work, profiler "
             "overhead).", "",
             f"| operator | calls/step | ms/step ({p.clock}) | % of wall |", "|---|---|---|---|"]
    lines += [f"| `{o.name}` | {o.calls} | {o.ms_per_step:.2f} | {100 * o.share_of_wall:.1f} |" for o in p.top]
    return lines + [""]
