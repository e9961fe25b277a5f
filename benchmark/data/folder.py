"""Any folder of labelled audio as a dataset: `--datasets folder:PATH`.

Layout: `PATH/<class name>/.../<clip>.<ext>`, one subfolder per class (its name is the class; classes are
numbered in sorted order), audio in any format soundfile reads, at any rate (resampled on load, like the official
loaders). Hidden files and files with other suffixes are ignored (counted in the description).

The split, in order of precedence:
- `PATH/split.csv` (`filename,split`, split in train/val/test): taken as written ("paper" protocol only).
- `PATH/folds.csv` (`filename,fold`, fold an integer >= 1): used as ESC-50's folds are here: protocol "paper"
  tests on the highest fold, "fold<k>" on fold k; validation is carved from the other folds per class
  (splits.carve_validation, val_fraction, seed).
- neither: per class, files are ranked by SHA-1 of (seed, relative path); the first TEST_FRACTION of each class is
  test, the next val_fraction of the rest validation, the others train. A file's rank does not depend on the other
  files, so the split is the same on every run and adding a file moves at most the files next to the class's
  split boundaries, not the whole set.
`filename` is relative to PATH (`dog/bark_01.wav`); absolute names and `..` are refused, every row must name an
audio file inside a class folder, and an audio file the CSV does not list is a file problem (`--on-bad-file`).

The rest is the official loaders' machinery: bad audio screened under `--on-bad-file skip` (audio_io), the
content-keyed feature cache and `data_key` (the files' bytes, through splits.FileAudio), `datasets verify
folder:PATH` (verify_folder: per-class and per-split counts, bad files), and the planner's shape (folder_shape:
class count, median clip length from the headers of up to SHAPE_SAMPLE files, training-split size).
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath, PureWindowsPath

import soundfile as sf

from .audio_io import screen_for_policy
from .base import SPLITS, Clip, ClipSet, DataConfig, bad_file_policy
from .registry import DATASETS, Prefix
from .sources import (
    FILE_WITHOUT_ROW, DatasetIndex, DatasetIntegrityError, FileProblem, IndexedFile, apply_bad_file_policy,
)
from .splits import FileAudio, carve_validation, protocol_fold

PREFIX = "folder"
FOLDS_CSV, SPLIT_CSV = "folds.csv", "split.csv"
TEST_FRACTION = 0.2  # without a CSV: each class's share held out for test
MIN_CLIPS_PER_CLASS = 3  # without a CSV: one clip each for train, val and test
SHAPE_SAMPLE = 200  # headers read for the planner's median clip length
# soundfile's formats by suffix (RAW needs its parameters given, MAT/WAVEX have no suffix of their own)
_EXTRA_SUFFIXES = {"aif", "aifc", "oga", "opus", "snd", "wave"}
_NOT_SUFFIXES = {"raw", "mat4", "mat5", "wavex"}


class FolderDatasetError(DatasetIntegrityError):
    """A folder dataset that cannot be used as given; the message names the path or row and the fix."""


def audio_suffixes() -> frozenset[str]:
    """File suffixes (lower case, no dot) taken as audio: the formats this soundfile build reads."""
    names = {name.lower() for name in sf.available_formats()} - _NOT_SUFFIXES
    return frozenset(names | _EXTRA_SUFFIXES)


@dataclass(frozen=True)
class FolderLayout:
    """What a folder holds, checked: its classes, its audio files (relative posix paths, with labels), and the
    split file's assignment (split name or fold number per file) if it has one."""

    root: Path  # absolute
    class_names: tuple[str, ...]
    files: tuple[tuple[str, int], ...]  # (relative path, label), sorted
    split_file: str | None  # SPLIT_CSV, FOLDS_CSV or None
    assignment: dict  # relative path -> split name (split.csv) or fold (folds.csv)
    unlisted: tuple[str, ...]  # audio files the split file does not name
    ignored: int  # files that are not audio (by suffix) or hidden

    @property
    def name(self) -> str:
        """The canonical dataset name cells and records carry."""
        return f"{PREFIX}:{self.root}"

    @property
    def slug(self) -> str:
        """A file-name-safe name for the ClipSet (feature-cache entries are named after it)."""
        return f"{PREFIX}-" + (re.sub(r"[^A-Za-z0-9._-]+", "-", self.root.name).strip("-") or "root")


def _fail(message: str) -> FolderDatasetError:
    return FolderDatasetError(message)


def scan_folder(path_text: str) -> FolderLayout:
    """Check the layout before any audio is read: the folder exists, has at least two class subfolders, each with
    audio, and its split file (if any) is well formed and names only audio files inside it."""
    if not path_text.strip():
        raise _fail("folder: needs a path: --datasets folder:PATH, PATH holding one subfolder of audio per class")
    root = Path(path_text).expanduser().resolve()
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise _fail(f"dataset folder {root} {what}: give --datasets folder:PATH with PATH a folder holding one "
                    "subfolder of audio files per class")
    suffixes = audio_suffixes()
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_dirs) < 2:
        found = ", ".join(sorted(p.name for p in root.iterdir())[:8]) or "nothing"
        raise _fail(f"dataset folder {root} has {len(class_dirs)} class subfolder(s) (found: {found}); put each "
                    f"class's audio in its own subfolder, {root}/<class name>/<clip>.wav, at least two classes")
    files, ignored = [], 0
    for label, class_dir in enumerate(class_dirs):
        found = []
        for folder, dirs, names in os.walk(class_dir):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(names):
                if not name.startswith(".") and name.rpartition(".")[2].lower() in suffixes and "." in name:
                    found.append((Path(folder) / name).relative_to(root).as_posix())
                else:
                    ignored += 1
        if not found:
            raise _fail(f"class folder {class_dir} holds no audio file (suffixes read: "
                        f"{', '.join(sorted(suffixes))}); add its clips or remove the folder")
        files += [(rel, label) for rel in found]
    files.sort()
    split_file, assignment, unlisted = _read_split_file(root, {rel for rel, _ in files})
    return FolderLayout(root, tuple(p.name for p in class_dirs), tuple(files), split_file, assignment,
                        tuple(unlisted), ignored)


def _read_split_file(root: Path, audio: set[str]) -> tuple[str | None, dict, list[str]]:
    present = [name for name in (SPLIT_CSV, FOLDS_CSV) if (root / name).is_file()]
    if len(present) > 1:
        raise _fail(f"{root} holds both {SPLIT_CSV} and {FOLDS_CSV}; keep one (split.csv: filename,split with "
                    "train/val/test; folds.csv: filename,fold)")
    if not present:
        return None, {}, []
    name = present[0]
    path = root / name
    column = "split" if name == SPLIT_CSV else "fold"
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in ("filename", column) if c not in (reader.fieldnames or [])]
        if missing:
            raise _fail(f"{path} lacks the column(s) {', '.join(missing)} (has: {', '.join(reader.fieldnames or [])})"
                        f"; its header must be filename,{column}")
        rows = [(line, (row.get("filename") or "").strip(), (row.get(column) or "").strip())
                for line, row in enumerate(reader, start=2)]
    assignment = {}
    for line, filename, value in rows:
        rel = _inside(root, filename, path, line)
        if rel not in audio:
            why = "does not exist" if not (root / rel).exists() else "is not an audio file inside a class folder"
            raise _fail(f"{path} line {line}: {filename!r} {why} (looked for {root / rel}); fix the row or add the "
                        "file")
        if rel in assignment:
            raise _fail(f"{path} line {line}: {filename!r} is listed twice; keep one row per file")
        assignment[rel] = _split_value(value, column, path, line)
    if not assignment:
        raise _fail(f"{path} lists no file; add a row per file (filename,{column}) or delete it to split by hash")
    return name, assignment, sorted(audio - set(assignment))


def _inside(root: Path, filename: str, csv_path: Path, line: int) -> str:
    """The row's file as a relative posix path inside `root`; absolute names, drives and `..` are refused."""
    posix = PurePosixPath(filename.replace("\\", "/"))
    if not filename or posix.is_absolute() or PureWindowsPath(filename).drive or ".." in posix.parts:
        raise _fail(f"{csv_path} line {line}: filename {filename!r} must be a path relative to {root} without '..' "
                    "(e.g. dog/bark_01.wav)")
    resolved = (root / posix).resolve()
    if not resolved.is_relative_to(root):
        raise _fail(f"{csv_path} line {line}: {filename!r} leads outside {root} (a link?); name a file inside it")
    return posix.as_posix()


def _split_value(value: str, column: str, path: Path, line: int) -> str | int:
    if column == "split":
        if value not in SPLITS:
            raise _fail(f"{path} line {line}: split {value!r} is not one of {', '.join(SPLITS)}")
        return value
    if not value.isdigit() or int(value) < 1:
        raise _fail(f"{path} line {line}: fold {value!r} is not an integer >= 1")
    return int(value)


# --- splitting ----------------------------------------------------------------------------------------------

def hash_rank(seed: int, rel: str) -> str:
    """A file's place in its class's order: depends on the seed and its own path only."""
    return hashlib.sha1(f"{seed}\0{rel}".encode()).hexdigest()


def hash_split(files: list[tuple[str, int]], val_fraction: float, seed: int) -> dict[str, str]:
    """Stratified split by hash rank: per class, the first TEST_FRACTION (at least one) is test, the next
    val_fraction of the rest (at least one) validation, the others train."""
    by_class: dict[int, list[str]] = defaultdict(list)
    for rel, label in files:
        by_class[label].append(rel)
    out = {}
    for label, rels in by_class.items():
        rels.sort(key=lambda rel: hash_rank(seed, rel))
        n_test = max(1, round(TEST_FRACTION * len(rels)))
        n_val = max(1, round(val_fraction * (len(rels) - n_test)))
        for i, rel in enumerate(rels):
            out[rel] = "test" if i < n_test else ("val" if i < n_test + n_val else "train")
    return out


def _check_protocol_without_folds(layout: FolderLayout, protocol: str) -> None:
    if protocol != "paper":
        raise _fail(f"protocol {protocol!r} needs folds: {layout.root} has "
                    f"{layout.split_file or 'no split file'}; add {layout.root / FOLDS_CSV} (filename,fold) or use "
                    "--protocol paper")


def assign_splits(layout: FolderLayout, files: list[tuple[str, int]], cfg: DataConfig) -> tuple[dict[str, str], dict]:
    """Split of every file in `files` (the layout's, less any screened out) and the facts that describe the rule."""
    if layout.split_file == SPLIT_CSV:
        _check_protocol_without_folds(layout, cfg.protocol)
        return {rel: layout.assignment[rel] for rel, _ in files}, {"split_rule": f"as written in {SPLIT_CSV}"}
    if layout.split_file == FOLDS_CSV:
        folds = sorted(set(layout.assignment.values()))
        if len(folds) < 2:
            raise _fail(f"{layout.root / FOLDS_CSV} names {len(folds)} fold; give at least two (one is held out)")
        k = protocol_fold(cfg.protocol, layout.name, max(folds))
        held_out = folds[-1] if k is None else k
        if held_out not in folds:
            raise _fail(f"protocol {cfg.protocol!r}: {layout.root / FOLDS_CSV} has no fold {held_out} (folds: "
                        f"{', '.join(map(str, folds))})")
        pool = [IndexedFile(layout.root / rel, rel, label, layout.assignment[rel], None)
                for rel, label in files if layout.assignment[rel] != held_out]
        val = carve_validation(pool, cfg.val_fraction, cfg.seed)
        split = {rel: "test" if layout.assignment[rel] == held_out else ("val" if rel in val else "train")
                 for rel, _ in files}
        return split, {"split_rule": f"{FOLDS_CSV}: test = fold {held_out} of {', '.join(map(str, folds))}; "
                                     f"validation carved per class from the other folds",
                       "test_fold": held_out}
    _check_protocol_without_folds(layout, cfg.protocol)
    counts = Counter(label for _, label in files)
    small = [layout.class_names[label] for label, n in sorted(counts.items()) if n < MIN_CLIPS_PER_CLASS]
    if small:
        raise _fail(f"class {small[0]!r} in {layout.root} has {counts[layout.class_names.index(small[0])]} audio "
                    f"file(s); without a {SPLIT_CSV}/{FOLDS_CSV} each class needs at least {MIN_CLIPS_PER_CLASS} "
                    "(one each for train, val, test): add clips or write a split.csv")
    return hash_split(files, cfg.val_fraction, cfg.seed), {
        "split_rule": f"per class by SHA-1 rank of (seed, path): test {TEST_FRACTION}, then val_fraction of the rest"}


def split_digest(split: dict[str, str]) -> str:
    """SHA-1 of the (file, split) list: equal digests mean the same split, recorded in every record."""
    return hashlib.sha1(json.dumps(sorted(split.items())).encode()).hexdigest()[:16]


# --- the loader ---------------------------------------------------------------------------------------------

def index_folder(layout: FolderLayout) -> DatasetIndex:
    """The layout as the official loaders' DatasetIndex; audio files the split file leaves out are problems."""
    folds = layout.assignment if layout.split_file == FOLDS_CSV else {}
    unlisted = set(layout.unlisted)
    files = [IndexedFile(layout.root / rel, rel, label, folds.get(rel), None)
             for rel, label in layout.files if rel not in unlisted]
    problems = [FileProblem(FILE_WITHOUT_ROW, str(layout.root / rel), f"not in {layout.split_file}; add a row")
                for rel in layout.unlisted]
    index = DatasetIndex(layout.slug, layout.root, list(layout.class_names), files, problems)
    index.verify_command = f"python -m benchmark datasets verify {layout.name}"
    return index


def load_folder(layout: FolderLayout, cfg: DataConfig) -> ClipSet:
    cfg = replace(cfg, on_bad_file=bad_file_policy(cfg.on_bad_file))
    index = screen_for_policy(index_folder(layout), cfg)
    skipped = apply_bad_file_policy(index, cfg.on_bad_file)
    files = [(f.clip_id, f.label) for f in index.files]
    split, facts = assign_splits(layout, files, cfg)
    by_id = {f.clip_id: f for f in index.files}
    clips = [Clip(rel, label, split[rel], by_id[rel].fold) for rel, label in files]
    clipset = ClipSet(layout.slug, list(layout.class_names), cfg.sample_rate, clips,
                      FileAudio({f.clip_id: f.path for f in index.files}, cfg.sample_rate))
    per_class = {name: {s: 0 for s in SPLITS} for name in layout.class_names}
    for clip in clips:
        per_class[layout.class_names[clip.label]][clip.split] += 1
    clipset.description = {
        "source": PREFIX, "directory": str(layout.root), "protocol": cfg.protocol,
        "split_file": layout.split_file, **facts,
        "validation": f"val_fraction {cfg.val_fraction}, seed {cfg.seed}",
        "split_digest": split_digest(split), "split_sizes": clipset.split_sizes(), "per_class": per_class,
        "ignored_files": layout.ignored, "on_bad_file": cfg.on_bad_file, "skipped": dict(skipped), **index.notes,
    }
    return clipset


@dataclass(frozen=True)
class FolderLoader:
    """DATASETS' loader for `folder:PATH` (a class, so it pickles to worker processes)."""

    path: str

    def __call__(self, cfg: DataConfig) -> ClipSet:
        return load_folder(scan_folder(self.path), cfg)


def canonical_name(path_text: str) -> str:
    return scan_folder(path_text).name


DATASETS.add_prefix(Prefix(PREFIX, canonical_name, FolderLoader, "folder:PATH",
                           "any folder of labelled audio: PATH/<class>/<clip>.<ext>, optional split.csv/folds.csv"))


# --- planner shape and verify -------------------------------------------------------------------------------

def folder_shape(path_text: str, data: DataConfig) -> tuple[str, int, float, int, str]:
    """What the planner needs of a folder dataset, without decoding audio: (name, class count, median clip
    seconds from the headers of up to SHAPE_SAMPLE files evenly spaced, training-split size by the split rule on
    the file list, where it comes from); planning/shapes.py makes its DatasetShape of it."""
    layout = scan_folder(path_text)
    listed = set(layout.unlisted)
    files = [(rel, label) for rel, label in layout.files if rel not in listed]
    split, _ = assign_splits(layout, files, data)
    step = max(1, len(files) // SHAPE_SAMPLE)
    seconds = []
    for rel, _ in files[::step][:SHAPE_SAMPLE]:
        try:
            info = sf.info(str(layout.root / rel))
        except (sf.SoundFileError, RuntimeError, OSError):
            continue  # a bad file is the loader's to report, under --on-bad-file
        if info.samplerate > 0 and info.frames > 0:
            seconds.append(info.frames / info.samplerate)
    if not seconds:
        raise _fail(f"no audio file in {layout.root} has a readable header; `python -m benchmark datasets verify "
                    f"{layout.name}` lists the bad files")
    train = sum(s != "test" for s in split.values())  # validation included: an upper bound, as for the others
    return (layout.name, len(layout.class_names), float(statistics.median(seconds)), train,
            f"{layout.root}: {len(files)} files, median of {len(seconds)} headers")


def verify_folder(path_text: str, read_files: bool = True):
    """`datasets verify folder:PATH`: the layout's problems, per-class and per-split counts, and (read_files)
    every file read once."""
    from .verify import METADATA, VerifyReport, read_every_file

    try:
        layout = scan_folder(path_text)
    except FolderDatasetError as exc:
        return VerifyReport(f"{PREFIX}:{path_text}", None, problems=[FileProblem(METADATA, path_text, str(exc))])
    index = index_folder(layout)
    report = VerifyReport(layout.name, str(layout.root), files=len(index.files), problems=list(index.problems))
    report.per_class = dict(Counter(layout.class_names[f.label] for f in index.files))
    if layout.split_file == FOLDS_CSV:
        report.per_fold = dict(sorted(Counter(f.fold for f in index.files).items()))
    try:
        split, _ = assign_splits(layout, [(f.clip_id, f.label) for f in index.files], DataConfig())
    except FolderDatasetError as exc:
        report.problems.append(FileProblem(METADATA, str(layout.root), str(exc)))
    else:
        report.per_split = {name: {s: 0 for s in SPLITS} for name in layout.class_names}
        for f in index.files:
            report.per_split[layout.class_names[f.label]][split[f.clip_id]] += 1
    if read_files:
        read_every_file([f.path for f in index.files], layout.name, report)
    return report
