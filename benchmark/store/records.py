"""The results store: one JSON object per sweep cell in `DIR/runs.jsonl`.

Appends write a whole line under an exclusive `flock`, always starting on a fresh line, and check
that every byte reached the file (a full disk is an error, and the partial line is cut off again),
so a sweep killed at any point leaves only complete lines behind, and two sweeps writing to one
folder cannot interleave. On read, a line that is not a record (a torn last line after power loss,
garbage, a JSON value that is not an object, a record the schema rejects) is skipped with a warning
naming its line, so one bad line never blocks reports or resuming.
Records go in and come out as `RunRecord`s (benchmark/store/record_schema.py), the one schema.
"""
from __future__ import annotations

import errno
import fcntl
import json
import logging
import math
import os
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

from .record_schema import MalformedRecord, RunRecord, as_record

RUNS_FILE = "runs.jsonl"
SWEEP_LOCK = "sweep.lock"

log = logging.getLogger(__name__)


class StoreWriteError(ValueError):
    """A record could not be written whole (disk full, I/O error). A ValueError so the CLI reports it as a
    one-line error instead of a traceback or a '0 not ok' summary."""


class FolderBusy(ValueError):
    """Another sweep holds the results folder and the caller asked not to wait (`run --no-wait`)."""


class OutNotWritable(ValueError):
    """The results folder is a file or cannot be written: said before a sweep starts, not as a traceback."""


def identity_key(dataset: str, teacher: str, student: str, method: str, seed: int, preset: str,
                 config_hash: str) -> str:
    """Identity of a cell: its grid coordinates plus the hash of its full config."""
    return "|".join(map(str, (dataset, teacher, student, method, seed, preset))) + "|" + config_hash


def cell_key(record: RunRecord | Mapping[str, Any]) -> str:
    """The identity of the cell a record belongs to (a stored dict is parsed first)."""
    r = as_record(record)
    return identity_key(r.dataset, r.teacher, r.student, r.method, r.seed, r.preset, r.config_hash)


def _clean(value):
    """JSON has no NaN/inf: store them as null so every line stays valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def ensure_writable_dir(path: Path | str) -> Path:
    """Create the results folder if needed and prove a file can be written in it, so a bad `--out` (a file, a
    read-only folder) is a one-line error before any work, not a traceback after it."""
    path = Path(path)
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        what = "is a file, not a folder" if existing == path else f"cannot be made: {existing} is a file"
        raise OutNotWritable(f"results folder {path} {what}; pass --out a folder (it is created if missing)")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise OutNotWritable(f"cannot write to results folder {path}: {exc.strerror or exc}; "
                             "pass --out a folder you can write to") from None
    return path


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on PATH.lock (blocking) for the body."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(path.suffix + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _lock_holder(lock_path: Path) -> str:
    """The pid a lock's holder wrote into the lock file, or 'pid unknown' (an older holder, or a race)."""
    try:
        pid = lock_path.read_text().strip()
    except OSError:
        pid = ""
    return f"pid {pid}" if pid.isdigit() else "pid unknown"


@contextmanager
def sweep_lock(out_dir: Path | str, wait: bool = True) -> Iterator[None]:
    """One sweep per results folder. If another sweep holds it, say so at once (with its pid, which every
    holder writes into the lock file), then wait for it visibly, or raise `FolderBusy` when not `wait`; a
    second sweep must never block silently and then report '0 cells run'."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lock_path = out_dir / SWEEP_LOCK
    with open(lock_path, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _lock_holder(lock_path)
            if not wait:
                raise FolderBusy(f"another sweep ({holder}) holds {out_dir} ({lock_path}); let it finish, or "
                                 "rerun without --no-wait to wait for it") from None
            log.warning("another sweep (%s) holds %s; waiting for it (Ctrl-C to stop, or pass --no-wait)",
                        holder, out_dir)
            fcntl.flock(lock, fcntl.LOCK_EX)
            log.warning("the other sweep released %s; going on", out_dir)
        lock.truncate(0)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write_whole(fd: int, data: bytes, path: Path) -> None:
    """os.write until every byte is out, then fsync; a write that stops short or fails (a full disk, an I/O
    error) raises `StoreWriteError` instead of passing for a stored record."""
    view = memoryview(data)
    try:
        while view:
            written = os.write(fd, view)
            if written <= 0:
                raise StoreWriteError(_write_failed(path, "the write stopped short", errno.ENOSPC))
            view = view[written:]
        os.fsync(fd)
    except OSError as exc:
        raise StoreWriteError(_write_failed(path, exc.strerror or str(exc), exc.errno)) from None


def _write_failed(path: Path, reason: str, code: int | None) -> str:
    fix = ("free disk space" if code in (errno.ENOSPC, errno.EDQUOT) else "fix the cause") + \
        ", then rerun the same command: finished cells are kept and this one runs again"
    return f"could not append a record to {path}: {reason}; {fix}"


class RunStore:
    def __init__(self, out_dir: Path | str):
        self.dir = Path(out_dir)
        self.path = self.dir / RUNS_FILE

    def append(self, record: RunRecord) -> None:
        """Append one line; a record the reader would reject (e.g. ok with a NaN accuracy, stored as null)
        raises `MalformedRecord` here instead of breaking every later read. The line starts on a fresh line
        (after a torn last line it gets its own), and a write that does not reach the file whole raises
        `StoreWriteError` after cutting the partial line off again."""
        stored = _clean(record.to_dict())
        RunRecord.from_dict(stored)
        line = (json.dumps(stored, sort_keys=True) + "\n").encode()
        with locked(self.path):
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    line = b"\n" + line  # a torn last line must not swallow this record
                try:
                    _write_whole(fd, line, self.path)
                except StoreWriteError:
                    _cut_back(fd, size)
                    raise
            finally:
                os.close(fd)

    def read(self) -> list[dict]:
        """The stored JSON objects as they are, unvalidated (to compare lines); reports use `read_records`."""
        return [obj for _, obj in self._objects()]

    def read_records(self) -> list[RunRecord]:
        """Every record, parsed and checked against the schema. A line that is not a valid record is skipped
        with a warning naming its line and what is wrong, so one bad line cannot block every report and
        resume (its cell simply counts as not run)."""
        records = []
        for number, obj in self._objects():
            if not isinstance(obj, dict):
                self._skip(number, f"a JSON {_json_kind(obj)} ({_short(obj)}), not a record object")
                continue
            try:
                records.append(RunRecord.from_dict(obj))
            except MalformedRecord as exc:
                self._skip(number, f"a malformed line: {exc}")
        return records

    def _skip(self, number: int, what: str) -> None:
        warnings.warn(f"{self.path}:{number}: skipping {what}", stacklevel=3)

    def _objects(self) -> Iterator[tuple[int, Any]]:
        """(line number, parsed JSON) of every line that parses; the others are skipped with a warning that
        says what they are: only an unparseable last line without its newline is a torn (interrupted) write."""
        if not self.path.exists():
            return
        with open(self.path, "rb") as fh:
            for number, raw in enumerate(fh, 1):
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    self._skip(number, _unparseable(raw, exc))
                    continue
                yield number, obj

    def latest_by_cell(self) -> dict[str, RunRecord]:
        """The newest record of each cell (a retried cell supersedes its failure)."""
        return {cell_key(record): record for record in self.read_records()}

    def finished_keys(self) -> set[str]:
        return {k for k, r in self.latest_by_cell().items() if r.ok}


def _cut_back(fd: int, size: int) -> None:
    """Remove the partial line a failed append left, so the file ends with a whole line again (best effort:
    if this fails too, the next append starts on a fresh line anyway)."""
    try:
        os.ftruncate(fd, size)
    except OSError:
        pass


def _unparseable(raw: bytes, exc: ValueError) -> str:
    """What a line that does not parse is: only a last line without its newline is a torn (interrupted)
    write; earlier, JSON that stops early is a write cut short before later records, anything else garbage."""
    if not raw.endswith(b"\n"):
        return "a torn line at the end of the file (an interrupted write)"
    if isinstance(exc, json.JSONDecodeError) and exc.pos >= len(exc.doc.rstrip()):
        return f"an unfinished JSON line (a write cut short; later lines were appended after it): {_short(raw)}"
    reason = f"{exc.msg} at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
    return f"a line that is not JSON ({reason}): {_short(raw)}"


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {int: "number", float: "number", str: "string", list: "array"}.get(type(value), type(value).__name__)


def _short(value: Any, limit: int = 60) -> str:
    text = value.decode(errors="replace").strip() if isinstance(value, bytes) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
