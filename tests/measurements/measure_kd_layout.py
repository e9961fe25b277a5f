"""Where a data-free KD step's time goes on the CPU, and what a channels-last student would save (not a test).

The loop trains the student NCHW during KD (results/README.md, "Cost of one synthesis step on the CPU", the list
after "Since then the CPU synthesis runs in the layouts that are fastest there": a channels-last student corrupted
the heap in FRAMI's reused-backend KD backward, torch 2.9.1).
This times, at the cpu preset's KD batch and the clip length, one logit-KD step (teacher forward without grad,
student forward and backward, AdamW) with the student NCHW and channels-last, and the teacher's forward alone.
Round-robin, one thread, thread CPU time (measure_synthesis_share.thread_times).

    python tests/measurements/measure_kd_layout.py [--rounds 9] [--batch 64]
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmark.config.presets import PRESETS  # noqa: E402
from benchmark.costs.workbench import Workbench  # noqa: E402
from methods.inversion.distill import LogitDistiller  # noqa: E402
from tests.measurements.measure_synthesis_share import thread_times  # noqa: E402

LAYOUTS = {"nchw": torch.contiguous_format, "channels-last": torch.channels_last}


def kd_step(bench: Workbench, teacher, layout, batch: int, frames: int):
    torch.manual_seed(0)
    student = bench.ctx.new_student().train().to(memory_format=layout)
    optimizer = torch.optim.AdamW(student.parameters(), lr=3e-3)
    distiller = LogitDistiller(teacher, student, temperature=20.0)
    x = torch.randn(batch, 1, bench.data.n_mels, frames).contiguous(memory_format=layout)

    def step():
        optimizer.zero_grad(set_to_none=True)
        distiller(x).backward()
        optimizer.step()
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(1)
    bench = Workbench(PRESETS.get("cpu"))
    teacher, _ = bench.synthesis_models()
    frames = bench.data.typical_frames()
    x = torch.randn(args.batch, 1, bench.data.n_mels, frames).contiguous(memory_format=torch.channels_last)

    def teacher_forward():
        with torch.no_grad():
            teacher(x)
    steps = {f"kd step, student {name}": kd_step(bench, teacher, layout, args.batch, frames)
             for name, layout in LAYOUTS.items()}
    steps["teacher forward (no grad)"] = teacher_forward
    times = thread_times(steps, args.rounds)
    print(f"cpu preset, batch {args.batch}, {frames} frames, one thread, thread CPU time over {args.rounds} rounds\n")
    print("| step | min ms | median ms |\n|---|---|---|")
    for name, t in times.items():
        print(f"| {name} | {min(t):.1f} | {statistics.median(t):.1f} |")


if __name__ == "__main__":
    main()
