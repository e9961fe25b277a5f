"""ESC-50 (Piczak 2015): 2000 five-second clips, 50 classes, 5 official folds of 400.

Layout: `ESC-50/audio/{fold}-{src}-{take}-{target}.wav` and `ESC-50/meta/esc50.csv`
(filename, fold, target, category, esc10, src_file, take). The paper's accuracies are all
k/400, i.e. one held-out fold; protocol "paper" holds out fold 5, "fold<k>" holds out fold k.
Validation is carved from the four training folds, per class, keeping all takes of one source
recording (src_file) together.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from .audio_io import screen_for_policy
from .base import ClipSet, DataConfig, bad_file_policy
from .registry import DATASETS
from .sources import (
    FILE_WITHOUT_ROW, MISMATCH, ROW_WITHOUT_FILE, DatasetIndex, FileProblem, IndexedFile, as_int, class_names_from, read_metadata_csv, wav_names,
)
from .splits import load_held_out_fold

N_FOLDS = 5
PAPER_TEST_FOLD = 5
COLUMNS = ("filename", "fold", "target", "category", "esc10", "src_file", "take")


def _name_fields(filename: str) -> tuple[int, int] | None:
    """(fold, target) encoded in `{fold}-{src}-{take}-{target}.wav`, or None if it does not parse."""
    parts = filename[: -len(".wav")].split("-") if filename.endswith(".wav") else []
    if len(parts) != 4 or not (parts[0].isdigit() and parts[3].isdigit()):
        return None
    return int(parts[0]), int(parts[3])


def index_esc50(directory: Path) -> DatasetIndex:
    """Match meta/esc50.csv against audio/; every disagreement becomes a FileProblem."""
    meta_path = directory / "meta" / "esc50.csv"
    audio_dir = directory / "audio"
    rows = read_metadata_csv(meta_path, COLUMNS)
    on_disk = wav_names(audio_dir)
    files, problems, categories = [], [], defaultdict(set)
    for line, row in enumerate(rows, start=2):
        name = row["filename"]
        fold, target = as_int(row, "fold", meta_path, line), as_int(row, "target", meta_path, line)
        categories[target].add(row["category"])
        path = audio_dir / name
        if name not in on_disk:
            problems.append(FileProblem(ROW_WITHOUT_FILE, str(path), f"{meta_path.name} line {line}"))
            continue
        encoded = _name_fields(name)
        if encoded != (fold, target):
            problems.append(FileProblem(MISMATCH, str(path), f"metadata says fold {fold}, target {target}; "
                                                             f"the name encodes {encoded or 'neither'}"))
            continue
        files.append(IndexedFile(path, name, target, fold, f"src{row['src_file']}"))
    listed = {row["filename"] for row in rows}
    problems += [FileProblem(FILE_WITHOUT_ROW, str(audio_dir / n)) for n in sorted(on_disk - listed)]
    return DatasetIndex("esc50", directory, class_names_from(categories, meta_path), files, problems)


def load_esc50(cfg: DataConfig) -> ClipSet:
    """ESC-50 under `cfg.protocol`: "paper" (test = fold 5) or "fold<k>"."""
    cfg = replace(cfg, on_bad_file=bad_file_policy(cfg.on_bad_file))
    return load_held_out_fold(cfg, "esc50", lambda d: screen_for_policy(index_esc50(d), cfg), N_FOLDS,
                              PAPER_TEST_FOLD, "per class from the training folds, whole src_file groups")


DATASETS.add("esc50", load_esc50, "ESC-50: 50 environmental classes, 2000 5-s clips; test = fold 5 (400 clips)")
