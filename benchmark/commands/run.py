"""`python -m benchmark run`: sweep datasets x teacher->student pairs x methods x seeds into
OUT/runs.jsonl, then write the reports and print the answer (Table 2/3, verdicts, the check
against the committed reference bounds)."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import torch

from methods import with_floor

from ..checkpoints.teacher_source import check_teacher_fits, open_teacher_checkpoint, teacher_pairs
from ..config.presets import PRESETS
from ..costs.calibration import comparison_lines, forecast, forecast_line
from ..costs.cost_estimate import refuse_if_expensive
from ..execution.grid import SweepSpec, expand_grid
from ..execution.sweep import run_sweep
from ..execution.tracking import log_report_tables
from ..planning.fit import cell_memory_gb, check_grid_fits
from ..reporting.reports import write_all
from ..reporting.summary import run_summary, skipped_files_lines
from ..store.records import RunStore, ensure_writable_dir
from ..store.settings import check_not_mixed, setting_name, setting_of
from .options import add_sweep_arguments, command_line, executor_and_runtime, placement_of, sweep_spec

NAME = "run"


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="run a sweep and append its records to OUT/runs.jsonl",
                       description="Sweep datasets x teacher->student pairs x methods x seeds. Finished cells are "
                                   "skipped, so an interrupted sweep resumes where it stopped.")
    add_sweep_arguments(p, methods="all", out="runs")
    p.add_argument("--no-tables", action="store_true", help="do not regenerate tables after the sweep")
    p.add_argument("--device-memory", type=float, default=None, metavar="GB",
                   help="memory a cell may use, checked against each cell's counted peak before the sweep starts "
                        "(default: the GPU's memory, or the memory available on a CPU machine)")
    p.add_argument("--allow-mixed", action="store_true",
                   help="add records of another preset (or other --set/--config changes) to a folder that holds some; "
                        "reports show each setting separately")
    add_model_arguments(p)


def add_model_arguments(p) -> None:
    """Teachers in, students out, and the floor beside the data-free rows."""
    g = p.add_argument_group("teachers and students as files")
    g.add_argument("--save-models", type=Path, default=None, metavar="DIR",
                   help="write every ok cell's model and the teacher it used as checkpoints: "
                        "DIR/<dataset>/<teacher>-<student>/<method>-seed<k>.pt (teacher-seed<k>.pt), each with a "
                        "JSON sidecar; load one with benchmark.load_student(path)")
    g.add_argument("--teacher-checkpoint", type=Path, default=None, metavar="FILE",
                   help="use this teacher (a checkpoint of --save-models) for every cell instead of training one; "
                        "its SHA-256 goes into every record and config hash")
    g.add_argument("--no-floor", action="store_true",
                   help="do not add the kd-noise floor to a run with data-free methods (added by default, so every "
                        "data-free row has its margin over it)")


def with_models(spec: SweepSpec, args) -> SweepSpec:
    """The spec with the floor (unless --no-floor), the given teacher (checked against the sweep before any
    work) and where models go."""
    if not args.no_floor:
        spec = dataclasses.replace(spec, methods=with_floor(spec.methods))
    if args.save_models is not None:
        ensure_writable_dir(args.save_models)
        spec = dataclasses.replace(spec, save_models=args.save_models.resolve())
    if args.teacher_checkpoint is not None:
        ref = open_teacher_checkpoint(args.teacher_checkpoint)
        spec = dataclasses.replace(spec, teacher_checkpoint=ref,
                                   pairs=teacher_pairs(ref, spec.pairs, given=args.pairs is not None))
        check_teacher_fits(ref, spec)
    return spec


def main(args) -> int:
    spec = sweep_spec(args)
    placement = placement_of(args)  # contradictory device/executor/GPU flags: one line naming them, first
    spec = with_models(spec, args)  # a teacher checkpoint that does not fit: named before any work
    refuse_if_expensive(spec, PRESETS.get(args.preset), args.allow_expensive)  # before anything runs
    memory = cell_memory_gb(placement.device, args.device_memory)
    if memory is not None:
        check_grid_fits(spec, memory)  # every cell's counted step against the device, before any work
    ensure_writable_dir(args.out)  # a file or read-only --out: a message now, not a traceback later
    store = RunStore(args.out)
    setting = setting_name(spec.preset.name, spec.preset.overrides, spec.teacher_hash)
    if not args.allow_mixed:
        check_not_mixed(store.read_records(), setting, args.out)
    command = command_line(args)
    executor, runtime = executor_and_runtime(args, spec, command)
    priced, calibration = forecast(spec, torch.device(runtime.device), runtime.threads)
    print(forecast_line(priced, calibration), flush=True)
    start = time.perf_counter()
    written = run_sweep(spec, store, runtime, executor, wait=not args.no_wait)
    failed = [r for r in written if not r.ok]
    wall = time.perf_counter() - start
    print(f"{len(written)} cells run in {wall:.1f}s ({len(failed)} not ok); records: {store.path}")
    for line in comparison_lines(priced, written, wall):
        print(line)
    for r in failed:
        print(f"  {r.status}: {r.dataset} {r.pair} {r.method} seed={r.seed}: {r.error}")
    if args.no_tables:  # the summary below lists skipped files otherwise
        for line in skipped_files_lines(written, store.path):
            print(line)
    else:
        write_all(args.out)
        log_report_tables(runtime.tracking, args.out)
        cells = {(c.dataset, c.teacher, c.student, c.method, c.seed) for c in expand_grid(spec)}
        records = [r for r in store.latest_by_cell().values()
                   if (r.dataset, r.teacher, r.student, r.method, r.seed) in cells and setting_of(r) == setting]
        print(run_summary(args.out, records, spec.preset.name, time.perf_counter() - start))
    return 0


