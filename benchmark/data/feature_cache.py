"""On-disk log-mel cache: each dataset is featurised once per front-end setting.

Decoding and resampling thousands of files dominates a sweep's data preparation, and the same
features serve every split, fold protocol, method and seed. So the cache key is the dataset's
name, its clip list (ids and labels, independent of the train/val/test assignment) and
content identity where the loader records one (the synth spec), plus FrontEndConfig.key().
All clips live in one float32 `.npy`: each clip's (n_mels, T_i) block, row-major, one after
the other along time, with the clips' frame offsets in a second `.npy`. The frames file is
memory-mapped on load and every clip is a contiguous zero-copy view of it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from .base import SPLITS, ClipSet
from .features import FeatureSet, FrontEndConfig, extract_split

LOGGER_NAME = "benchmark.features"
FORMAT_VERSION = 1  # bump when the stored layout changes
# Description entries that identify the audio content itself (not the protocol): synth's spec.
CONTENT_KEYS = ("spec", "generator")


def dataset_key(clipset: ClipSet) -> str:
    """Hash of what determines the audio of every clip, independent of the split assignment."""
    clips = sorted((c.clip_id, c.label) for c in clipset.clips)
    content = {k: clipset.description[k] for k in CONTENT_KEYS if k in clipset.description}
    payload = json.dumps({"name": clipset.name, "clips": clips, "content": content,
                          "sample_rate": clipset.sample_rate, "format": FORMAT_VERSION}, sort_keys=True, default=str)
    return hashlib.sha1(payload.encode()).hexdigest()[:12]


def cache_paths(clipset: ClipSet, frontend: FrontEndConfig, cache_dir: Path) -> dict[str, Path]:
    stem = f"{clipset.name}-{dataset_key(clipset)}-{frontend.key()}"
    return {part: Path(cache_dir) / f"{stem}.{part}" for part in ("frames.npy", "offsets.npy", "index.json")}


def _write_atomically(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as handle:
            write(handle)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_frames(path: Path, features: list[torch.Tensor], total_values: int) -> None:
    """Fill a memory-mapped temp .npy block by block (no second in-memory copy), then rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(total_values,))
        position = 0
        for f in features:
            out[position : position + f.numel()] = f.numpy().reshape(-1)
            position += f.numel()
        out.flush()
        del out
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def build_cache(clipset: ClipSet, frontend: FrontEndConfig, paths: dict[str, Path]) -> None:
    """Featurise every clip (all splits, through features.extract_split) and store them.
    The index is written last: its presence marks a complete cache entry."""
    per_split = [extract_split(clipset, split, frontend) for split in SPLITS]
    ids = [clip_id for fs in per_split for clip_id in fs.ids]
    features = [f for fs in per_split for f in fs.features]
    offsets = np.cumsum([0] + [f.shape[1] for f in features]).astype(np.int64)
    paths["frames.npy"].parent.mkdir(parents=True, exist_ok=True)
    _write_frames(paths["frames.npy"], features, int(offsets[-1]) * frontend.n_mels)
    _write_atomically(paths["offsets.npy"], lambda h: np.save(h, offsets))
    index = {"dataset": clipset.name, "ids": ids, "frontend": asdict(frontend), "format": FORMAT_VERSION}
    _write_atomically(paths["index.json"], lambda h: h.write(json.dumps(index).encode()))


def _read_index(path: Path, frontend: FrontEndConfig) -> dict | None:
    try:
        index = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if index.get("format") != FORMAT_VERSION or index.get("frontend") != json.loads(json.dumps(asdict(frontend))):
        return None
    return index


def cached_split_features(clipset: ClipSet, split: str, frontend_cfg: FrontEndConfig, cache_dir: Path,
                          logger: logging.Logger | None = None) -> FeatureSet:
    """The split's raw log-mel features, from the cache (built on the first call for the dataset)."""
    logger = logger or logging.getLogger(LOGGER_NAME)
    paths = cache_paths(clipset, frontend_cfg, cache_dir)
    index = _read_index(paths["index.json"], frontend_cfg) if paths["index.json"].exists() else None
    complete = index is not None and all(p.exists() for p in paths.values())
    if complete and set(index["ids"]) == {c.clip_id for c in clipset.clips}:
        logger.info("feature cache hit (%s/%s): %s", clipset.name, split, paths["frames.npy"])
    else:
        logger.info("feature cache miss (%s): computing %d clips -> %s", clipset.name, len(clipset.clips),
                    paths["frames.npy"])
        build_cache(clipset, frontend_cfg, paths)
        index = _read_index(paths["index.json"], frontend_cfg)
    # Copy-on-write mapping: pages load lazily, and the arrays are writable for torch.
    frames = np.load(paths["frames.npy"], mmap_mode="c")
    offsets = np.load(paths["offsets.npy"])
    row = {clip_id: i for i, clip_id in enumerate(index["ids"])}
    n_mels = frontend_cfg.n_mels
    clips = clipset.split(split)
    features = []
    for clip in clips:
        start, end = offsets[row[clip.clip_id]], offsets[row[clip.clip_id] + 1]
        block = frames[start * n_mels : end * n_mels].reshape(n_mels, end - start)
        features.append(torch.from_numpy(block))
    labels = torch.tensor([c.label for c in clips], dtype=torch.long)
    return FeatureSet(features, labels, [c.clip_id for c in clips])
