"""`python -m benchmark throughput`: time one step of each method's phases; OUT/throughput.{json,md}."""
from __future__ import annotations

import json
import os
from pathlib import Path

from methods import GROUPS, TABLE_ORDER, parse_methods

from ..costs.throughput import measure_all
from ..costs.throughput_report import build_report, markdown
from ..costs.workbench import Workbench
from ..data.base import add_bad_file_argument, apply_bad_file_choice
from ..execution.environment import resolve_device
from ..execution.numerics import apply_numerics
from ..store.disk import write_atomic
from .options import add_numerics_arguments, add_preset_arguments, command_line, numerics_from_args, preset_from_args

NAME = "throughput"


def add_parser(sub) -> None:
    p = sub.add_parser("throughput", help="time one step of each method's phases; OUT/throughput.{json,md}",
                       description="Per method and phase: ms/step, samples/s, sample-iterations/s (synthesis), "
                                   "peak memory, FLOPs and the fraction of the measured matmul peak.")
    add_preset_arguments(p)
    p.add_argument("--methods", default="all",
                   help=f"comma list of method names and groups ({', '.join(GROUPS)}); names: {', '.join(TABLE_ORDER)}")
    p.add_argument("--dataset", default=None, help="default: the preset's first dataset")
    p.add_argument("--data-root", type=Path, default=None,
                   help="folder holding the real datasets (default: $DFKD_DATA_ROOT)")
    add_bad_file_argument(p)
    p.add_argument("--pair", default=None, help="teacher:student (default: the preset's first pair)")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls before timing (default 2)")
    p.add_argument("--repeats", type=int, default=5, help="timed calls; median and min reported (default 5)")
    p.add_argument("--matmul-size", type=int, default=None,
                   help="n of the n x n torch.mm peak (default 2048 on CPU, 8192 on CUDA)")
    p.add_argument("--profile", default="", help="comma list of phases to also profile (e.g. synthesis): top "
                                                 "operators and the share of time outside them")
    p.add_argument("--out", type=Path, default=Path("results/throughput"))
    add_numerics_arguments(p)


def main(args) -> int:
    methods = parse_methods(args.methods)
    preset = apply_bad_file_choice(preset_from_args(args), args.on_bad_file)
    device = resolve_device(args.device)
    apply_numerics(numerics_from_args(args))  # the mode every step and the matmul peak are measured in
    bench = Workbench(preset, args.dataset, args.pair, device, args.warmup, args.repeats, args.matmul_size,
                      data_root=args.data_root, profile_phases=tuple(p for p in args.profile.split(",") if p))
    command = command_line(args)
    load_before = os.getloadavg()
    measurements, skipped = measure_all(bench, methods)
    report = build_report(bench, measurements, skipped, command, load_before)
    write_atomic(args.out / "throughput.json", json.dumps(report, indent=2))
    write_atomic(args.out / "throughput.md", markdown(report))
    print(markdown(report))
    print(f"wrote {args.out / 'throughput.json'} and {args.out / 'throughput.md'}")
    return 0
