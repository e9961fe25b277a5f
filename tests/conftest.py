"""Shared fixtures. Every test writes caches under a temporary folder (never ~/.cache)."""
from __future__ import annotations

import os

import pytest
import torch

import benchmark  # noqa: F401  (pins the CPU kernels before any tensor work runs: benchmark/core/cpu_isa.py)

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """One cache per test session, so the smoke synth set and teachers are built once."""
    cache = tmp_path_factory.getbasetemp() / "dfkd-cache"
    monkeypatch.setenv("DFKD_CACHE", str(cache))
    monkeypatch.setenv("DFKD_PROGRESS", "0")
    return cache
