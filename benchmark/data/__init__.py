"""Datasets: the embedded synthetic set and the paper's real datasets, behind one registry."""
from . import real, synth  # noqa: F401  (importing registers "synth" and the three real datasets)
from .registry import DATASETS, PAPER_DATASETS
from .synth import cache_dir

__all__ = ["DATASETS", "PAPER_DATASETS", "cache_dir"]
