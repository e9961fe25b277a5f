"""The datasets a sweep reads: each loaded and featurised once per process, through the
on-disk feature cache. Starting a provider first clears the cache of temp files that killed
runs left behind. A dataset with an empty split is refused before anything is featurised."""
from __future__ import annotations

import logging
import time
from pathlib import Path

from ..core.prepared import PreparedData
from ..data import DATASETS
from ..data.base import DataConfig, sweep_data_config
from ..data.extraction import prepare
from ..data.feature_cache import cached_split_features, features_key
from ..store.disk import cache_dir, remove_orphaned_temp_files
from .grid import SweepSpec

log = logging.getLogger(__name__)


def data_config(spec: SweepSpec) -> DataConfig:
    return sweep_data_config(spec.preset.data, spec.preset.frontend.sample_rate, spec.data_root)


class DataProvider:
    """Loads and featurises each dataset once per sweep."""

    def __init__(self, spec: SweepSpec):
        self.spec, self._cache = spec, {}
        clear_orphans_once(cache_dir())

    def get(self, name: str) -> PreparedData:
        if name not in self._cache:
            start = time.perf_counter()
            clipset = DATASETS.get(name)(data_config(self.spec))
            check_no_empty_split(clipset)  # before features, teachers or cells
            frontend = self.spec.preset.frontend
            key = features_key(clipset, frontend, features_dir())  # hashes the audio files that changed
            self._cache[name] = prepare(clipset, frontend,
                                        lambda cs, split: extract_features(cs, split, frontend, key), key)
            log.info("prepared %s in %.1fs: %s", name, time.perf_counter() - start, clipset.split_sizes())
        return self._cache[name]


class EmptySplit(ValueError):
    """A split the data leaves without a clip: nothing could be trained, selected or tested on it."""


def check_no_empty_split(clipset) -> None:
    """Refuse a dataset whose train, validation or test split is empty, naming the dataset, split and counts."""
    sizes = clipset.split_sizes()
    empty = [split for split, count in sizes.items() if count == 0]
    if empty:
        counts = ", ".join(f"{split} {count}" for split, count in sizes.items())
        raise EmptySplit(f"dataset {clipset.name!r}: split {empty[0]!r} has 0 clips ({counts}); every split needs "
                         "clips: use more clips (synth: data.synth_clips_per_class), another --protocol, or check "
                         "the data (--on-bad-file skip may have left a split empty)")


def features_dir() -> Path:
    return cache_dir() / "features"


def extract_features(clipset, split, frontend, key: str | None = None):
    """Log-mels of one split, from the on-disk feature cache (computed on the first use)."""
    return cached_split_features(clipset, split, frontend, features_dir(), key=key)


_CLEARED: set[Path] = set()


def clear_orphans_once(root: Path) -> None:
    """Remove the temp files of dead processes under the cache, once per process and cache directory."""
    if root not in _CLEARED:
        _CLEARED.add(root)
        remove_orphaned_temp_files(root)
