"""`python -m benchmark plan`: the cost of a grid before it runs (memory, FLOPs, time, fits), no data needed; with
`--calibrate`, time one step of each kind on this device first and price every cell from its step counts (a stored
calibration of this device and code is used without --calibrate too)."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from tabulate import tabulate

from methods import GROUPS, TABLE_ORDER, parse_methods

from ..costs.calibration import Calibration, SweepPrice, calibrate, price_sweep, this_device
from ..costs.reference_steps import REFERENCE, TARGETS, ReferenceSteps
from ..data import DATASETS, PAPER_DATASETS
from ..execution.environment import resolve_device
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
    g = p.add_argument_group("priced from measured steps")
    g.add_argument("--calibrate", action="store_true",
                   help="time the steady-state steps of each kind the grid holds on --device (through the cells' "
                        "own code, at their batch and length, in passes that visit every kind in turn; stored and "
                        "reused), then price every cell from their means")
    g.add_argument("--device", default="auto", help="the device a calibration times and prices: auto, cpu or cuda")
    g.add_argument("--data-root", type=Path, default=None, help="folder holding the real datasets (calibration)")
    g.add_argument("--reference", nargs="?", type=Path, const=REFERENCE, default=None, metavar="THROUGHPUT.json",
                   help="price the cells this device has no calibration for from another device's measured steps, "
                        "scaled by each cell's FLOPs and bytes (default file: the committed H200 run); labelled an "
                        "estimate")
    g.add_argument("--target", default="h100", choices=sorted(TARGETS), help="the device --reference prices for")


def main(args) -> int:
    preset = preset_from_args(args)
    datasets = DATASETS.parse_list(args.datasets, PAPER_DATASETS) if args.datasets else list(preset.datasets)
    pairs = parse_pairs(args.pairs or ",".join(preset.pairs))
    methods = parse_methods(args.methods)
    seeds = len(args.seeds) if args.seeds is not None else preset.seeds
    device = Device(args.device_memory, args.device_peak_tflops, args.efficiency)
    cells = plan_grid(preset, datasets, pairs, methods, seeds, device)
    calibration = Calibration.load(*this_device(resolve_device(args.device)))
    if args.calibrate:
        calibrate(preset, datasets, pairs, methods, resolve_device(args.device), calibration, args.data_root)
        print(f"calibration stored: {calibration.save()}")
    reference = ReferenceSteps(args.reference, args.target) if args.reference else None
    priced = price_sweep(preset, datasets, pairs, methods, seeds, lambda *cell: calibration.times(*cell) or (
        reference.times(*cell) if reference else None))
    rows = [[c.dataset, c.pair, c.method, c.frames, c.batch, c.checkpointing, f"{c.peak_memory_gb:.1f}",
             f"{c.pool_gb:.1f}", f"{c.flops_per_synthesis_step:.3g}", f"{c.flops_per_kd_step:.3g}",
             f"{c.flops_per_cell:.3g}", f"{c.hours_per_cell:.2f}", _predicted(priced, c),
             "yes" if c.fits else f"no (batch {c.largest_batch_that_fits})"] for c in cells]
    print(f"plan: preset {preset.name}, {seeds} seed(s) per cell, device {device.memory_gb:g} GB, "
          f"{device.peak_tflops:g} TFLOP/s x {device.efficiency:g}")
    print(tabulate(rows, headers=["dataset", "pair", "method", "frames", "batch", "ckpt", "peak GB", "pool GB",
                                  "FLOPs/synth step", "FLOPs/KD step", "FLOPs/cell", "h/cell (FLOP bound)",
                                  "h/cell (measured steps)", "fits"]))
    total = sum(c.gpu_hours for c in cells)
    print(f"total: {len(cells) * seeds} cells, {total:.1f} GPU-hours as a FLOP bound (FLOPs / (peak x efficiency): "
          f"a lower bound, not a prediction); {sum(not c.fits for c in cells)} cell kind(s) do not fit (fix: --set "
          "data_free.synth_batch=N with the batch shown, or data_free.checkpointing=passes)")
    print(price_line(priced, calibration, reference))
    if args.json:
        args.json.write_text(json.dumps([dataclasses.asdict(c) | {"flops_per_cell": c.flops_per_cell,
                                                                  **_prediction(priced, c, device)}
                                         for c in cells], indent=1))
    return 0


def _predicted(priced: SweepPrice, cell) -> str:
    price = priced.cells.get((cell.dataset, cell.pair, cell.method))
    return duration(price.seconds) if price else "not priced"


def _prediction(priced: SweepPrice, cell, device: Device) -> dict:
    """predicted_seconds per seed, from measured steps where calibrated, else the FLOP bound (labelled)."""
    price = priced.cells.get((cell.dataset, cell.pair, cell.method))
    if price is not None:
        return {"predicted_seconds": price.seconds, "predicted_from": price.predicted_from,
                "predicted_phases": price.phases, "calibration_spread": price.spread}
    return {"predicted_seconds": cell.hours_per_cell * 3600, "predicted_from": "flop-bound"}


def price_line(priced: SweepPrice, calibration: Calibration, reference=None) -> str:
    if not priced.cells:
        return (f"no calibration of {calibration.device} ({calibration.threads} threads) for these cells at this "
                "code: the times above are FLOP bounds; `plan --calibrate` measures the steps here, `--reference` "
                "prices from another device's")
    sources = sorted({price.predicted_from for price in priced.cells.values()})
    where = "; ".join(reference.label() if reference and s.startswith("reference") else
                      f"steps measured on {calibration.device} ({calibration.threads} threads)" for s in sources)
    phases = ", ".join(f"{name} {duration(seconds)}" for name, seconds in sorted(priced.phases.items()))
    missing = f"; {len(priced.uncalibrated)} cell kind(s) not priced" if priced.uncalibrated else ""
    spread = max(price.spread for price in priced.cells.values())
    moved = (f"; priced at each calibration pass's own times, a cell moves by up to {100 * spread:.0f}% (how "
             "steady the device was while it was timed)" if spread > 0 else "")
    return f"predicted from {where}: {duration(priced.seconds)} ({phases}){missing}{moved}"


def duration(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.2f} h"
