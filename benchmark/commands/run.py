"""`python -m benchmark run`: sweep datasets x teacher->student pairs x methods x seeds into
OUT/runs.jsonl, then write the reports and print the answer (Table 2/3, verdicts, the check
against the committed reference bounds)."""
from __future__ import annotations

import dataclasses
import time
from datetime import datetime
from pathlib import Path

import torch

from methods import GROUPS, METHODS, TABLE_ORDER, parse_methods

from ..checkpoints.teacher_source import check_teacher_fits, open_teacher_checkpoint, teacher_pairs
from ..costs.cost_estimate import refuse_if_expensive
from ..data import DATASETS, PAPER_DATASETS
from ..data.base import add_bad_file_argument, apply_bad_file_choice
from ..execution.executors import EXECUTORS, ExecutorOptions, default_threads, make_executor
from ..execution.grid import SweepSpec, expand_grid, parse_pairs
from ..execution.jobs import Runtime
from ..execution.placement import Placement, PlacementRequest, resolve_placement
from ..execution.sweep import run_sweep
from ..floor import with_floor
from ..numerics import apply_numerics
from ..planning.fit import cell_memory_gb, check_grid_fits
from ..presets import PRESETS
from ..reporting.reports import write_all
from ..reporting.summary import run_summary, skipped_files_lines
from ..store.records import RunStore, ensure_writable_dir
from ..store.settings import check_not_mixed, setting_name, setting_of
from ..tracking import log_report_tables, resolve_tracking
from .options import (add_numerics_arguments, add_preset_arguments, command_line, numerics_from_args, parse_seeds,
                      preset_from_args)

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


def add_sweep_arguments(p, methods: str, out: str) -> None:
    """What a sweep needs: the grid, the preset and its changes, the folder, data, device, executor, W&B."""
    p.add_argument("--methods", default=methods,
                   help=f"comma list of method names and groups ({', '.join(GROUPS)}; `list methods` shows "
                        f"them); names: {', '.join(TABLE_ORDER)}")
    p.add_argument("--datasets", default=None,
                   help="comma list; 'all' = the paper's three (esc50, us8k, audiomnist); default: the preset's "
                        "(synth for smoke/cpu)")
    p.add_argument("--pairs", default=None, help="teacher:student comma list; default: the preset's pairs")
    p.add_argument("--seeds", type=parse_seeds, default=None, help="count N (seeds 0..N-1) or comma list; "
                                                                   "default: the preset's")
    add_preset_arguments(p)
    p.add_argument("--out", type=Path, default=Path(out),
                   help=f"results folder (default: {out}; runs/ is git-ignored, the committed reference is results/)")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda")
    p.add_argument("--data-root", type=Path, default=None,
                   help="folder holding ESC-50/, UrbanSound8K/, AudioMNIST/ (default: $DFKD_DATA_ROOT)")
    p.add_argument("--protocol", default=None,
                   help="real datasets: 'paper' (the paper's held-out split; default) or 'fold<k>' to test on "
                        "official fold k (ESC-50 1-5, UrbanSound8K 1-10, AudioMNIST 1-5) for k-fold CV")
    add_bad_file_argument(p)
    p.add_argument("--retry-failed", action="store_true", help="rerun cells whose last record failed or diverged")
    p.add_argument("--no-wait", action="store_true", help="exit at once if another sweep holds OUT (default: wait)")
    p.add_argument("--allow-expensive", action="store_true",
                   help="run even if the changed settings make the sweep more than 100x the preset's estimated work "
                        "on the same cells (refused by default, before anything runs)")
    add_executor_arguments(p)
    add_numerics_arguments(p)
    add_tracking_arguments(p)


def add_executor_arguments(p) -> None:
    g = p.add_argument_group("where cells run")
    g.add_argument("--executor", default="local",
                   help=f"{', '.join(EXECUTORS.names())} (default local). Teachers are trained first, then cells; "
                        "records always go to OUT/runs.jsonl from this process")
    g.add_argument("--jobs", type=int, default=1,
                   help="local executor: worker processes (default 1: in-process); on CUDA worker i uses GPU i mod "
                        "the GPU count")
    g.add_argument("--ray-address", default=None,
                   help="ray executor: cluster address (e.g. ray://head:10001 or auto); default: start Ray locally")
    g.add_argument("--cpus-per-cell", type=float, default=1.0, help="ray executor: CPUs each task asks for")
    g.add_argument("--gpus-per-cell", type=float, default=None,
                   help="ray executor: GPUs each task asks for; default 1 (a whole GPU) with CUDA, else 0; a "
                        "fraction shares a GPU with no memory limit between cells (recorded as gpu_shared)")
    g.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads per cell (recorded; results depend slightly on it); default: all cores "
                        "in-process, cores/jobs with --jobs, the task's CPUs on Ray")


def add_tracking_arguments(p) -> None:
    g = p.add_argument_group("Weights & Biases")
    g.add_argument("--wandb", default=None, choices=["online", "offline", "disabled"],
                   help="one W&B run per cell, grouped by sweep (default: $WANDB_MODE, else disabled); local "
                        "records stay the source of truth")
    g.add_argument("--wandb-project", default=None, help="W&B project (default: $WANDB_PROJECT or dfkd-audio-bench)")
    g.add_argument("--wandb-entity", default=None, help="W&B entity (default: $WANDB_ENTITY)")
    g.add_argument("--wandb-group", default=None, help="W&B group of this sweep's runs (default: preset + time)")


def sweep_spec(args):
    """The sweep `run`'s arguments ask for (names checked against the registries)."""
    preset = preset_from_args(args)
    if args.protocol:
        preset = dataclasses.replace(preset, data=dataclasses.replace(preset.data, protocol=args.protocol))
    preset = apply_bad_file_choice(preset, args.on_bad_file)
    datasets = (DATASETS.parse_list(args.datasets, PAPER_DATASETS) if args.datasets else list(preset.datasets))
    return SweepSpec(
        preset=preset,
        datasets=tuple(datasets),
        pairs=parse_pairs(args.pairs) if args.pairs else parse_pairs(",".join(preset.pairs)),
        methods=tuple(parse_methods(args.methods)),
        seeds=args.seeds if args.seeds is not None else tuple(range(preset.seeds)),
        data_root=args.data_root,
        retry_failed=args.retry_failed,
    )


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
    start = time.perf_counter()
    written = run_sweep(spec, store, runtime, executor, wait=not args.no_wait)
    failed = [r for r in written if not r.ok]
    print(f"{len(written)} cells run in {time.perf_counter() - start:.1f}s ({len(failed)} not ok); "
          f"records: {store.path}")
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


def placement_of(args) -> Placement:
    """The workers' device and GPU share the flags ask for, or a PlacementError naming the contradiction."""
    EXECUTORS.get(args.executor)  # an unknown executor is named first
    return resolve_placement(PlacementRequest(args.executor, args.device, args.gpus_per_cell, args.ray_address,
                                              torch.cuda.is_available()))


def executor_and_runtime(args, spec, command: str):
    """The executor and the per-job runtime (device, threads, tracking, numerics) the flags ask for; flags
    that contradict each other or the machine are a PlacementError here, before any work."""
    placement = placement_of(args)
    options = ExecutorOptions(jobs=args.jobs, ray_address=args.ray_address, cpus_per_cell=args.cpus_per_cell,
                              gpus_per_cell=placement.gpus_per_cell)
    executor = make_executor(args.executor, options)
    numerics = numerics_from_args(args)
    apply_numerics(numerics)  # this process too: it prepares data, and runs the jobs with --jobs 1
    group = args.wandb_group or f"{spec.preset.name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    tracking = resolve_tracking(args.wandb, args.wandb_project, args.wandb_entity, group, str(args.out))
    threads = args.threads or default_threads(args.executor, options)
    return executor, Runtime(spec, placement.device, command, threads, args.executor, tracking, numerics,
                             placement.gpus_per_cell)
