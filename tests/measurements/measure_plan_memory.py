"""Predicted vs measured peak memory of one synthesis step on this CPU: is the planner's count right?

    python tests/measurements/measure_plan_memory.py [--methods adi,cmi,frami] [--batches 2,4,8] [--out DIR]

For each method and batch, the planner counts the step on the meta device (benchmark/planning/steps.py) and a
fresh process runs the same step for real on the CPU: the paper preset's config (WRN-40-2 -> WRN-16-2, 64 mels,
5 s ESC-50 clips, 50 classes; FRAMI at twice the length), one iteration, the local view at full length (the
planner's case), the memory bank full; weights are freshly initialised (memory does not depend on training).
After a warm-up step at a tiny length (code paged in, thread pools up), measured = the process's peak resident
memory during the step (VmHWM after a reset through clear_refs) minus
its resident memory just before; glibc is told to return every block over 64 KiB to the system
(MALLOC_MMAP_THRESHOLD_), so freed tensors leave the resident set as an allocator would release them.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

PAIR = ("wrn40_2", "wrn16_2")
CLASSES, N_MELS, FRAMES, DIM = 50, 64, 501, 128


def config(method: str, batch: int):
    from benchmark.config.presets import PRESETS
    from methods import method_config
    cfg = method_config(method, PRESETS.get("paper"))
    return dataclasses.replace(cfg, synth_batch=batch, iterations=1,
                               views=dataclasses.replace(cfg.views, local_min_fraction=1.0))


def frames(cfg) -> int:
    return max(8, round(cfg.length_factor * FRAMES))


def predicted(method: str, batch: int) -> int:
    from benchmark.planning import steps
    cfg = config(method, batch)
    return steps.synthesis_step(method, cfg, *PAIR, CLASSES, N_MELS, frames(cfg), DIM, flops=False).peak_bytes


def measure_child(method: str, batch: int) -> None:
    """Runs in its own process: the real step on the CPU, printing the measured bytes as JSON."""
    from types import SimpleNamespace

    import torch

    from benchmark.planning.memory import ResidentPeak
    from methods import build_method
    from models import create_model
    torch.manual_seed(0)
    cfg = config(method, batch)
    teacher = create_model(PAIR[0], CLASSES, DIM).eval().requires_grad_(False)
    student = create_model(PAIR[1], CLASSES, DIM).eval()
    ctx = SimpleNamespace(data=SimpleNamespace(num_classes=CLASSES, n_mels=N_MELS), device=torch.device("cpu"),
                          seed=0, amp=False)
    method_obj = build_method(method, cfg)
    # Warm-up at a tiny length: the first convolution pages kernels' code in and starts thread pools, memory a
    # GPU process holds before any step too (its CUDA context); it is not the step's.
    warm = method_obj.make_synthesizer(ctx, teacher, student, 16)
    warm.synthesize()
    warm.close()
    del warm
    before = ResidentPeak.reset()
    synthesizer = method_obj.make_synthesizer(ctx, teacher, student, frames(cfg))
    bank = getattr(synthesizer, "bank", None)
    if bank is not None:
        bank.add(torch.randn(bank.size, bank.data.shape[1]))
    synthesizer.synthesize()
    peak = ResidentPeak.peak()
    print(json.dumps({"measured": peak - before, "rss_before": before, "peak_rss": peak}))


def measured(method: str, batch: int) -> dict:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="65536")
    out = subprocess.run([sys.executable, __file__, "--child", method, str(batch)], env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--methods", default="adi,cmi,frami")
    p.add_argument("--batches", default="2,4,8")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--child", nargs=2, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        measure_child(args.child[0], int(args.child[1]))
        return 0
    rows = []
    for method in args.methods.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            m = measured(method, batch)
            pred = predicted(method, batch)
            row = {"method": method, "pair": ":".join(PAIR), "batch": batch, "frames": frames(config(method, batch)),
                   "checkpointing": config(method, batch).checkpointing, "predicted_gib": pred / 2**30,
                   "measured_gib": m["measured"] / 2**30, "peak_rss_gib": m["peak_rss"] / 2**30,
                   "error": pred / m["measured"] - 1}
            rows.append(row)
            print(f"{method:6s} batch {batch:2d}: predicted {row['predicted_gib']:.3f} GiB, measured "
                  f"{row['measured_gib']:.3f} GiB ({100 * row['error']:+.1f}%), process peak {row['peak_rss_gib']:.2f} GiB",
                  flush=True)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "memory_check.json").write_text(json.dumps(
            {"command": "python " + " ".join(sys.argv), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
