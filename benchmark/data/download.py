"""Fetch an official dataset archive, check it and unpack it where the loaders look.

The archives are large (ESC-50 ~0.6 GB, AudioMNIST ~1 GB, UrbanSound8K ~6 GB), so a dropped
connection must not mean starting over: bytes go to `<archive>.part` and a rerun continues
with an HTTP Range request. An archive is only unpacked after it matched a checksum: the one pinned in
sources.SOURCES for the official URL, or one given with --sha256; where neither exists the download is refused
before any byte is fetched (a GitHub branch archive has no stable checksum to pin).

Nothing half-done looks like a dataset: bytes arrive in `.downloads/<archive>.part`, are checked there and only
then renamed to the archive's name; the archive is unpacked into a fresh hidden staging folder under the data
root, and the dataset folder is renamed into place (one atomic rename) only once complete. The loaders and
`datasets verify` look only at the dataset's own folder names, so an interrupted or failed download leaves
nothing they would take for the dataset.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from ..core.progress import progress_enabled
from .sources import DatasetSource, PinnedChecksum, locate_or_none, source

log = logging.getLogger("benchmark.download")
CHUNK_BYTES = 1 << 20
DOWNLOADS_FOLDER = ".downloads"


class DownloadError(OSError):
    """The transfer failed; a partial file is kept for the next attempt to resume."""


class ChecksumMismatch(ValueError):
    """The archive's digest differs from the expected one; the bad file is deleted."""


class ChecksumRequired(ValueError):
    """No checksum is pinned for this URL and none was given: refused before fetching anything."""


@dataclass(frozen=True)
class DownloadResult:
    dataset_dir: Path
    sha256: str | None  # of the archive fetched now (None when the dataset was already there)
    verified: bool  # the archive matched a pinned or given checksum (always, for a fresh download)
    already_present: bool = False
    checked_with: str = ""  # which checksum it matched, for the user


def digests_of(path: Path, algorithms: tuple[str, ...] = ("sha256",)) -> dict[str, str]:
    """Hex digests of the file, every algorithm in one read."""
    hashes = {name: hashlib.new(name) for name in algorithms}
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            for h in hashes.values():
                h.update(chunk)
    return {name: h.hexdigest() for name, h in hashes.items()}


def expected_checksum(src: DatasetSource, url: str, sha256: str | None) -> PinnedChecksum:
    """The checksum the archive must match: --sha256 if given, else the one pinned for the official URL; neither
    is a ChecksumRequired naming the archive to expect and the ways on."""
    if sha256:
        value = sha256.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{64}", value):
            raise ChecksumRequired(f"--sha256 {sha256!r} is not a SHA-256 (64 hexadecimal digits)")
        return PinnedChecksum("sha256", value, "--sha256")
    if url == src.archive_url and src.checksum is not None:
        return src.checksum
    why = (f"the official archive is {src.no_checksum_reason}" if url == src.archive_url
           else "a pinned checksum belongs to the official URL only, and --url names another")
    return _refuse(src, url, why)


def _refuse(src: DatasetSource, url: str, why: str):
    raise ChecksumRequired(
        f"refusing to download {src.title} from {url} without a checksum to check it against: {why}. Expected: "
        f"{src.archive_name}, {src.approx_size}. Either pass --sha256 HEX, the SHA-256 of an archive you trust "
        f"(e.g. `sha256sum {src.archive_name}` of a copy you fetched and inspected yourself), or unpack it yourself "
        f"into DIR/{src.folder} and check it with `python -m benchmark datasets verify {src.name} --data-root DIR`.")


def _progress_bar(label: str) -> Progress:
    return Progress(TextColumn(label), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
                    disable=not progress_enabled(), transient=True)


def _total_from_content_range(header: str | None) -> int | None:
    match = re.search(r"/(\d+)\s*$", header or "")
    return int(match.group(1)) if match else None


def fetch(url: str, part: Path, timeout: float = 60.0) -> None:
    """Stream `url` into `part`, continuing after the bytes already there (HTTP Range)."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "dfkd-audio-bench"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # nothing left to fetch, or the partial file is stale
            if _total_from_content_range(exc.headers.get("Content-Range")) == offset:
                return
            log.warning("partial file %s does not fit %s; starting over", part, url)
            part.unlink()
            return fetch(url, part, timeout)
        raise DownloadError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise DownloadError(f"cannot download {url}: {getattr(exc, 'reason', exc)}") from exc
    with response:
        resumed = offset > 0 and response.status == 206
        if offset and not resumed:
            log.warning("server ignored the resume request for %s; starting over", url)
        start = offset if resumed else 0
        length = response.headers.get("Content-Length")
        total = start + int(length) if length is not None else None
        written = start
        try:
            with part.open("ab" if resumed else "wb") as out, _progress_bar(part.name) as bar:
                task = bar.add_task("download", total=total, completed=start)
                while chunk := response.read(CHUNK_BYTES):
                    out.write(chunk)
                    written += len(chunk)
                    bar.update(task, completed=written)
        except (http.client.IncompleteRead, OSError) as exc:
            raise DownloadError(f"download of {url} broke off after {part.stat().st_size} bytes ({exc}); "
                                f"the partial file {part} is kept: run the same command again to resume") from exc
    if total is not None and written != total:
        raise DownloadError(f"download of {url} ended after {written} of {total} bytes; the partial file {part} is "
                            f"kept: run the same command again to resume")


def _extract_all(archive: Path, into: Path) -> None:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            z.extractall(into)  # zipfile drops absolute paths and ".." components
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            t.extractall(into, filter="data")  # refuses links and paths outside `into`
    else:
        raise ValueError(f"{archive} is neither a zip nor a tar archive")


def _dataset_folder_in(staging: Path, src: DatasetSource) -> Path:
    """The unpacked dataset folder: one of the accepted names, or the archive's only folder."""
    candidates = [staging / name for name in src.accepted_folders] + [staging]
    candidates += [p for p in sorted(staging.iterdir()) if p.is_dir()]
    for candidate in candidates:
        if (candidate / src.marker).is_file():
            return candidate
    raise ValueError(f"the archive holds no {src.marker} (top level: "
                     f"{', '.join(p.name for p in staging.iterdir()) or 'empty'}); is it the {src.title} archive?")


STAGING_PREFIX = ".extract-"


def extract(archive: Path, data_root: Path, src: DatasetSource) -> Path:
    """Unpack into a fresh hidden staging folder, then rename the dataset folder to DATA_ROOT/<canonical name>
    in one step: until then nothing under a name the loaders look at exists. Staging folders a killed run of
    this dataset left are removed first."""
    data_root.mkdir(parents=True, exist_ok=True)
    for stale in data_root.glob(f"{STAGING_PREFIX}{src.name}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{src.name}-", dir=data_root))
    try:
        _extract_all(archive, staging)
        target = data_root / src.folder
        os.replace(_dataset_folder_in(staging, src), target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def archive_path(data_root: Path, src: DatasetSource, url: str) -> Path:
    name = Path(urllib.parse.urlparse(url).path).name or "archive"
    return data_root / DOWNLOADS_FOLDER / f"{src.name}-{name}"


def download(name: str, data_root: Path | str, url: str | None = None, sha256: str | None = None,
             keep_archive: bool = False, timeout: float = 60.0) -> DownloadResult:
    """Download, check and unpack dataset `name` into DATA_ROOT/<folder>; resumes partial downloads. Refused
    before any transfer when no checksum is pinned for the URL and none is given (ChecksumRequired)."""
    src = source(name)
    root = Path(data_root).expanduser()
    present = locate_or_none(name, root) if root.is_dir() else None
    if present is not None:
        log.info("%s is already present at %s; nothing downloaded", src.title, present)
        return DownloadResult(present, None, verified=False, already_present=True)
    leftovers = [root / f for f in src.accepted_folders if (root / f).exists()]
    if leftovers:
        raise ValueError(f"{leftovers[0]} exists but has no {src.marker} (an interrupted extraction?); "
                         f"remove it and run the download again")
    url = url or src.archive_url
    expected = expected_checksum(src, url, sha256)
    archive = archive_path(root, src, url)
    archive.parent.mkdir(parents=True, exist_ok=True)
    part = archive.with_name(archive.name + ".part")
    fetched = archive if archive.exists() else part  # an archive under its own name was checked before
    if fetched is part:
        log.info("downloading %s from %s", src.title, url)
        fetch(url, part, timeout)
    digests = digests_of(fetched, tuple(dict.fromkeys(("sha256", expected.algorithm))))
    if digests[expected.algorithm] != expected.value:
        fetched.unlink()
        raise ChecksumMismatch(
            f"{expected.algorithm.upper()} of the archive from {url} is {digests[expected.algorithm]}, expected "
            f"{expected.value} ({expected.source}): the file is corrupt or not the expected archive. It was "
            "deleted; run again to fetch it afresh.")
    if fetched is part:
        os.replace(part, archive)
    dataset_dir = extract(archive, root, src)
    if not keep_archive:
        archive.unlink()
    log.info("%s ready at %s", src.title, dataset_dir)
    return DownloadResult(dataset_dir, digests["sha256"], verified=True,
                          checked_with=f"{expected.algorithm.upper()} {expected.value} ({expected.source})")
