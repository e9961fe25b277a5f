"""Where each real dataset lives, and how its files are reconciled with its metadata.

Users download the datasets once and point the harness at a data root. This module finds each
dataset under that root (accepting the folder names the official archives unpack to), says how
to get it when it is missing, and turns "metadata row without file" / "file without metadata
row" into explicit problems that the bad-file policy either raises or counts: a dataset is
never silently mis-read.
"""
from __future__ import annotations

import csv
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

DATA_ROOT_ENV = "DFKD_DATA_ROOT"
BAD_FILE_POLICIES = ("fail", "skip")

# Kinds of per-file problems found while indexing a dataset.
ROW_WITHOUT_FILE = "metadata row without file"
FILE_WITHOUT_ROW = "file without metadata row"
MISMATCH = "file disagrees with its metadata"
BAD_NAME = "file name does not follow the dataset's pattern"


@dataclass(frozen=True)
class PinnedChecksum:
    """A published digest of an official archive, with where it was read (never a value computed here)."""

    algorithm: str  # a hashlib name: "sha256" or "md5"
    value: str
    source: str


@dataclass(frozen=True)
class DatasetSource:
    """Facts about one official dataset: folder names, where to get it, how to recognise it."""

    name: str  # registry name
    title: str
    folder: str  # canonical folder under the data root
    alternatives: tuple[str, ...]  # other accepted names (the archive's top-level folder)
    marker: str  # a file inside the folder that proves it is the dataset
    homepage: str
    archive_url: str
    archive_name: str  # the file the official URL serves
    approx_size: str  # what a user should expect to fetch (for messages; not checked)
    # The published checksum of the archive at archive_url, or None where none can be pinned (then `datasets
    # download` refuses unless --sha256 is given; it never unpacks an archive nobody checked).
    checksum: PinnedChecksum | None = None
    no_checksum_reason: str = ""

    @property
    def accepted_folders(self) -> tuple[str, ...]:
        return (self.folder, *self.alternatives)


# GitHub branch archives are packed on request: their bytes change with every commit to the branch and with
# GitHub's packing (two tools pin different MD5s for ESC-50's master.zip: kiwano's esc50 recipe 629e8e9e...,
# soundata's soundata/datasets/esc50.py REMOTES["all"] 70aba3ba...), so no checksum of them can be pinned.
_BRANCH_ARCHIVE = ("a GitHub branch archive, packed on request: its bytes change with the branch and with "
                   "GitHub's packing, so no checksum can be pinned")

SOURCES: dict[str, DatasetSource] = {
    "esc50": DatasetSource(
        name="esc50", title="ESC-50", folder="ESC-50", alternatives=("ESC-50-master",),
        marker="meta/esc50.csv", homepage="https://github.com/karolpiczak/ESC-50",
        archive_url="https://github.com/karolpiczak/ESC-50/archive/master.zip", archive_name="master.zip",
        approx_size="about 0.6 GB", no_checksum_reason=_BRANCH_ARCHIVE),
    "us8k": DatasetSource(
        name="us8k", title="UrbanSound8K", folder="UrbanSound8K", alternatives=(),
        marker="metadata/UrbanSound8K.csv", homepage="https://urbansounddataset.weebly.com/urbansound8k.html",
        archive_url="https://zenodo.org/records/1203745/files/UrbanSound8K.tar.gz",
        archive_name="UrbanSound8K.tar.gz", approx_size="about 6 GB",
        # Zenodo publishes MD5 digests only; no SHA-256 of this file is published.
        checksum=PinnedChecksum("md5", "9aa69802bbf37fb986f71ec1483a196e",
                                "Zenodo record 1203745's published MD5, as pinned by soundata "
                                "(soundata/datasets/urbansound8k.py, REMOTES['all'])")),
    "audiomnist": DatasetSource(
        name="audiomnist", title="AudioMNIST", folder="AudioMNIST", alternatives=("AudioMNIST-master",),
        marker="data/audioMNIST_meta.txt", homepage="https://github.com/soerenab/AudioMNIST",
        archive_url="https://github.com/soerenab/AudioMNIST/archive/master.zip", archive_name="master.zip",
        approx_size="about 1 GB", no_checksum_reason=_BRANCH_ARCHIVE),
}


class MissingDatasetError(FileNotFoundError):
    """The data root or a dataset folder is missing; the message says how to get the data."""

    def __str__(self) -> str:  # FileNotFoundError would format (errno, strerror)
        return str(self.args[0])


class DatasetIntegrityError(ValueError):
    """Metadata and files disagree (or metadata is unreadable) under the "fail" policy."""


def source(name: str) -> DatasetSource:
    try:
        return SOURCES[name]
    except KeyError:
        raise ValueError(f"unknown real dataset {name!r}; known: {', '.join(SOURCES)}") from None


def how_to_get(src: DatasetSource, root: Path | str | None) -> str:
    root_text = str(root) if root is not None else "DIR"
    alternatives = f" (or {', '.join(src.alternatives)})" if src.alternatives else ""
    return (f"expected the {src.title} dataset in {Path(root_text) / src.folder}{alternatives}, containing "
            f"{src.marker}. Get it from {src.homepage}, or run: "
            f"python -m benchmark datasets download {src.name} --data-root {root_text}")


def resolve_data_root(data_root: Path | str | None) -> Path:
    """The explicit data root, else $DFKD_DATA_ROOT; a missing one is an error, not a guess."""
    if data_root is None:
        env = os.environ.get(DATA_ROOT_ENV)
        if not env:
            raise MissingDatasetError(
                f"no data root given: pass --data-root DIR (DataConfig.data_root) or set ${DATA_ROOT_ENV}; to fetch "
                f"a dataset into DIR first: python -m benchmark datasets download NAME --data-root DIR "
                f"(NAME: {', '.join(SOURCES)})")
        data_root = env
    root = Path(data_root).expanduser()
    if not root.is_dir():
        raise MissingDatasetError(f"data root {root} does not exist (from --data-root or ${DATA_ROOT_ENV})")
    return root


def locate(name: str, data_root: Path | str | None = None) -> Path:
    """The dataset's folder under the data root; raises MissingDatasetError with instructions."""
    src = source(name)
    root = resolve_data_root(data_root)
    for folder in src.accepted_folders:
        candidate = root / folder
        if candidate.is_dir():
            if not (candidate / src.marker).is_file():
                raise MissingDatasetError(
                    f"found {candidate} but it has no {src.marker}: is the archive fully extracted? "
                    + how_to_get(src, root))
            return candidate
    raise MissingDatasetError(f"{src.title} not found under {root}: " + how_to_get(src, root))


def locate_or_none(name: str, data_root: Path | str | None) -> Path | None:
    try:
        return locate(name, data_root)
    except MissingDatasetError:
        return None


# --- reconciling files with metadata -----------------------------------------------------------

@dataclass(frozen=True)
class FileProblem:
    kind: str  # one of the kinds above
    path: str
    detail: str = ""

    def line(self) -> str:
        return f"{self.kind}: {self.path}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class IndexedFile:
    """One clip found on disk and matched to its metadata."""

    path: Path
    clip_id: str
    label: int
    fold: int | None
    group: str | None  # source recording / speaker


@dataclass
class DatasetIndex:
    """A dataset's clips as found on disk, plus every disagreement with its metadata."""

    name: str
    directory: Path
    class_names: list[str]
    files: list[IndexedFile]
    problems: list[FileProblem] = field(default_factory=list)
    notes: dict = field(default_factory=dict)  # facts for ClipSet.description (e.g. speaker metadata)
    # the command that lists every problem, for the "fail" message (default: `datasets verify NAME --data-root`)
    verify_command: str | None = None


def read_metadata_csv(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a metadata CSV; missing columns are an integrity error naming the file."""
    if not path.is_file():
        raise DatasetIntegrityError(f"metadata file {path} is missing")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetIntegrityError(f"{path} lacks the column(s) {', '.join(missing)} "
                                        f"(has: {', '.join(reader.fieldnames or [])})")
        return [{k: (v or "").strip() for k, v in row.items() if k is not None} for row in reader]


def as_int(row: dict[str, str], column: str, path: Path, line: int) -> int:
    try:
        return int(row[column])
    except ValueError:
        raise DatasetIntegrityError(f"{path} line {line}: {column}={row[column]!r} is not an integer") from None


def wav_names(directory: Path) -> set[str]:
    """Names of the .wav files directly inside a folder (empty if the folder is missing)."""
    if not directory.is_dir():
        return set()
    with os.scandir(directory) as entries:
        return {e.name for e in entries if e.name.lower().endswith(".wav") and e.is_file()}


def class_names_from(pairs: dict[int, set[str]], path: Path) -> list[str]:
    """Class names indexed by label id; ids must be 0..K-1 with one name each."""
    for label, names in pairs.items():
        if len(names) > 1:
            raise DatasetIntegrityError(f"{path}: class id {label} has several names: {sorted(names)}")
    if sorted(pairs) != list(range(len(pairs))):
        raise DatasetIntegrityError(f"{path}: class ids are not 0..{len(pairs) - 1}: {sorted(pairs)}")
    return [next(iter(pairs[label])) for label in range(len(pairs))]


def summarise_problems(problems: list[FileProblem], shown: int = 5) -> str:
    counts = Counter(p.kind for p in problems)
    head = "; ".join(f"{n} {kind}" for kind, n in counts.items())
    examples = "\n".join(f"  {p.line()}" for p in problems[:shown])
    more = f"\n  ... and {len(problems) - shown} more" if len(problems) > shown else ""
    return f"{head}\n{examples}{more}"


def apply_bad_file_policy(index: DatasetIndex, policy: str) -> dict[str, int]:
    """"fail": raise listing the problems; "skip": the problem files are already left out of
    index.files, and the counts per kind are returned for ClipSet.description."""
    if policy not in BAD_FILE_POLICIES:
        raise ValueError(f"on_bad_file must be one of {BAD_FILE_POLICIES}, got {policy!r}")
    if index.problems and policy == "fail":
        default_verify = f"python -m benchmark datasets verify {index.name} --data-root {index.directory.parent}"
        raise DatasetIntegrityError(
            f"{index.name} in {index.directory}: {len(index.problems)} file problem(s): "
            f"{summarise_problems(index.problems)}\nFix the files, or load with on_bad_file='skip' "
            "(command line: --on-bad-file skip) to leave them "
            f"out (the skips are recorded); `{index.verify_command or default_verify}` lists them all.")
    return dict(Counter(p.kind for p in index.problems))
