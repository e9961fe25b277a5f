"""Real-dataset loaders, verify and the `datasets` CLI on tiny trees in the official layouts."""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from benchmark.commands.datasets import add_parser as add_datasets_parser, main as run_datasets
from benchmark.data import DATASETS
from benchmark.data.audio_io import BadAudioFile
from benchmark.data.audiomnist import DIGIT_FOLDS, PAPER_TEST_SPEAKERS
from benchmark.data.base import DataConfig
from benchmark.data.sources import (BAD_NAME, FILE_WITHOUT_ROW, MISMATCH, ROW_WITHOUT_FILE, DatasetIntegrityError,
                                    MissingDatasetError)
from benchmark.data.verify import UNREADABLE, OfficialCounts, verify
from tests.helpers import ESC50_CATEGORIES, US8K_CLASSES, make_audiomnist, make_esc50, make_us8k, write_wav

# --- tiny trees in the official layouts ---------------------------------------------------------


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data-root")
    make_esc50(root)
    make_us8k(root)
    make_audiomnist(root)
    return root


def load(name: str, root: Path, **overrides):
    return DATASETS.get(name)(DataConfig(data_root=root, **overrides))


def groups_of(clipset, split: str) -> set[str]:
    return {c.group for c in clipset.split(split)}


# --- ESC-50 ---------------------------------------------------------------------------------------

def test_esc50_paper_protocol_holds_out_fold_5(trees):
    cs = load("esc50", trees, val_fraction=0.25)
    assert cs.class_names == ESC50_CATEGORIES and cs.num_classes == 4
    assert len(cs.clips) == 60
    test = cs.split("test")
    assert len(test) == 12 and {c.fold for c in test} == {5}
    assert {c.fold for c in cs.split("train") + cs.split("val")} == {1, 2, 3, 4}
    assert cs.split_sizes() == {"train": 36, "val": 12, "test": 12}
    # validation: 3 clips per class, whole source recordings, none shared with training
    assert Counter(c.label for c in cs.split("val")) == {0: 3, 1: 3, 2: 3, 3: 3}
    assert groups_of(cs, "val").isdisjoint(groups_of(cs, "train"))
    assert cs.description["protocol"] == "paper" and cs.description["test_fold"] == 5
    assert cs.description["split_sizes"] == cs.split_sizes() and cs.description["skipped"] == {}
    by_id = {c.clip_id: c for c in cs.clips}
    assert by_id["3-100320-A-2.wav"].label == 2 and by_id["3-100320-A-2.wav"].fold == 3


def test_esc50_fold_protocol_and_deterministic_validation(trees):
    cs = load("esc50", trees, protocol="fold2", val_fraction=0.25, seed=3)
    assert {c.fold for c in cs.split("test")} == {2}
    again = load("esc50", trees, protocol="fold2", val_fraction=0.25, seed=3)
    assert [c.split for c in cs.clips] == [c.split for c in again.clips]
    other_seeds = [load("esc50", trees, protocol="fold2", val_fraction=0.25, seed=s) for s in range(4, 8)]
    assert any({c.clip_id for c in o.split("val")} != {c.clip_id for c in cs.split("val")} for o in other_seeds)
    with pytest.raises(ValueError, match="fold1..fold5"):
        load("esc50", trees, protocol="fold6")


def test_esc50_loads_resampled_audio(trees):
    cs = load("esc50", trees)
    wave = cs.load(cs.clips[0])
    assert cs.sample_rate == 16000 and wave.dtype == np.float32 and wave.shape == (1600,)  # 0.1 s at 16 kHz


def test_esc50_master_folder_name_is_accepted(tmp_path):
    make_esc50(tmp_path, folder="ESC-50-master")
    cs = load("esc50", tmp_path)
    assert cs.description["directory"].endswith("ESC-50-master") and len(cs.clips) == 60


# --- UrbanSound8K ---------------------------------------------------------------------------------

def test_us8k_paper_protocol_is_fold_10(trees):
    cs = load("us8k", trees, val_fraction=0.2)
    assert cs.class_names == US8K_CLASSES
    assert len(cs.clips) == 90
    assert {c.fold for c in cs.split("test")} == {10} and len(cs.split("test")) == 9
    assert cs.description["test_fold"] == 10 and cs.description["official_folds"] == 10
    assert groups_of(cs, "val").isdisjoint(groups_of(cs, "train"))  # whole fsID recordings
    assert len(cs.split("val")) == 3 * round(0.2 * 27)  # per class: 27 training clips -> 5
    assert cs.split_sizes()["train"] + len(cs.split("val")) == 81


def test_us8k_every_format_loads_at_the_target_rate(trees):
    cs = load("us8k", trees)
    lengths = {len(cs.load(c)) for c in cs.clips[:12]}  # covers every (rate, bit depth, channels) twice
    assert lengths == {800}  # 0.05 s at 16 kHz from 8, 11.025, 22.05, 44.1, 48 and 96 kHz


def test_us8k_cross_validation_folds(trees):
    for k in (1, 7):
        cs = load("us8k", trees, protocol=f"fold{k}")
        assert {c.fold for c in cs.split("test")} == {k} and len(cs.split("test")) == 9


def test_us8k_metadata_and_file_disagreements_are_reported(tmp_path):
    base = make_us8k(tmp_path)
    (base / "audio" / "fold3" / "5300-0-0-0.wav").unlink()  # row without file
    write_wav(base / "audio" / "fold4" / "stray.wav", 22050, 0.05)  # file without row
    (base / "audio" / "fold5" / "5510-1-0-0.wav").rename(base / "audio" / "fold6" / "5510-1-0-0.wav")  # wrong fold
    with pytest.raises(DatasetIntegrityError) as info:
        load("us8k", tmp_path)
    message = str(info.value)
    assert "3 file problem(s)" in message
    assert "1 metadata row without file" in message and "1 file without metadata row" in message
    assert str(base / "audio" / "fold3" / "5300-0-0-0.wav") in message
    assert str(base / "audio" / "fold4" / "stray.wav") in message
    assert "says fold 5" in message and "on_bad_file='skip'" in message

    cs = load("us8k", tmp_path, on_bad_file="skip")
    assert len(cs.clips) == 88
    assert cs.description["skipped"] == {ROW_WITHOUT_FILE: 1, MISMATCH: 1, FILE_WITHOUT_ROW: 1}
    assert "5300-0-0-0.wav" not in {c.clip_id for c in cs.clips}


# --- AudioMNIST -----------------------------------------------------------------------------------

def test_audiomnist_paper_protocol_holds_out_six_speakers(trees):
    cs = load("audiomnist", trees)
    assert cs.class_names == [str(d) for d in range(10)] and len(cs.clips) == 300
    assert groups_of(cs, "test") == set(PAPER_TEST_SPEAKERS) and len(cs.split("test")) == 30
    assert len(groups_of(cs, "val")) == 5 and len(cs.split("val")) == 25  # round(0.1 * 270) -> 5 speakers
    assert groups_of(cs, "val").isdisjoint(groups_of(cs, "train"))
    assert cs.split_sizes() == {"train": 245, "val": 25, "test": 30}
    by_id = {c.clip_id: c for c in cs.clips}
    assert by_id["3_12_1.wav"].label == 3 and by_id["3_12_1.wav"].group == "12"
    assert by_id["3_12_1.wav"].fold == 5  # speaker 12 is in the authors' fold 5


def test_audiomnist_messy_metadata_is_parsed_defensively(trees):
    description = load("audiomnist", trees).description
    assert description["test_speakers"] == list(PAPER_TEST_SPEAKERS)
    assert description["test_speaker_genders"] == {"07": "male", "23": "male", "38": "unknown", "58": "female",
                                                   "59": "female", "60": "female"}
    assert "gender-task split 1" in description["test_speakers_origin"]
    assert "17" in description["speakers_without_metadata"] and "07" not in description["speakers_without_metadata"]


def test_audiomnist_unreadable_metadata_is_noted_not_fatal(tmp_path):
    make_audiomnist(tmp_path, folder="AudioMNIST-master", meta_text="{ not json")
    cs = load("audiomnist", tmp_path)
    assert "unreadable" in cs.description["metadata_note"]
    assert set(cs.description["test_speaker_genders"].values()) == {"unknown"}


def test_audiomnist_speaker_folds(trees):
    for k in (1, 4):
        cs = load("audiomnist", trees, protocol=f"fold{k}")
        assert groups_of(cs, "test") == {f"{s:02d}" for s in DIGIT_FOLDS[k - 1]}
        assert len(cs.split("test")) == 60
        assert groups_of(cs, "val").isdisjoint(groups_of(cs, "train") | groups_of(cs, "test"))


def test_audiomnist_bad_file_name_fails_or_is_counted(tmp_path):
    base = make_audiomnist(tmp_path)
    write_wav(base / "data" / "07" / "3_08_0.wav", 48000, 0.05)  # names speaker 08 inside folder 07
    with pytest.raises(DatasetIntegrityError, match="3_08_0.wav"):
        load("audiomnist", tmp_path)
    cs = load("audiomnist", tmp_path, on_bad_file="skip")
    assert cs.description["skipped"] == {BAD_NAME: 1} and len(cs.clips) == 300


# --- missing data, corrupt audio ------------------------------------------------------------------

def test_missing_dataset_names_the_folder_and_how_to_get_it(tmp_path):
    with pytest.raises(MissingDatasetError) as info:
        load("esc50", tmp_path)
    message = str(info.value)
    assert str(tmp_path / "ESC-50") in message and "ESC-50-master" in message
    assert "https://github.com/karolpiczak/ESC-50" in message
    assert f"python -m benchmark datasets download esc50 --data-root {tmp_path}" in message
    with pytest.raises(MissingDatasetError, match="urbansounddataset.weebly.com"):
        load("us8k", tmp_path)
    with pytest.raises(MissingDatasetError, match="soerenab/AudioMNIST"):
        load("audiomnist", tmp_path)


def test_missing_data_root_and_the_environment_default(tmp_path, monkeypatch, trees):
    with pytest.raises(MissingDatasetError, match="does not exist"):
        load("us8k", tmp_path / "nowhere")
    monkeypatch.delenv("DFKD_DATA_ROOT", raising=False)
    with pytest.raises(MissingDatasetError, match="DFKD_DATA_ROOT"):
        load("us8k", None)
    monkeypatch.setenv("DFKD_DATA_ROOT", str(trees))
    assert len(load("us8k", None).clips) == 90


def test_half_extracted_folder_is_reported(tmp_path):
    (tmp_path / "UrbanSound8K" / "audio").mkdir(parents=True)
    with pytest.raises(MissingDatasetError, match="no metadata/UrbanSound8K.csv"):
        load("us8k", tmp_path)


def test_corrupt_audio_raises_with_its_path(tmp_path):
    base = make_esc50(tmp_path)
    bad = base / "audio" / "2-100210-A-1.wav"
    bad.write_bytes(bad.read_bytes()[:100])
    cs = load("esc50", tmp_path)  # indexing does not read audio
    clip = next(c for c in cs.clips if c.clip_id == bad.name)
    with pytest.raises(BadAudioFile, match="truncated") as info:
        cs.load(clip)
    assert str(bad) in str(info.value)


def test_esc50_name_disagreeing_with_metadata_is_a_mismatch(tmp_path):
    base = make_esc50(tmp_path)
    meta = base / "meta" / "esc50.csv"
    meta.write_text(meta.read_text().replace("1-100100-A-0.wav,1,0,dog", "1-100100-A-0.wav,1,1,rooster"))
    with pytest.raises(DatasetIntegrityError, match="encodes"):
        load("esc50", tmp_path)


# --- verify and the CLI ---------------------------------------------------------------------------

TINY_ESC50 = OfficialCounts(60, {k: 12 for k in range(1, 6)}, {c: 15 for c in range(4)})


def test_verify_passes_a_complete_tree_and_counts_against_official_numbers(trees):
    report = verify("esc50", trees, official=TINY_ESC50)
    assert report.ok, report.text()
    assert report.files == report.files_read == 60 and report.per_fold == {k: 12 for k in range(1, 6)}
    official = verify("esc50", trees, read_files=False)
    assert not official.ok
    assert any(p.path == "total" and "60 clips, official 2000" in p.detail for p in official.problems)
    assert any(p.path == "fold 1" and "official 400" in p.detail for p in official.problems)


def test_verify_lists_every_unreadable_file_by_path(tmp_path):
    base = make_esc50(tmp_path)
    broken = [base / "audio" / "1-100100-A-0.wav", base / "audio" / "4-100431-A-3.wav"]
    broken[0].write_bytes(b"garbage")
    broken[1].write_bytes(broken[1].read_bytes()[:200])
    (base / "audio" / "5-100500-B-0.wav").unlink()
    report = verify("esc50", tmp_path, official=TINY_ESC50)
    assert not report.ok
    unreadable = {p.path for p in report.problems if p.kind == UNREADABLE}
    assert unreadable == {str(p) for p in broken}
    assert any(p.kind == ROW_WITHOUT_FILE and p.path.endswith("5-100500-B-0.wav") for p in report.problems)
    text = report.text()
    assert "NOT OK" in text and str(broken[1]) in text and "truncated" in text


def test_verify_audiomnist_per_speaker_counts(trees):
    tiny = OfficialCounts(300, {k: 60 for k in range(1, 6)}, {d: 30 for d in range(10)}, per_group=5, groups=60)
    assert verify("audiomnist", trees, official=tiny).ok
    report = verify("audiomnist", trees, read_files=False)
    assert any(p.path == "group 01" and "official 500" in p.detail for p in report.problems)


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    add_datasets_parser(parser.add_subparsers(dest="command", required=True))
    return run_datasets(parser.parse_args(argv))


def test_cli_list_and_verify(trees, tmp_path, capsys):
    assert run_cli(["datasets", "list", "--data-root", str(trees)]) == 0
    out = capsys.readouterr().out
    assert f"found at {trees / 'ESC-50'}" in out and "synth" in out
    assert run_cli(["datasets", "list", "--data-root", str(tmp_path)]) == 0
    assert "esc50" in (out := capsys.readouterr().out) and "not found" in out
    assert run_cli(["datasets", "verify", "us8k", "--data-root", str(trees)]) == 1  # tiny tree != 8732 clips
    out = capsys.readouterr().out
    assert "NOT OK" in out and "90 clips, official 8732" in out and "fold 10" in out
    assert run_cli(["datasets", "verify", "esc50", "--data-root", str(tmp_path)]) == 1
    assert "dataset not found" in capsys.readouterr().out


def test_real_clipset_goes_through_the_feature_cache(trees, tmp_path):
    from benchmark.core.features import FrontEndConfig
    from benchmark.data.feature_cache import cached_split_features

    frontend = FrontEndConfig(n_mels=32)
    cs = load("esc50", trees, protocol="fold3")
    test = cached_split_features(cs, "test", frontend, tmp_path)
    assert test.ids == [c.clip_id for c in cs.split("test")] and len(test) == 12
    assert set(test.lengths.tolist()) == {frontend.frames(0.1)}
    other_fold = cached_split_features(load("esc50", trees, protocol="fold1"), "test", frontend, tmp_path)
    assert len(list(tmp_path.glob("*.frames.npy"))) == 1 and {c[0] for c in other_fold.ids} == {"1"}
