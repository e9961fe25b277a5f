"""Train/val/test assignment for the real datasets.

The test split is fixed by the protocol (an official fold or a fixed speaker list) and never
reshuffled. Validation is carved from the training part only, whole groups at a time (source
recording or speaker), so near-duplicate slices of one recording cannot sit on both sides of
the train/val line; the carve is stratified by class and a pure function of the seed.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .audio_io import read_audio
from .base import Clip, ClipSet, DataConfig
from .sources import DatasetIndex, DatasetIntegrityError, IndexedFile, apply_bad_file_policy, locate

_FOLD_PROTOCOL = re.compile(r"^fold(\d+)$")


def protocol_fold(protocol: str, dataset: str, n_folds: int) -> int | None:
    """None for "paper", k for "fold<k>" (1..n_folds); anything else is an error listing the choices."""
    if protocol == "paper":
        return None
    match = _FOLD_PROTOCOL.match(protocol)
    if match and 1 <= int(match.group(1)) <= n_folds:
        return int(match.group(1))
    raise ValueError(f"unknown protocol {protocol!r} for {dataset}; valid: paper, fold1..fold{n_folds}")


def _group_key(f: IndexedFile) -> str:
    return f.group if f.group is not None else f.clip_id


def carve_validation(files: Sequence[IndexedFile], fraction: float, seed: int, stratify: bool = True) -> set[str]:
    """Clip ids of a validation set of about `fraction` of `files`, whole groups at a time.

    With `stratify`, each group counts towards its majority class and every class gets about
    `fraction` of its clips; without it (groups spanning every class, like speakers) the target
    is global. Groups are visited in a seeded order and taken while they fit the target; a class
    keeps at least one group for training.
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {fraction}")
    groups: dict[str, list[IndexedFile]] = defaultdict(list)
    for f in files:
        groups[_group_key(f)].append(f)
    buckets: dict[int, list[str]] = defaultdict(list)
    for key, members in groups.items():
        label = min(Counter(m.label for m in members).most_common(), key=lambda lc: (-lc[1], lc[0]))[0]
        buckets[label if stratify else -1].append(key)
    chosen: set[str] = set()
    for bucket, keys in sorted(buckets.items()):
        keys.sort()
        size = {k: len(groups[k]) for k in keys}
        total = sum(size.values())
        target = round(fraction * total)
        if target == 0 or len(keys) < 2:
            continue
        order = np.random.default_rng([abs(seed), bucket + 1]).permutation(len(keys))
        taken: list[str] = []
        count = 0
        for i in order:
            key = keys[i]
            if count + size[key] <= target and total - count - size[key] > 0:
                taken.append(key)
                count += size[key]
            if count == target:
                break
        if not taken:  # every group is larger than the target: take the smallest one
            taken.append(min(keys, key=lambda k: (size[k], k)))
        chosen.update(taken)
    return {f.clip_id for key in chosen for f in groups[key]}


@dataclass(frozen=True)
class FileAudio:
    """`ClipSet.load` for datasets on disk: reads the clip's file at the configured rate.
    A class rather than a lambda so a ClipSet can be pickled to worker processes."""

    paths: dict[str, Path]
    sample_rate: int

    def __call__(self, clip: Clip) -> np.ndarray:
        return read_audio(self.paths[clip.clip_id], self.sample_rate)


def assemble_clipset(index: DatasetIndex, cfg: DataConfig, is_test: Callable[[IndexedFile], bool],
                     protocol_facts: dict, validation_rule: str, skipped: dict[str, int],
                     stratify: bool = True) -> ClipSet:
    """Split the indexed files (test by protocol, validation carved from the rest) into a ClipSet."""
    test = [f for f in index.files if is_test(f)]
    pool = [f for f in index.files if not is_test(f)]
    if not test or not pool:
        raise DatasetIntegrityError(
            f"{index.name} protocol {cfg.protocol!r} leaves {len(pool)} training and {len(test)} test clips "
            f"in {index.directory}; both must be non-empty")
    val_ids = carve_validation(pool, cfg.val_fraction, cfg.seed, stratify)
    test_ids = {f.clip_id for f in test}

    def split_of(f: IndexedFile) -> str:
        return "test" if f.clip_id in test_ids else ("val" if f.clip_id in val_ids else "train")

    clips = [Clip(f.clip_id, f.label, split_of(f), f.fold, f.group) for f in index.files]
    clipset = ClipSet(index.name, list(index.class_names), cfg.sample_rate, clips,
                      FileAudio({f.clip_id: f.path for f in index.files}, cfg.sample_rate))
    clipset.description = {
        "source": index.name,
        "directory": str(index.directory),
        "protocol": cfg.protocol,
        **protocol_facts,
        "validation": f"{validation_rule}; val_fraction {cfg.val_fraction}, seed {cfg.seed}",
        "split_sizes": clipset.split_sizes(),
        "on_bad_file": cfg.on_bad_file,
        "skipped": dict(skipped),
        **index.notes,
    }
    return clipset


def load_held_out_fold(cfg: DataConfig, name: str, index_dataset: Callable[[Path], DatasetIndex], n_folds: int,
                       paper_fold: int, validation_rule: str) -> ClipSet:
    """A dataset with official folds: test on one held-out fold ("paper" protocol or "fold<k>")."""
    held_out = protocol_fold(cfg.protocol, name, n_folds) or paper_fold
    index = index_dataset(locate(name, cfg.data_root))
    skipped = apply_bad_file_policy(index, cfg.on_bad_file)
    facts = {"test_fold": held_out, "official_folds": n_folds}
    return assemble_clipset(index, cfg, lambda f: f.fold == held_out, facts, validation_rule, skipped)
