"""Feature cache: built once per (dataset clips, front end), identical on a hit, rebuilt on change."""
from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest
import torch

from benchmark.core.features import FrontEndConfig
from benchmark.data.base import Clip, ClipSet
from benchmark.data.extraction import extract_split
from benchmark.data.feature_cache import cache_paths, cached_split_features

FRONTEND = FrontEndConfig(sample_rate=8000, n_fft=256, win_length=200, hop_length=80, n_mels=16)


def make_clipset(splits: list[str], name: str = "toy", spec: dict | None = None) -> tuple[ClipSet, list[str]]:
    """Six clips of different lengths; `calls` records every audio load."""
    calls: list[str] = []
    waves = {f"clip{i}": np.random.default_rng(i).standard_normal(800 + 160 * i).astype(np.float32)
             for i in range(6)}

    def load(clip: Clip) -> np.ndarray:
        calls.append(clip.clip_id)
        return waves[clip.clip_id]

    clips = [Clip(f"clip{i}", i % 3, split) for i, split in enumerate(splits)]
    return ClipSet(name, ["a", "b", "c"], 8000, clips, load, description={"spec": spec or {"v": 1}}), calls


SPLITS_A = ["train", "train", "val", "test", "train", "test"]
SPLITS_B = ["test", "train", "train", "train", "val", "train"]  # another protocol, same clips


def test_miss_then_hit_gives_identical_tensors(tmp_path, caplog):
    clipset, calls = make_clipset(SPLITS_A)
    caplog.set_level(logging.INFO, logger="benchmark.features")
    first = cached_split_features(clipset, "train", FRONTEND, tmp_path)
    assert sorted(calls) == [f"clip{i}" for i in range(6)]  # whole dataset featurised once
    assert "feature cache miss" in caplog.text and str(cache_paths(clipset, FRONTEND, tmp_path)["frames.npy"]) \
        in caplog.text
    caplog.clear()
    again = cached_split_features(clipset, "train", FRONTEND, tmp_path)
    tests = cached_split_features(clipset, "test", FRONTEND, tmp_path)
    assert len(calls) == 6  # no audio read on a hit
    assert "feature cache hit" in caplog.text
    direct = extract_split(clipset, "train", FRONTEND)
    assert again.ids == first.ids == direct.ids == ["clip0", "clip1", "clip4"]
    assert torch.equal(again.labels, direct.labels) and tests.ids == ["clip3", "clip5"]
    for cached, fresh in zip(again.features, direct.features):
        assert cached.shape == fresh.shape == (16, fresh.shape[1]) and cached.dtype == torch.float32
        assert torch.equal(cached, fresh)


def test_other_protocol_reuses_the_cache(tmp_path):
    clipset_a, calls_a = make_clipset(SPLITS_A)
    clipset_b, calls_b = make_clipset(SPLITS_B)
    cached_split_features(clipset_a, "train", FRONTEND, tmp_path)
    features_b = cached_split_features(clipset_b, "test", FRONTEND, tmp_path)
    assert calls_b == [] and features_b.ids == ["clip0"]
    assert torch.equal(features_b.features[0], extract_split(clipset_b, "test", FRONTEND).features[0])


@pytest.mark.parametrize("change", ["frontend", "content", "clips"])
def test_a_settings_change_rebuilds(tmp_path, change):
    clipset, _ = make_clipset(SPLITS_A)
    cached_split_features(clipset, "train", FRONTEND, tmp_path)
    frontend = dataclasses.replace(FRONTEND, n_mels=8) if change == "frontend" else FRONTEND
    changed, calls = make_clipset(SPLITS_A, spec={"v": 2} if change == "content" else None)
    if change == "clips":
        changed.clips = changed.clips[:-1]
    result = cached_split_features(changed, "train", frontend, tmp_path)
    assert len(calls) == len(changed.clips)  # recomputed, not served from the old entry
    assert result.features[0].shape[0] == frontend.n_mels
    assert cache_paths(changed, frontend, tmp_path)["frames.npy"] != cache_paths(clipset, FRONTEND, tmp_path)[
        "frames.npy"]
    assert len(list(tmp_path.glob("*.frames.npy"))) == 2


def test_features_are_memory_mapped_and_no_temp_files_remain(tmp_path):
    clipset, _ = make_clipset(SPLITS_A)
    features = cached_split_features(clipset, "val", FRONTEND, tmp_path)
    paths = cache_paths(clipset, FRONTEND, tmp_path)
    stored = np.load(paths["frames.npy"], mmap_mode="r")
    offsets = np.load(paths["offsets.npy"])
    assert isinstance(stored, np.memmap) and stored.shape == (16 * offsets[-1],) and len(offsets) == 7
    assert all(f.is_contiguous() for f in features.features)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert features.lengths.tolist() == [FRONTEND.frames((800 + 320) / 8000)]


def test_a_damaged_index_is_rebuilt(tmp_path):
    clipset, _ = make_clipset(SPLITS_A)
    cached_split_features(clipset, "train", FRONTEND, tmp_path)
    cache_paths(clipset, FRONTEND, tmp_path)["index.json"].write_text("{ half written")
    again, calls = make_clipset(SPLITS_A)
    assert len(cached_split_features(again, "train", FRONTEND, tmp_path)) == 3 and len(calls) == 6
