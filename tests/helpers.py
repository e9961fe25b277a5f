"""Builders the test files share: tiny trees of the real datasets in their official layouts, WAV and CSV writers,
prepared data with known sounding spans, and the paths of the repository and its fixtures."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from benchmark.config.presets import PRESETS
from benchmark.core.features import FeatureSet, Normaliser
from benchmark.core.prepared import PreparedData

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
V1_RUNS = FIXTURES / "runs_v1.jsonl.gz"  # committed cpu-preset records of schema v1 (27 ok cells)

RNG = np.random.default_rng(0)


def write_wav(path: Path, rate: int, seconds: float, subtype: str = "PCM_16", channels: int = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = int(seconds * rate)
    data = (0.3 * RNG.standard_normal((n, channels))).clip(-0.99, 0.99).astype(np.float32)
    sf.write(path, data if channels > 1 else data[:, 0], rate, subtype=subtype)


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


ESC50_CATEGORIES = ["dog", "rooster", "pig", "cow"]


def make_esc50(root: Path, folder: str = "ESC-50") -> Path:
    """5 folds x 4 classes x (one source with takes A, B + one with take A) = 60 clips, 44.1 kHz."""
    base = root / folder
    rows = []
    for fold in range(1, 6):
        for target, category in enumerate(ESC50_CATEGORIES):
            for src_index, takes in enumerate(("AB", "A")):
                src = 100000 + fold * 100 + target * 10 + src_index
                for take in takes:
                    name = f"{fold}-{src}-{take}-{target}.wav"
                    write_wav(base / "audio" / name, 44100, 0.1)
                    rows.append([name, fold, target, category, target < 2, src, take])
    write_csv(base / "meta" / "esc50.csv", ["filename", "fold", "target", "category", "esc10", "src_file", "take"],
              rows)
    return base


US8K_CLASSES = ["air_conditioner", "car_horn", "children_playing"]


# (rate, subtype, channels): the mix of formats UrbanSound8K really has.
US8K_FORMATS = [(44100, "PCM_16", 1), (48000, "PCM_24", 2), (22050, "PCM_U8", 1), (11025, "FLOAT", 2),
                (8000, "PCM_16", 2), (96000, "PCM_24", 1)]


def make_us8k(root: Path) -> Path:
    """10 folds x 3 classes x (fsID with 2 slices + fsID with 1 slice) = 90 clips of 0.05 s."""
    base = root / "UrbanSound8K"
    rows, count = [], 0
    for fold in range(1, 11):
        for class_id, name in enumerate(US8K_CLASSES):
            for fs_index, slices in enumerate((2, 1)):
                fs_id = 5000 + fold * 100 + class_id * 10 + fs_index
                for s in range(slices):
                    file_name = f"{fs_id}-{class_id}-0-{s}.wav"
                    rate, subtype, channels = US8K_FORMATS[count % len(US8K_FORMATS)]
                    count += 1
                    write_wav(base / "audio" / f"fold{fold}" / file_name, rate, 0.05, subtype, channels)
                    rows.append([file_name, fs_id, s * 4.0, s * 4.0 + 0.05, 1, fold, class_id, name])
    write_csv(base / "metadata" / "UrbanSound8K.csv",
              ["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"], rows)
    return base


MESSY_META = {
    "07": {"age": "27", "gender": "male", "accent": "German/Spanish"},
    "23": {"age": 28, "gender": "Male "},
    "38": "not an object",
    "58": {"age": 29, "gender": "Female "},
    "59": {"age": " 31", "gender": "FEMALE"},
    "60": {"age": "1234", "gender": " female", "native speaker": "yes"},
    # speaker 17 (and others) have no entry, as in some versions of the official file
}


def make_audiomnist(root: Path, folder: str = "AudioMNIST", meta_text: str | None = None) -> Path:
    """60 speakers x 5 clips (digit (speaker + i) % 10, repetition i) of 0.05 s at 48 kHz."""
    base = root / folder
    for speaker in range(1, 61):
        for i in range(5):
            digit = (speaker + i) % 10
            write_wav(base / "data" / f"{speaker:02d}" / f"{digit}_{speaker:02d}_{i}.wav", 48000, 0.05)
    meta = meta_text if meta_text is not None else json.dumps(MESSY_META, indent=4)
    (base / "data" / "audioMNIST_meta.txt").write_text(meta)
    return base


def log_mel_with_loud_frames(frames: int, loud: slice, quiet_db: float) -> torch.Tensor:
    """(4 mels, frames) natural-log power: 0 in the loud frames, `quiet_db` below that elsewhere."""
    out = torch.full((4, frames), -quiet_db * math.log(10) / 10)
    out[:, loud] = 0.0
    return out


def prepared_from(features: list[torch.Tensor]) -> PreparedData:
    train = FeatureSet(features, torch.zeros(len(features), dtype=torch.long), [str(i) for i in range(len(features))])
    normaliser = Normaliser.fit(train)
    normalised = FeatureSet([normaliser(f) for f in features], train.labels, train.ids)
    return PreparedData("x", ["a"], None, PRESETS.get("micro").frontend, normaliser, normalised, normalised,
                        normalised, {})


def three_events_in_60_frames() -> PreparedData:
    """Three 60-frame clips with events of 6, 8 and 30 frames, 45 dB above the rest: median span 8."""
    return prepared_from([log_mel_with_loud_frames(60, slice(5, 5 + n), quiet_db=45) for n in (6, 8, 30)])
