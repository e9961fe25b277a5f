"""Caches are keyed on what the audio contains, not on clip names: a re-encoded or fixed file, or another copy
of the data under the same names, gets new features, a new teacher and a record that says which data it ran on."""
from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from benchmark.checkpoints.teachers import teacher_key
from benchmark.cli import main
from benchmark.config.presets import PRESETS
from benchmark.core.features import FrontEndConfig
from benchmark.core.training import TrainConfig
from benchmark.data import DATASETS
from benchmark.data.base import DataConfig
from benchmark.data.extraction import prepare
from benchmark.data.feature_cache import HASH_INDEX, cached_split_features, content_fingerprint, features_key
from tests.helpers import make_esc50

FRONTEND = FrontEndConfig(sample_rate=8000, n_fft=256, win_length=200, hop_length=80, n_mels=16)


def load_esc50(root: Path):
    return DATASETS.get("esc50")(DataConfig(data_root=root, sample_rate=FRONTEND.sample_rate))


def rewrite_keeping_size_and_mtime(path: Path, seed: int) -> None:
    """New samples in the same format (so the same size), with the old mtime put back (as `touch -r` or a
    re-encoder that preserves times would): only the content changed."""
    before = path.stat()
    data, rate = sf.read(path, dtype="float32")
    noise = np.random.default_rng(seed).uniform(-0.9, 0.9, data.shape).astype(np.float32)
    sf.write(path, noise, rate, subtype="PCM_16")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size and path.stat().st_mtime_ns == before.st_mtime_ns


@pytest.fixture
def tree(tmp_path) -> Path:
    make_esc50(tmp_path / "root")
    return tmp_path / "root"


def test_a_changed_wav_misses_the_cache_and_changes_the_feature_and_teacher_keys(tree, tmp_path, caplog):
    cache = tmp_path / "features"
    caplog.set_level(logging.INFO, logger="benchmark.features")
    first = load_esc50(tree)
    key = features_key(first, FRONTEND, cache)
    assert "hashing 60 audio file(s)" in caplog.text  # first use: every file read once
    before = cached_split_features(first, "test", FRONTEND, cache)
    assert "feature cache miss" in caplog.text

    caplog.clear()
    again = load_esc50(tree)
    assert features_key(again, FRONTEND, cache) == key
    cached_split_features(again, "test", FRONTEND, cache)
    assert "feature cache hit" in caplog.text and "hashing" not in caplog.text  # unchanged tree: stats only

    changed_id = before.ids[0]
    rewrite_keeping_size_and_mtime(tree / "ESC-50" / "audio" / changed_id, seed=1)
    caplog.clear()
    changed = load_esc50(tree)
    new_key = features_key(changed, FRONTEND, cache)
    assert new_key != key and "hashing 1 audio file(s)" in caplog.text
    after = cached_split_features(changed, "test", FRONTEND, cache)
    assert "feature cache miss" in caplog.text
    assert not torch.equal(after.features[0], before.features[0])  # the new audio, not the old features
    assert all(torch.equal(a, b) for a, b in zip(after.features[1:], before.features[1:]))

    extract = lambda cs, split: cached_split_features(cs, split, FRONTEND, cache)  # noqa: E731
    data_old, data_new = prepare(first, FRONTEND, extract, key), prepare(changed, FRONTEND, extract, new_key)
    assert data_new.features_key == new_key
    config = {"seed": 0}
    kernels = "cpu AVX2, oneDNN <= AVX2 x1 threads"
    assert teacher_key(data_old, config, "wrn10_2_tiny", 0, TrainConfig(), 16, kernels) != teacher_key(
        data_new, config, "wrn10_2_tiny", 0, TrainConfig(), 16, kernels)
    # other kernels or another thread count train other floats: another teacher, never handed out in its place
    assert teacher_key(data_old, config, "wrn10_2_tiny", 0, TrainConfig(), 16, kernels) != teacher_key(
        data_old, config, "wrn10_2_tiny", 0, TrainConfig(), 16, "cpu AVX2, oneDNN <= AVX2 x2 threads")


def test_another_copy_under_the_same_names_is_told_apart_by_content(tree, tmp_path):
    cache = tmp_path / "features"
    key = features_key(load_esc50(tree), FRONTEND, cache)
    copy = tmp_path / "copy"
    shutil.copytree(tree, copy)  # copy2: same names, sizes and mtimes, other paths
    assert features_key(load_esc50(copy), FRONTEND, cache) == key  # same bytes: the same entry serves both
    rewrite_keeping_size_and_mtime(next((copy / "ESC-50" / "audio").glob("5-*.wav")), seed=2)
    assert features_key(load_esc50(copy), FRONTEND, cache) != key
    assert features_key(load_esc50(tree), FRONTEND, cache) == key
    stored = json.loads((cache / HASH_INDEX).read_text())["files"]
    assert len(stored) == 120  # both trees' files, by absolute path


def test_the_synthetic_set_keeps_its_spec_key():
    synth = DATASETS.get("synth")(PRESETS.get("micro").data)
    assert content_fingerprint(synth, Path("unused")) is None  # generated from the spec, already in the key


def test_records_on_different_data_differ_in_data_key_and_do_not_share_a_teacher(tree, tmp_path, monkeypatch):
    monkeypatch.setenv("DFKD_CACHE", str(tmp_path / "cache"))
    copy = tmp_path / "other"
    shutil.copytree(tree, copy)
    for i, wav in enumerate(sorted((copy / "ESC-50" / "audio").glob("*.wav"))):
        rewrite_keeping_size_and_mtime(wav, seed=100 + i)
    records = {}
    for name, root in (("a", tree), ("b", copy)):
        out = tmp_path / f"out-{name}"
        assert main(["run", "--preset", "micro", "--methods", "teacher", "--datasets", "esc50", "--data-root",
                     str(root), "--out", str(out), "--no-tables"]) == 0
        (records[name],) = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    a, b = records["a"], records["b"]
    assert a["status"] == b["status"] == "ok" and a["config_hash"] == b["config_hash"]
    assert a["data_key"].startswith("esc50-") and b["data_key"].startswith("esc50-") and a["data_key"] != b["data_key"]
    assert a["test_ids"] == b["test_ids"]  # the same names...
    teachers = list((tmp_path / "cache" / "teachers").glob("*.pt"))
    assert len(teachers) == 2  # ...but b's teacher was trained on b's audio, not a's reused
    assert len(list((tmp_path / "cache" / "features").glob("*.index.json"))) == 2


def test_a_folder_finished_on_other_data_runs_the_cell_again(tree, tmp_path, monkeypatch, capsys):
    """Resume counts a finished record only if it was made on the data the sweep reads now."""
    monkeypatch.setenv("DFKD_CACHE", str(tmp_path / "cache"))
    copy = tmp_path / "other"
    shutil.copytree(tree, copy)
    for i, wav in enumerate(sorted((copy / "ESC-50" / "audio").glob("*.wav"))):
        rewrite_keeping_size_and_mtime(wav, seed=200 + i)
    out = tmp_path / "out"

    def run(root) -> list[dict]:
        assert main(["run", "--preset", "micro", "--methods", "teacher", "--datasets", "esc50", "--data-root",
                     str(root), "--out", str(out), "--no-tables"]) == 0
        return [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]

    first = run(tree)
    assert len(run(tree)) == 1 and "0 cells run" in capsys.readouterr().out  # same data: finished
    records = run(copy)
    assert len(records) == 2 and records[1]["data_key"] != first[0]["data_key"]  # other data: run again
    assert "1 cells run" in capsys.readouterr().out
