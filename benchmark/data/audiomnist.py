"""AudioMNIST (Becker et al. 2018): 30000 spoken digits, 60 speakers x 10 digits x 50 repetitions.

Layout: `AudioMNIST/data/NN/{digit}_{NN}_{rep}.wav` (NN = speaker 01..60) and
`AudioMNIST/data/audioMNIST_meta.txt`, a JSON object of speaker metadata with messy values
(ages as strings or ints, "Male " vs "male", speakers missing). The label is the digit in the
file name; the metadata is only descriptive and is parsed defensively.

Protocols (both reuse the dataset authors' speaker splits, audiomnist/train/splits.py of the
official repository, so nobody has to trust a split invented here):
- "paper": 6 held-out speakers = 3000 test clips (the paper's accuracies are k/3000). The
  speakers are the authors' gender-task split 1 test set, 3 female + 3 male: 07, 23, 38, 58, 59, 60.
- "fold<k>" (k = 1..5): the authors' digit-task split k, whose test set is 12 speakers.
Validation is whole speakers carved from the training speakers (speaker-disjoint).
"""
from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

from .audio_io import screen_for_policy
from .base import ClipSet, DataConfig, bad_file_policy
from .registry import DATASETS
from .sources import (
    BAD_NAME, DatasetIndex, DatasetIntegrityError, FileProblem, IndexedFile, apply_bad_file_policy, locate, wav_names,
)
from .splits import assemble_clipset, protocol_fold

CLASS_NAMES = [str(d) for d in range(10)]
PAPER_TEST_SPEAKERS = ("07", "23", "38", "58", "59", "60")
# Test speakers of the authors' five digit-task splits; together they cover all 60 speakers once.
DIGIT_FOLDS: tuple[tuple[int, ...], ...] = (
    (5, 13, 18, 22, 26, 32, 33, 42, 45, 51, 52, 60),
    (1, 6, 7, 16, 19, 23, 28, 34, 35, 46, 53, 56),
    (2, 8, 9, 17, 24, 29, 36, 37, 39, 48, 54, 57),
    (3, 10, 14, 20, 25, 30, 38, 40, 43, 49, 55, 58),
    (4, 11, 12, 15, 21, 27, 31, 41, 44, 47, 50, 59),
)
FOLD_OF_SPEAKER = {f"{s:02d}": k for k, speakers in enumerate(DIGIT_FOLDS, start=1) for s in speakers}
_FILE_NAME = re.compile(r"^(\d)_(\d{2})_(\d+)\.wav$")


def _gender(value) -> str:
    text = str(value).strip().lower()
    return {"male": "male", "m": "male", "female": "female", "f": "female"}.get(text, "unknown")


def _age(value) -> int | None:
    try:
        age = int(str(value).strip())
    except ValueError:
        return None
    return age if 0 < age < 120 else None  # the official file holds at least one "1234"


def read_speaker_metadata(path: Path) -> tuple[dict[str, dict], str | None]:
    """{speaker: {"gender", "age"}} and a note when the file is missing or unreadable.
    Never fatal: labels come from file names, metadata only describes the speakers."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {}, f"speaker metadata {path} unreadable ({exc.__class__.__name__}); genders unknown"
    if not isinstance(raw, dict):
        return {}, f"speaker metadata {path} is not a JSON object; genders unknown"
    speakers = {}
    for key, info in raw.items():
        info = info if isinstance(info, dict) else {}
        speaker = str(key).strip().zfill(2)
        speakers[speaker] = {"gender": _gender(info.get("gender", "")), "age": _age(info.get("age", ""))}
    return speakers, None


def index_audiomnist(directory: Path) -> DatasetIndex:
    """Every data/NN/*.wav; a name that does not parse or names another speaker is a problem."""
    data_dir = directory / "data"
    speaker_dirs = sorted(p for p in data_dir.iterdir() if p.is_dir() and re.fullmatch(r"\d{2}", p.name))
    files, problems = [], []
    for speaker_dir in speaker_dirs:
        for name in sorted(wav_names(speaker_dir)):
            path = speaker_dir / name
            match = _FILE_NAME.match(name)
            if match is None or match.group(2) != speaker_dir.name:
                why = "expected {digit}_{speaker}_{rep}.wav" if match is None else \
                    f"names speaker {match.group(2)} but lies in folder {speaker_dir.name}"
                problems.append(FileProblem(BAD_NAME, str(path), why))
                continue
            speaker = speaker_dir.name
            files.append(IndexedFile(path, name, int(match.group(1)), FOLD_OF_SPEAKER.get(speaker), speaker))
    metadata, note = read_speaker_metadata(data_dir / "audioMNIST_meta.txt")
    present = [d.name for d in speaker_dirs]
    notes = {"speakers": len(present), "speakers_without_metadata": [s for s in present if s not in metadata]}
    if note:
        notes["metadata_note"] = note
    index = DatasetIndex("audiomnist", directory, list(CLASS_NAMES), files, problems, notes)
    index.notes["speaker_metadata"] = {s: metadata.get(s, {"gender": "unknown", "age": None}) for s in present}
    return index


def held_out_speakers(protocol: str) -> tuple[str, ...]:
    fold = protocol_fold(protocol, "audiomnist", len(DIGIT_FOLDS))
    if fold is None:
        return PAPER_TEST_SPEAKERS
    return tuple(f"{s:02d}" for s in DIGIT_FOLDS[fold - 1])


def load_audiomnist(cfg: DataConfig) -> ClipSet:
    """AudioMNIST under `cfg.protocol`: "paper" (6 held-out speakers) or "fold<k>" (12 speakers)."""
    cfg = replace(cfg, on_bad_file=bad_file_policy(cfg.on_bad_file))
    held_out = held_out_speakers(cfg.protocol)
    index = screen_for_policy(index_audiomnist(locate("audiomnist", cfg.data_root)), cfg)
    skipped = apply_bad_file_policy(index, cfg.on_bad_file)
    speaker_metadata = index.notes.pop("speaker_metadata")
    missing = sorted(set(held_out) - {f.group for f in index.files})
    if missing:
        raise DatasetIntegrityError(f"audiomnist protocol {cfg.protocol!r} holds out speakers {', '.join(held_out)}, "
                                f"but {', '.join(missing)} have no clips under {index.directory / 'data'}")
    facts = {
        "test_speakers": list(held_out),
        "test_speaker_genders": {s: speaker_metadata.get(s, {}).get("gender", "unknown") for s in held_out},
        "test_speakers_origin": ("AudioMNIST authors' gender-task split 1 test set (3 female + 3 male)"
                                 if cfg.protocol == "paper" else
                                 f"AudioMNIST authors' digit-task split {cfg.protocol[4:]} test set"),
    }
    held = set(held_out)
    return assemble_clipset(index, cfg, lambda f: f.group in held, facts,
                            "whole speakers from the training speakers (speaker-disjoint)", skipped,
                            stratify=False)


DATASETS.add("audiomnist", load_audiomnist,
             "AudioMNIST: spoken digits 0-9, 60 speakers, 30000 clips; test = 6 held-out speakers (3000 clips)")
