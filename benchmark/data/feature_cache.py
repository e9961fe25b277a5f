"""On-disk log-mel cache: each dataset is featurised once per front-end setting.

Decoding and resampling thousands of files dominates a sweep's data preparation, and the same
features serve every split, fold protocol, method and seed. So the cache key is the dataset's
name, its clip list (ids and labels, independent of the train/val/test assignment) and what
the audio contains, plus FrontEndConfig.key(): for the synth set its spec (every clip is a pure
function of it); for datasets read from files (a `load` with a `paths` dict, splits.FileAudio)
the SHA-1 of every file's bytes. File hashes are remembered in `file-hashes.json` next to the
entries under (path, size, mtime, ctime), so an unchanged tree costs one stat per file and a
re-encoded, fixed or swapped file (or another copy of the data under the same names) is
re-hashed and gets a new key. The entry's stem (`features_key`) is recorded with every result
and keys the teacher cache.
All clips live in one float32 `.npy`: each clip's (n_mels, T_i) block, row-major, one after
the other along time, with the clips' frame offsets in a second `.npy`. The frames file is
memory-mapped on load and every clip is a contiguous zero-copy view of it.

Faults (benchmark/store/disk.py): a write that fails (disk full, read-only or unwritable cache) raises
CacheUnusable, one message naming the path and the fix; an entry that does not load (truncated, half
written) is logged as corrupt, deleted and rebuilt; temp files of dead processes are removed by
remove_orphaned_temp_files.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from ..core.features import FeatureSet, FrontEndConfig
from ..store.disk import (CACHE_ENV, NO_SPACE, NOT_WRITABLE, CacheUnusable, cache_write_error, discard_corrupt,
                          remove_quietly, temp_path, write_atomically)
from .base import SPLITS, ClipSet
from .extraction import extract_split

LOGGER_NAME = "benchmark.features"
FORMAT_VERSION = 1  # bump when the stored layout changes
# Description entries that identify the audio content itself (not the protocol): synth's spec.
CONTENT_KEYS = ("spec", "generator")


# --- content identity ---------------------------------------------------------------------------

HASH_INDEX = "file-hashes.json"
_HASH_INDEX_FORMAT = 1
_warned_unwritable: set[Path] = set()


def file_sha1(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha1").hexdigest()


def _stat_key(path: Path) -> list[int]:
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def file_hashes(files: Iterable[Path], index_path: Path, logger: logging.Logger | None = None) -> dict[str, str]:
    """SHA-1 of each file's bytes, by absolute path. Remembered in `index_path` under (size, mtime, ctime): an
    unchanged file costs a stat, a changed or new one is read and hashed. An unwritable index only costs
    re-hashing next time (warned once)."""
    logger = logger or logging.getLogger(LOGGER_NAME)
    try:
        stored = json.loads(Path(index_path).read_text())
        known = stored["files"] if stored.get("format") == _HASH_INDEX_FORMAT else {}
    except FileNotFoundError:
        known = {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        logger.warning("corrupt cache entry %s (%s): rebuilding", index_path, exc)
        known = {}
    out, fresh = {}, {}
    for path in files:
        name = os.path.abspath(path)
        try:
            stat = _stat_key(Path(name))
        except OSError as exc:  # reading it for features fails too, and names the file under the bad-file policy
            out[name] = f"unreadable: {exc.strerror}"
            continue
        entry = known.get(name)
        if isinstance(entry, list) and entry[:3] == stat and len(entry) == 4:
            out[name] = entry[3]
        else:
            fresh[name] = stat
    if fresh:
        logger.info("hashing %d audio file(s) (new or changed since last hashed) for the feature cache key",
                    len(fresh))
        for name, stat in fresh.items():
            try:
                out[name] = file_sha1(Path(name))
            except OSError as exc:
                out[name] = f"unreadable: {exc.strerror}"
                continue
            known[name] = [*stat, out[name]]
        try:
            Path(index_path).parent.mkdir(parents=True, exist_ok=True)
            write_atomically(Path(index_path), lambda h: h.write(
                json.dumps({"format": _HASH_INDEX_FORMAT, "files": known}).encode()))
        except OSError as exc:
            if Path(index_path) not in _warned_unwritable:
                _warned_unwritable.add(Path(index_path))
                logger.warning("%s; the files are re-hashed on every start until then",
                               cache_write_error(Path(index_path), exc, "file-hash index"))
    return out


def content_fingerprint(clipset: ClipSet, cache_dir: Path) -> str | None:
    """SHA-1 over (clip id, SHA-1 of its file) for datasets read from files; None for a generated set (its
    content is identified by the description's spec)."""
    paths = getattr(clipset.load, "paths", None)
    if not isinstance(paths, dict):
        return None
    files = {c.clip_id: Path(paths[c.clip_id]) for c in clipset.clips}
    hashes = file_hashes(files.values(), Path(cache_dir) / HASH_INDEX)
    pairs = sorted((clip_id, hashes[os.path.abspath(path)]) for clip_id, path in files.items())
    return hashlib.sha1(json.dumps(pairs).encode()).hexdigest()


def dataset_key(clipset: ClipSet, cache_dir: Path | None = None) -> str:
    """Hash of what determines the audio of every clip, independent of the split assignment. For a dataset
    read from files this includes their bytes (hashes remembered under `cache_dir`, the feature cache)."""
    clips = sorted((c.clip_id, c.label) for c in clipset.clips)
    content = {k: clipset.description[k] for k in CONTENT_KEYS if k in clipset.description}
    fingerprint = content_fingerprint(clipset, cache_dir) if cache_dir is not None else None
    if fingerprint is not None:
        content["files_sha1"] = fingerprint
    payload = json.dumps({"name": clipset.name, "clips": clips, "content": content,
                          "sample_rate": clipset.sample_rate, "format": FORMAT_VERSION}, sort_keys=True, default=str)
    return hashlib.sha1(payload.encode()).hexdigest()[:12]


def features_key(clipset: ClipSet, frontend: FrontEndConfig, cache_dir: Path) -> str:
    """The feature cache entry's stem: dataset name, content key and front end. Recorded with every result
    (RunRecord.data_key) and part of the teacher key, so results on different data never look alike."""
    return f"{clipset.name}-{dataset_key(clipset, cache_dir)}-{frontend.key()}"


def cache_paths(clipset: ClipSet, frontend: FrontEndConfig, cache_dir: Path, key: str | None = None
                ) -> dict[str, Path]:
    """The entry's files; `key` (features_key's answer) saves hashing the dataset again."""
    stem = key or features_key(clipset, frontend, cache_dir)
    return {part: Path(cache_dir) / f"{stem}.{part}" for part in ("frames.npy", "offsets.npy", "index.json")}


# --- writing and reading an entry --------------------------------------------------------------

def _reserve(handle, size: int) -> None:
    """Allocate the file's blocks up front, so a full disk is an ENOSPC here, not a failure midway."""
    try:
        os.posix_fallocate(handle.fileno(), 0, size)
    except OSError as exc:
        if exc.errno in (*NO_SPACE, *NOT_WRITABLE):
            raise
        # the file system cannot preallocate (EOPNOTSUPP, EINVAL): the writes below still report ENOSPC


def _write_frames(path: Path, features: list[torch.Tensor], total_values: int) -> None:
    """Write the .npy block by block into a preallocated temp file (no second in-memory copy), then rename.
    Plain writes, not a memory map: on a full disk a write to a mapped page kills the process (SIGBUS)."""
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
              "shape": (total_values,)}
    tmp = temp_path(path)
    try:
        with tmp.open("wb") as handle:
            np.lib.format.write_array_header_1_0(handle, header)
            _reserve(handle, handle.tell() + 4 * total_values)
            for f in features:
                handle.write(np.ascontiguousarray(f.numpy(), dtype=np.float32).tobytes())
        os.replace(tmp, path)
    finally:
        remove_quietly(tmp)


def build_cache(clipset: ClipSet, frontend: FrontEndConfig, paths: dict[str, Path]) -> None:
    """Featurise every clip (all splits, through features.extract_split) and store them.
    The index is written last: its presence marks a complete cache entry. A failed write raises
    CacheUnusable naming the path and the fix."""
    per_split = [extract_split(clipset, split, frontend) for split in SPLITS]
    ids = [clip_id for fs in per_split for clip_id in fs.ids]
    features = [f for fs in per_split for f in fs.features]
    offsets = np.cumsum([0] + [f.shape[1] for f in features]).astype(np.int64)
    total_values = int(offsets[-1]) * frontend.n_mels
    index = {"dataset": clipset.name, "ids": ids, "frontend": asdict(frontend), "format": FORMAT_VERSION}
    target = paths["frames.npy"]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_frames(target, features, total_values)
        target = paths["offsets.npy"]
        write_atomically(target, lambda h: np.save(h, offsets))
        target = paths["index.json"]
        write_atomically(target, lambda h: h.write(json.dumps(index).encode()))
    except OSError as exc:
        raise cache_write_error(target, exc, "feature cache", 4 * total_values + 8 * len(offsets)) from exc


def _read_index(path: Path, frontend: FrontEndConfig) -> dict | None:
    """The entry's index, or None where it was written for another format or front end; an unreadable or
    malformed one raises (a corrupt entry)."""
    index = json.loads(path.read_text())
    if not isinstance(index, dict) or not isinstance(index.get("ids"), list):
        raise ValueError("index.json is not an entry index")
    if index.get("format") != FORMAT_VERSION or index.get("frontend") != json.loads(json.dumps(asdict(frontend))):
        return None
    return index


def _load_entry(paths: dict[str, Path], frontend: FrontEndConfig, clip_ids: set[str]
                ) -> tuple[dict, np.ndarray, np.ndarray] | None:
    """(index, frames, offsets) of a complete entry for these clips; None where there is none; raises where
    the files are there but do not load or do not agree (truncated, half written)."""
    if not paths["index.json"].exists():
        return None
    index = _read_index(paths["index.json"], frontend)
    if index is None or not all(p.exists() for p in paths.values()) or set(index["ids"]) != clip_ids:
        return None
    # Copy-on-write mapping: pages load lazily, and the arrays are writable for torch.
    frames = np.load(paths["frames.npy"], mmap_mode="c")
    offsets = np.load(paths["offsets.npy"])
    if offsets.shape != (len(index["ids"]) + 1,) or frames.shape != (int(offsets[-1]) * frontend.n_mels,):
        raise ValueError(f"{frames.shape[0]} values and {offsets.shape[0]} offsets for {len(index['ids'])} clips")
    return index, frames, offsets


def cached_split_features(clipset: ClipSet, split: str, frontend_cfg: FrontEndConfig, cache_dir: Path,
                          logger: logging.Logger | None = None, key: str | None = None) -> FeatureSet:
    """The split's raw log-mel features, from the cache (built on the first call for the dataset; rebuilt
    where the entry is corrupt). `key`: features_key's answer, if the caller has it."""
    logger = logger or logging.getLogger(LOGGER_NAME)
    paths = cache_paths(clipset, frontend_cfg, cache_dir, key)
    clip_ids = {c.clip_id for c in clipset.clips}
    try:
        entry = _load_entry(paths, frontend_cfg, clip_ids)
    except Exception as exc:  # whatever a damaged file raises: the entry is rebuilt
        discard_corrupt([paths["frames.npy"], paths["offsets.npy"], paths["index.json"]], exc, logger)
        entry = None
    if entry is not None:
        logger.info("feature cache hit (%s/%s): %s", clipset.name, split, paths["frames.npy"])
    else:
        logger.info("feature cache miss (%s): computing %d clips -> %s", clipset.name, len(clipset.clips),
                    paths["frames.npy"])
        build_cache(clipset, frontend_cfg, paths)
        entry = _load_entry(paths, frontend_cfg, clip_ids)
        if entry is None:
            raise CacheUnusable(f"the feature cache entry {paths['index.json']} did not read back after it was "
                                f"written; check that disk, or point {CACHE_ENV} at another directory")
    index, frames, offsets = entry
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
