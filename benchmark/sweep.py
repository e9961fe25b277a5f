"""The sweep: datasets x teacher->student pairs x methods x seeds, resumable and failure-tolerant.

Finished cells (same grid coordinates and config hash, status ok) are skipped on a rerun;
failed or diverged cells are skipped too unless `retry_failed`. Each record is appended
atomically by this (driver) process as soon as its cell ends, wherever the cell ran, so a
sweep killed at any point loses at most the cells it was running.
"""
from __future__ import annotations

import logging
import time

from methods import METHODS

from .executors import Executor, LocalExecutor, ExecutorOptions
from .grid import SweepSpec, expand_grid, pending_cells
from .jobs import Runtime, prepare_data, teacher_jobs
from .record_schema import RunRecord
from .records import RunStore, locked

log = logging.getLogger("benchmark.sweep")


def run_sweep(spec: SweepSpec, store: RunStore, runtime: Runtime,
              executor: Executor | None = None) -> list[RunRecord]:
    """Run every pending cell; returns the records written by this call."""
    for name in spec.methods:
        METHODS.get(name)
    executor = executor or LocalExecutor(ExecutorOptions())
    written: list[RunRecord] = []
    with locked(store.dir / "sweep"):  # one sweep per results folder at a time
        todo = pending_cells(spec, store)
        log.info("%d cells pending (%d in the grid)", len(todo), len(expand_grid(spec)))
        for name in dict.fromkeys(cell.dataset for cell in todo):
            prepare_data(runtime, name)  # fills the on-disk caches once, before any worker reads them
        start = time.perf_counter()

        def on_record(cell, record: RunRecord) -> None:
            store.append(record)
            written.append(record)
            outcome = f"{record.accuracy:.2f}%" if record.accuracy is not None else (record.error or "")
            log.info("[%d/%d] %s -> %s %s (%.1fs; sweep %.0fs)", len(written), len(todo), cell.label(),
                     record.status, outcome, record.wall_seconds, time.perf_counter() - start)

        executor.run(teacher_jobs(todo), todo, runtime, on_record)
    return written
