"""`python -m benchmark plan`: the cost of a grid before it runs (memory, FLOPs, time, fits), no data needed."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from tabulate import tabulate

from methods import GROUPS, TABLE_ORDER, parse_methods

from ..data import DATASETS, PAPER_DATASETS
from ..execution.grid import parse_pairs
from ..planning.plan import Device, plan_grid
from .options import add_preset_arguments, parse_seeds, preset_from_args

NAME = "plan"


def add_parser(sub) -> None:
    p = sub.add_parser("plan", help="price every cell of a grid before running it: memory, FLOPs, time, fits",
                       description="Counts one synthesis, KD or training step of every cell on the meta device "
                                   "(no data, no compute) at the cell's own batch and shapes.")
    p.add_argument("--methods", default="all",
                   help=f"comma list of method names and groups ({', '.join(GROUPS)}); names: {', '.join(TABLE_ORDER)}")
    p.add_argument("--datasets", default=None, help="comma list or 'all' (the paper's three); default: the preset's")
    p.add_argument("--pairs", default=None, help="teacher:student comma list; default: the preset's pairs")
    p.add_argument("--seeds", type=parse_seeds, default=None, help="count or comma list; default: the preset's")
    add_preset_arguments(p)
    p.add_argument("--device-memory", type=float, default=80.0, help="GB of device memory (default 80: H100)")
    p.add_argument("--device-peak-tflops", type=float, default=989.0,
                   help="device peak in TFLOP/s (default 989: H100/H200 SXM bf16 dense)")
    p.add_argument("--efficiency", type=float, default=0.4, help="fraction of the peak reached (default 0.4)")
    p.add_argument("--json", type=Path, default=None, help="also write the cells as a JSON list to this file")


def main(args) -> int:
    preset = preset_from_args(args)
    datasets = DATASETS.parse_list(args.datasets, PAPER_DATASETS) if args.datasets else list(preset.datasets)
    pairs = parse_pairs(args.pairs or ",".join(preset.pairs))
    methods = parse_methods(args.methods)
    seeds = len(args.seeds) if args.seeds is not None else preset.seeds
    device = Device(args.device_memory, args.device_peak_tflops, args.efficiency)
    cells = plan_grid(preset, datasets, pairs, methods, seeds, device)
    rows = [[c.dataset, c.pair, c.method, c.frames, c.batch, c.checkpointing, f"{c.peak_memory_gb:.1f}",
             f"{c.pool_gb:.1f}", f"{c.flops_per_synthesis_step:.3g}", f"{c.flops_per_kd_step:.3g}",
             f"{c.flops_per_cell:.3g}", f"{c.hours_per_cell:.2f}", "yes" if c.fits else f"no (batch {c.largest_batch_that_fits})"]
            for c in cells]
    print(f"plan: preset {preset.name}, {seeds} seed(s) per cell, device {device.memory_gb:g} GB, "
          f"{device.peak_tflops:g} TFLOP/s x {device.efficiency:g}")
    print(tabulate(rows, headers=["dataset", "pair", "method", "frames", "batch", "ckpt", "peak GB", "pool GB",
                                  "FLOPs/synth step", "FLOPs/KD step", "FLOPs/cell", "h/cell", "fits"]))
    total = sum(c.gpu_hours for c in cells)
    print(f"total: {len(cells) * seeds} cells, {total:.1f} GPU-hours; {sum(not c.fits for c in cells)} cell kind(s) "
          f"do not fit (fix: --set data_free.synth_batch=N with the batch shown, or data_free.checkpointing=passes)")
    if args.json:
        args.json.write_text(json.dumps([dataclasses.asdict(c) | {"flops_per_cell": c.flops_per_cell}
                                         for c in cells], indent=1))
    return 0
