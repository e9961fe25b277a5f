"""A cached teacher is loaded without unpickling arbitrary objects: a cache file that carries an
object whose unpickling would run code is refused, named in a warning, deleted and retrained, and nothing runs."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from benchmark.checkpoints.teachers import TeacherCache
from benchmark.config.presets import PRESETS
from benchmark.execution.cell import train_or_load_teacher
from benchmark.execution.grid import SweepSpec
from benchmark.execution.loading import DataProvider

MICRO = PRESETS.get("micro")
SPEC = SweepSpec(MICRO, ("synth",), (("wrn16_2_tiny", "wrn10_2_tiny"),), ("teacher",), (0,))


class WritesAMarker:
    """Unpickling this calls Path.write_text: the stand-in for os.system in a crafted cache file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.write_text, (self.marker, "code ran while loading the teacher cache")


@pytest.fixture
def own_cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("DFKD_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_cache_file_that_would_run_code_is_refused_and_rebuilt(own_cache, tmp_path, caplog):
    data = DataProvider(SPEC).get("synth")
    train_or_load_teacher(MICRO, data, "wrn16_2_tiny", 0, TeacherCache(own_cache / "teachers"), torch.device("cpu"))
    (path,) = (own_cache / "teachers").glob("*.pt")
    marker = tmp_path / "pwned"
    blob = torch.load(path, weights_only=True)
    blob["info"]["payload"] = WritesAMarker(marker)  # re-saved with an extra object, as a tampered cache file would be
    torch.save(blob, path)

    caplog.set_level(logging.INFO, logger="benchmark.checkpoints.teachers")
    _, info = train_or_load_teacher(MICRO, data, "wrn16_2_tiny", 0, TeacherCache(own_cache / "teachers"),
                                    torch.device("cpu"))
    assert not marker.exists(), "loading the teacher cache ran code from the file"
    assert f"refused teacher cache entry {path}" in caplog.text and "teacher cache hit" not in caplog.text
    assert "GLOBAL" in caplog.text  # the warning names the object torch refused
    assert info["cached"] is False and "payload" not in info  # retrained, not read from the crafted file
    _, again = train_or_load_teacher(MICRO, data, "wrn16_2_tiny", 0, TeacherCache(own_cache / "teachers"),
                                     torch.device("cpu"))
    assert again["cached"] is True and "payload" not in again  # the rebuilt entry is a plain one
    assert not marker.exists()


def test_a_cache_file_of_another_layout_is_rebuilt_not_used(own_cache, caplog):
    data = DataProvider(SPEC).get("synth")
    train_or_load_teacher(MICRO, data, "wrn16_2_tiny", 0, TeacherCache(own_cache / "teachers"), torch.device("cpu"))
    (path,) = (own_cache / "teachers").glob("*.pt")
    torch.save([1, 2, 3], path)  # loads weights-only, but is no teacher
    caplog.set_level(logging.INFO, logger="benchmark.checkpoints.teachers")
    _, info = train_or_load_teacher(MICRO, data, "wrn16_2_tiny", 0, TeacherCache(own_cache / "teachers"),
                                    torch.device("cpu"))
    assert f"corrupt cache entry {path}" in caplog.text and "found list" in caplog.text and info["cached"] is False
