"""`python -m benchmark curve --vary data_free.iterations=1,4,12,32 --methods adi,cmi,frami,kd-noise`:
the cost–accuracy frontier. One sweep per value of the varied field into OUT/runs.jsonl (resumable),
then OUT/curve.{md,csv} and plots of accuracy against sample-iterations and against wall seconds.
`--vary` given several times zips the axes by position (`--vary cmi.iterations=6,12,24 --vary
fast.iterations=2,5,10`: budget points 1..3), so methods whose own blocks set the field share one curve."""
from __future__ import annotations

import argparse
import dataclasses
import time

from ..config.presets import PRESETS
from ..costs.cost_estimate import refuse_if_expensive
from ..execution.sweep import run_sweep
from ..reporting.curve import Axes, Axis, methods_per_value, write_curve
from ..reporting.reports import provenance_header, records_or_error
from ..store.records import RunStore, ensure_writable_dir
from .options import add_sweep_arguments, command_line, executor_and_runtime, sweep_spec

NAME = "curve"
DEFAULT_AXIS = "data_free.iterations=1,4,12,32"


def add_parser(sub) -> None:
    p = sub.add_parser("curve", help="accuracy against synthesis budget: one sweep per value of a config field",
                       description="Runs the sweep once per value of --vary (a --set key with several values), "
                                   "then writes OUT/curve.md, curve.csv and plots of accuracy (mean, 95% CI over "
                                   "seeds) against synthesis sample-iterations and wall seconds per cell.")
    p.add_argument("--vary", type=parse_axis, action="append", default=None, metavar="BLOCK.FIELD=V1,V2,...",
                   help=f"the field and its values (default {DEFAULT_AXIS}: synthesis steps per batch); "
                        f"repeat it, each with as many values, to zip fields by position into budget points "
                        f"1..K (--vary cmi.iterations=6,12,24 --vary fast.iterations=2,5,10)")
    p.add_argument("--report-only", action="store_true",
                   help="run nothing: rewrite curve.md, curve.csv and the plots from OUT/runs.jsonl")
    add_sweep_arguments(p, methods="adi,cmi,frami,kd-noise", out="runs/curve")


def parse_axis(text: str) -> Axis:
    """--vary's type: the harness's own message (what is expected, what was given) instead of argparse's
    'invalid parse value'."""
    try:
        return Axis.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def axes_of(args) -> Axes:
    """The --vary axes (the default one when none is given), checked to zip."""
    return Axes.of(args.vary or [Axis.parse(DEFAULT_AXIS)])


def report(args, axes: Axes, presets, methods: tuple[str, ...] | None) -> None:
    records = records_or_error(args.out)
    points = write_curve(records, axes, args.out, provenance_header(records, "DFKD audio benchmark: budget curve"),
                         methods, presets)
    print(points.drop(columns=["ci_low", "ci_high", "seed_accuracies"], errors="ignore")
          .to_markdown(index=False, floatfmt=".2f"))


def main(args) -> int:
    axes = axes_of(args)
    base = sweep_spec(args)
    presets = axes.presets(base.preset)  # every value checked before the first cell runs
    if args.report_only:
        report(args, axes, presets, base.methods)  # the methods as a run of this command would read them
        print(f"{args.out}/curve.md and plots rewritten from {args.out}/runs.jsonl")
        return 0
    axes.check(base.preset, base.methods)  # an axis that would vary nothing or the wrong thing: before any work
    for preset in presets:
        refuse_if_expensive(dataclasses.replace(base, preset=preset), PRESETS.get(args.preset), args.allow_expensive)
    methods_at = methods_per_value(base.methods, presets)  # a method the axis does not change runs at one value
    store = RunStore(ensure_writable_dir(args.out))
    command = command_line(args)
    executor, runtime = executor_and_runtime(args, base, command)
    start = time.perf_counter()
    for k, (preset, methods) in enumerate(zip(presets, methods_at)):
        if not methods:
            why = "each method's config here ran at an earlier point" if axes.zipped else \
                f"no method of this curve has {axes.name}"
            print(f"{axes.label(k)}: nothing to run ({why})")
            continue
        spec = dataclasses.replace(base, preset=preset, methods=methods)
        written = run_sweep(spec, store, dataclasses.replace(runtime, spec=spec), executor, wait=not args.no_wait)
        print(f"{axes.label(k)}: {len(written)} cells run ({sum(not r.ok for r in written)} not ok)")
    report(args, axes, presets, base.methods)
    print(f"curve finished in {(time.perf_counter() - start) / 60:.1f} min; {args.out}/curve.md and plots")
    return 0
