"""UrbanSound8K (Salamon et al. 2014): 8732 slices (<= 4 s), 10 classes, 10 official folds.

Layout: `UrbanSound8K/audio/fold1..fold10/*.wav` and `UrbanSound8K/metadata/UrbanSound8K.csv`
(slice_file_name, fsID, start, end, salience, fold, classID, class). Files mix sample rates,
bit depths and channel counts; audio_io handles them. The paper's accuracies are k/837: the
test split is fold 10. "fold<k>" selects the official 10-fold cross-validation's fold k.
Validation is carved from the training folds, per class, by whole Freesound recording (fsID),
because slices of one recording are near duplicates.
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

N_FOLDS = 10
PAPER_TEST_FOLD = 10
COLUMNS = ("slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class")


def index_us8k(directory: Path) -> DatasetIndex:
    """Match the metadata CSV against audio/fold*/; a file in the wrong fold folder is a mismatch."""
    meta_path = directory / "metadata" / "UrbanSound8K.csv"
    rows = read_metadata_csv(meta_path, COLUMNS)
    audio_dir = directory / "audio"
    on_disk = {k: wav_names(audio_dir / f"fold{k}") for k in range(1, N_FOLDS + 1)}
    folds_of_name: dict[str, list[int]] = defaultdict(list)
    for k, names in on_disk.items():
        for name in names:
            folds_of_name[name].append(k)
    files, problems, classes, accounted = [], [], defaultdict(set), set()
    for line, row in enumerate(rows, start=2):
        name, fold = row["slice_file_name"], as_int(row, "fold", meta_path, line)
        label = as_int(row, "classID", meta_path, line)
        classes[label].add(row["class"])
        path = audio_dir / f"fold{fold}" / name
        if name in on_disk.get(fold, ()):
            files.append(IndexedFile(path, name, label, fold, f"fs{row['fsID']}"))
            accounted.add((fold, name))
        elif folds_of_name.get(name):
            found = folds_of_name[name][0]
            accounted.add((found, name))
            problems.append(FileProblem(MISMATCH, str(audio_dir / f"fold{found}" / name),
                                        f"metadata line {line} says fold {fold}"))
        else:
            problems.append(FileProblem(ROW_WITHOUT_FILE, str(path), f"{meta_path.name} line {line}"))
    problems += [FileProblem(FILE_WITHOUT_ROW, str(audio_dir / f"fold{k}" / name))
                 for k, names in on_disk.items() for name in sorted(names) if (k, name) not in accounted]
    return DatasetIndex("us8k", directory, class_names_from(classes, meta_path), files, problems)


def load_us8k(cfg: DataConfig) -> ClipSet:
    """UrbanSound8K under `cfg.protocol`: "paper" (test = fold 10) or "fold<k>"."""
    cfg = replace(cfg, on_bad_file=bad_file_policy(cfg.on_bad_file))
    return load_held_out_fold(cfg, "us8k", lambda d: screen_for_policy(index_us8k(d), cfg), N_FOLDS,
                              PAPER_TEST_FOLD, "per class from the training folds, whole fsID recordings")


DATASETS.add("us8k", load_us8k, "UrbanSound8K: 10 urban classes, 8732 clips <= 4 s; test = fold 10 (837 clips)")
