"""Each data-free method's synthesis step against the teacher's input-gradient ceiling (not a test).

The `throughput` command times steps by wall clock with the preset's threads, which a shared machine's load
moves. This script times the same steps (built as `throughput` builds them: models as the loop holds them,
steady state, one optimisation step) on one thread, round-robin (each step once per round, so a change in load
hits every step alike), by the thread's own CPU time, min over rounds; FLOPs from the same counter. The share
of the ceiling is (FLOPs/s of the step) / (FLOPs/s of the teacher's bare forward+backward to its input at the
same batch and length): the number the CPU synthesis-efficiency target sets at 85% (results/README.md, "Cost of
one synthesis step on the CPU").

    python tests/measurements/measure_synthesis_share.py --methods adi,cmi,frami [--preset cpu] [--rounds 7]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmark.config.presets import PRESETS  # noqa: E402
from benchmark.costs.throughput import data_free_method  # noqa: E402
from benchmark.costs.workbench import Workbench, count_flops  # noqa: E402
from methods.inversion.hooks import frozen  # noqa: E402
from methods.inversion.loop import synthesis_layout  # noqa: E402


def thread_times(steps: dict, rounds: int) -> dict[str, list[float]]:
    for step in steps.values():
        step()
    times = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.thread_time()
            step()
            times[name].append(1000 * (time.thread_time() - start))
    return times


def parse_arguments(description: str) -> argparse.Namespace:
    """The options both measuring scripts take."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--methods", default="adi,cmi,frami")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--rounds", type=int, default=7)
    return parser.parse_args()


def steady_synthesis_steps(bench: Workbench, teacher, student, names: str) -> dict[str, tuple]:
    """name -> (method, synthesized frames, one steady-state synthesis step) for each comma-separated name."""
    steps = {}
    for name in names.split(","):
        method = data_free_method(name, bench, iterations=1)
        frames = method.synthesized_frames(bench.ctx)
        synthesizer = method.make_synthesizer(bench.ctx, teacher, student, frames)
        synthesizer.to_steady_state()
        steps[name] = (method, frames, synthesizer.synthesize)
    return steps


def one_thread_models(preset: str):
    """The bench and its models as the loop holds them, on one thread (the measurement's setting)."""
    torch.set_num_threads(1)
    bench = Workbench(PRESETS.get(preset))
    teacher, student = bench.synthesis_models()
    student.eval()
    return bench, teacher, student


def main() -> None:
    args = parse_arguments(__doc__.splitlines()[0])
    bench, teacher, student = one_thread_models(args.preset)
    synthesis = steady_synthesis_steps(bench, teacher, student, args.methods)
    steps = {name: step for name, (_, _, step) in synthesis.items()}
    frames_of = {name: frames for name, (_, frames, _) in synthesis.items()}
    batch = data_free_method(next(iter(steps)), bench).config.synth_batch
    ceilings = {}
    for frames in sorted(set(frames_of.values())):
        x = torch.randn(batch, 1, bench.data.n_mels, frames, requires_grad=True)

        def input_grad(x=x):
            x.grad = None
            with frozen(teacher):
                teacher(x).logsumexp(1).sum().backward()

        ceilings[frames] = f"input-grad@{frames}"
        steps[ceilings[frames]] = input_grad
    with synthesis_layout(student, bench.device):
        flops = {name: count_flops(step) for name, step in steps.items()}
        times = thread_times(steps, args.rounds)
    rate = {name: flops[name] / min(t) for name, t in times.items()}
    print(f"preset {args.preset}, batch {batch}, one thread, thread CPU time over {args.rounds} rounds\n")
    print("| step | GFLOP | min ms | median ms | GFLOP/s | share of its ceiling |\n|---|---|---|---|---|---|")
    for name, t in times.items():
        ceiling = ceilings.get(frames_of.get(name))
        share = f"{rate[name] / rate[ceiling]:.3f}" if ceiling else "-"
        print(f"| {name} | {flops[name] / 1e9:.2f} | {min(t):.1f} | {statistics.median(t):.1f} | "
              f"{rate[name] / 1e6:.1f} | {share} |")


if __name__ == "__main__":
    main()
