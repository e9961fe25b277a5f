"""Would torch.compile bring a CPU synthesis step nearer its input-grad ceiling? (not a test)

The cpu preset's synthesis steps reach about half to three quarters of the teacher's bare forward+input-backward
efficiency; what is left is many small elementwise ops (BN-prior moments and their backward, ReLUs, Adam) and
Python around them, which is what an inductor graph would fuse. This builds one method's synthesizer as
`throughput` does (cpu preset, steady state, the loop's synthesis layout) and times a synthesis step eager and
with the teacher's and the student's forward compiled (inductor, the CPU C++ backend), in one process, eager first.
Wall time, median and min of the timed steps after warm-up; the first step's seconds (the compile) apart.
Beside each, the step's share of the input-grad ceiling as `throughput` defines it (achieved FLOP/s of the step
over that of the teacher's bare forward+input-backward, FLOPs counted once, eager), and the ceiling itself timed
eager and compiled, since compiling lifts the ceiling's own passes too.

    python tests/measurements/measure_compiled_synthesis.py [--methods adi,cmi,frami] [--steps 15] [--threads 2]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmark.config.presets import PRESETS  # noqa: E402
from benchmark.costs.throughput import data_free_method, steady_synthesizer  # noqa: E402
from benchmark.costs.workbench import Workbench, count_flops, time_step  # noqa: E402
from methods.inversion import hooks  # noqa: E402
from methods.inversion.loop import synthesis_layout  # noqa: E402


def compile_forwards(*models: torch.nn.Module, reset: bool = True) -> None:
    """Compile each model's forward and forward_hidden in place: the modules stay the same objects (hooks,
    the synthesizer's references), only what their calls run changes. Dynamo's caches are reset first: it
    compiles a code object for at most `cache_size_limit` guard sets and silently runs eager beyond that, which
    a second method's new model instances would otherwise reach."""
    if reset:
        torch._dynamo.reset()
    for model in models:
        for name in ("forward", "forward_hidden"):
            if hasattr(model, name):
                setattr(model, name, torch.compile(getattr(model, name)))


def timed(step, warmup: int, steps: int) -> tuple[float, float, float]:
    """Seconds of the first call (where compiling happens), then median and min ms of the timed calls after
    the rest of the warm-up (`time_step`, as `throughput` times)."""
    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    timing = time_step(step, torch.device("cpu"), max(0, warmup - 1), steps)
    return first, timing.median_ms, timing.min_ms


def time_ceiling(bench: Workbench, name: str, compiled: bool, warmup: int, steps: int) -> dict:
    """The input-grad row of `throughput`: the teacher's forward and backward to its input, frozen, no hooks."""
    method = data_free_method(name, bench)
    teacher, _ = bench.synthesis_models()
    teacher.eval().requires_grad_(False)
    if compiled:
        compile_forwards(teacher)
    x = torch.randn(method.config.synth_batch, 1, bench.data.n_mels, method.synthesized_frames(bench.ctx),
                    requires_grad=True)

    def step():
        x.grad = None
        teacher(x).float().logsumexp(dim=1).sum().backward()

    flops = count_flops(step)
    warm, median, fastest = timed(step, warmup, steps)
    return {"method": "input-grad", "mode": "compiled" if compiled else "eager", "first_step_s": round(warm, 1),
            "median_ms": round(median, 1), "min_ms": round(fastest, 1), "gflop": round(flops / 1e9, 3),
            "gflops_per_s": round(flops / median / 1e6, 1)}


def time_synthesis(bench: Workbench, name: str, compiled: bool, warmup: int, steps: int) -> dict:
    method = data_free_method(name, bench, iterations=1)
    assert method.config.checkpointing == "off", "the probe assumes no activation checkpointing"
    teacher, student = bench.synthesis_models()
    if compiled:
        compile_forwards(teacher, student)
    synthesizer = steady_synthesizer(method, bench, teacher, student, method.synthesized_frames(bench.ctx))
    if compiled:  # the synthesizer's own networks (CMI's and FRAMI's generator and contrastive head)
        compile_forwards(*(getattr(synthesizer, name) for name in ("generator", "head")
                           if isinstance(getattr(synthesizer, name, None), torch.nn.Module)), reset=False)
    try:
        with synthesis_layout(student, bench.device):
            flops = count_flops(synthesizer.synthesize) if not compiled else None
            warm, median, fastest = timed(synthesizer.synthesize, warmup, steps)
    finally:
        synthesizer.close()
    return {"method": name, "mode": "compiled" if compiled else "eager", "first_step_s": round(warm, 1),
            "median_ms": round(median, 1), "min_ms": round(fastest, 1), "gflop": flops and round(flops / 1e9, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="adi,cmi,frami")
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    # The BN hook asks autograd whether a checkpointed block is being recomputed, a call dynamo cannot trace (a
    # graph break at every BatchNorm layer); the cpu preset checkpoints nothing (asserted per method), so every
    # row, eager and compiled, runs with the answer fixed to no.
    hooks.recomputing = lambda: False
    bench = Workbench(PRESETS.get("cpu"))
    show = lambda row: print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)  # noqa: E731
    for name in args.methods.split(","):
        ceiling = time_ceiling(bench, name, False, args.warmup, args.steps)
        show(ceiling)
        eager = time_synthesis(bench, name, False, args.warmup, args.steps)
        for row in (eager, time_synthesis(bench, name, True, args.warmup, args.steps)):
            row["share_of_eager_ceiling_pct"] = round(100 * eager["gflop"] * 1e3 / row["median_ms"]
                                                      / ceiling["gflops_per_s"], 1)
            show(row)
        show(time_ceiling(bench, name, True, args.warmup, args.steps))


if __name__ == "__main__":
    main()
