"""Saved students scored as trained and with BatchNorm statistics re-estimated on unlabelled real clips; not a test.

The long-clip study's hypothesis h17 (results/synth-long/README.md, "The hypotheses, one line each"): on
`synth-long` the data-free students predict one or two classes for most test clips.
Is that the normalisation statistics they took from the synthesized pool (BatchNorm's running mean and variance)
rather than what their weights learned? This re-estimates every BatchNorm layer's running statistics on the
*unlabelled training clips* (AdaBN, Li et al. 2016: a cumulative average over the split, weights untouched) and
scores the test clips again. It reads real clips, so a student scored this way is not data-free: it is a diagnosis
of where the failure sits, not a method. The teacher (statistics from the same clips already) is the sanity check:
its accuracy should barely move. kd-noise is the control: recalibration alone must not lift a student that learned
nothing.

Hypothesis h19 asks whether a data-free stand-in for those clips exists: `--split bn-inversions` takes the statistics
from inputs optimised against the teacher's BatchNorm prior alone (DeepInversion's r_feature, no class term; the
folder's teacher checkpoint, Adam at 0.1 from N(0, 1), clips of the training length), which reads no real audio.

    python tests/measurements/measure_bn_recalibration.py --models DIR [--preset cpu] [--dataset synth-long]
        [--split train|val|bn-inversions] [--inversions 64] [--inversion-steps 200] [--json OUT]
"""
from __future__ import annotations

import argparse
import copy
import sys
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from methods.inversion.hooks import BatchNormStatistics, frozen  # noqa: E402
from tests.measurements.saved_models import accuracy_and_classes, prepared_data, saved_models, write_rows  # noqa: E402

BATCH = 64


def batches_by_length(features: list[torch.Tensor]) -> list[torch.Tensor]:
    """Clips of one length stacked in batches of up to BATCH, so a batch's statistics are never padded."""
    by_length: dict[int, list[torch.Tensor]] = defaultdict(list)
    for f in features:
        by_length[f.shape[-1]].append(f)
    return [torch.stack(group[i:i + BATCH])[:, None]
            for group in by_length.values() for i in range(0, len(group), BATCH)]


@torch.no_grad()
def recalibrated(model: torch.nn.Module, features: list[torch.Tensor]) -> torch.nn.Module:
    """A copy whose BatchNorm running statistics are the cumulative average over `features` (AdaBN)."""
    model = copy.deepcopy(model).eval()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        raise ValueError("the model has no BatchNorm layer to recalibrate")
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: every batch weighs the same
        m.train()
    for batch in batches_by_length(features):
        model(batch)
    return model.eval()


def bn_inversions(teacher: torch.nn.Module, like: torch.Tensor, count: int, steps: int, seed: int = 0):
    """`count` inputs shaped like `like` (one clip's features), optimised so that the teacher's BatchNorm inputs
    take its running statistics; returns them and the prior's loss at the end."""
    stats = BatchNormStatistics(teacher, instance_means=False)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(count, 1, *like.shape, generator=generator).requires_grad_()
    optimiser = torch.optim.Adam([x], lr=0.1)
    with frozen(teacher):
        for _ in range(steps):
            optimiser.zero_grad()
            with stats.active():
                teacher(x)
            loss = stats.loss()
            loss.backward()
            optimiser.step()
    stats.remove()
    return [sample[0] for sample in x.detach()], float(loss.detach())


def prior_loss(teacher: torch.nn.Module, clips: list[torch.Tensor]) -> float:
    """The same BatchNorm prior on real clips: the level an inversion has to reach to look like them."""
    stats = BatchNormStatistics(teacher, instance_means=False)
    with torch.no_grad(), stats.active():
        teacher(batches_by_length(clips)[0])  # one batch of one length, as the prior sees a synthesized batch
    stats.remove()
    return float(stats.loss())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=Path, required=True, help="a --save-models folder")
    p.add_argument("--preset", default="cpu")
    p.add_argument("--dataset", default="synth-long")
    p.add_argument("--split", default="train", choices=("train", "val", "bn-inversions"),
                   help="the unlabelled real clips the statistics come from (never the test split), or inversions "
                        "of the folder's teacher (no real audio)")
    p.add_argument("--inversions", type=int, default=64)
    p.add_argument("--inversion-steps", type=int, default=200)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    data = prepared_data(args.preset, args.dataset)
    models = dict(saved_models(args.models, args.dataset))
    if args.split == "bn-inversions":
        teacher = next((m for name, m in models.items() if "/teacher-" in name), None)
        if teacher is None:
            raise SystemExit(f"error: --split bn-inversions needs a teacher checkpoint under {args.models}")
        reference = prior_loss(teacher, data.train.features[:args.inversions])
        source, reached = bn_inversions(teacher, data.train.features[0], args.inversions, args.inversion_steps)
        print(f"BatchNorm prior: {reached:.2f} on the inversions after {args.inversion_steps} steps, "
              f"{reference:.2f} on {args.inversions} training clips", flush=True)
    else:
        source = getattr(data, args.split).features
    rows = []
    for name, model in models.items():
        as_trained = accuracy_and_classes(model, data.test.features, data.test.labels)
        adapted = accuracy_and_classes(recalibrated(model, source), data.test.features, data.test.labels)
        rows.append({"model": name, "as_trained": as_trained[0], "classes_predicted": as_trained[1],
                     "recalibrated": adapted[0], "classes_predicted_recalibrated": adapted[1],
                     "statistics_from": args.split})
        print(f"{name}: as trained {as_trained[0]:.2f}% ({as_trained[1]} classes predicted), "
              f"BN re-estimated on {args.split} {adapted[0]:.2f}% ({adapted[1]} classes)", flush=True)
    write_rows(args.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
