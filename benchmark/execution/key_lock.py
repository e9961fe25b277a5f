"""An exclusive lock per cache key, for a cache that processes on several hosts share: `flock` on KEY.lock.

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

import fcntl
import logging
import os
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


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
