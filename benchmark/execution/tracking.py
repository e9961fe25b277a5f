"""Optional Weights & Biases tracking: one W&B run per sweep cell, grouped by sweep, plus one run with the reports.

`runs.jsonl` stays the record of truth; W&B is a window onto it. So every wandb call is guarded: a failure is
logged once as a warning and the tracker turns into the no-op variant; it never loses a result or ends a sweep.
A run that cannot even start (no network: wandb waits out its 90 s init timeout) turns tracking off for the rest
of the sweep in that process, with one warning, so a 16-cell sweep does not wait 16 times (and the tables run).
wandb is imported only when tracking is on, so a disabled sweep never pays for (or depends on) it.
"""
from __future__ import annotations

import logging
import numbers
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..reporting.rendering import mel_to_wave, plot_grid
from ..store.record_schema import RunRecord

log = logging.getLogger(__name__)

# wandb's own spellings of each mode (WANDB_MODE accepts "run" and "dryrun" too).
MODES = {"online": "online", "run": "online", "offline": "offline", "dryrun": "offline", "disabled": "disabled"}
AUDIO_CLIPS = 4  # a few clips to listen to; Griffin-Lim makes each cost real CPU time
GRIFFIN_LIM_ITERS = 8
PHASE_COLUMNS = ("seconds", "samples", "steps", "samples_per_s", "ms_per_step")  # of PhaseStats.as_dict()


@dataclass(frozen=True)
class TrackingConfig:
    mode: str = "disabled"  # "online" | "offline" | "disabled"
    project: str = "dfkd-audio-bench"
    entity: str | None = None
    group: str | None = None  # the sweep's id: every cell run of one sweep is in one W&B group
    directory: str | None = None  # where wandb writes its files (wandb's `dir`); None: wandb's default


def resolve_tracking(mode: str | None, project: str | None, entity: str | None, group: str | None,
                     directory: str | None) -> TrackingConfig:
    """Command-line values win over wandb's environment variables (WANDB_MODE/PROJECT/ENTITY), which win over
    the defaults; tracking is off unless asked for."""
    source = "mode"
    if mode is None and os.environ.get("WANDB_MODE"):
        mode, source = os.environ["WANDB_MODE"], "WANDB_MODE"
    key = (mode or "disabled").strip().lower()
    if key not in MODES:
        raise ValueError(f"unknown W&B {source} {mode!r}; valid: " + ", ".join(MODES))
    return TrackingConfig(mode=MODES[key], project=project or os.environ.get("WANDB_PROJECT") or TrackingConfig.project,
                          entity=entity or os.environ.get("WANDB_ENTITY") or None, group=group, directory=directory)


def _warn(what: str, exc: BaseException) -> None:
    log.warning("W&B %s failed (%s: %s); W&B tracking of it is off, results are unaffected",
                what, type(exc).__name__, exc)


def _init_run(cfg: TrackingConfig, name: str, job_type: str | None, config: dict | None = None,
              tags: list[str] | None = None) -> Any:
    """Start a quiet W&B run: no console capture, code, git, system stats or machine metadata, which cost time and
    say nothing the record does not; `finish_previous` so a run a crashed cell left open never leaks into the next."""
    import wandb

    if cfg.directory is not None:
        Path(cfg.directory).mkdir(parents=True, exist_ok=True)
    settings = wandb.Settings(console="off", save_code=False, disable_git=True, silent=True,
                              x_disable_stats=True, x_disable_meta=True, x_disable_machine_info=True)
    return wandb.init(project=cfg.project, entity=cfg.entity, group=cfg.group, name=name, job_type=job_type,
                      config=config, tags=tags, mode=cfg.mode, dir=cfg.directory, reinit="finish_previous",
                      settings=settings)


def _number(value: Any) -> float | int | None:
    """A loggable scalar, or None for anything that is not one (strings, lists, multi-element tensors)."""
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else None
    return value if isinstance(value, numbers.Real) else None


class CellTracker:
    """What a sweep cell talks to. Built without a run (tracking off) or after a W&B failure, it does nothing."""

    def __init__(self, run: Any = None):
        self._run = run

    @property
    def active(self) -> bool:
        return self._run is not None

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        """Run a wandb call; on failure warn once, close the run as failed if possible and go no-op."""
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - tracking must never end a sweep
            _warn(what, exc)
            run, self._run = self._run, None
            if run is not None:  # finish() hands the run off before closing it, so this never closes twice
                with suppress(Exception):
                    run.finish(exit_code=1)

    def log(self, metrics: dict[str, float]) -> None:
        """Per-step training metrics at wandb's own step; values that are not numbers are dropped."""
        if self._run is None:
            return
        with self._guard("log"):
            numeric = {k: n for k, v in metrics.items() if (n := _number(v)) is not None}
            if numeric:
                self._run.log(numeric)

    def log_samples(self, log_mels: torch.Tensor, titles: list[str], frontend) -> None:
        """A grid image of synthesized log-mels (N, n_mels, T) and a few clips inverted to audio (Figure 3)."""
        if self._run is None:
            return
        with self._guard("log_samples"):
            import wandb

            mels = log_mels.detach().float().cpu()
            with tempfile.TemporaryDirectory() as tmp:
                png = Path(tmp) / "samples.png"
                plot_grid(mels, titles, png)
                audio = [wandb.Audio(mel_to_wave(mel, frontend, GRIFFIN_LIM_ITERS), sample_rate=frontend.sample_rate,
                                     caption=title) for mel, title in zip(mels[:AUDIO_CLIPS], titles)]
                self._run.log({"samples/grid": wandb.Image(str(png)), "samples/audio": audio})  # copies the PNG

    def finish(self, record: RunRecord, class_names: list[str] | None) -> None:
        """Final metrics into the run summary, per-class and per-phase tables, then close the run
        (exit code 1 unless the cell is ok, so failed cells stand out in the W&B group)."""
        if self._run is None:
            return
        with self._guard("finish"):
            import wandb

            tables = {}
            if record.test_targets:
                tables["per_class_accuracy"] = wandb.Table(
                    columns=["class", "clips", "correct", "accuracy"],
                    data=per_class_rows(record.test_targets, record.test_predictions, class_names))
            if record.phases:
                tables["phases"] = wandb.Table(columns=["phase", *PHASE_COLUMNS], data=[
                    [phase, *(stats.get(k) for k in PHASE_COLUMNS)] for phase, stats in record.phases.items()])
            if tables:
                self._run.log(tables)
            self._run.summary.update(summary_metrics(record))
        self.close(ok=record.ok)

    def close(self, ok: bool) -> None:
        """Close the run: exit code 0 if ok, else 1. The tracker is a no-op afterwards."""
        if self._run is None:
            return
        with self._guard("finish"):
            run, self._run = self._run, None
            run.finish(exit_code=0 if ok else 1)


def per_class_rows(targets: list[int], predictions: list[int], class_names: list[str] | None) -> list[list]:
    """[class name, clips, correct, accuracy %] per class (accuracy None for a class with no test clips)."""
    n_classes = len(class_names) if class_names else max(max(targets), max(predictions, default=0)) + 1
    names = class_names or [str(c) for c in range(n_classes)]
    clips, correct = [0] * n_classes, [0] * n_classes
    for t, p in zip(targets, predictions):
        clips[t] += 1
        correct[t] += int(t == p)
    return [[names[c], clips[c], correct[c], 100.0 * correct[c] / clips[c] if clips[c] else None]
            for c in range(n_classes)]


def summary_metrics(record: RunRecord) -> dict:
    """The headline numbers of a record, flat, for W&B's run summary (missing values left out)."""
    out = {k: getattr(record, k) for k in ("status", "accuracy", "val_accuracy", "wall_seconds", "peak_memory_mb",
                                           "config_hash", "error")}
    out |= {f"accuracy/{kind}": acc for kind, acc in record.accuracy_by_kind.items()}
    for phase, stats in record.phases.items():
        out |= {f"{phase}/{k}": stats.get(k) for k in ("samples_per_s", "sample_iterations_per_s")}
    return {k: v for k, v in out.items() if v is not None}


# Tracking settings (one per sweep: its group) whose W&B run failed to start in this process: tracking stays off.
_INIT_FAILED: set[TrackingConfig] = set()


def open_cell_tracker(cfg: TrackingConfig, name: str, config: dict, tags: dict[str, str]) -> CellTracker:
    """One W&B run per sweep cell, in the sweep's group; job type is the cell's method (tags["method"]). After one
    run of the sweep failed to start, the others are not tried (each would wait out the same timeout)."""
    if cfg.mode == "disabled" or cfg in _INIT_FAILED:
        return CellTracker()
    try:
        return CellTracker(_init_run(cfg, name, tags.get("method"), config,
                                     [t[:64] for t in map(str, tags.values()) if t]))  # W&B caps tags at 64 chars
    except Exception as exc:  # noqa: BLE001
        _INIT_FAILED.add(cfg)
        log.warning("W&B init of run %r failed (%s: %s); W&B tracking is off for the rest of this sweep (group %s), "
                    "results are unaffected", name, type(exc).__name__, exc, cfg.group)
        return CellTracker()


def log_report_tables(cfg: TrackingConfig, out_dir: Path) -> None:
    """One extra run ("tables") in the sweep's group with the report CSVs (Tables 2 and 3, ...) as W&B tables
    and the leaderboard plots as images, so the group page shows the sweep's results next to its cells."""
    out_dir = Path(out_dir)
    csvs, pngs = sorted(out_dir.glob("*.csv")), sorted(out_dir.glob("leaderboard*.png"))
    if cfg.mode == "disabled" or not (csvs or pngs):
        return
    tracker = open_cell_tracker(cfg, "tables", {"out_dir": str(out_dir)}, {"method": "report"})  # job type "report"
    if not tracker.active:
        return
    with tracker._guard("log_report_tables"):
        import pandas as pd
        import wandb

        media = {p.stem: wandb.Table(dataframe=pd.read_csv(p)) for p in csvs}
        media |= {p.stem: wandb.Image(str(p)) for p in pngs}
        tracker._run.log(media)
    tracker.close(ok=True)
