"""`run --save-models DIR`: every ok cell's trained model, and the teacher it used, as checkpoints a user can load
(benchmark.checkpoints.model_io): `DIR/<dataset>/<teacher>-<student>/<method>-seed<k>.pt`, the teacher as
`teacher-seed<k>.pt`, each with a JSON sidecar (`.json` beside it) naming the record's identity, config hash,
data key and the checkpoint's SHA-256.

The sidecar is written after the checkpoint's atomic rename, so it marks a finished checkpoint: a resumed sweep
reruns a finished cell only when its checkpoint or sidecar is missing or was made by another config or on other
data (`ModelSaver.has`), and a teacher already saved for the same identity is not written again. A save that fails
(full or read-only disk) is a warning naming the path; the cell's record stays, and the next run with the same
arguments makes the checkpoint again.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from ..config.cells import Cell, cell_config, config_hash
from ..config.presets import Preset
from ..core.prepared import PreparedData
from ..store.disk import write_atomic
from ..store.record_schema import RunRecord
from .model_io import ModelCheckpoint, file_sha256, save_checkpoint

log = logging.getLogger(__name__)
TEACHER = "teacher"


def safe_part(name: str) -> str:
    """A dataset, architecture or method name as one path component that stays inside DIR (a folder dataset's
    name holds its path: separators and anything unusual become '_')."""
    part = re.sub(r"[^A-Za-z0-9._+-]", "_", name).strip(".") or "_"
    return part[:120]


@dataclass(frozen=True)
class ModelSaver:
    """Writes checkpoints under `root` for a sweep of `preset` (with `teacher_checkpoint`'s hash, if any)."""

    root: Path
    preset: Preset
    teacher_checkpoint: str | None = None

    def path(self, dataset: str, teacher: str, student: str, name: str, seed: int) -> Path:
        return (Path(self.root) / safe_part(dataset) / f"{safe_part(teacher)}-{safe_part(student)}"
                / f"{safe_part(name)}-seed{seed}.pt")

    def identity(self, cell: Cell, data_key: str | None) -> dict:
        return {"dataset": cell.dataset, "teacher": cell.teacher, "student": cell.student, "pair": cell.pair,
                "method": cell.method, "seed": cell.seed, "preset": self.preset.name,
                "config_hash": config_hash(cell_config(cell, self.preset, self.teacher_checkpoint)),
                "data_key": data_key, "teacher_checkpoint": self.teacher_checkpoint}

    def has(self, cell: Cell, data_key: str | None) -> bool:
        """Whether the cell's checkpoint is saved, made by this config on this data (its sidecar says so)."""
        path = self.path(cell.dataset, cell.teacher, cell.student, cell.method, cell.seed)
        return _sidecar_matches(path, self.identity(cell, data_key))

    def __call__(self, record: RunRecord, model, teacher, data: PreparedData) -> None:
        """Save an ok cell's model, and the teacher it used unless that is saved already; never raises."""
        cell = Cell(record.dataset, record.teacher, record.student, record.method, record.seed)
        path = self.path(cell.dataset, cell.teacher, cell.student, cell.method, cell.seed)
        arch = cell.teacher if cell.method == TEACHER else cell.student
        self._write(path, self.identity(cell, record.data_key), arch, model, data, record.val_accuracy,
                    record.accuracy)
        if teacher is not None and cell.method != TEACHER:
            teacher_cell = Cell(cell.dataset, cell.teacher, cell.student, TEACHER, cell.seed)
            identity = self.identity(teacher_cell, record.data_key)
            teacher_path = self.path(cell.dataset, cell.teacher, cell.student, TEACHER, cell.seed)
            if not _sidecar_matches(teacher_path, identity):
                model_t, info = teacher
                self._write(teacher_path, identity, cell.teacher, model_t, data, info.get("val_accuracy"),
                            info.get("test_accuracy"))

    def _write(self, path: Path, identity: dict, arch: str, model, data: PreparedData, val: float | None,
               test: float | None) -> None:
        checkpoint = ModelCheckpoint(arch, list(data.class_names), model.embedding_dim, data.frontend,
                                     data.normaliser, model.state_dict(), val, test, identity)
        try:
            save_checkpoint(path, checkpoint)
            sidecar = {**identity, "arch": arch, "val_accuracy": val, "test_accuracy": test,
                       "checkpoint_sha256": file_sha256(path)}
            write_atomic(path.with_suffix(".json"), json.dumps(sidecar, indent=1, sort_keys=True) + "\n")
        except (OSError, RuntimeError) as exc:  # a full disk surfaces as PytorchStreamWriter's RuntimeError
            log.warning("could not save the model checkpoint %s (%s); the cell's record is kept, and the next run "
                        "with the same arguments saves it again. Fix: free space or choose another --save-models",
                        path, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


def _sidecar_matches(path: Path, identity: dict) -> bool:
    sidecar = path.with_suffix(".json")
    if not (path.is_file() and sidecar.is_file()):
        return False
    try:
        stored = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(stored, dict) and all(stored.get(k) == v for k, v in identity.items())
