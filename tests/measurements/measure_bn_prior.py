"""Does matching the teacher's BN statistics make a batch look real? (not a test; what it gave: results/README.md,
"Budget curve, and why the data-free students are weak")

On one preset's trained teacher, the BN-statistics loss (DeepInversion's r_feature, every BatchNorm2d
weighted 1) of real training batches, of Gaussian noise and of synthesized pools (ADI, CMI at the
preset's budget), at several batch sizes, with the teacher's target agreement on each pool. If
synthesized batches match the BN statistics as well as real batches of the same size do while students
learn little from them, the BN prior of this teacher does not pin down realistic spectrograms; if real
batches' own loss falls steeply with the batch size, small synthesis batches are judged against noisy
statistics.

    python tests/measurements/measure_bn_prior.py --preset cpu --seed 0 [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmark.config.presets import PRESETS  # noqa: E402
from methods.inversion.diagnostics import bn_losses, real_batch, teacher_view  # noqa: E402
from tests.measurements.measure_synthesis import synthesizer_for  # noqa: E402

BATCH_SIZES = (8, 32, 128)
REPEATS = 6  # batches averaged per size


def measure(preset_name: str, seed: int, pool_batches: int) -> dict:
    preset = PRESETS.get(preset_name)
    out: dict = {"preset": preset_name, "seed": seed, "batch_sizes": BATCH_SIZES, "pools": {}}
    pools = {}
    for method in ("adi", "cmi"):
        synthesizer, ctx = synthesizer_for(preset, method, seed)
        batches, targets = [], []
        for _ in range(pool_batches):
            batches.append(synthesizer.synthesize().detach().cpu())
            targets.append(synthesizer.last_targets.cpu())
        synthesizer.close()
        pools[method] = torch.cat(batches)
        teacher, _ = ctx.teacher()
        out["pools"][method] = {"size": len(pools[method]), **teacher_view(
            teacher, pools[method], torch.cat(targets), ctx.data.num_classes, torch.device("cpu"))}
    teacher, _ = ctx.teacher()
    frames = pools["adi"].shape[-1]
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for size in BATCH_SIZES:
        row = {"batch": size,
               "real": bn_losses(teacher, [real_batch(ctx.data.train, size, frames, generator)
                                           for _ in range(REPEATS)], torch.device("cpu")),
               "noise": bn_losses(teacher, [torch.randn(size, *pools["adi"].shape[1:], generator=generator)
                                            for _ in range(REPEATS)], torch.device("cpu"))}
        for method, pool in pools.items():
            if size <= len(pool):
                row[method] = bn_losses(teacher, [pool[torch.randperm(len(pool), generator=generator)[:size]]
                                                  for _ in range(REPEATS)], torch.device("cpu"))
        rows.append(row)
    out["bn_loss_by_batch"] = rows
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pool-batches", type=int, default=4, help="synthesized batches per method")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    result = measure(args.preset, args.seed, args.pool_batches)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
