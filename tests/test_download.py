"""download(): fetch from a local HTTP server with Range support, resume, checksum, unpack."""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import tarfile
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from benchmark.commands.datasets import add_parser as add_datasets_parser, main as run_datasets
from benchmark.data import DATASETS, download as download_module
from benchmark.data.base import DataConfig
from benchmark.data.download import ChecksumMismatch, ChecksumRequired, DownloadError, archive_path, download
from benchmark.data.sources import SOURCES, MissingDatasetError, PinnedChecksum, locate_or_none
from benchmark.data.verify import verify_all


@dataclass
class ServerState:
    files: dict[str, bytes] = field(default_factory=dict)
    ranges: list[str | None] = field(default_factory=list)  # Range header of each GET
    honour_range: bool = True
    cut_after: int | None = None  # send only this many body bytes once, then close


class RangeHandler(BaseHTTPRequestHandler):
    """Serves `state.files` with single-range `bytes=N-` support (206 / 416), like a CDN."""

    state: ServerState

    def do_GET(self):  # noqa: N802 (http.server's naming)
        body = self.state.files.get(self.path)
        range_header = self.headers.get("Range")
        self.state.ranges.append(range_header)
        if body is None:
            self.send_error(404)
            return
        start = 0
        if range_header and self.state.honour_range:
            start = int(range_header.removeprefix("bytes=").rstrip("-"))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.state.cut_after is not None:
            payload, self.state.cut_after = payload[: self.state.cut_after], None
            self.close_connection = True
        self.wfile.write(payload)

    def log_message(self, *args):  # keep test output quiet
        pass


@pytest.fixture
def server():
    state = ServerState()
    handler = type("Handler", (RangeHandler,), {"state": state})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def esc50_zip(top: str = "ESC-50-master") -> bytes:
    """A small zip in the official archive's layout; random payload so it does not compress away."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr(f"{top}/meta/esc50.csv", "filename,fold,target,category,esc10,src_file,take\n")
        z.writestr(f"{top}/audio/noise.bin", np.random.default_rng(1).bytes(300_000))
    return buffer.getvalue()


def us8k_tar_gz() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as t:
        for name, data in [("UrbanSound8K/metadata/UrbanSound8K.csv", b"slice_file_name,fold\n"),
                           ("UrbanSound8K/audio/fold1/x.bin", np.random.default_rng(2).bytes(50_000))]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def part_file(archive: Path) -> Path:
    return archive.with_name(archive.name + ".part")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_downloads_checks_and_unpacks_into_the_canonical_folder(server, tmp_path):
    state, base = server
    archive = esc50_zip()
    state.files["/esc.zip"] = archive
    result = download("esc50", tmp_path, url=f"{base}/esc.zip", sha256=sha(archive))
    assert result.dataset_dir == tmp_path / "ESC-50" and result.verified and result.sha256 == sha(archive)
    assert (tmp_path / "ESC-50" / "meta" / "esc50.csv").is_file()
    assert (tmp_path / "ESC-50" / "audio" / "noise.bin").stat().st_size == 300_000
    assert not (tmp_path / "ESC-50-master").exists()
    assert not archive_path(tmp_path, SOURCES["esc50"], f"{base}/esc.zip").exists()  # archive removed
    again = download("esc50", tmp_path, url=f"{base}/esc.zip")
    assert again.already_present and len(state.ranges) == 1  # no second request


def test_resumes_a_partial_download_with_a_range_request(server, tmp_path):
    state, base = server
    archive = us8k_tar_gz()
    state.files["/UrbanSound8K.tar.gz"] = archive
    url = f"{base}/UrbanSound8K.tar.gz"
    part = part_file(archive_path(tmp_path, SOURCES["us8k"], url))
    part.parent.mkdir(parents=True)
    part.write_bytes(archive[:20_000])
    result = download("us8k", tmp_path, url=url, sha256=sha(archive))
    assert state.ranges == ["bytes=20000-"]
    assert result.verified and (tmp_path / "UrbanSound8K" / "audio" / "fold1" / "x.bin").stat().st_size == 50_000


def test_broken_connection_keeps_the_part_file_and_a_rerun_resumes(server, tmp_path):
    state, base = server
    archive = esc50_zip()
    state.files["/esc.zip"] = archive
    state.cut_after = 100_000
    with pytest.raises(DownloadError, match="run the same command again to resume"):
        download("esc50", tmp_path, url=f"{base}/esc.zip", sha256=sha(archive))
    part = part_file(archive_path(tmp_path, SOURCES["esc50"], f"{base}/esc.zip"))
    assert part.stat().st_size == 100_000
    result = download("esc50", tmp_path, url=f"{base}/esc.zip", sha256=sha(archive))
    assert state.ranges == [None, "bytes=100000-"] and result.verified


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    state, base = server
    archive = esc50_zip()
    state.files["/esc.zip"], state.honour_range = archive, False
    part = part_file(archive_path(tmp_path, SOURCES["esc50"], f"{base}/esc.zip"))
    part.parent.mkdir(parents=True)
    part.write_bytes(b"stale bytes that must not be kept")
    result = download("esc50", tmp_path, url=f"{base}/esc.zip", sha256=sha(archive))
    assert result.sha256 == sha(archive) and state.ranges == ["bytes=33-"]


def test_wrong_checksum_is_rejected_with_a_clear_message(server, tmp_path):
    state, base = server
    archive = esc50_zip()
    state.files["/esc.zip"] = archive
    wrong = "0" * 64
    with pytest.raises(ChecksumMismatch) as info:
        download("esc50", tmp_path, url=f"{base}/esc.zip", sha256=wrong)
    message = str(info.value)
    assert sha(archive) in message and f"expected {wrong}" in message and "deleted" in message
    assert not (tmp_path / "ESC-50").exists()
    assert not list((tmp_path / ".downloads").iterdir())  # nothing corrupt left to resume from


def test_without_a_checksum_the_cli_refuses_before_fetching(server, tmp_path, capsys):
    """A URL with no pinned checksum and no --sha256 is refused (exit 2) before a single request: nothing
    unchecked is ever unpacked. With --sha256 the same download goes through and says what it matched."""
    state, base = server
    archive = esc50_zip(top="ESC-50")
    state.files["/esc.zip"] = archive
    parser = argparse.ArgumentParser()
    add_datasets_parser(parser.add_subparsers(dest="command"))
    argv = ["datasets", "download", "esc50", "--data-root", str(tmp_path), "--url", f"{base}/esc.zip"]
    assert run_datasets(parser.parse_args(argv)) == 2
    err = capsys.readouterr().err
    assert "without a checksum" in err and "--sha256" in err and "--url names another" in err
    assert state.ranges == [] and not (tmp_path / "ESC-50").exists() and not (tmp_path / ".downloads").exists()
    assert run_datasets(parser.parse_args(argv + ["--sha256", sha(archive)])) == 0
    out = capsys.readouterr().out
    assert f"matched SHA256 {sha(archive)} (--sha256)" in out
    assert (tmp_path / "ESC-50" / "meta" / "esc50.csv").is_file()


def test_cli_reports_a_wrong_checksum_and_an_archive_of_the_wrong_dataset(server, tmp_path, capsys):
    state, base = server
    state.files["/esc.zip"] = esc50_zip()
    parser = argparse.ArgumentParser()
    add_datasets_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["datasets", "download", "esc50", "--data-root", str(tmp_path), "--url",
                              f"{base}/esc.zip", "--sha256", "ab" * 32])
    assert run_datasets(args) == 1 and "expected abab" in capsys.readouterr().err
    with pytest.raises(ValueError, match="holds no data/audioMNIST_meta.txt"):
        download("audiomnist", tmp_path, url=f"{base}/esc.zip", sha256=sha(state.files["/esc.zip"]))


def test_http_errors_are_reported(server, tmp_path):
    _, base = server
    with pytest.raises(DownloadError, match="HTTP 404"):
        download("esc50", tmp_path, url=f"{base}/missing.zip", sha256="ab" * 32)


def test_an_incomplete_dataset_folder_is_not_overwritten(server, tmp_path):
    state, base = server
    state.files["/esc.zip"] = esc50_zip()
    (tmp_path / "ESC-50-master" / "audio").mkdir(parents=True)
    with pytest.raises(ValueError, match="ESC-50-master exists but has no meta/esc50.csv"):
        download("esc50", tmp_path, url=f"{base}/esc.zip")
    assert state.ranges == []


def test_cli_download_needs_a_data_root(monkeypatch, capsys):
    monkeypatch.delenv("DFKD_DATA_ROOT", raising=False)
    parser = argparse.ArgumentParser()
    add_datasets_parser(parser.add_subparsers(dest="command"))
    assert run_datasets(parser.parse_args(["datasets", "download", "us8k"])) == 2
    assert "--data-root" in capsys.readouterr().err


# --- pinned checksums, the no-data-root message, nothing half-done looks like a dataset ------------------------

def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def serve_us8k_officially(monkeypatch, base: str, checksum: PinnedChecksum | None) -> str:
    """Point the official us8k URL at the local server (the real one needs a network), pinning `checksum`."""
    url = f"{base}/UrbanSound8K.tar.gz"
    monkeypatch.setitem(SOURCES, "us8k", dataclasses.replace(SOURCES["us8k"], archive_url=url, checksum=checksum))
    return url


def test_the_official_archive_is_checked_against_its_pinned_checksum_without_sha256(server, tmp_path, monkeypatch):
    state, base = server
    archive = us8k_tar_gz()
    state.files["/UrbanSound8K.tar.gz"] = archive
    serve_us8k_officially(monkeypatch, base, PinnedChecksum("md5", md5(archive), "the test's pin"))
    result = download("us8k", tmp_path)  # no url, no sha256: the pinned MD5 is the check
    assert result.verified and result.checked_with == f"MD5 {md5(archive)} (the test's pin)"
    assert result.sha256 == sha(archive) and (tmp_path / "UrbanSound8K" / "metadata" / "UrbanSound8K.csv").is_file()


def test_an_archive_that_misses_the_pinned_checksum_is_deleted_and_nothing_is_unpacked(server, tmp_path, monkeypatch):
    state, base = server
    archive = us8k_tar_gz()
    state.files["/UrbanSound8K.tar.gz"] = archive
    serve_us8k_officially(monkeypatch, base, PinnedChecksum("md5", "0" * 32, "Zenodo's published MD5"))
    with pytest.raises(ChecksumMismatch) as info:
        download("us8k", tmp_path)
    message = str(info.value)
    assert f"MD5 of the archive from {base}/UrbanSound8K.tar.gz is {md5(archive)}" in message
    assert "expected 00000000000000000000000000000000 (Zenodo's published MD5)" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == [".downloads"] and not any((tmp_path / ".downloads").iterdir())


def test_pins_are_published_values_or_a_stated_reason_and_branch_archives_require_sha256(server, tmp_path):
    """Every official source pins a checksum or says why it cannot; where it cannot, download refuses before any
    request, naming the archive to expect, --sha256 and the manual route through `datasets verify`."""
    for src in SOURCES.values():
        assert (src.checksum is None) != (not src.no_checksum_reason), src.name
        if src.checksum is not None:
            assert src.checksum.algorithm in ("sha256", "md5") and src.checksum.source
            assert len(src.checksum.value) == {"sha256": 64, "md5": 32}[src.checksum.algorithm]
    state, _ = server
    for name in ("esc50", "audiomnist"):
        with pytest.raises(ChecksumRequired) as info:
            download(name, tmp_path)
        message = str(info.value)
        src = SOURCES[name]
        assert src.archive_url in message and "GitHub branch archive" in message and "--sha256 HEX" in message
        assert f"{src.archive_name}, {src.approx_size}" in message
        assert f"datasets verify {name} --data-root DIR" in message
    assert state.ranges == [] and not any(tmp_path.iterdir())


def test_a_pin_belongs_to_the_official_url_and_a_given_sha256_must_be_one(server, tmp_path, monkeypatch):
    state, base = server
    archive = us8k_tar_gz()
    state.files["/mirror.tar.gz"] = archive
    serve_us8k_officially(monkeypatch, base, PinnedChecksum("md5", md5(archive), "pin"))
    with pytest.raises(ChecksumRequired, match="belongs to the official URL only"):
        download("us8k", tmp_path, url=f"{base}/mirror.tar.gz")
    with pytest.raises(ChecksumRequired, match="is not a SHA-256"):
        download("us8k", tmp_path, sha256=md5(archive))
    assert state.ranges == []


def test_the_no_data_root_error_names_the_download_command(monkeypatch):
    monkeypatch.delenv("DFKD_DATA_ROOT", raising=False)
    with pytest.raises(MissingDatasetError) as info:
        DATASETS.get("esc50")(DataConfig())
    message = str(info.value)
    assert "--data-root DIR" in message and "python -m benchmark datasets download NAME --data-root DIR" in message
    assert "esc50, us8k, audiomnist" in message


def assert_no_dataset_under(root: Path) -> None:
    """What `run` and `datasets verify` would see: no dataset at all."""
    for name in SOURCES:
        assert locate_or_none(name, root) is None
    reports = verify_all(root)
    assert [r.dataset for r in reports] == ["all"] and reports[0].problems[0].kind == "dataset not found"


def test_an_interrupted_transfer_leaves_nothing_verify_or_run_would_take(server, tmp_path):
    state, base = server
    archive = esc50_zip()
    state.files["/esc.zip"], state.cut_after = archive, 100_000
    with pytest.raises(DownloadError):
        download("esc50", tmp_path, url=f"{base}/esc.zip", sha256=sha(archive))
    assert_no_dataset_under(tmp_path)
    assert [p.name for p in (tmp_path / ".downloads").iterdir()] == ["esc50-esc.zip.part"]  # only the resumable part


def test_a_failed_or_killed_extraction_leaves_nothing_and_the_rerun_cleans_up(server, tmp_path, monkeypatch):
    state, base = server
    archive = esc50_zip()
    state.files["/esc.zip"] = archive

    def half_then_fail(path, into):  # a full disk midway: the dataset's files, partly written
        (into / "ESC-50-master" / "meta").mkdir(parents=True)
        (into / "ESC-50-master" / "meta" / "esc50.csv").write_text("filename,fold\n")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(download_module, "_extract_all", half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        download("esc50", tmp_path, url=f"{base}/esc.zip", sha256=sha(archive), keep_archive=True)
    assert_no_dataset_under(tmp_path)
    assert not list(tmp_path.glob(".extract-*"))
    # a killed run (no `finally`) leaves its staging folder: hidden, not taken for the dataset, removed by a rerun
    killed = tmp_path / ".extract-esc50-killed"
    (killed / "ESC-50-master" / "meta").mkdir(parents=True)
    (killed / "ESC-50-master" / "meta" / "esc50.csv").write_text("filename,fold\n")
    assert_no_dataset_under(tmp_path)
    monkeypatch.undo()
    result = download("esc50", tmp_path, url=f"{base}/esc.zip", sha256=sha(archive))
    assert result.verified and (tmp_path / "ESC-50" / "audio" / "noise.bin").is_file()
    assert not killed.exists() and len(state.ranges) == 1  # the checked archive was kept, not fetched again
