"""W&B without a network: after the first run of a sweep fails to start, tracking is off for the
rest of the sweep, with one warning, instead of every cell and the tables step waiting out wandb's init timeout."""
from __future__ import annotations

import logging

import pytest

import benchmark.execution.tracking as tracking
from benchmark.execution.tracking import TrackingConfig, log_report_tables, open_cell_tracker

TAGS = {"dataset": "synth", "method": "kd"}


def test_a_failed_init_turns_tracking_off_for_the_rest_of_the_sweep(tmp_path, monkeypatch, caplog):
    calls = []

    def unreachable(cfg, name, *args, **kwargs):
        calls.append(name)
        raise TimeoutError("Run initialization has timed out after 90.0 sec")  # wandb's words, without the wait

    monkeypatch.setattr(tracking, "_init_run", unreachable)
    cfg = TrackingConfig(mode="online", group="sweep-1", directory=str(tmp_path / "wandb"))
    (tmp_path / "table2.csv").write_text("a,b\n1,2\n")
    with caplog.at_level(logging.WARNING, logger="benchmark.execution.tracking"):
        trackers = [open_cell_tracker(cfg, f"cell {i}", {}, TAGS) for i in range(16)]
        log_report_tables(cfg, tmp_path)
    assert calls == ["cell 0"]  # one wait, not 16 cells + the tables run
    assert not any(t.active for t in trackers)
    (warning,) = [r for r in caplog.records if r.name == "benchmark.execution.tracking"]
    assert "timed out" in warning.getMessage() and "off for the rest of this sweep (group sweep-1)" in warning.getMessage()


def test_another_sweep_tries_again(tmp_path, monkeypatch):
    calls = []

    def unreachable(cfg, name, *args, **kwargs):
        calls.append(cfg.group)
        raise TimeoutError("no network")

    monkeypatch.setattr(tracking, "_init_run", unreachable)
    for group in ("sweep-a", "sweep-a", "sweep-b"):
        open_cell_tracker(TrackingConfig(mode="offline", group=group, directory=str(tmp_path)), "cell", {}, TAGS)
    assert calls == ["sweep-a", "sweep-b"]
