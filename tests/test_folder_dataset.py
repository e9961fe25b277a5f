"""Any folder of labelled audio as a dataset: `folder:PATH` wherever a dataset name works,
the split (split.csv, folds.csv, or a stable stratified hash split), errors before work, the official loaders'
rules (--on-bad-file, content-keyed cache and data_key, verify) and the planner's shape."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from benchmark.cli import main as cli_main
from benchmark.config.presets import PRESETS
from benchmark.core.features import FrontEndConfig
from benchmark.data import DATASETS
from benchmark.data.base import DataConfig
from benchmark.data.feature_cache import features_key
from benchmark.data.folder import FolderDatasetError, hash_split
from benchmark.data.sources import DatasetIntegrityError
from benchmark.execution.grid import SweepSpec
from benchmark.execution.loading import DataProvider
from benchmark.planning.shapes import dataset_shape

RATES = (16000, 22050, 44100)
FREQS = {"beep": 880.0, "hum": 110.0, "whistle": 2000.0}


def write_clip(path: Path, freq: float, rate: int, seconds: float = 0.5, fmt: str = "WAV", phase: float = 0.0):
    t = np.arange(int(rate * seconds)) / rate
    noise = np.random.default_rng(abs(hash((path.name, rate))) % 2**32).standard_normal(len(t))
    wave = 0.3 * np.sin(2 * np.pi * freq * t + phase) + 0.02 * noise
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, wave.astype(np.float32), rate, format=fmt)


def make_folder(root: Path, per_class: int = 10, classes=FREQS) -> Path:
    """`root/<class>/<class>_NN.wav|flac`: WAV and FLAC files at three rates, 0.5 s each."""
    for name in classes:
        for i in range(per_class):
            fmt = "FLAC" if i % 2 else "WAV"
            write_clip(root / name / f"{name}_{i:02d}.{fmt.lower()}", FREQS.get(name, 440.0), RATES[i % 3], fmt=fmt)
    return root


def load(root: Path, **overrides):
    return DATASETS.get(f"folder:{root}")(DataConfig(**overrides))


def splits_of(clipset) -> dict[str, str]:
    return {c.clip_id: c.split for c in clipset.clips}


# --- layout, resampling, the hash split -------------------------------------------------------------------------

def test_a_folder_of_wav_and_flac_at_three_rates_is_a_dataset(tmp_path):
    root = make_folder(tmp_path / "sounds")
    (root / "beep" / "notes.txt").write_text("not audio")  # ignored, counted
    clipset = load(root)
    assert clipset.name == "folder-sounds" and clipset.class_names == ["beep", "hum", "whistle"]
    assert {c.clip_id: c.label for c in clipset.clips}["hum/hum_03.flac"] == 1
    # every clip at the configured rate: 0.5 s at 16 kHz whatever the file's rate (resampled as the loaders do)
    for clip_id in ("beep/beep_00.wav", "beep/beep_01.flac", "beep/beep_02.wav"):
        wave = clipset.load(next(c for c in clipset.clips if c.clip_id == clip_id))
        assert wave.dtype == np.float32 and abs(len(wave) - 8000) <= 1
    # per class, 10 files: test round(0.2 * 10) = 2, val max(1, round(0.1 * 8)) = 1, train 7
    assert clipset.description["per_class"] == {name: {"train": 7, "val": 1, "test": 2} for name in FREQS}
    assert clipset.split_sizes() == {"train": 21, "val": 3, "test": 6}
    assert clipset.description["ignored_files"] == 1 and clipset.description["split_file"] is None
    assert DATASETS.parse_list(f"synth,folder:{root}/") == ["synth", f"folder:{root.resolve()}"]


def test_the_hash_split_matches_a_hand_ranking():
    """Five files of one class, seed 3: ranked by SHA-1 of "3\\0<path>"; the first is test (round(0.2*5)=1), the
    second val (max(1, round(0.1*4))=1), the other three train."""
    files = [(f"a/{i}.wav", 0) for i in range(5)]
    ranked = sorted((hashlib.sha1(f"3\0{rel}".encode()).hexdigest(), rel) for rel, _ in files)
    expected = {ranked[0][1]: "test", ranked[1][1]: "val", **{rel: "train" for _, rel in ranked[2:]}}
    assert hash_split(files, 0.1, seed=3) == expected


def test_the_split_is_stable_recorded_and_adding_a_file_moves_almost_nothing(tmp_path):
    root = make_folder(tmp_path / "sounds", per_class=20)
    first, again = load(root), load(root)
    assert splits_of(first) == splits_of(again)
    assert first.description["split_digest"] == again.description["split_digest"]
    assert load(root, seed=1).description["split_digest"] != first.description["split_digest"]
    write_clip(root / "hum" / "hum_new.wav", 110.0, 16000)
    grown = splits_of(load(root))
    moved = [rel for rel, split in splits_of(first).items() if grown[rel] != split]
    # 21 hum files: test 4 (was 4), val round(0.1*17)=2 (was 2): only the files the new one displaced shift
    assert len(moved) <= 2 and all(rel.startswith("hum/") for rel in moved)


# --- split files ----------------------------------------------------------------------------------------------

def test_split_csv_is_taken_as_written(tmp_path):
    root = make_folder(tmp_path / "s", per_class=3)
    rows = [f"{name}/{name}_{i:02d}.{'flac' if i % 2 else 'wav'},{split}"
            for name in FREQS for i, split in enumerate(("train", "val", "test"))]
    (root / "split.csv").write_text("filename,split\n" + "\n".join(rows) + "\n")
    clipset = load(root)
    assert splits_of(clipset)["hum/hum_01.flac"] == "val" and splits_of(clipset)["beep/beep_02.wav"] == "test"
    assert clipset.split_sizes() == {"train": 3, "val": 3, "test": 3}
    with pytest.raises(FolderDatasetError, match="needs folds.*add .*folds.csv"):
        load(root, protocol="fold1")


def test_folds_csv_is_used_like_esc50s_folds(tmp_path):
    root = make_folder(tmp_path / "f", per_class=9)
    rows = [f"{name}/{name}_{i:02d}.{'flac' if i % 2 else 'wav'},{i % 3 + 1}" for name in FREQS for i in range(9)]
    (root / "folds.csv").write_text("filename,fold\n" + "\n".join(rows) + "\n")
    paper = load(root)  # test = the highest fold (ESC-50: fold 5 of 5)
    assert {c.clip_id for c in paper.clips if c.split == "test"} == {c.clip_id for c in paper.clips if c.fold == 3}
    assert paper.description["test_fold"] == 3 and paper.split_sizes()["val"] > 0
    assert all(c.fold != 3 for c in paper.clips if c.split == "val")  # validation carved from the other folds
    fold1 = load(root, protocol="fold1")
    assert {c.fold for c in fold1.clips if c.split == "test"} == {1}
    with pytest.raises(FolderDatasetError, match="has no fold 2|fold2"):
        (root / "folds.csv").write_text("filename,fold\n" + "\n".join(r.replace(",2", ",3") for r in rows) + "\n")
        load(root, protocol="fold2")


# --- errors before any work -----------------------------------------------------------------------------------

def bad_csv(root: Path, name: str, body: str) -> Path:
    (root / name).write_text(body)
    return root


def a_file(r: Path) -> Path:
    (r / "a.wav").write_bytes(b"x")
    return r / "a.wav"


def flat(r: Path) -> Path:
    (r / "flat").mkdir()
    (r / "flat" / "a.wav").write_bytes(b"x")
    return r / "flat"


def with_empty_class(r: Path) -> Path:
    root = make_folder(r / "e", 3)
    (root / "empty").mkdir()
    (root / "empty" / "x.txt").write_text("")
    return root


@pytest.mark.parametrize("build, pattern", [
    (lambda r: r / "missing", r"missing does not exist: give --datasets folder:PATH"),
    (a_file, r"a.wav is not a folder"),
    (flat, r"has 0 class subfolder\(s\) \(found: a.wav\); put each class's audio in its own subfolder"),
    (lambda r: make_folder(r / "one", 3, {"beep": 0}), r"1 class subfolder\(s\).*at least two classes"),
    (with_empty_class, r"class folder .*/e/empty holds no audio file .*add its clips or remove the folder"),
    (lambda r: bad_csv(bad_csv(make_folder(r / "b", 3), "split.csv", "filename,split\n"), "folds.csv", ""),
     r"holds both split.csv and folds.csv; keep one"),
    (lambda r: bad_csv(make_folder(r / "v", 3), "split.csv", "filename,split\nbeep/beep_00.wav,dev\n"),
     r"split.csv line 2: split 'dev' is not one of train, val, test"),
    (lambda r: bad_csv(make_folder(r / "m", 3), "split.csv", "filename,split\nbeep/gone.wav,train\n"),
     r"split.csv line 2: 'beep/gone.wav' does not exist .*fix the row or add the file"),
    (lambda r: bad_csv(make_folder(r / "u", 3), "split.csv", "filename,split\n../u/beep/beep_00.wav,train\n"),
     r"filename '../u/beep/beep_00.wav' must be a path relative to .* without '..'"),
    (lambda r: bad_csv(make_folder(r / "a", 3), "split.csv", f"filename,split\n{r}/a/beep/beep_00.wav,train\n"),
     r"must be a path relative to"),
    (lambda r: bad_csv(make_folder(r / "n", 3), "split.csv", "filename,split\nbeep,train\n"),
     r"'beep' is not an audio file inside a class folder"),
    (lambda r: bad_csv(make_folder(r / "k", 3), "folds.csv", "filename,fold\nbeep/beep_00.wav,first\n"),
     r"folds.csv line 2: fold 'first' is not an integer >= 1"),
    (lambda r: bad_csv(make_folder(r / "d", 3), "split.csv", "filename,split\nbeep/beep_00.wav,train\n"
                                                             "beep/beep_00.wav,test\n"), r"line 3: .* listed twice"),
    (lambda r: bad_csv(make_folder(r / "c", 3), "split.csv", "file,split\nbeep/beep_00.wav,train\n"),
     r"lacks the column\(s\) filename .*header must be filename,split"),
])
def test_a_bad_folder_is_refused_by_name_before_any_work(tmp_path, build, pattern):
    path = build(tmp_path)
    with pytest.raises(FolderDatasetError, match=pattern):
        DATASETS.parse_list(f"folder:{path}")  # what run, plan and curve call before anything runs


def test_a_csv_row_through_a_link_out_of_the_folder_is_refused(tmp_path):
    root = make_folder(tmp_path / "l", 3)
    outside = tmp_path / "elsewhere"
    write_clip(outside / "x.wav", 440.0, 16000)
    os.symlink(outside, root / "beep" / "out")
    bad_csv(root, "split.csv", "filename,split\nbeep/out/x.wav,train\n")
    with pytest.raises(FolderDatasetError, match=r"leads outside .* \(a link\?\)"):
        DATASETS.get(f"folder:{root}")(DataConfig())


def test_a_class_too_small_for_the_hash_split_is_named(tmp_path):
    root = make_folder(tmp_path / "small", 3)
    (root / "beep" / "beep_02.wav").unlink()
    with pytest.raises(FolderDatasetError, match=r"class 'beep' .* has 2 audio file\(s\).*at least 3.*split.csv"):
        load(root)


def test_run_refuses_a_bad_folder_with_one_line_before_work(tmp_path, capsys):
    code = cli_main(["run", "--preset", "micro", "--datasets", f"folder:{tmp_path / 'nowhere'}", "--methods", "teacher",
                     "--seeds", "1", "--out", str(tmp_path / "out")])
    assert code == 2 and "nowhere does not exist" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# --- the official loaders' rules ------------------------------------------------------------------------------

def test_on_bad_file_for_unreadable_audio_and_files_the_csv_leaves_out(tmp_path):
    root = make_folder(tmp_path / "bad", per_class=4)
    (root / "hum" / "hum_03.flac").write_bytes(b"not audio at all")
    skipped = load(root, on_bad_file="skip")
    assert "hum/hum_03.flac" not in splits_of(skipped)
    assert [f["path"] for f in skipped.description["skipped_files"]] == [str(root / "hum" / "hum_03.flac")]
    rows = [f"{name}/{name}_{i:02d}.{'flac' if i % 2 else 'wav'},train" for name in FREQS for i in range(3)]
    (root / "hum" / "hum_03.flac").unlink()
    (root / "split.csv").write_text("filename,split\n" + "\n".join(rows) + "\n")
    with pytest.raises(DatasetIntegrityError) as info:
        load(root)
    message = str(info.value)
    assert "file without metadata row" in message and str(root / "beep" / "beep_03.flac") in message
    assert f"python -m benchmark datasets verify folder:{root}" in message and "--on-bad-file skip" in message
    assert "beep/beep_03.flac" not in splits_of(load(root, on_bad_file="skip"))


def test_the_feature_cache_key_follows_the_bytes_not_the_place(tmp_path):
    frontend = FrontEndConfig(n_mels=16)
    root = make_folder(tmp_path / "a" / "sounds", per_class=3)
    copy = tmp_path / "b" / "sounds"
    shutil.copytree(root, copy)
    cache = tmp_path / "cache"
    key = features_key(load(root), frontend, cache)
    assert key.startswith("folder-sounds-") and features_key(load(copy), frontend, cache) == key
    write_clip(copy / "hum" / "hum_01.flac", 110.0, RATES[1], fmt="FLAC", phase=1.0)  # same name, other audio
    assert features_key(load(copy), frontend, cache) != key


def test_verify_lists_per_class_counts_and_bad_files(tmp_path, capsys):
    root = make_folder(tmp_path / "v", per_class=4)
    assert cli_main(["datasets", "verify", f"folder:{root}"]) == 0
    out = capsys.readouterr().out
    assert f"folder:{root}: OK" in out and "per class: beep: 4, hum: 4, whistle: 4" in out
    assert "hum: train 2, val 1, test 1" in out
    (root / "whistle" / "whistle_02.wav").write_bytes(b"RIFF....garbage")
    write_clip(root / "beep" / "beep_short.wav", 880.0, 16000, seconds=0.01)
    assert cli_main(["datasets", "verify", f"folder:{root}"]) == 1
    out = capsys.readouterr().out
    assert "NOT OK" in out and f"unreadable audio: {root / 'whistle' / 'whistle_02.wav'}" in out
    assert f"clip shorter than one analysis window: {root / 'beep' / 'beep_short.wav'}" in out
    assert cli_main(["datasets", "verify", f"folder:{tmp_path / 'none'}"]) == 1
    assert "does not exist" in capsys.readouterr().out
    assert cli_main(["datasets", "list"]) == 0 and "folder:PATH" in capsys.readouterr().out


def test_the_planner_derives_the_shape_from_the_folder(tmp_path):
    root = tmp_path / "shape"
    for i, seconds in enumerate((0.5, 0.7, 1.5, 0.5, 0.9)):  # median 0.7 s
        write_clip(root / "a" / f"a{i}.wav", 440.0, 22050, seconds=seconds)
        write_clip(root / "b" / f"b{i}.flac", 880.0, 16000, seconds=seconds, fmt="FLAC")
    shape = dataset_shape(f"folder:{root}", DataConfig())
    assert shape.num_classes == 2 and shape.typical_seconds == pytest.approx(0.7, abs=1e-4)
    assert shape.train_clips == 8  # 5 per class, 1 test each (round(0.2 * 5)); validation counted, as elsewhere


def test_a_folder_dataset_prepares_through_the_data_provider(tmp_path):
    """What samples, throughput and curve use: DataProvider.get(name) with the name as given."""
    root = make_folder(tmp_path / "p", per_class=4)
    preset = PRESETS.get("micro")
    name = f"folder:{root}"
    data = DataProvider(SweepSpec(preset, (name,), (("wrn16_2_tiny", "wrn10_2_tiny"),), ("teacher",), (0,))).get(name)
    assert data.num_classes == 3 and len(data.test.features) == 3 and data.features_key.startswith("folder-p-")


def test_run_end_to_end_on_a_folder(tmp_path, capsys):
    root = make_folder(tmp_path / "mysounds", per_class=6)
    out = tmp_path / "out"
    assert cli_main(["run", "--preset", "micro", "--datasets", f"folder:{root}", "--methods", "teacher,kd-noise",
                     "--seeds", "1", "--out", str(out)]) == 0
    records = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert {r["method"] for r in records} == {"teacher", "kd-noise"}
    for r in records:
        assert r["status"] == "ok" and r["dataset"] == f"folder:{root.resolve()}"
        assert r["data_key"].startswith("folder-mysounds-")
        described = r["dataset_description"]
        assert described["source"] == "folder" and len(described["split_digest"]) == 16
        assert described["per_class"]["hum"] == {"train": 4, "val": 1, "test": 1}
        assert len(r["test_predictions"]) == 3 and 0 <= r["accuracy"] <= 100  # one prediction per test clip
    assert f"folder:{root.resolve()}" in capsys.readouterr().out
