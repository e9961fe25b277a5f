"""Arguments shared by several subcommands: seeds, the preset and its changes, float settings, and the sweep
options (grid, folder, data, executor, W&B) that `run` and `curve` both take, with what they resolve to."""
from __future__ import annotations

import argparse
import dataclasses
import shlex
from datetime import datetime
from pathlib import Path

import torch

from methods import GROUPS, TABLE_ORDER, parse_methods

from ..config.customize import collect_changes, customized
from ..config.presets import PRESETS, Preset
from ..data import DATASETS, PAPER_DATASETS
from ..data.base import add_bad_file_argument, apply_bad_file_choice
from ..execution.executors import EXECUTORS, ExecutorOptions, default_threads, make_executor
from ..execution.grid import SweepSpec, parse_pairs
from ..execution.jobs import Runtime
from ..execution.numerics import Numerics, apply_numerics
from ..execution.placement import Placement, PlacementRequest, packed_jobs, resolve_placement, visible_gpus
from ..execution.tracking import resolve_tracking
from ..planning.fit import largest_cell_gb

DEFAULT_PRESET = "cpu"


def parse_seeds(text: str) -> tuple[int, ...]:
    """'3' means seeds 0,1,2; '0,4,7' names seeds."""
    try:
        seeds = (tuple(int(s) for s in text.split(",") if s.strip()) if "," in text else tuple(range(int(text))))
    except ValueError:
        seeds = ()
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"--seeds takes a positive count (3 -> seeds 0,1,2) or a comma list of "
                                         f"seeds (0,4,7), got {text!r}")
    return seeds


def command_line(args) -> str:
    """The command as typed, recorded with every result that it makes."""
    return "python -m benchmark " + " ".join(shlex.quote(a) for a in args.argv)


def add_preset_arguments(p, default: str = DEFAULT_PRESET) -> None:
    """--preset, and the changes to it: --config FILE.toml then each --set, checked before anything runs."""
    p.add_argument("--preset", default=default, help=f"scale: {', '.join(PRESETS.names())} (default {default})")
    p.add_argument("--config", type=Path, default=None, metavar="FILE.toml",
                   help="changes to the preset: TOML tables named like --set's blocks ([data_free] iterations = 4)")
    p.add_argument("--set", dest="assignments", action="append", default=[], metavar="BLOCK.FIELD=VALUE",
                   help="change one field, repeatable (e.g. adi.input_lr=0.1, data_free.iterations=4, "
                        "supervised.epochs=2, data.synth_clips_per_class=10); blocks: supervised, data_free, data, "
                        "frontend or a method name; recorded in every record and its config hash")


def preset_from_args(args) -> Preset:
    """The named preset with --config and --set applied (each key and type checked)."""
    return customized(PRESETS.get(args.preset), collect_changes(args.config, args.assignments))


def add_results_parser(sub, name: str, help: str):
    """A command that reads OUT/runs.jsonl (default: the committed results/)."""
    p = sub.add_parser(name, help=help)
    p.add_argument("--out", type=Path, default=Path("results"), help="results folder holding runs.jsonl")
    return p


def add_numerics_arguments(p) -> None:
    """--tf32 and --deterministic: how the device rounds (recorded in every record's `numerics`, outside the
    config hash; benchmark.execution.numerics)."""
    g = p.add_argument_group("float settings (CUDA; recorded, not part of the config hash)")
    g.add_argument("--tf32", action="store_true",
                   help="let fp32 matmuls and convolutions use TF32 on CUDA (default: off, fp32 stays fp32)")
    g.add_argument("--deterministic", action="store_true",
                   help="deterministic algorithms only (an operator without one fails its cell, naming itself), "
                        "cuDNN deterministic, CUBLAS_WORKSPACE_CONFIG=:4096:8; two runs of a seed then agree")


def numerics_from_args(args) -> Numerics:
    return Numerics(tf32=args.tf32, deterministic=args.deterministic)


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
    g.add_argument("--cells-per-gpu", default=None, metavar="N|auto",
                   help="local executor on CUDA: N cells at once on each GPU, as separate processes (auto: as many of "
                        "the grid's largest cell as its counted memory lets fit); refused before any work when N do "
                        "not fit; records say the GPU was shared")
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


def placement_of(args) -> Placement:
    """The workers' device and GPU share the flags ask for, or a PlacementError naming the contradiction."""
    EXECUTORS.get(args.executor)  # an unknown executor is named first
    return resolve_placement(PlacementRequest(args.executor, args.device, args.gpus_per_cell, args.ray_address,
                                              torch.cuda.is_available()))


def executor_and_runtime(args, spec, command: str):
    """The executor and the per-job runtime (device, threads, tracking, numerics) the flags ask for; flags
    that contradict each other or the machine are a PlacementError here, before any work."""
    placement = placement_of(args)
    jobs = args.jobs
    if getattr(args, "cells_per_gpu", None) is not None:
        gpus = visible_gpus()
        gpu_gb = getattr(args, "device_memory", None) or (torch.cuda.get_device_properties(0).total_memory / 1e9
                                                          if gpus else 0.0)
        jobs, packing = packed_jobs(args.cells_per_gpu, args.executor, placement.device, args.jobs,
                                    largest_cell_gb(spec), gpu_gb, len(gpus))
        print(packing.describe(), flush=True)
    options = ExecutorOptions(jobs=jobs, ray_address=args.ray_address, cpus_per_cell=args.cpus_per_cell,
                              gpus_per_cell=placement.gpus_per_cell)
    executor = make_executor(args.executor, options)
    numerics = numerics_from_args(args)
    apply_numerics(numerics)  # this process too: it prepares data, and runs the jobs with --jobs 1
    group = args.wandb_group or f"{spec.preset.name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    tracking = resolve_tracking(args.wandb, args.wandb_project, args.wandb_entity, group, str(args.out))
    threads = args.threads or default_threads(args.executor, options)
    return executor, Runtime(spec, placement.device, command, threads, args.executor, tracking, numerics,
                             placement.gpus_per_cell)
