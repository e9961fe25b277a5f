"""The sweep: datasets x teacher->student pairs x methods x seeds, resumable and failure-tolerant.

Finished cells (same grid coordinates and config hash, status ok) are skipped on a rerun;
failed or diverged cells are skipped too unless `retry_failed`. Each record is appended
atomically by this (driver) process as soon as its cell ends, wherever the cell ran, so a
sweep killed at any point loses at most the cells it was running. A name given twice (--seeds 0,0,
--methods kd,kd) runs once. A second sweep into a busy folder says so and waits, or exits (`wait=False`).
"""
from __future__ import annotations

import dataclasses
import logging
import time

from methods import build_method, method_config

from ..store.record_schema import RunRecord
from ..store.records import RunStore, sweep_lock
from .executors import Executor, LocalExecutor, ExecutorOptions
from .grid import SweepSpec, expand_grid, pending_cells
from .jobs import Runtime, prepare_data, teacher_jobs

log = logging.getLogger(__name__)


def without_repeats(spec: SweepSpec) -> SweepSpec:
    """The spec with each dataset, pair, method and seed once (first-seen order), so a name given twice does
    not run its cells twice and write duplicate records for one cell."""
    return dataclasses.replace(spec, **{name: tuple(dict.fromkeys(getattr(spec, name)))
                                        for name in ("datasets", "pairs", "methods", "seeds")})


def check_method_settings(spec: SweepSpec) -> None:
    """Every method of the grid built with its final settings and asked to check them (an unknown name fails
    with the valid ones; e.g. Fast's warm-up >= rounds fails naming both), before any work."""
    for name in spec.methods:
        build_method(name, method_config(name, spec.preset)).check_settings()


def run_sweep(spec: SweepSpec, store: RunStore, runtime: Runtime,
              executor: Executor | None = None, wait: bool = True) -> list[RunRecord]:
    """Run every pending cell; returns the records written by this call. If another sweep holds the folder,
    wait for it (saying so), or raise `FolderBusy` when not `wait`."""
    spec = without_repeats(spec)
    check_method_settings(spec)  # unknown names and contradictory settings, for run and curve alike
    executor = executor or LocalExecutor(ExecutorOptions())
    written: list[RunRecord] = []
    with sweep_lock(store.dir, wait):  # one sweep per results folder at a time
        # Every dataset is prepared (fills the on-disk caches once, before any worker reads them) before the
        # pending cells are known: a finished cell counts only if it was made on the same data (its data key).
        data_keys = {name: prepare_data(runtime, name).features_key for name in spec.datasets}
        todo = pending_cells(spec, store, data_keys)
        log.info("%d cells pending (%d in the grid)", len(todo), len(expand_grid(spec)))
        start = time.perf_counter()

        def on_record(cell, record: RunRecord) -> None:
            store.append(record)
            written.append(record)
            outcome = f"{record.accuracy:.2f}%" if record.accuracy is not None else (record.error or "")
            log.info("[%d/%d] %s -> %s %s (%.1fs; sweep %.0fs)", len(written), len(todo), cell.label(),
                     record.status, outcome, record.wall_seconds, time.perf_counter() - start)

        executor.run(teacher_jobs(todo), todo, runtime, on_record)
    return written
