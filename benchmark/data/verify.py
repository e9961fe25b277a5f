"""Check a downloaded dataset against its official counts and read every file once.

Run after a download (or when results look odd): `python -m benchmark datasets verify [NAME]`
(no name: every dataset found under the data root). It reports, by path, every file that cannot
be read, is shorter than one analysis window, or disagrees with its metadata, and every
fold/class count that differs from the official one, so a partial extraction or a corrupt
file is found before hours of training, not after.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..core.features import FrontEndConfig
from ..core.progress import Progress
from .audio_io import (TOO_SHORT, UNREADABLE, BadAudioFile, read_native, resampled_length, too_short_reason,
                       window_samples_at)
from .audiomnist import DIGIT_FOLDS, index_audiomnist
from .esc50 import index_esc50
from .sources import (SOURCES, DatasetIndex, DatasetIntegrityError, FileProblem, MissingDatasetError, locate,
                      resolve_data_root, source)
from .us8k import index_us8k

__all__ = ["UNREADABLE", "TOO_SHORT", "OfficialCounts", "VerifyReport", "verify", "verify_all"]
COUNT = "count differs from the official one"
MISSING = "dataset not found"
METADATA = "metadata unusable"


@dataclass(frozen=True)
class OfficialCounts:
    """Published size of a dataset: clips in total, per fold and per class (label id)."""

    total: int
    per_fold: dict[int, int]
    per_class: dict[int, int]
    per_group: int | None = None  # clips per speaker, where every speaker has the same number
    groups: int | None = None


US8K_PER_CLASS = {0: 1000, 1: 429, 2: 1000, 3: 1000, 4: 1000, 5: 1000, 6: 374, 7: 1000, 8: 929, 9: 1000}
US8K_PER_FOLD = dict(enumerate([873, 888, 925, 990, 936, 823, 838, 806, 816, 837], start=1))

OFFICIAL: dict[str, OfficialCounts] = {
    "esc50": OfficialCounts(2000, {k: 400 for k in range(1, 6)}, {c: 40 for c in range(50)}),
    "us8k": OfficialCounts(8732, US8K_PER_FOLD, US8K_PER_CLASS),
    "audiomnist": OfficialCounts(30000, {k: 500 * len(s) for k, s in enumerate(DIGIT_FOLDS, start=1)},
                                 {d: 3000 for d in range(10)}, per_group=500, groups=60),
}
INDEXERS: dict[str, Callable[[Path], DatasetIndex]] = {
    "esc50": index_esc50, "us8k": index_us8k, "audiomnist": index_audiomnist,
}


@dataclass
class VerifyReport:
    dataset: str
    directory: str | None
    files: int = 0
    files_read: int = 0
    per_fold: dict[int, int] = field(default_factory=dict)
    per_class: dict[str, int] = field(default_factory=dict)
    problems: list[FileProblem] = field(default_factory=list)
    per_split: dict[str, dict[str, int]] = field(default_factory=dict)  # class -> split -> clips (folder datasets)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem_counts(self) -> dict[str, int]:
        return dict(Counter(p.kind for p in self.problems))

    def text(self) -> str:
        lines = [f"{self.dataset}: {'OK' if self.ok else 'NOT OK'} ({self.directory or 'not found'})",
                 f"  {self.files} clips indexed, {self.files_read} read"]
        if self.per_fold or not self.per_split:
            lines.append("  per fold: " + ", ".join(f"{k}: {n}" for k, n in sorted(self.per_fold.items())))
        lines += ["  per class: " + ", ".join(f"{k}: {n}" for k, n in self.per_class.items())]
        lines += [f"  {name}: " + ", ".join(f"{split} {n}" for split, n in splits.items())
                  for name, splits in self.per_split.items()]
        if self.problems:
            lines.append(f"  {len(self.problems)} problem(s): "
                         + "; ".join(f"{n} {kind}" for kind, n in self.problem_counts().items()))
            lines += [f"    {p.line()}" for p in self.problems]
        return "\n".join(lines)


def compare_counts(label: str, found: dict, official: dict) -> list[FileProblem]:
    return [FileProblem(COUNT, f"{label} {key}", f"{found.get(key, 0)} clips, official {expected}")
            for key, expected in official.items() if found.get(key, 0) != expected] + \
        [FileProblem(COUNT, f"{label} {key}", f"{n} clips, not in the official layout")
         for key, n in found.items() if key not in official]


def count_problems(index: DatasetIndex, official: OfficialCounts) -> list[FileProblem]:
    problems = []
    if len(index.files) != official.total:
        problems.append(FileProblem(COUNT, "total", f"{len(index.files)} clips, official {official.total}"))
    problems += compare_counts("fold", Counter(f.fold for f in index.files), official.per_fold)
    problems += compare_counts("class", Counter(f.label for f in index.files), official.per_class)
    if official.per_group is not None:
        per_group = Counter(f.group for f in index.files)
        problems += [FileProblem(COUNT, f"group {g}", f"{n} clips, official {official.per_group}")
                     for g, n in sorted(per_group.items()) if n != official.per_group]
        if official.groups is not None and len(per_group) != official.groups:
            problems.append(FileProblem(COUNT, "groups", f"{len(per_group)} found, official {official.groups}"))
    return problems


def verify(name: str, data_root: Path | str | None = None, official: OfficialCounts | None = None,
           read_files: bool = True) -> VerifyReport:
    """Index the dataset, compare counts with the official ones and read every file once."""
    src = source(name)
    official = official or OFFICIAL[name]
    try:
        directory = locate(name, data_root)
    except MissingDatasetError as exc:
        return VerifyReport(src.name, None, problems=[FileProblem(MISSING, str(data_root or "$DFKD_DATA_ROOT"),
                                                                  str(exc))])
    report = VerifyReport(src.name, str(directory))
    try:
        index = INDEXERS[name](directory)
    except DatasetIntegrityError as exc:
        report.problems.append(FileProblem(METADATA, str(directory), str(exc)))
        return report
    report.files = len(index.files)
    report.per_fold = dict(sorted(Counter(f.fold for f in index.files if f.fold is not None).items()))
    by_label = Counter(f.label for f in index.files)
    report.per_class = {index.class_names[label] if label < len(index.class_names) else str(label): n
                        for label, n in sorted(by_label.items())}
    report.problems += index.problems + count_problems(index, official)
    if read_files:
        read_every_file([f.path for f in index.files], src.title, report)
    return report


def read_every_file(paths: list[Path], title: str, report: VerifyReport) -> None:
    """Read each file once: an unreadable file or a clip shorter than one analysis window of the default front
    end (32 ms) becomes a problem of `report`, by path."""
    rate = FrontEndConfig().sample_rate  # lengths as the default front end sees them (32 ms windows)
    window = window_samples_at(rate)
    with Progress(f"reading {title}", len(paths)) as progress:
        for path in paths:
            try:
                data, native_rate = read_native(path)
            except BadAudioFile as exc:
                report.problems.append(FileProblem(UNREADABLE, str(path), exc.reason))
            else:
                samples = resampled_length(data.shape[0], native_rate, rate)
                if samples < window:
                    report.problems.append(FileProblem(TOO_SHORT, str(path), too_short_reason(
                        data.shape[0], native_rate, window_samples_at(native_rate))))
            report.files_read += 1
            progress.advance()


def verify_all(data_root: Path | str | None = None, read_files: bool = True) -> list[VerifyReport]:
    """`verify` of every dataset with a folder under the data root (one whose marker file is missing
    is verified too, so a half-extracted archive is reported); a missing root, or a root holding none
    of the datasets, is one MISSING report."""
    where = str(data_root or "$DFKD_DATA_ROOT")
    try:
        root = resolve_data_root(data_root)
    except MissingDatasetError as exc:
        return [VerifyReport("all", None, problems=[FileProblem(MISSING, where, str(exc))])]
    present = [name for name, src in SOURCES.items() if any((root / f).is_dir() for f in src.accepted_folders)]
    if not present:
        folders = ", ".join(src.folder for src in SOURCES.values())
        return [VerifyReport("all", None, problems=[FileProblem(
            MISSING, str(root), f"none of {folders} under {root}; `python -m benchmark datasets download NAME "
                                f"--data-root {root}` fetches one")])]
    return [verify(name, root, read_files=read_files) for name in present]
