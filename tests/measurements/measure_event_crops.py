"""Saved students (`run --save-models DIR`) scored on whole test clips and on each clip's sounding span, not a test.

The long-clip study's hypothesis h13 (results/synth-long/README.md, "The hypotheses, one line each"): a student
distilled on event-length samples (`data_free.length_from=events`) fails on 251-frame `synth-long` clips; does it
classify the events themselves, cut out of the test clips by the same rule that sets the synthesized length
(`benchmark.core.prepared.sounding_bounds`: first to last frame within 30 dB of the loudest)? The crop reads only
the test clip itself, so a student with this crop in front stays data-free.

    python tests/measurements/measure_event_crops.py --models DIR [--preset cpu] [--dataset synth-long] [--json OUT]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmark.core.prepared import sounding_bounds  # noqa: E402
from tests.measurements.saved_models import accuracy_and_classes, prepared_data, saved_models, write_rows  # noqa: E402


def event_crop(feature: torch.Tensor, unnormalised: torch.Tensor, min_frames: int) -> torch.Tensor:
    """The clip's sounding span, widened symmetrically to `min_frames` where shorter (the models need a few)."""
    first, end = sounding_bounds(unnormalised)
    if end - first < min_frames:
        pad = (min_frames - (end - first) + 1) // 2
        first, end = max(0, first - pad), min(feature.shape[1], end + pad)
    return feature[:, first:end]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=Path, required=True, help="a --save-models folder")
    p.add_argument("--preset", default="cpu")
    p.add_argument("--dataset", default="synth-long")
    p.add_argument("--min-frames", type=int, default=8)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    data = prepared_data(args.preset, args.dataset)
    crops = [event_crop(f, data.normaliser.invert(f), args.min_frames) for f in data.test.features]
    rows = []
    for name, model in saved_models(args.models, args.dataset):
        rows.append({"model": name,
                     "whole_clips": accuracy_and_classes(model, data.test.features, data.test.labels)[0],
                     "sounding_span": accuracy_and_classes(model, crops, data.test.labels)[0]})
        print(f"{rows[-1]['model']}: whole clips {rows[-1]['whole_clips']:.2f}%, "
              f"sounding span {rows[-1]['sounding_span']:.2f}%", flush=True)
    write_rows(args.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
