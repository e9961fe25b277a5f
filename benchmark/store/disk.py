"""Everything the harness does to keep files on disk whole and shared safely, in one place: where the cache
lives, temp files named for their writer, atomic writes, corrupt entries discarded and rebuilt, the leftovers of
killed writers removed, and an exclusive lock per cache key.

Temp files: a file is written beside its target as `.{name}.{pid}@{host}.tmp` and renamed over it, so a reader
never sees half a file and processes on several machines never write the same temp file. The orphan cleanup
removes only files of this host whose process is gone (a pid means nothing on another host); this assumes host
names are unique among the machines that share a cache. A write that fails (disk full, read-only or unwritable
cache) raises CacheUnusable, one message naming the path and the fix.

Key locks: an exclusive `flock` on KEY.lock, for a cache that processes on several hosts share.

What it assumes of the file system: that `flock` is honoured across hosts. It is on local disks, on NFSv4
(the Linux client turns flock into byte-range locks that the server arbitrates), Lustre mounted with
`-o flock`, CephFS, GPFS and BeeGFS. Where flock is local only (NFS mounted with `local_lock=flock` or
`local_lock=all`, NFSv3 without lockd, some FUSE and SMB mounts), processes on different hosts do not
exclude each other: nothing is corrupted (entries are still written to a temp file and renamed), but two
hosts may build the same entry at once, and the later rename wins.

No stale locks: a flock belongs to the open file, so the kernel releases it when its holder exits or is
killed; on NFSv4 the server releases the locks of a host that dies when that host's lease expires (90 s by
default). So a waiter never has to guess whether a holder is alive, and nothing ever breaks a lock. The
lock file itself stays: deleting a lock file that others wait on would let two holders lock two different
files. It holds the last holder's `host pid`, for the waiting message only.
"""
from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import shutil
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """The cache folder: $DFKD_CACHE, else ~/.cache/dfkd-audio-bench."""
    return Path(os.environ.get(CACHE_ENV, DEFAULT_CACHE))


CACHE_ENV = "DFKD_CACHE"
DEFAULT_CACHE = Path.home() / ".cache" / "dfkd-audio-bench"
# `.{name}.{pid}@{host}.tmp`; before names carried the host `.{name}.{pid}.tmp` (and the `.tmp.npz` older
# synth writers left)
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)(?:@(?P<host>[A-Za-z0-9._-]+))?\.tmp(?:\.npz)?$")
# A temp file named without its host may be another host's: removed only when no one has written it for this long
# (a writer writes its file continuously, and a teacher or feature entry takes minutes, not hours).
LEGACY_TEMP_AGE_S = 3600
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)


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
    if code in NOT_WRITABLE:
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
    logger = logger or log
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


def write_atomically(path: Path, write: Callable) -> None:
    """Write a whole file or nothing: `write(handle)` fills a temp file beside `path` (named for this process and
    host), which is then renamed over `path`; the temp file never outlives a failure."""
    tmp = temp_path(path)
    try:
        with tmp.open("wb") as handle:
            write(handle)
        os.replace(tmp, path)
    finally:
        remove_quietly(tmp)


def write_atomic(path: Path, text: str) -> None:
    """A whole text file or nothing (see write_atomically); the folder is made if missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda handle: handle.write(text.encode()))


def _holder(path: Path) -> str:
    try:
        text = path.read_text().strip()
    except OSError:
        text = ""
    return text or "a holder that has not written its name yet"


@contextmanager
def key_lock(path: Path, what: str, logger: logging.Logger) -> Iterator[bool]:
    """Hold an exclusive flock on `path` for the body (waiting, with one log line naming the holder, while
    another process has it); yields True. Where the lock file cannot be created (a read-only cache, where
    nothing can be published either) the body runs unlocked and it yields False."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")
    except OSError as exc:
        logger.debug("no lock for %s at %s (%s): going on unlocked", what, path, exc)
        yield False
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.info("waiting for %s: %s holds its lock (%s)", what, _holder(path), path)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"host {socket.gethostname()} pid {os.getpid()}\n")
            handle.flush()
        except OSError:
            pass  # the name is only for messages
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
