"""download(): fetch from a local HTTP server with Range support, resume, checksum, unpack."""
from __future__ import annotations

import argparse
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
from benchmark.data.download import ChecksumMismatch, DownloadError, archive_path, download
from benchmark.data.sources import SOURCES


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


def test_without_checksum_the_cli_prints_the_computed_one(server, tmp_path, capsys):
    state, base = server
    archive = esc50_zip(top="ESC-50")
    state.files["/esc.zip"] = archive
    parser = argparse.ArgumentParser()
    add_datasets_parser(parser.add_subparsers(dest="command"))
    code = run_datasets(parser.parse_args(["datasets", "download", "esc50", "--data-root", str(tmp_path),
                                           "--url", f"{base}/esc.zip"]))
    out = capsys.readouterr().out
    assert code == 0 and f"SHA-256 of the archive: {sha(archive)}" in out and "not checked" in out
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
        download("audiomnist", tmp_path, url=f"{base}/esc.zip")


def test_http_errors_are_reported(server, tmp_path):
    _, base = server
    with pytest.raises(DownloadError, match="HTTP 404"):
        download("esc50", tmp_path, url=f"{base}/missing.zip")


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
