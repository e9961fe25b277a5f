"""What a sweep cell is, (dataset, teacher->student pair, method, seed) under a preset, and the config hash that
names its result: the identity that the store, the checkpoints and the reports share with the sweep engine."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields

from methods import METHODS, method_config
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
        **({"overrides": overrides} if (overrides := identity_overrides(preset.overrides)) else {}),
        **({"teacher_checkpoint": teacher_checkpoint} if teacher_checkpoint else {}),
    }


def identity_overrides(overrides: dict[str, dict]) -> dict[str, dict]:
    """The --set/--config changes as a cell's identity holds them: without changes to method fields the config hash
    leaves out (`hashed: False`: how a step's memory is bounded, whether its passes are compiled; the same math), so a
    cell run with `--set data_free.compile=inductor` is the cell its preset names, as it is where a preset sets it."""
    unhashed = {f.name for name in METHODS.names() for f in fields(METHODS.get(name).config)
                if f.metadata.get("hashed", True) is False}
    kept = {block: {name: value for name, value in changes.items()
                    if block in ("data", "frontend") or name not in unhashed}
            for block, changes in overrides.items()}
    return {block: changes for block, changes in kept.items() if changes}


def config_hash(config: dict) -> str:
    return hashlib.sha1(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:12]
