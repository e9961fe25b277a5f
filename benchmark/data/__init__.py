"""Datasets: the embedded synthetic sets and the paper's real datasets, behind one registry."""
from . import (  # noqa: F401  (importing registers "synth", "synth-long", the three real datasets and the folder: prefix)
    folder, real, synth, synth_long)
from .registry import DATASETS, PAPER_DATASETS

__all__ = ["DATASETS", "PAPER_DATASETS"]
