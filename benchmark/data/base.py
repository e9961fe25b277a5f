"""What every dataset loader returns: a ClipSet of labelled clips with fixed splits.

Audio is loaded lazily (`ClipSet.load(clip)`), so multi-GB datasets are read once, by the
feature extractor, and never held in memory as waveforms.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np

from ..core.ranges import POSITIVE, Constraint, Matches, OneOf, Range, at_least, between, hashed_fields

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

    def source_of(self, clip: Clip) -> str:
        """Where a clip comes from, for messages: its file when the loader reads files (a `load` with a
        `paths` dict, splits.FileAudio), else the dataset and clip id."""
        paths = getattr(self.load, "paths", None)
        if isinstance(paths, dict) and clip.clip_id in paths:
            return str(paths[clip.clip_id])
        return f"{self.name} clip {clip.clip_id}"


# `--on-bad-file` on the command line: what to do with a file that cannot be read in full or a clip shorter
# than one analysis window. "error" is stored as DataConfig's "fail", so existing config hashes are unchanged.
BAD_FILE_CHOICES = ("error", "skip")
_BAD_FILE_STORED = {"error": "fail", "fail": "fail", "skip": "skip"}
BAD_FILE_HELP = ("real datasets: what to do with a file that cannot be read (corrupt, truncated, empty) or a clip "
                 "shorter than one analysis window: 'error' (default) stops with the file's path; 'skip' leaves "
                 "such files out, counts them and lists them (path and reason) in every record and the summary")


def bad_file_policy(choice: str) -> str:
    """The DataConfig.on_bad_file value of a command-line choice ("error" -> "fail"; "fail"/"skip" kept)."""
    try:
        return _BAD_FILE_STORED[choice]
    except KeyError:
        raise ValueError(f"on_bad_file must be one of {', '.join(BAD_FILE_CHOICES)}, got {choice!r}") from None


def with_bad_file_policy(cfg: "DataConfig", choice: str | None) -> "DataConfig":
    """`cfg` with the command line's --on-bad-file applied (None: unchanged)."""
    return cfg if choice is None else replace(cfg, on_bad_file=bad_file_policy(choice))


def add_bad_file_argument(parser) -> None:
    """`--on-bad-file error|skip` for the commands that load real datasets (run, samples, throughput)."""
    parser.add_argument("--on-bad-file", choices=BAD_FILE_CHOICES, default=None, help=BAD_FILE_HELP)


def apply_bad_file_choice(preset, choice: str | None):
    """A preset (any dataclass with a DataConfig `data`) with --on-bad-file applied; None: unchanged."""
    return preset if choice is None else replace(preset, data=with_bad_file_policy(preset.data, choice))


@dataclass(frozen=True)
class DataConfig:
    """Everything a loader needs; recorded with results."""

    sample_rate: int = 16000
    data_root: Path | None = None  # real datasets; None -> $DFKD_DATA_ROOT
    protocol: str = "paper"  # "paper" (the paper's held-out split) or "fold<k>" of the official CV
    val_fraction: float = 0.1  # validation carved from training data
    seed: int = 0  # seeds data generation (synth) and validation carving; fixed per sweep
    # "fail" (the command line's `--on-bad-file error`) or "skip" (bad files are left out, counted and listed
    # in the description). The stored default stays "fail": it is hashed into every record's config.
    on_bad_file: str = "fail"
    synth_clips_per_class: int = 120
    synth_min_seconds: float = 0.5
    synth_max_seconds: float = 4.0
    synth_snr_db: tuple[float, float] = (-9.0, 6.0)  # background noise; the smoke preset uses an easy range
    # synth-long (benchmark/data/synth_long.py): the clip length and the events' durations in it
    # Added after records were committed: left out of the hashed config at these values (benchmark.core.ranges.
    # hashed_fields), so every earlier record's hash, and every cell's not on synth-long, stays as it was.
    long_clip_seconds: float = field(default=5.0, metadata={"unhashed_value": 5.0})
    long_event_seconds: tuple[float, float] = field(default=(0.3, 1.0), metadata={"unhashed_value": (0.3, 1.0)})
    # Valid ranges (benchmark/core/ranges.py), checked before anything runs. The synth set splits each class 70/15/15
    # (synth.split_of): 6 clips a class is the fewest that leave validation and test a clip each.
    RANGES: ClassVar[dict[str, Any]] = {
        "sample_rate": at_least(1), "protocol": Matches(r"paper|fold[1-9][0-9]*", "'paper' or 'fold<k>', k >= 1"),
        "val_fraction": between(0, 1, low_open=True, high_open=True), "seed": at_least(0),
        "on_bad_file": OneOf(("fail", "skip")), "synth_clips_per_class": at_least(6),
        "synth_min_seconds": POSITIVE, "synth_max_seconds": POSITIVE, "synth_snr_db": Range(),
        "long_clip_seconds": POSITIVE, "long_event_seconds": Range()}
    CONSTRAINTS: ClassVar[tuple[Constraint, ...]] = (
        Constraint(("synth_min_seconds", "synth_max_seconds"), lambda c: c.synth_min_seconds <= c.synth_max_seconds,
                   "synth_min_seconds <= synth_max_seconds"),
        Constraint(("synth_snr_db",), lambda c: len(c.synth_snr_db) == 2 and c.synth_snr_db[0] <= c.synth_snr_db[1],
                   "synth_snr_db = (low, high) with low <= high"),
        Constraint(("long_event_seconds", "long_clip_seconds"),
                   lambda c: len(c.long_event_seconds) == 2 and 0 < c.long_event_seconds[0]
                   <= c.long_event_seconds[1] <= c.long_clip_seconds,
                   "long_event_seconds = (low, high) with 0 < low <= high <= long_clip_seconds"))

def hashed_data_config(data: "DataConfig") -> dict:
    """The data config as config hashes and teacher keys see it: without where data lives (that does not change
    results) and without later fields at their first value (benchmark.core.ranges.hashed_fields)."""
    return hashed_fields(data) | {"data_root": None}


def sweep_data_config(data: DataConfig, sample_rate: int, data_root: Path | None) -> DataConfig:
    """The data config a sweep reads with: the preset's, at its front end's rate, rooted at --data-root or else
    $DFKD_DATA_ROOT (here, below the sweep's modules, so that checks before a sweep can use it too)."""
    root = data_root or (Path(os.environ["DFKD_DATA_ROOT"]) if os.environ.get("DFKD_DATA_ROOT") else None)
    return replace(data, data_root=root, sample_rate=sample_rate)
