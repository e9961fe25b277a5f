"""What a sweep cell is, (dataset, teacher->student pair, method, seed) under a preset, and the config hash that
names its result: the identity that the store, the checkpoints and the reports share with the sweep engine."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from methods import method_config
from methods.base import result_fields

from ..data.base import hashed_data_config
from .presets import Preset


@dataclass(frozen=True)
class Cell:
    dataset: str
    teacher: str
    student: str
    method: str
    seed: int

    @property
    def pair(self) -> str:
        return f"{self.teacher}:{self.student}"

    def label(self) -> str:
        return f"{self.dataset} {self.pair} {self.method} seed={self.seed}"


def cell_config(cell: Cell, preset: Preset, teacher_checkpoint: str | None = None) -> dict:
    """Everything that determines the cell's result (hashed into its identity). `teacher_checkpoint`: the SHA-256
    of a `--teacher-checkpoint` file, which then is every cell's teacher (absent otherwise, so hashes stay)."""
    return {
        "preset": preset.name,
        "data": hashed_data_config(preset.data),
        "frontend": asdict(preset.frontend),
        "embedding_dim": preset.embedding_dim,
        "method": result_fields(method_config(cell.method, preset)),
        "teacher_train": asdict(method_config("teacher", preset)),
        "amp": preset.amp,
        # only when --set/--config changed the preset, so the preset's own hashes stay as they were
        **({"overrides": preset.overrides} if preset.overrides else {}),
        **({"teacher_checkpoint": teacher_checkpoint} if teacher_checkpoint else {}),
    }


def config_hash(config: dict) -> str:
    return hashlib.sha1(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:12]
