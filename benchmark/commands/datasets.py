"""`python -m benchmark datasets list|verify|download`: find, check and fetch the real datasets."""
from __future__ import annotations

import argparse
import os
import sys

from ..data.download import ChecksumMismatch, ChecksumRequired, DownloadError, download
from ..data.registry import DATASETS
from ..data.sources import DATA_ROOT_ENV, SOURCES, MissingDatasetError, locate_or_none, resolve_data_root
from ..data.folder import PREFIX as FOLDER_PREFIX, verify_folder
from ..data.verify import verify, verify_all

NAME = "datasets"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("datasets", help="list, verify or download the real datasets",
                                   description="Find, check and fetch the paper's datasets (ESC-50, UrbanSound8K, "
                                               f"AudioMNIST). The data root defaults to ${DATA_ROOT_ENV}.")
    sub = parser.add_subparsers(dest="datasets_command", required=True)
    names = list(SOURCES)

    p = sub.add_parser("list", help="registered datasets and whether each is found under the data root")
    p.add_argument("--data-root", default=None, help=f"folder holding the datasets (default ${DATA_ROOT_ENV})")

    p = sub.add_parser("verify", help="check counts against the official ones and read every file once",
                       description="Index each dataset, compare its counts with the official ones and read every "
                                   "file once: unreadable files and clips shorter than one analysis window (32 ms) "
                                   "are listed by path. Exit 1 if any dataset has a problem.")
    p.add_argument("name", nargs="?", type=verify_target, default=None,
                   help=f"dataset to check: {', '.join(names)} or folder:PATH (a folder of labelled audio: per-class "
                        "and per-split counts, bad files); default: every dataset found under the data root")
    p.add_argument("--data-root", default=None, help=f"folder holding the datasets (default ${DATA_ROOT_ENV})")

    p = sub.add_parser("download", help="download, check and unpack an official archive (resumable)")
    p.add_argument("name", choices=names)
    p.add_argument("--data-root", default=None,
                   help=f"folder to unpack into; the dataset lands in DIR/<folder> (default ${DATA_ROOT_ENV})")
    p.add_argument("--url", default=None, help="archive URL (default: the official one)")
    p.add_argument("--sha256", default=None,
                   help="expected SHA-256 of the archive; required where no checksum is pinned for the URL (ESC-50 "
                        "and AudioMNIST are GitHub branch archives, whose bytes change; UrbanSound8K's Zenodo MD5 "
                        "is pinned)")
    p.add_argument("--keep-archive", action="store_true", help="keep the archive after unpacking")


def list_datasets(data_root) -> int:
    try:
        root = resolve_data_root(data_root)
    except MissingDatasetError as exc:
        root = None
        print(f"({exc})")
    for entry in DATASETS.entries():
        if entry.name in SOURCES:
            found = locate_or_none(entry.name, root) if root is not None else None
            status = f"found at {found}" if found else "not found"
        else:
            status = "built in"
        print(f"{entry.name:<12} {status:<40} {entry.summary}")
    for prefix in DATASETS.prefixes.values():
        print(f"{prefix.usage:<12} {'your folder':<40} {prefix.summary}")
    return 0


def verify_target(text: str) -> str:
    """An official dataset's name or `folder:PATH`; anything else is argparse's usage error naming the choices."""
    if text in SOURCES or text.startswith(f"{FOLDER_PREFIX}:"):
        return text
    raise argparse.ArgumentTypeError(f"unknown dataset {text!r}; choose from {', '.join(SOURCES)} or folder:PATH")


def verify_dataset(name: str | None, data_root) -> int:
    """One dataset, or (no name) every dataset found under the data root; 1 if any has a problem."""
    if name and name.startswith(f"{FOLDER_PREFIX}:"):
        reports = [verify_folder(name.partition(":")[2])]
    else:
        reports = [verify(name, data_root)] if name else verify_all(data_root)
    print("\n\n".join(report.text() for report in reports))
    if len(reports) > 1:
        bad = [r.dataset for r in reports if not r.ok]
        print(f"\n{len(reports)} datasets verified: " + (f"{len(bad)} NOT OK ({', '.join(bad)})" if bad else "all OK"))
    return 0 if all(r.ok for r in reports) else 1


def download_dataset(args: argparse.Namespace) -> int:
    data_root = args.data_root or os.environ.get(DATA_ROOT_ENV)
    if not data_root:
        print(f"error: give --data-root DIR (or set ${DATA_ROOT_ENV}) to say where the dataset should go",
              file=sys.stderr)
        return 2
    try:
        result = download(args.name, data_root, url=args.url, sha256=args.sha256, keep_archive=args.keep_archive)
    except ChecksumRequired as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (DownloadError, ChecksumMismatch) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if result.already_present:
        print(f"{args.name} is already present at {result.dataset_dir}; nothing downloaded")
        return 0
    print(f"{args.name} unpacked to {result.dataset_dir}")
    print(f"the archive matched {result.checked_with}; its SHA-256 is {result.sha256}")
    print(f"next: python -m benchmark datasets verify {args.name} --data-root {data_root}")
    return 0


def main(args: argparse.Namespace) -> int:
    """Exit code: 0 ok, 1 a dataset problem (verify failed, download failed), 2 bad usage."""
    if args.datasets_command == "list":
        return list_datasets(args.data_root)
    if args.datasets_command == "verify":
        return verify_dataset(args.name, args.data_root)
    if args.datasets_command == "download":
        return download_dataset(args)
    print(f"error: unknown datasets command {args.datasets_command!r}", file=sys.stderr)
    return 2
