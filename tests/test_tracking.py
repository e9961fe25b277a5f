"""W&B tracking: offline runs are read back from the files wandb writes, so each test checks what W&B would show.

wandb 0.31 writes an offline run as `<dir>/wandb/offline-run-*/run-<id>.wandb`, a LevelDB-style log of protobuf
`Record`s (the client no longer ships a reader), and media/table files under `files/`; `read_offline_run` parses both.
"""
from __future__ import annotations

import json
import logging
import struct
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from benchmark.core.features import FrontEndConfig
from benchmark.execution.tracking import (CellTracker, TrackingConfig, log_report_tables, open_cell_tracker,
                                          resolve_tracking)
from benchmark.store.record_schema import RunRecord

wandb = pytest.importorskip("wandb")
from wandb.proto import wandb_internal_pb2  # noqa: E402

HEADER, BLOCK = 7, 32768  # ":W&B" + magic (2 bytes) + version; LevelDB log blocks
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
FRONTEND = FrontEndConfig(sample_rate=16000, n_fft=512, win_length=400, hop_length=320, n_mels=16)
CLASSES = ["chirp", "hum"]
CONFIG = {"preset": "smoke", "method": {"name": "kd", "lr": 0.003, "steps": [1, 2]}, "frontend": {"n_mels": 16}}
TAGS = {"dataset": "synth", "pair": "wrn16_2_tiny:wrn10_2_tiny", "method": "kd", "seed": "0"}
RECORD = RunRecord.from_dict({
    "dataset": "synth", "teacher": "wrn16_2_tiny", "student": "wrn10_2_tiny", "pair": "wrn16_2_tiny:wrn10_2_tiny",
    "method": "kd", "seed": 0, "preset": "smoke", "status": "ok", "accuracy": 60.0, "val_accuracy": 70.0,
    "accuracy_by_kind": {"TD": 50.0, "TID": 66.66},
    "phases": {"distill": {"seconds": 2.0, "samples": 400, "steps": 10, "samples_per_s": 200.0, "ms_per_step": 200.0},
               "synthesis": {"seconds": 4.0, "samples": 64, "steps": 8, "samples_per_s": 16.0, "ms_per_step": 500.0,
                             "sample_iterations_per_s": 128.0}},
    "wall_seconds": 7.5, "peak_memory_mb": 321.0, "config_hash": "abc123", "error": None,
    "test_targets": [0, 0, 1, 1, 1], "test_predictions": [0, 1, 1, 1, 0],
})


@dataclass
class OfflineRun:
    files: Path
    run: wandb_internal_pb2.RunRecord | None = None
    config: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    exit_code: int | None = None

    def table(self, value: dict) -> dict:
        """The {columns, data} of a logged wandb.Table, from its history/summary entry."""
        assert value["_type"] == "table-file"
        return json.loads((self.files / value["path"]).read_text())


def _records(path: Path):
    """Protobuf payloads of a LevelDB log: 32 KiB blocks of [crc32c, length, type] chunks (CRC not checked)."""
    data, pos, parts = path.read_bytes(), HEADER, b""
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        if BLOCK - pos % BLOCK < 7:  # block trailer too short for a chunk header: padding
            pos += BLOCK - pos % BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind == FULL:
            yield chunk
        elif kind == FIRST:
            parts = chunk
        elif kind == MIDDLE:
            parts += chunk
        elif kind == LAST:
            yield parts + chunk


def _put(target: dict, item) -> None:
    keys = list(item.nested_key) or [item.key]
    for k in keys[:-1]:
        target = target.setdefault(k, {})
    target[keys[-1]] = json.loads(item.value_json)


def read_offline_run(directory: Path, timeout: float = 15.0) -> OfflineRun:
    """The run's records once its exit record is on disk: wandb-core writes the log in the background, so
    `run.finish()` can return before the file is complete (seen: only the header, then all of it 0.5 s later)."""
    deadline = time.monotonic() + timeout
    while (run := _parse_offline_run(directory)).exit_code is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return run


def _parse_offline_run(directory: Path) -> OfflineRun:
    (run_dir,) = (directory / "wandb").glob("offline-run-*")
    return parse_run_dir(run_dir)


def parse_run_dir(run_dir: Path) -> OfflineRun:
    (log_file,) = run_dir.glob("run-*.wandb")
    out = OfflineRun(files=run_dir / "files")
    for raw in _records(log_file):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(raw)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            out.run = record.run
            for item in record.run.config.update:
                _put(out.config, item)
        elif kind == "config":
            for item in record.config.update:
                _put(out.config, item)
        elif kind == "history":
            row: dict = {}
            for item in record.history.item:
                _put(row, item)
            out.history.append(row)
        elif kind == "summary":
            for item in record.summary.update:
                _put(out.summary, item)
        elif kind == "exit":
            out.exit_code = record.exit.exit_code
    return out


def offline(directory: Path, group: str = "sweep-1") -> TrackingConfig:
    return TrackingConfig(mode="offline", project="test-project", group=group, directory=str(directory))


def tracking_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "benchmark.execution.tracking"]  # wandb logs plenty of its own


@pytest.fixture(scope="module")
def cell_run(tmp_path_factory) -> OfflineRun:
    """One offline cell run through the whole tracker API (one wandb init for all the tests that read it)."""
    directory = tmp_path_factory.mktemp("wandb-cell")
    tracker = open_cell_tracker(offline(directory), "synth kd seed=0", CONFIG, TAGS)
    assert tracker.active
    for step in range(3):
        tracker.log({"round": step, "kd_loss": 1.0 / (step + 1), "synth/bn": torch.tensor(2.0 * step), "note": "x"})
    torch.manual_seed(0)
    tracker.log_samples(torch.randn(3, 16, 20) - 5, ["0: hum (90%)", "1: chirp (60%)", "2: hum (55%)"], FRONTEND)
    tracker.finish(RECORD, CLASSES)
    assert not tracker.active
    return read_offline_run(directory)


def test_cell_run_identity_and_config(cell_run):
    run = cell_run.run
    assert (run.project, run.run_group, run.display_name, run.job_type) == ("test-project", "sweep-1",
                                                                             "synth kd seed=0", "kd")
    assert set(run.tags) == set(TAGS.values())
    assert cell_run.config["method"] == CONFIG["method"]
    assert cell_run.config["preset"] == "smoke" and cell_run.config["frontend"] == {"n_mels": 16}


def test_cell_run_history_has_the_logged_metrics(cell_run):
    rows = [r for r in cell_run.history if "kd_loss" in r]
    assert [r["round"] for r in rows] == [0, 1, 2]
    assert [r["kd_loss"] for r in rows] == pytest.approx([1.0, 0.5, 1 / 3])
    assert [r["synth/bn"] for r in rows] == pytest.approx([0.0, 2.0, 4.0])
    assert not any("note" in r for r in cell_run.history)  # non-numeric values are dropped


def test_cell_run_summary_and_exit_code(cell_run):
    s = cell_run.summary
    assert s["accuracy"] == 60.0 and s["val_accuracy"] == 70.0 and s["status"] == "ok"
    assert s["accuracy/TD"] == 50.0 and s["accuracy/TID"] == 66.66
    assert s["wall_seconds"] == 7.5 and s["peak_memory_mb"] == 321.0
    assert s["distill/samples_per_s"] == 200.0 and s["synthesis/sample_iterations_per_s"] == 128.0
    assert "error" not in s
    assert cell_run.exit_code == 0


def test_cell_run_tables(cell_run):
    per_class = cell_run.table(cell_run.summary["per_class_accuracy"])
    assert per_class["columns"] == ["class", "clips", "correct", "accuracy"]
    assert per_class["data"] == [["chirp", 2, 1, 50.0], ["hum", 3, 2, pytest.approx(200 / 3)]]
    phases = cell_run.table(cell_run.summary["phases"])
    assert phases["columns"][:3] == ["phase", "seconds", "samples"]
    assert [row[0] for row in phases["data"]] == ["distill", "synthesis"]
    assert phases["data"][1][4] == 16.0


def test_cell_run_samples_image_and_audio(cell_run):
    (row,) = [r for r in cell_run.history if "samples/grid" in r]
    image = row["samples/grid"]
    assert image["_type"] == "image-file" and (cell_run.files / image["path"]).stat().st_size > 1000
    audio = row["samples/audio"]
    assert audio["_type"] == "audio" and audio["count"] == 3
    assert audio["captions"][1] == "1: chirp (60%)"
    clips = [cell_run.files / clip["path"] for clip in audio["audio"]]
    assert all(clip.suffix == ".wav" and clip.stat().st_size > 1000 for clip in clips)


def test_failed_cell_exits_1_with_its_error(tmp_path):
    failed = RunRecord.from_dict(RECORD.to_dict() | {
        "status": "failed", "accuracy": None, "val_accuracy": None, "accuracy_by_kind": {}, "test_targets": [],
        "test_predictions": [], "error": "DivergedError: non-finite loss"})
    open_cell_tracker(offline(tmp_path), "cell", CONFIG, TAGS).finish(failed, CLASSES)
    run = read_offline_run(tmp_path)
    assert run.exit_code == 1
    assert run.summary["status"] == "failed" and run.summary["error"] == "DivergedError: non-finite loss"
    assert "accuracy" not in run.summary and "per_class_accuracy" not in run.summary
    assert "phases" in run.summary


def test_resolve_tracking_env_and_flags(monkeypatch):
    for var in ("WANDB_MODE", "WANDB_PROJECT", "WANDB_ENTITY"):
        monkeypatch.delenv(var, raising=False)
    assert resolve_tracking(None, None, None, None, None) == TrackingConfig()
    monkeypatch.setenv("WANDB_MODE", "dryrun")
    monkeypatch.setenv("WANDB_PROJECT", "p-env")
    monkeypatch.setenv("WANDB_ENTITY", "e-env")
    cfg = resolve_tracking(None, None, None, "g", "/tmp/x")
    assert cfg == TrackingConfig(mode="offline", project="p-env", entity="e-env", group="g", directory="/tmp/x")
    assert resolve_tracking("online", "p", "e", None, None) == TrackingConfig("online", "p", "e")
    monkeypatch.setenv("WANDB_MODE", "run")
    assert resolve_tracking(None, None, None, None, None).mode == "online"
    assert resolve_tracking("disabled", None, None, None, None).mode == "disabled"


def test_resolve_tracking_rejects_bad_modes(monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    with pytest.raises(ValueError, match=r"'sometimes'.*online, .*offline, .*disabled"):
        resolve_tracking("sometimes", None, None, None, None)
    monkeypatch.setenv("WANDB_MODE", "bogus")
    with pytest.raises(ValueError, match="WANDB_MODE 'bogus'"):
        resolve_tracking(None, None, None, None, None)


def test_disabled_does_nothing_and_never_imports_wandb(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "wandb", None)  # any `import wandb` now raises ImportError
    cfg = TrackingConfig(mode="disabled", directory=str(tmp_path / "wb"))
    tracker = open_cell_tracker(cfg, "cell", CONFIG, TAGS)
    assert not tracker.active
    tracker.log({"round": 1, "kd_loss": 0.5})
    tracker.log_samples(torch.randn(2, 16, 20), ["a", "b"], FRONTEND)
    tracker.finish(RECORD, CLASSES)
    (tmp_path / "table2.csv").write_text("a,b\n1,2\n")
    log_report_tables(cfg, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table2.csv"]
    assert not tracking_records(caplog)


def test_init_failure_gives_a_no_op_tracker_and_a_warning(tmp_path, monkeypatch, caplog):
    def refuse(*args, **kwargs):
        raise RuntimeError("no W&B today")

    monkeypatch.setattr(wandb, "init", refuse)
    with caplog.at_level(logging.WARNING, logger="benchmark.execution.tracking"):
        tracker = open_cell_tracker(offline(tmp_path), "cell", CONFIG, TAGS)
        tracker.log({"round": 1})
        tracker.finish(RECORD, CLASSES)
    assert isinstance(tracker, CellTracker) and not tracker.active
    (warning,) = tracking_records(caplog)
    assert warning.levelno == logging.WARNING and "init" in warning.getMessage()
    assert "no W&B today" in warning.getMessage()


def test_log_failure_turns_the_tracker_off_once(tmp_path, monkeypatch, caplog):
    tracker = open_cell_tracker(offline(tmp_path), "cell", CONFIG, TAGS)
    assert tracker.active

    def broken_log(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(wandb.sdk.wandb_run.Run, "log", broken_log)
    with caplog.at_level(logging.WARNING, logger="benchmark.execution.tracking"):
        tracker.log({"round": 1})
        tracker.log({"round": 2})
        tracker.log_samples(torch.randn(2, 16, 20), ["a", "b"], FRONTEND)
        tracker.finish(RECORD, CLASSES)
    assert not tracker.active
    (warning,) = tracking_records(caplog)
    assert "log" in warning.getMessage() and "disk full" in warning.getMessage()
    assert read_offline_run(tmp_path).exit_code == 1  # the abandoned run was closed as failed


def test_log_report_tables(tmp_path):
    reports, wb = tmp_path / "results", tmp_path / "wb"
    reports.mkdir()
    (reports / "table2.csv").write_text("dataset,pair,KD,FRAMI\nsynth,a:b,83.06 ± 6.25 (n=3),19.44\n")
    plt.imsave(reports / "leaderboard_ranking.png", np.random.default_rng(0).random((20, 30)))
    log_report_tables(offline(wb, group="sweep-2"), reports)
    run = read_offline_run(wb)
    assert (run.run.display_name, run.run.job_type, run.run.run_group) == ("tables", "report", "sweep-2")
    table = run.table(run.summary["table2"])
    assert table["columns"] == ["dataset", "pair", "KD", "FRAMI"]
    assert table["data"] == [["synth", "a:b", "83.06 ± 6.25 (n=3)", 19.44]]
    assert run.summary["leaderboard_ranking"]["_type"] == "image-file"
    assert run.exit_code == 0


def test_log_report_tables_without_reports_is_a_no_op(tmp_path):
    log_report_tables(offline(tmp_path / "wb"), tmp_path)
    assert not (tmp_path / "wb").exists()


def test_an_offline_sweep_logs_one_run_per_cell_and_the_tables(tmp_path):
    """End to end through the CLI: records stay in runs.jsonl; W&B gets a run per cell (with its losses,
    samples for the data-free cell, final accuracy) and one run with the report tables, all in one group."""
    from benchmark.cli import main
    from benchmark.store.records import RunStore

    out = tmp_path / "res"
    assert main(["run", "--preset", "smoke", "--methods", "teacher,cmi", "--seeds", "1", "--pairs",
                 "wrn16_2_tiny:wrn10_2_tiny", "--out", str(out), "--wandb", "offline", "--wandb-group", "g1",
                 "--no-floor"]) == 0
    records = {r["method"]: r for r in RunStore(out).read()}
    assert set(records) == {"teacher", "cmi"} and all(r["status"] == "ok" for r in records.values())
    deadline = time.monotonic() + 15
    while True:
        runs = [parse_run_dir(d) for d in sorted((out / "wandb").glob("offline-run-*"))]
        if all(r.exit_code is not None for r in runs) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    by_job = {r.run.job_type: r for r in runs}
    assert sorted(by_job) == ["cmi", "report", "teacher"] and {r.run.run_group for r in runs} == {"g1"}
    cmi = by_job["cmi"]
    assert cmi.summary["accuracy"] == pytest.approx(records["cmi"]["accuracy"])
    assert cmi.summary["config_hash"] == records["cmi"]["config_hash"]
    assert any("synth/bn" in row and "kd_loss" in row for row in cmi.history)  # per-round losses
    assert any("samples/grid" in row for row in cmi.history)  # what the method synthesized
    assert "table2" in {k for row in by_job["report"].history for k in row}
