"""Measure the real-dataset loaders at full size, without the datasets (which cannot be downloaded here).

Builds ESC-50, UrbanSound8K and AudioMNIST trees in their official layouts with the official clip counts
(per fold, per class, per speaker; UrbanSound8K's fold sizes and class totals are the official ones, its
per-fold class mix and fsID groups are drawn at random; ESC-50's clips are 5 s at 44.1 kHz as in the real set,
the others are short to keep the build quick), then reports for each dataset: `verify` against the official
counts, the split sizes of the paper protocol, and for ESC-50 the feature-extraction throughput of the paper
front end (32 kHz, 64 mels) on a cache miss and the speed-up of a cache hit.

    python tests/measurements/measure_real_loaders.py --root /tmp/full-trees [--json OUT.json]
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmark.config.presets import PRESETS  # noqa: E402
from benchmark.data import DATASETS  # noqa: E402
from benchmark.data.base import DataConfig  # noqa: E402
from benchmark.data.feature_cache import cached_split_features  # noqa: E402
from benchmark.data.verify import US8K_PER_CLASS, verify  # noqa: E402
from tests.helpers import write_csv  # noqa: E402  (the official layouts' CSV dialect, as the tests write it)

US8K_FOLD_SIZES = (873, 888, 925, 990, 936, 823, 838, 806, 816, 837)  # official, fold1..fold10
RNG = np.random.default_rng(0)


def wav(path: Path, rate: int, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.1 * RNG.standard_normal(int(rate * seconds))).astype(np.float32), rate, subtype="PCM_16")


def build_esc50(root: Path, seconds: float) -> None:
    """2000 clips: 50 classes x 5 folds x 8 clips, source recordings of 1-3 takes (same fold)."""
    rows = []
    for fold in range(1, 6):
        for target in range(50):
            left, src = 8, 0
            while left:
                takes = min(left, int(RNG.integers(1, 4)))
                src_id = fold * 100000 + target * 100 + src
                for take in "ABC"[:takes]:
                    name = f"{fold}-{src_id}-{take}-{target}.wav"
                    wav(root / "ESC-50" / "audio" / name, 44100, seconds)
                    rows.append([name, fold, target, f"class{target:02d}", target < 10, src_id, take])
                left, src = left - takes, src + 1
    write_csv(root / "ESC-50" / "meta" / "esc50.csv",
             ["filename", "fold", "target", "category", "esc10", "src_file", "take"], rows)


def build_us8k(root: Path, seconds: float) -> None:
    """8732 slices with the official fold sizes and class totals; fsID groups of 1-6 slices within a fold."""
    labels = np.repeat(list(US8K_PER_CLASS), list(US8K_PER_CLASS.values()))
    folds = RNG.permutation(np.repeat(np.arange(1, 11), US8K_FOLD_SIZES))
    rows, fs_id = [], 100
    for fold in range(1, 11):
        for class_id in range(10):
            count = int(((folds == fold) & (labels == class_id)).sum())
            while count:
                slices = min(count, int(RNG.integers(1, 7)))
                for s in range(slices):
                    name = f"{fs_id}-{class_id}-0-{s}.wav"
                    wav(root / "UrbanSound8K" / "audio" / f"fold{fold}" / name, 22050, seconds)
                    rows.append([name, fs_id, s, s + seconds, 1, fold, class_id, f"class{class_id}"])
                count, fs_id = count - slices, fs_id + 1
    write_csv(root / "UrbanSound8K" / "metadata" / "UrbanSound8K.csv",
             ["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"], rows)


def build_audiomnist(root: Path, seconds: float) -> None:
    for speaker in range(1, 61):
        for digit in range(10):
            for rep in range(50):
                wav(root / "AudioMNIST" / "data" / f"{speaker:02d}" / f"{digit}_{speaker:02d}_{rep}.wav", 48000, seconds)
    (root / "AudioMNIST" / "data" / "audioMNIST_meta.txt").write_text(json.dumps({"01": {"age": "30"}}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--esc50-seconds", type=float, default=5.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    builders = {"esc50": (build_esc50, args.esc50_seconds, "ESC-50"), "us8k": (build_us8k, 0.02, "UrbanSound8K"),
                "audiomnist": (build_audiomnist, 0.02, "AudioMNIST")}
    out: dict = {}
    for name, (build, seconds, folder) in builders.items():
        start = time.perf_counter()
        if not (args.root / folder).exists():  # reuse a tree built by an earlier run
            build(args.root, seconds)
        built = time.perf_counter() - start
        report = verify(name, args.root)
        clipset = DATASETS.get(name)(DataConfig(data_root=args.root))
        out[name] = {"build_seconds": round(built, 1), "verify_ok": report.ok, "clips": len(clipset.clips),
                     "split_sizes": clipset.split_sizes(), "protocol": clipset.description.get("protocol")}
        print(name, json.dumps(out[name]))
    frontend = PRESETS.get("paper").frontend
    clipset = DATASETS.get("esc50")(DataConfig(data_root=args.root, sample_rate=frontend.sample_rate))
    with tempfile.TemporaryDirectory() as cache:
        timings = []
        for _ in range(2):
            start = time.perf_counter()
            for split in ("train", "val", "test"):
                cached_split_features(clipset, split, frontend, Path(cache))
            timings.append(time.perf_counter() - start)
    n = len(clipset.clips)
    out["esc50_features"] = {"clips": n, "clip_seconds": args.esc50_seconds, "frontend": "paper preset",
                             "miss_seconds": round(timings[0], 2), "miss_clips_per_s": round(n / timings[0], 1),
                             "hit_seconds": round(timings[1], 3), "hit_speedup": round(timings[0] / timings[1], 1)}
    print("esc50_features", json.dumps(out["esc50_features"]))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
