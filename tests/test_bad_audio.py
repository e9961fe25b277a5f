"""Bad audio in a real dataset: `--on-bad-file error|skip` on the commands that load
data, clips shorter than one analysis window, skipped files listed in the description/record and the run
summary, and `datasets verify` flagging short clips and checking every dataset present."""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from benchmark.cli import build_parser
from benchmark.commands.datasets import add_parser as add_datasets_parser, main as run_datasets
from benchmark.core.features import FrontEndConfig
from benchmark.data import DATASETS
from benchmark.data.audio_io import TOO_SHORT, UNREADABLE, BadAudioFile, ClipTooShort, probe, window_samples_at
from benchmark.data.base import DataConfig, bad_file_policy
from benchmark.data.extraction import extract_split
from benchmark.reporting.summary import run_summary
from benchmark.store.record_schema import RunRecord
from tests.helpers import make_audiomnist, make_esc50, make_us8k

FRONTEND = FrontEndConfig(n_mels=16)  # n_fft 512 at 16 kHz: one analysis window = 32 ms
SHORT = "2-100210-A-1.wav"  # ESC-50 fold 2 (training), 44.1 kHz
BROKEN = "3-100320-A-2.wav"  # ESC-50 fold 3


def load(name: str, root: Path, **overrides):
    return DATASETS.get(name)(DataConfig(data_root=root, **overrides))


def write_short(path: Path, samples: int = 1, rate: int = 44100) -> None:
    sf.write(path, np.full(samples, 0.1, np.float32), rate, subtype="PCM_16")


@pytest.fixture
def esc50_with_bad_files(tmp_path) -> Path:
    """The ESC-50 fixture tree with a 1-sample clip and a file that is not audio."""
    base = make_esc50(tmp_path)
    write_short(base / "audio" / SHORT)
    (base / "audio" / BROKEN).write_bytes(b"not a wav file")
    return tmp_path


def extract_all(clipset, frontend=FRONTEND):
    return [extract_split(clipset, split, frontend) for split in ("train", "val", "test")]


# --- the command line --------------------------------------------------------------------------------

def parse(argv: list[str]):
    args = build_parser().parse_args(argv)
    args.argv = argv
    return args


def test_run_accepts_on_bad_file_and_sets_the_data_config():
    from benchmark.commands.options import sweep_spec
    from benchmark.config.cells import Cell, cell_config, config_hash

    plain = sweep_spec(parse(["run", "--preset", "micro"])).preset
    error = sweep_spec(parse(["run", "--preset", "micro", "--on-bad-file", "error"])).preset
    skip = sweep_spec(parse(["run", "--preset", "micro", "--on-bad-file", "skip"])).preset
    assert skip.data.on_bad_file == "skip"
    # "error" is stored as the default "fail": records made without the flag keep their config hash
    assert error.data == plain.data and asdict(DataConfig())["on_bad_file"] == "fail"
    cell = Cell("synth", "wrn16_2_tiny", "wrn10_2_tiny", "kd", 0)
    assert config_hash(cell_config(cell, error)) == config_hash(cell_config(cell, plain))
    assert config_hash(cell_config(cell, skip)) != config_hash(cell_config(cell, plain))
    with pytest.raises(SystemExit):
        parse(["run", "--on-bad-file", "ignore"])


@pytest.mark.parametrize("command", [["samples"], ["throughput"]])
def test_samples_and_throughput_accept_on_bad_file(command):
    assert parse([*command, "--on-bad-file", "skip"]).on_bad_file == "skip"
    assert parse(command).on_bad_file is None


def test_loaders_accept_the_command_line_names(tmp_path):
    make_esc50(tmp_path)
    assert bad_file_policy("error") == "fail" and bad_file_policy("skip") == "skip"
    assert load("esc50", tmp_path, on_bad_file="error").description["on_bad_file"] == "fail"
    with pytest.raises(ValueError, match="error, skip"):
        bad_file_policy("ignore")


# --- a clip shorter than one analysis window --------------------------------------------------------------

def test_short_clip_is_an_error_naming_the_file_its_length_and_the_fix(tmp_path):
    base = make_esc50(tmp_path)
    short = base / "audio" / SHORT
    write_short(short)
    clipset = load("esc50", tmp_path)  # default policy: error
    with pytest.raises(ClipTooShort) as info:  # today: RuntimeError "Padding size should be less than ..."
        extract_all(clipset)
    text = str(info.value)
    assert str(short) in text and "1 sample" in text and "512 samples" in text
    assert "--on-bad-file skip" in text and "remove or replace" in text


def test_clip_a_little_shorter_than_the_window_is_flagged_too(tmp_path):
    # 400 samples at 16 kHz: torchaudio would make frames of it, but it holds no full 512-sample window
    base = make_esc50(tmp_path)
    write_short(base / "audio" / SHORT, samples=400, rate=16000)
    with pytest.raises(ClipTooShort, match="400 samples"):
        extract_all(load("esc50", tmp_path))


def test_unreadable_file_error_names_the_fix(tmp_path):
    base = make_esc50(tmp_path)
    (base / "audio" / BROKEN).write_bytes(b"not a wav file")
    with pytest.raises(BadAudioFile) as info:
        extract_all(load("esc50", tmp_path))
    assert str(base / "audio" / BROKEN) in str(info.value) and "--on-bad-file skip" in str(info.value)


# --- skip: left out before the splits, counted and listed ----------------------------------------------

def test_skip_leaves_out_short_and_unreadable_files_and_lists_them(esc50_with_bad_files):
    clipset = load("esc50", esc50_with_bad_files, on_bad_file="skip")
    ids = {c.clip_id for c in clipset.clips}
    assert SHORT not in ids and BROKEN not in ids and len(ids) == 58
    description = clipset.description
    assert description["on_bad_file"] == "skip"
    assert description["skipped"] == {TOO_SHORT: 1, UNREADABLE: 1}
    assert sum(description["split_sizes"].values()) == 58
    listed = {Path(f["path"]).name: f for f in description["skipped_files"]}
    assert set(listed) == {SHORT, BROKEN}
    assert listed[SHORT]["problem"] == TOO_SHORT and "1 sample" in listed[SHORT]["detail"]
    assert listed[BROKEN]["problem"] == UNREADABLE and listed[BROKEN]["detail"]
    json.dumps(description)  # the record stores it as JSON
    assert sum(len(fs) for fs in extract_all(clipset)) == 58  # every kept clip featurises


def test_skip_goes_through_the_feature_cache(esc50_with_bad_files, tmp_path):
    from benchmark.data.feature_cache import cached_split_features

    clipset = load("esc50", esc50_with_bad_files, on_bad_file="skip")
    cache = tmp_path / "features"
    first = cached_split_features(clipset, "train", FRONTEND, cache)
    again = cached_split_features(load("esc50", esc50_with_bad_files, on_bad_file="skip"), "train", FRONTEND, cache)
    assert first.ids == again.ids and SHORT not in first.ids and len(first) == len(clipset.split("train"))


def test_skip_with_a_clean_tree_lists_nothing(tmp_path):
    make_esc50(tmp_path)
    description = load("esc50", tmp_path, on_bad_file="skip").description
    assert description["skipped_files"] == [] and description["skipped"] == {}


def test_skip_screens_us8k_and_audiomnist(tmp_path):
    us8k = make_us8k(tmp_path)
    us8k_short = next((us8k / "audio" / "fold1").glob("*.wav"))
    write_short(us8k_short, samples=100, rate=8000)
    mnist = make_audiomnist(tmp_path)
    mnist_bad = mnist / "data" / "03" / "3_03_0.wav"
    mnist_bad.write_bytes(mnist_bad.read_bytes()[:60])  # truncated
    u = load("us8k", tmp_path, on_bad_file="skip")
    assert [f["path"] for f in u.description["skipped_files"]] == [str(us8k_short)]
    assert us8k_short.name not in {c.clip_id for c in u.clips}
    a = load("audiomnist", tmp_path, on_bad_file="skip")
    assert [(f["path"], f["problem"]) for f in a.description["skipped_files"]] == [(str(mnist_bad), UNREADABLE)]
    assert len(a.clips) == 299


def test_skip_screens_nan_samples_of_float_files(tmp_path):
    base = make_esc50(tmp_path)
    nan_file = base / "audio" / SHORT
    data = np.zeros(4410, np.float32)
    data[100] = np.nan
    sf.write(nan_file, data, 44100, subtype="FLOAT")
    with pytest.raises(BadAudioFile, match="NaN"):
        probe(nan_file)
    listed = load("esc50", tmp_path, on_bad_file="skip").description["skipped_files"]
    assert [(Path(f["path"]).name, f["problem"]) for f in listed] == [(SHORT, UNREADABLE)]


def test_screen_window_matches_every_front_end_of_the_presets():
    from benchmark.config.presets import PRESETS

    for name in PRESETS.names():
        frontend = PRESETS.get(name).frontend
        assert window_samples_at(frontend.sample_rate) >= frontend.window_samples, name


# --- the run's summary ------------------------------------------------------------------------------

def test_run_summary_counts_and_lists_the_skipped_files(tmp_path):
    skipped = [{"path": "/data/ESC-50/audio/x.wav", "problem": TOO_SHORT, "detail": "1 sample"},
               {"path": "/data/ESC-50/audio/y.wav", "problem": UNREADABLE, "detail": "truncated"}]
    def record(dataset: str, description: dict) -> RunRecord:
        return RunRecord(dataset, "t", "s", "t:s", "teacher", 0, "cpu", "ok", accuracy=50.0,
                         dataset_description=description)

    records = [record("esc50", {"skipped_files": skipped}), record("synth", {})]
    text = run_summary(tmp_path, records, "no-such-preset", 60.0)
    assert "esc50: 2 files skipped" in text and str(tmp_path / "runs.jsonl") in text
    assert "/data/ESC-50/audio/x.wav" in text and "truncated" in text and "synth: " not in text
    clean = run_summary(tmp_path, records[1:], "no-such-preset", 60.0)
    assert "skipped" not in clean


# --- datasets verify ------------------------------------------------------------------------------

def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    add_datasets_parser(parser.add_subparsers(dest="command", required=True))
    return run_datasets(parser.parse_args(argv))


@pytest.fixture
def tiny_official(monkeypatch):
    """Official counts of the fixture trees, so a clean tree verifies OK."""
    from benchmark.data import verify as verify_module
    from benchmark.data.verify import OfficialCounts

    monkeypatch.setitem(verify_module.OFFICIAL, "esc50",
                        OfficialCounts(60, {k: 12 for k in range(1, 6)}, {c: 15 for c in range(4)}))
    monkeypatch.setitem(verify_module.OFFICIAL, "audiomnist",
                        OfficialCounts(300, {k: 60 for k in range(1, 6)}, {d: 30 for d in range(10)},
                                       per_group=5, groups=60))


def test_verify_flags_clips_shorter_than_one_window(tmp_path, tiny_official, capsys):
    base = make_esc50(tmp_path)
    write_short(base / "audio" / SHORT)
    assert run_cli(["datasets", "verify", "esc50", "--data-root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "NOT OK" in out and TOO_SHORT in out and str(base / "audio" / SHORT) in out and "1 sample" in out


def test_verify_without_a_name_checks_every_dataset_present(tmp_path, tiny_official, capsys):
    make_esc50(tmp_path)
    make_audiomnist(tmp_path)
    assert run_cli(["datasets", "verify", "--data-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "esc50: OK" in out and "audiomnist: OK" in out and "us8k" not in out and "2 datasets verified: all OK" in out
    write_short(tmp_path / "AudioMNIST" / "data" / "05" / "5_05_0.wav")
    assert run_cli(["datasets", "verify", "--data-root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "esc50: OK" in out and "audiomnist: NOT OK" in out and "1 NOT OK (audiomnist)" in out


def test_verify_without_a_name_reports_an_empty_or_missing_root(tmp_path, capsys):
    assert run_cli(["datasets", "verify", "--data-root", str(tmp_path)]) == 1
    assert "dataset not found" in (out := capsys.readouterr().out) and "ESC-50" in out
    assert run_cli(["datasets", "verify", "--data-root", str(tmp_path / "nowhere")]) == 1
    assert "does not exist" in capsys.readouterr().out


def test_verify_without_a_name_reports_a_half_extracted_folder(tmp_path, capsys):
    (tmp_path / "UrbanSound8K").mkdir()
    assert run_cli(["datasets", "verify", "--data-root", str(tmp_path)]) == 1
    assert "us8k: NOT OK" in (out := capsys.readouterr().out) and "metadata/UrbanSound8K.csv" in out
