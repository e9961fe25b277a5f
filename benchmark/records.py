"""The results store: one JSON object per sweep cell in `DIR/runs.jsonl`.

Appends are atomic (one `write` of a whole line under an exclusive `flock`), so a sweep
killed at any point leaves only complete lines behind, and two sweeps writing to one
folder cannot interleave. A torn last line (power loss) is ignored on read and reported.
"""
from __future__ import annotations

import fcntl
import json
import math
import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

RUNS_FILE = "runs.jsonl"
KEY_FIELDS = ("dataset", "teacher", "student", "method", "seed", "preset")


def cell_key(record: dict) -> str:
    """Identity of a cell: its grid coordinates plus the hash of its full config."""
    return "|".join(str(record[f]) for f in KEY_FIELDS) + "|" + str(record.get("config_hash", ""))


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

    def append(self, record: dict) -> None:
        line = (json.dumps(_clean(record), sort_keys=True) + "\n").encode()
        with locked(self.path):
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        records = []
        with open(self.path, "rb") as fh:
            for number, raw in enumerate(fh, 1):
                if not raw.strip():
                    continue
                try:
                    records.append(json.loads(raw))
                except json.JSONDecodeError:
                    warnings.warn(f"{self.path}:{number}: skipping a torn line (an interrupted write)")
        return records

    def latest_by_cell(self) -> dict[str, dict]:
        """The newest record of each cell (a retried cell supersedes its failure)."""
        latest: dict[str, dict] = {}
        for record in self.read():
            latest[cell_key(record)] = record
        return latest

    def finished_keys(self) -> set[str]:
        return {k for k, r in self.latest_by_cell().items() if r.get("status") == "ok"}


def write_atomic(path: Path, text: str) -> None:
    """Write a whole file or nothing: write a sibling temp file, then rename over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
