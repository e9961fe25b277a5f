"""What a sweep runs: its spec, the grid of cells, which cells are still pending, and the
datasets they read (loaded and featurised once per process)."""
from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .cell import Cell, cell_config, config_hash
from .data import DATASETS, cache_dir
from .data.base import DataConfig
from .data.feature_cache import cached_split_features
from .prepared import PreparedData, prepare
from .presets import Preset
from .records import RunStore, identity_key

log = logging.getLogger("benchmark.sweep")


@dataclass(frozen=True)
class SweepSpec:
    preset: Preset
    datasets: tuple[str, ...]
    pairs: tuple[tuple[str, str], ...]
    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    data_root: Path | None = None
    retry_failed: bool = False


def expand_grid(spec: SweepSpec) -> list[Cell]:
    """Dataset-major order, teachers' own cells first, so a teacher is trained before its users."""
    return [Cell(d, t, s, m, seed) for d in spec.datasets for (t, s) in spec.pairs for seed in spec.seeds
            for m in spec.methods]


def data_config(spec: SweepSpec) -> DataConfig:
    root = spec.data_root or (Path(os.environ["DFKD_DATA_ROOT"]) if os.environ.get("DFKD_DATA_ROOT") else None)
    return dataclasses.replace(spec.preset.data, data_root=root, sample_rate=spec.preset.frontend.sample_rate)


class DataProvider:
    """Loads and featurises each dataset once per sweep."""

    def __init__(self, spec: SweepSpec):
        self.spec, self._cache = spec, {}

    def get(self, name: str) -> PreparedData:
        if name not in self._cache:
            start = time.perf_counter()
            clipset = DATASETS.get(name)(data_config(self.spec))
            frontend = self.spec.preset.frontend
            self._cache[name] = prepare(clipset, frontend, lambda cs, split: extract_features(cs, split, frontend))
            log.info("prepared %s in %.1fs: %s", name, time.perf_counter() - start, clipset.split_sizes())
        return self._cache[name]


def extract_features(clipset, split, frontend):
    """Log-mels of one split, from the on-disk feature cache (computed on the first use)."""
    return cached_split_features(clipset, split, frontend, cache_dir() / "features")


def pending_cells(spec: SweepSpec, store: RunStore) -> list[Cell]:
    latest = store.latest_by_cell()
    todo = []
    for cell in expand_grid(spec):
        key = identity_key(cell.dataset, cell.teacher, cell.student, cell.method, cell.seed, spec.preset.name,
                           config_hash(cell_config(cell, spec.preset)))
        previous = latest.get(key)
        if previous is None or (spec.retry_failed and not previous.ok):
            todo.append(cell)
    return todo
