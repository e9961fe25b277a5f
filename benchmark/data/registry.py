"""Dataset registry: name -> loader(DataConfig) -> ClipSet."""
from __future__ import annotations

from typing import Callable

from benchmark.registry import Registry

from .base import ClipSet, DataConfig

DatasetLoader = Callable[[DataConfig], ClipSet]
DATASETS: Registry[DatasetLoader] = Registry("dataset")
# `--datasets all` means the paper's three real datasets; the embedded set is the default.
PAPER_DATASETS = ["esc50", "us8k", "audiomnist"]
