"""What oneDNN's kernel cache size does to a process that runs steps of several kinds (not a test): per cache size,
in a fresh process each, a sequence of epochs (the student's, the teacher's, the student's again, KD's twice) at the
preset's shapes, with each epoch's mean ms a step and how many kernels it compiled (ONEDNN_VERBOSE=2 counts them, in
a second process of its own, since printing them costs time).

    python tests/measurements/measure_kernel_cache.py --preset cpu --capacities 1024 16384 --rounds 2
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# (label, timer key of benchmark.costs.calibration.step_timers); an epoch is one call per batch of the split
SEQUENCE = [("student", ("student", "train")), ("student again", ("student", "train")),
            ("teacher", ("-", "teacher")), ("student after teacher", ("student", "train")),
            ("student again", ("student", "train")), ("kd", ("kd", "train")), ("kd again", ("kd", "train"))]

CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
import torch
from benchmark.config.presets import PRESETS
from benchmark.costs.calibration import step_timers
from benchmark.costs.workbench import Workbench
torch.set_num_threads({threads})
bench = Workbench(PRESETS.get({preset!r}), device=torch.device("cpu"), warmup=0, repeats=1, trained_teacher=False,
                  count_work=False)
bench.repeats = len(bench.epoch("train", bench.config("student").batch_size))  # one call a batch: an epoch
timers = step_timers(bench, ["student", "kd"])
out = []
for label, key in {sequence!r}:
    print("=== epoch", flush=True)
    out.append(1000 * timers[tuple(key)]())
print("RESULT " + json.dumps(out), flush=True)
"""


def run_child(preset: str, capacity: int, threads: int, verbose: bool) -> tuple[list[float], list[int]]:
    code = CHILD.format(root=str(ROOT), threads=threads, preset=preset, sequence=[(l, list(k)) for l, k in SEQUENCE])
    env = dict(os.environ, ONEDNN_PRIMITIVE_CACHE_CAPACITY=str(capacity))
    if verbose:
        env["ONEDNN_VERBOSE"] = "2"
    lines = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                           check=True).stdout.splitlines()
    ms = json.loads(next(line for line in lines if line.startswith("RESULT "))[len("RESULT "):])
    compiled: list[int] = []
    for line in lines:  # oneDNN prints through the same stdout, flushed at each marker
        if line.startswith("=== epoch"):
            compiled.append(0)
        elif "create:cache_miss" in line and compiled:
            compiled[-1] += 1
    return ms, compiled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--capacities", type=int, nargs="+", default=[1024, 16384])
    parser.add_argument("--rounds", type=int, default=2, help="timing processes per capacity, alternated")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    compiled = {c: run_child(args.preset, c, args.threads, verbose=True)[1] for c in args.capacities}
    timings = {c: [] for c in args.capacities}
    for _ in range(args.rounds):  # alternated, so the machine's drift falls on every capacity alike
        for c in args.capacities:
            timings[c].append(run_child(args.preset, c, args.threads, verbose=False)[0])
    header = " | ".join(f"cache {c}: ms a step (per process) / kernels compiled" for c in args.capacities)
    print(f"| epoch | {header} |")
    print("|---|" + "---|" * len(args.capacities))
    for i, (label, _) in enumerate(SEQUENCE):
        cells = [" / ".join([", ".join(f"{t[i]:.1f}" for t in timings[c]), str(compiled[c][i])])
                 for c in args.capacities]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
