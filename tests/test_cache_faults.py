"""A full, read-only or damaged cache: one message naming the cache path and the fix, corrupt entries rebuilt,
trained teachers never lost, and temp files of dead runs removed on the next start."""
from __future__ import annotations

import errno
import logging
import os
import pathlib
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.checkpoints.teachers import TeacherCache
from benchmark.cli import main
from benchmark.config.presets import PRESETS
from benchmark.core.features import FrontEndConfig
from benchmark.data import synth
from benchmark.data.base import Clip, ClipSet
from benchmark.data.extraction import extract_split
from benchmark.data.feature_cache import cache_paths, cached_split_features
from benchmark.execution import loading
from benchmark.execution.cell import train_or_load_teacher
from benchmark.execution.grid import SweepSpec
from benchmark.execution.loading import DataProvider
from benchmark.store.disk import CacheUnusable, host_tag, temp_path

FRONTEND = FrontEndConfig(sample_rate=8000, n_fft=256, win_length=200, hop_length=80, n_mels=16)
MICRO = PRESETS.get("micro")
SPEC = SweepSpec(MICRO, ("synth",), (("wrn16_2_tiny", "wrn10_2_tiny"),), ("teacher",), (0,))
DEAD_PID = 99_999_999  # above any pid_max: no such process


def toy_clipset() -> ClipSet:
    waves = {f"clip{i}": np.random.default_rng(i).standard_normal(800 + 160 * i).astype(np.float32) for i in range(6)}
    clips = [Clip(f"clip{i}", i % 3, s) for i, s in enumerate(["train", "train", "val", "test", "train", "test"])]
    return ClipSet("toy", ["a", "b", "c"], 8000, clips, lambda c: waves[c.clip_id], description={"spec": {"v": 1}})


def os_error(code: int):
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))
    return fail


@pytest.fixture
def own_cache(tmp_path, monkeypatch) -> Path:
    """A cache of this test's own (faults here must not touch the session's shared cache)."""
    monkeypatch.setenv("DFKD_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".tmp" in p.name]


# --- a full disk ------------------------------------------------------------------------------------

def test_a_full_disk_while_building_features_names_the_path_and_the_fix(tmp_path, monkeypatch):
    clipset = toy_clipset()
    monkeypatch.setattr(os, "posix_fallocate", os_error(errno.ENOSPC))
    with pytest.raises(CacheUnusable) as caught:
        cached_split_features(clipset, "train", FRONTEND, tmp_path)
    message = str(caught.value)
    assert str(cache_paths(clipset, FRONTEND, tmp_path)["frames.npy"]) in message
    assert "No space left on device" in message and "free space" in message and "DFKD_CACHE" in message
    assert temp_files(tmp_path) == [] and not list(tmp_path.glob("*.index.json"))  # nothing half-written left


def test_a_failing_write_midway_is_the_same_message_not_a_crash(tmp_path, monkeypatch):
    """Where preallocation is unsupported, the write itself reports ENOSPC (a memory map would SIGBUS)."""
    clipset = toy_clipset()
    monkeypatch.setattr(os, "posix_fallocate", os_error(errno.EOPNOTSUPP))
    real_open = pathlib.Path.open

    class FullDisk:
        def __init__(self, handle):
            self.handle, self.written = handle, 0

        def write(self, data):
            self.written += len(data)
            if self.written > 512:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return self.handle.write(data)

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

    def open_full(self, mode="r", *args, **kwargs):
        handle = real_open(self, mode, *args, **kwargs)
        return FullDisk(handle) if "w" in mode and "frames.npy" in self.name else handle

    monkeypatch.setattr(pathlib.Path, "open", open_full)
    with pytest.raises(CacheUnusable, match="cannot write the feature cache at .*frames.npy: No space left"):
        cached_split_features(clipset, "train", FRONTEND, tmp_path)
    assert temp_files(tmp_path) == []


def test_the_cli_turns_a_full_cache_disk_into_one_error_line(own_cache, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(os, "posix_fallocate", os_error(errno.ENOSPC))
    code = main(["run", "--preset", "micro", "--methods", "teacher", "--out", str(tmp_path / "out"), "--no-tables"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: cannot write the feature cache at ") and str(own_cache) in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_teacher_that_cannot_be_saved_is_kept_not_lost(own_cache, monkeypatch, caplog):
    data = DataProvider(SPEC).get("synth")
    teachers = TeacherCache(own_cache / "teachers")

    def full_disk(obj, path, *args, **kwargs):
        Path(path).write_bytes(b"PK partial")  # what a full disk leaves behind
        raise RuntimeError("[enforce fail at inline_container.cc:664] . PytorchStreamWriter failed writing file")

    monkeypatch.setattr(torch, "save", full_disk)
    caplog.set_level(logging.WARNING)
    model, info = train_or_load_teacher(MICRO, data, "wrn16_2_tiny", 0, teachers, torch.device("cpu"))
    assert isinstance(model, torch.nn.Module) and info["cached"] is False  # trained, and returned
    assert "cannot write the teacher cache at " + str(own_cache / "teachers") in caplog.text
    assert "kept in memory" in caplog.text and "DFKD_CACHE" in caplog.text
    assert temp_files(own_cache) == [] and not list((own_cache / "teachers").glob("*.pt"))
    again, info = train_or_load_teacher(MICRO, data, "wrn16_2_tiny", 0, teachers, torch.device("cpu"))
    assert again is model and info["cached"] is True  # this process reuses it


# --- a read-only cache ------------------------------------------------------------------------------

def test_a_read_only_empty_cache_names_the_path_and_the_fix(own_cache, monkeypatch, capsys):
    """(chmod does not stop root, who runs the tests here: the file system's answer is faked.)"""
    real_open = pathlib.Path.open

    def open_ro(self, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return real_open(self, mode, *args, **kwargs)

    def mkdir_ro(self, *args, **kwargs):
        if not self.exists():
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))

    monkeypatch.setattr(pathlib.Path, "open", open_ro)
    monkeypatch.setattr(pathlib.Path, "mkdir", mkdir_ro)
    monkeypatch.setattr(os, "unlink", os_error(errno.EROFS))  # even for a missing file, as a read-only mount says
    with pytest.raises(CacheUnusable) as caught:
        synth.load_synth(MICRO.data)
    message = str(caught.value)
    assert f"cannot write the synth cache at {own_cache}" in message and "Read-only file system" in message
    assert "point DFKD_CACHE at a writable directory" in message
    with pytest.raises(CacheUnusable, match=f"cannot write the feature cache at {own_cache}.*Read-only file system"):
        cached_split_features(toy_clipset(), "train", FRONTEND, own_cache / "features")
    assert main(["run", "--preset", "micro", "--methods", "teacher", "--out", str(own_cache.parent), "--no-tables"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write the synth cache at {own_cache}") and len(err.strip().splitlines()) == 1


# --- damaged entries --------------------------------------------------------------------------------

def truncate(path: Path, keep: float = 0.5) -> None:
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * keep)])


@pytest.mark.parametrize("part", ["frames.npy", "offsets.npy", "index.json"])
def test_a_truncated_feature_entry_is_rebuilt(tmp_path, caplog, part):
    clipset = toy_clipset()
    cached_split_features(clipset, "train", FRONTEND, tmp_path)
    path = cache_paths(clipset, FRONTEND, tmp_path)[part]
    truncate(path)
    caplog.set_level(logging.INFO, logger="benchmark.features")
    again = cached_split_features(clipset, "train", FRONTEND, tmp_path)
    assert f"corrupt cache entry {cache_paths(clipset, FRONTEND, tmp_path)['frames.npy']}" in caplog.text
    assert "rebuilding" in caplog.text and "feature cache miss" in caplog.text
    fresh = extract_split(clipset, "train", FRONTEND)
    assert all(torch.equal(a, b) for a, b in zip(again.features, fresh.features))
    caplog.clear()
    cached_split_features(clipset, "train", FRONTEND, tmp_path)
    assert "feature cache hit" in caplog.text  # the rebuilt entry serves


def test_a_truncated_synth_cache_is_rebuilt(own_cache, caplog):
    first = synth.load_synth(MICRO.data)
    (path,) = own_cache.glob("synth-*.npz")
    truncate(path)
    caplog.set_level(logging.INFO, logger="benchmark.synth")
    again = synth.load_synth(MICRO.data)
    assert f"corrupt cache entry {path}" in caplog.text and "rebuilding" in caplog.text
    clip = first.clips[5]
    assert np.array_equal(first.load(clip), again.load(clip))
    assert temp_files(own_cache) == []


def test_a_truncated_teacher_is_retrained(own_cache, caplog):
    data = DataProvider(SPEC).get("synth")
    train_or_load_teacher(MICRO, data, "wrn16_2_tiny", 0, TeacherCache(own_cache / "teachers"), torch.device("cpu"))
    (path,) = (own_cache / "teachers").glob("*.pt")
    truncate(path)
    caplog.set_level(logging.INFO, logger="benchmark.checkpoints.teachers")
    _, info = train_or_load_teacher(MICRO, data, "wrn16_2_tiny", 0, TeacherCache(own_cache / "teachers"),
                                    torch.device("cpu"))
    assert f"corrupt cache entry {path}" in caplog.text and info["cached"] is False
    _, info = train_or_load_teacher(MICRO, data, "wrn16_2_tiny", 0, TeacherCache(own_cache / "teachers"),
                                    torch.device("cpu"))
    assert info["cached"] is True  # the retrained teacher was saved whole


# --- orphaned temp files ----------------------------------------------------------------------------

def test_temp_files_of_dead_processes_are_removed_on_the_next_start(own_cache, monkeypatch):
    """Only this host's temp files of dead pids go (a cache on shared storage holds other hosts' files, whose
    pids mean nothing here); a file named before names carried the host goes once nobody wrote it for an hour."""
    here = host_tag()
    dead = [own_cache / "features" / f".esc50-abc-def.frames.npy.{DEAD_PID}@{here}.tmp",
            own_cache / "teachers" / f".0123456789abcdef.pt.{DEAD_PID}@{here}.tmp",
            own_cache / f".synth-abc.npz.{DEAD_PID}.tmp.npz"]  # hostless (older writer), idle for two hours
    live = [own_cache / "features" / f".esc50-abc-def.frames.npy.{os.getpid()}@{here}.tmp",
            own_cache / "teachers" / f".0123456789abcdef.pt.{DEAD_PID}@other-node.example.org.tmp",
            own_cache / "teachers" / f".fedcba9876543210.pt.{DEAD_PID}.tmp"]  # hostless, written just now
    kept = [own_cache / "features" / "esc50-abc-def.frames.npy", own_cache / "features" / "notes.tmp"]
    for path in dead + live + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 1000)
    two_hours_ago = time.time() - 7200
    os.utime(dead[2], (two_hours_ago, two_hours_ago))
    monkeypatch.setattr(loading, "_CLEARED", set())
    DataProvider(SPEC)
    assert not any(p.exists() for p in dead) and all(p.exists() for p in live + kept)
    assert temp_path(Path("x.pt")).name == f".x.pt.{os.getpid()}@{here}.tmp"
