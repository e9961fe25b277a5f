"""Datasets: the embedded synthetic set and the paper's real datasets, behind one registry."""
from . import folder, real, synth, synth_long  # noqa: F401  (importing registers "synth", "synth-long", the three real datasets and the folder: prefix)
from .registry import DATASETS, PAPER_DATASETS
from .synth import cache_dir

__all__ = ["DATASETS", "PAPER_DATASETS", "cache_dir"]
