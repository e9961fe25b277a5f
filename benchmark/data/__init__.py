"""Datasets: the embedded synthetic set and the paper's real datasets, behind one registry."""
from . import synth  # noqa: F401  (registers "synth")
from .registry import DATASETS, PAPER_DATASETS
from .synth import cache_dir

try:  # real-dataset loaders register themselves on import
    from . import real  # noqa: F401
except ImportError:  # pragma: no cover - only while the loaders are being written
    pass

__all__ = ["DATASETS", "PAPER_DATASETS", "cache_dir"]
