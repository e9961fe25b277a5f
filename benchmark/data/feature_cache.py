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

Faults: a write that fails (disk full, read-only or unwritable cache) raises CacheUnusable, one
message naming the path and the fix; an entry that does not load (truncated, half written) is
logged as corrupt, deleted and rebuilt; temp files of dead processes are removed by
remove_orphaned_temp_files.

Shared storage: a temp file's name carries its writer's pid and host (`.{name}.{pid}@{host}.tmp`), so
processes on several machines never write the same temp file, and the orphan cleanup removes only files
of this host whose process is gone (a pid means nothing on another host). This assumes host names are
unique among the machines that share a cache.
"""
from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from .base import SPLITS, ClipSet
from .features import FeatureSet, FrontEndConfig, extract_split

LOGGER_NAME = "benchmark.features"
FORMAT_VERSION = 1  # bump when the stored layout changes
# Description entries that identify the audio content itself (not the protocol): synth's spec.
CONTENT_KEYS = ("spec", "generator")


# --- cache files: temp names, write faults, orphans ---------------------------------------------

CACHE_ENV = "DFKD_CACHE"
# `.{name}.{pid}@{host}.tmp`; before names carried the host `.{name}.{pid}.tmp` (and the `.tmp.npz` older
# synth writers left)
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)(?:@(?P<host>[A-Za-z0-9._-]+))?\.tmp(?:\.npz)?$")
# A temp file named without its host may be another host's: removed only when no one has written it for this long
# (a writer writes its file continuously, and a teacher or feature entry takes minutes, not hours).
LEGACY_TEMP_AGE_S = 3600
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
_NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)


class CacheUnusable(ValueError):
    """The on-disk cache cannot be written; the message names the path and the fix (the CLI prints it)."""


def host_tag() -> str:
    """This machine's name as temp-file names carry it (characters outside [A-Za-z0-9._-] become '-')."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname()) or "unknown-host"


def temp_path(path: Path) -> Path:
    """Where `path` is written before its atomic rename: unique per process and host (named so
    remove_orphaned_temp_files finds it)."""
    return path.with_name(f".{path.name}.{os.getpid()}@{host_tag()}.tmp")


def remove_quietly(path: Path) -> None:
    """Delete a temp or damaged file if it is there; a read-only disk (EROFS even for a missing file) is left
    to the write that names the problem."""
    try:
        Path(path).unlink(missing_ok=True)
    except OSError:
        pass


def cache_write_error(path: Path, exc: BaseException, what: str = "cache", needed_bytes: int | None = None
                      ) -> CacheUnusable:
    """One message for a failed cache write: the path, the cause, and what to do about it."""
    code = getattr(exc, "errno", None)
    cause = os.strerror(code) if code else (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    now = os.environ.get(CACHE_ENV)
    where = f"{CACHE_ENV}={now}" if now else f"{CACHE_ENV} is unset, so the cache is under ~/.cache"
    needs = f"this entry needs about {needed_bytes / 2**20:.1f} MiB, " if needed_bytes else ""
    if code in _NOT_WRITABLE:
        fix = f"point {CACHE_ENV} at a writable directory"
    else:  # ENOSPC, or a writer that does not say why (torch's): a full disk is the usual cause
        fix = f"free space on that disk ({needs}{_free_space(path)}), or point {CACHE_ENV} at a disk with room"
    return CacheUnusable(f"cannot write the {what} at {path}: {cause}. Fix: {fix} ({where}).")


def _free_space(path: Path) -> str:
    folder = Path(path)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return f"{shutil.disk_usage(folder).free / 2**20:.1f} MiB free there"
    except OSError:
        return "free space unknown"


def remove_orphaned_temp_files(root: Path, logger: logging.Logger | None = None) -> list[Path]:
    """Delete the temp files under `root` that this host wrote and whose writing process (the pid in the name)
    is gone: the leftovers of a killed or crashed run, gigabytes on the real datasets. A live writer's file,
    and any file another host wrote, is left alone; a file named before names carried the host is removed
    once its pid is not alive here and nobody has written it for LEGACY_TEMP_AGE_S."""
    logger = logger or logging.getLogger(LOGGER_NAME)
    removed = []
    root = Path(root)
    if not root.is_dir():
        return removed
    for folder, _, names in os.walk(root):
        for name in names:
            match = _TEMP_NAME.match(name)
            path = Path(folder) / name
            if match is None or not _orphaned(match, path):
                continue
            try:
                size = path.stat().st_size
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                logger.warning("could not remove orphaned temp file %s: %s", path, exc)
                continue
            logger.info("removed orphaned temp file %s (%.1f MiB, left by process %s)", path, size / 2**20,
                        match.group("pid"))
            removed.append(path)
    return removed


def _orphaned(match: re.Match, path: Path) -> bool:
    """Whether a temp file's writer is gone: this host's pid is dead (another host's file is never judged)."""
    host, pid = match.group("host"), int(match.group("pid"))
    if host is not None:
        return host == host_tag() and not _pid_alive(pid)
    try:
        idle = time.time() - path.stat().st_mtime
    except OSError:
        return False
    return not _pid_alive(pid) and idle > LEGACY_TEMP_AGE_S


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, run by another user
    except (OverflowError, ValueError):
        return False  # not a possible pid
    return True


def discard_corrupt(paths: Iterable[Path], exc: BaseException, logger: logging.Logger) -> None:
    """Log a cache entry that does not load and delete its files, so it is rebuilt."""
    paths = list(paths)
    logger.warning("corrupt cache entry %s (%s: %s): rebuilding", paths[0], type(exc).__name__, exc)
    for path in paths:
        remove_quietly(path)


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
            _write_atomically(Path(index_path), lambda h: h.write(
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

def _write_atomically(path: Path, write: Callable) -> None:
    tmp = temp_path(path)
    try:
        with tmp.open("wb") as handle:
            write(handle)
        os.replace(tmp, path)
    finally:
        remove_quietly(tmp)


def _reserve(handle, size: int) -> None:
    """Allocate the file's blocks up front, so a full disk is an ENOSPC here, not a failure midway."""
    try:
        os.posix_fallocate(handle.fileno(), 0, size)
    except OSError as exc:
        if exc.errno in (*_NO_SPACE, *_NOT_WRITABLE):
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
        _write_atomically(target, lambda h: np.save(h, offsets))
        target = paths["index.json"]
        _write_atomically(target, lambda h: h.write(json.dumps(index).encode()))
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
