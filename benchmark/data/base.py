"""What every dataset loader returns: a ClipSet of labelled clips with fixed splits.

Audio is loaded lazily (`ClipSet.load(clip)`), so multi-GB datasets are read once, by the
feature extractor, and never held in memory as waveforms.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

SPLITS = ("train", "val", "test")
TIME_DEPENDENT, TIME_INDEPENDENT = "TD", "TID"


@dataclass(frozen=True)
class Clip:
    clip_id: str  # unique within the dataset, stable across runs (file name for real data)
    label: int
    split: str  # one of SPLITS
    fold: int | None = None  # official fold, where the dataset defines one
    group: str | None = None  # speaker / source recording, for group-disjoint splits


@dataclass
class ClipSet:
    name: str
    class_names: list[str]
    sample_rate: int  # rate of what `load` returns (mono float32)
    clips: list[Clip]
    load: Callable[[Clip], np.ndarray]
    class_kinds: list[str] | None = None  # TD / TID per class where the dataset defines it
    description: dict = field(default_factory=dict)  # protocol facts recorded with results

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def split(self, name: str) -> list[Clip]:
        return [c for c in self.clips if c.split == name]

    def split_sizes(self) -> dict[str, int]:
        return {s: sum(c.split == s for c in self.clips) for s in SPLITS}


@dataclass(frozen=True)
class DataConfig:
    """Everything a loader needs; recorded with results."""

    sample_rate: int = 16000
    data_root: Path | None = None  # real datasets; None -> $DFKD_DATA_ROOT
    protocol: str = "paper"  # "paper" (the paper's held-out split) or "fold<k>" of the official CV
    val_fraction: float = 0.1  # validation carved from training data
    seed: int = 0  # seeds data generation (synth) and validation carving; fixed per sweep
    on_bad_file: str = "fail"  # "fail" or "skip" (skips are counted and reported)
    synth_clips_per_class: int = 120
    synth_min_seconds: float = 0.5
    synth_max_seconds: float = 4.0
    synth_snr_db: tuple[float, float] = (-9.0, 6.0)  # background noise; the smoke preset uses an easy range
