"""The results store: one JSON object per sweep cell in `DIR/runs.jsonl`.

Appends are atomic (one `write` of a whole line under an exclusive `flock`), so a sweep
killed at any point leaves only complete lines behind, and two sweeps writing to one
folder cannot interleave. A torn last line (power loss) is ignored on read and reported.
Records go in and come out as `RunRecord`s (benchmark/record_schema.py), the one schema.
"""
from __future__ import annotations

import fcntl
import json
import math
import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

from .record_schema import MalformedRecord, RunRecord, as_record

RUNS_FILE = "runs.jsonl"


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


@contextmanager
def locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(path.suffix + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class RunStore:
    def __init__(self, out_dir: Path | str):
        self.dir = Path(out_dir)
        self.path = self.dir / RUNS_FILE

    def append(self, record: RunRecord) -> None:
        """Append one line; a record the reader would reject (e.g. ok with a NaN accuracy, stored as null)
        raises `MalformedRecord` here instead of breaking every later read."""
        stored = _clean(record.to_dict())
        RunRecord.from_dict(stored)
        line = (json.dumps(stored, sort_keys=True) + "\n").encode()
        with locked(self.path):
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)

    def read(self) -> list[dict]:
        """The stored JSON objects as they are, unvalidated (to compare lines); reports use `read_records`."""
        return [obj for _, obj in self._objects()]

    def read_records(self) -> list[RunRecord]:
        """Every record, parsed and checked against the schema; a malformed one raises `MalformedRecord`
        naming its line and key."""
        records = []
        for number, obj in self._objects():
            try:
                records.append(RunRecord.from_dict(obj))
            except MalformedRecord as exc:
                raise MalformedRecord(f"{self.path}:{number}: {exc}") from None
        return records

    def _objects(self) -> Iterator[tuple[int, Any]]:
        """(line number, parsed JSON) of every complete line."""
        if not self.path.exists():
            return
        with open(self.path, "rb") as fh:
            for number, raw in enumerate(fh, 1):
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw)
                except json.JSONDecodeError:
                    warnings.warn(f"{self.path}:{number}: skipping a torn line (an interrupted write)")
                    continue
                yield number, obj

    def latest_by_cell(self) -> dict[str, RunRecord]:
        """The newest record of each cell (a retried cell supersedes its failure)."""
        return {cell_key(record): record for record in self.read_records()}

    def finished_keys(self) -> set[str]:
        return {k for k, r in self.latest_by_cell().items() if r.ok}


def write_atomic(path: Path, text: str) -> None:
    """Write a whole file or nothing: write a sibling temp file, then rename over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
