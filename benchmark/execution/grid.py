"""What a sweep runs: its spec, the grid of cells and which cells are still pending."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from models import MODELS

from ..checkpoints.saved_models import ModelSaver
from ..checkpoints.teacher_source import TeacherCheckpoint
from ..config.cells import Cell, cell_config, config_hash
from ..config.presets import Preset
from ..core.registry import UnknownNameError
from ..store.records import RunStore, identity_key


@dataclass(frozen=True)
class SweepSpec:
    preset: Preset
    datasets: tuple[str, ...]
    pairs: tuple[tuple[str, str], ...]
    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    data_root: Path | None = None
    retry_failed: bool = False
    teacher_checkpoint: TeacherCheckpoint | None = None  # run --teacher-checkpoint: every cell's teacher
    save_models: Path | None = None  # run --save-models: where checkpoints of every ok cell go

    @property
    def teacher_hash(self) -> str | None:
        return self.teacher_checkpoint.sha256 if self.teacher_checkpoint else None

    def model_saver(self) -> ModelSaver | None:
        return ModelSaver(self.save_models, self.preset, self.teacher_hash) if self.save_models else None


def parse_pairs(text: str) -> tuple[tuple[str, str], ...]:
    """'resnet34:resnet18,wrn40_2:wrn16_2' -> ((teacher, student), ...), names checked against the models."""
    pairs = []
    for item in text.split(","):
        teacher, sep, student = item.strip().partition(":")
        if not sep:
            raise UnknownNameError(f"--pairs takes teacher:student items (e.g. resnet34:resnet18), got {item!r}")
        MODELS.get(teacher), MODELS.get(student)
        pairs.append((teacher, student))
    return tuple(pairs)


def expand_grid(spec: SweepSpec) -> list[Cell]:
    """Dataset-major order, teachers' own cells first, so a teacher is trained before its users."""
    return [Cell(d, t, s, m, seed) for d in spec.datasets for (t, s) in spec.pairs for seed in spec.seeds
            for m in spec.methods]


def pending_cells(spec: SweepSpec, store: RunStore, data_keys: dict[str, str | None] | None = None) -> list[Cell]:
    """Cells without a finished record of the same identity. With `data_keys` (dataset -> content key of the
    data this sweep reads), a record made on other data (its data_key differs) is not finished either, so a
    re-encoded or replaced dataset is run again instead of repeating the old result; records from before data
    keys existed (data_key None) still count. With `save_models`, a finished cell whose checkpoint is not saved
    (for this config and data) runs again, so a resumed sweep loses no model and rewrites none it has."""
    latest = store.latest_by_cell()
    saver = spec.model_saver()
    todo = []
    for cell in expand_grid(spec):
        key = identity_key(cell.dataset, cell.teacher, cell.student, cell.method, cell.seed, spec.preset.name,
                           config_hash(cell_config(cell, spec.preset, spec.teacher_hash)))
        previous = latest.get(key)
        current = (data_keys or {}).get(cell.dataset)
        other_data = previous is not None and None not in (previous.data_key, current) and previous.data_key != current
        unsaved = (saver is not None and previous is not None and previous.ok
                   and not saver.has(cell, current or previous.data_key))
        if previous is None or other_data or unsaved or (spec.retry_failed and not previous.ok):
            todo.append(cell)
    return todo
