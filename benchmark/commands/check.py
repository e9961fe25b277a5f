"""`python -m benchmark check --out DIR --bounds FILE`: exit non-zero if a cell's accuracy is outside its bounds
(bounds of cells that were not run are listed apart, and fail only with --require-all);
`check --out DIR --derive FILE [--false-alarm 0.05]` writes prediction bounds from measured seeds."""
from __future__ import annotations

from pathlib import Path

from ..stats.bounds import check_bounds, read_bounds, reference_machine
from ..stats.claims import describe_record, refused_pairs
from ..stats.bounds_derive import FALSE_ALARM, derive, measured_from_bounds_file, measured_from_records, write_derived
from ..store.records import RunStore

NAME = "check"


def add_parser(sub) -> None:
    p = sub.add_parser("check", help="exit non-zero if any cell's accuracy is outside its bounds")
    p.add_argument("--out", type=Path, default=Path("results"), help="results folder holding runs.jsonl")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--bounds", type=Path, help="CSV: dataset,pair,method,lower,upper[,preset[,center,spread,seeds,"
                                               "quantile]]")
    g.add_argument("--derive", type=Path, help="write a bounds CSV from OUT's ok records instead of checking")
    p.add_argument("--from-measured", type=Path, default=None, metavar="BOUNDS.csv",
                   help="--derive from the per-seed values a bounds file records (# measured: ...) instead of OUT's "
                        "records (where the records were not kept)")
    p.add_argument("--false-alarm", type=float, default=FALSE_ALARM,
                   help=f"--derive: the share of correct runs that may report a bound outside ({FALSE_ALARM:g})")
    p.add_argument("--require-all", action="store_true",
                   help="also fail when a bound's cell has no ok record in OUT (default: listed as not run)")


def main(args) -> int:
    records = list(RunStore(args.out).latest_by_cell().values())
    if args.derive:
        return derive_bounds_file(args, records)
    bounds = read_bounds(args.bounds)
    if not bounds:  # a check that checks nothing must not pass
        raise ValueError(f"{args.bounds} holds no bounds (only a header, comments or nothing); nothing to check. "
                         "Add rows dataset,pair,method,lower,upper[,preset], or derive them with --derive")
    result = check_bounds(records, bounds)
    refused = refused_pairs(records)
    for method_run, baseline_run in refused:
        print(f"REFUSED PAIR (different teachers): {describe_record(method_run)} vs {describe_record(baseline_run)}")
    print(f"seed pairs refused for different teachers: {len(refused)}")
    for line in result.outside:
        print(f"OUT OF BOUNDS: {line}")
    for line in result.not_run:
        print(f"NOT RUN: {line}")
    print(f"{len(bounds)} bounds against {len(records)} records: {len(result.within)} within, "
          f"{len(result.outside)} outside, {len(result.not_run)} not run"
          + (" (not run counts as failing: --require-all)" if args.require_all and result.not_run else ""))
    if not result.checked:
        print(f"nothing was checked: no bound of {args.bounds} has an ok record in {args.out}")
        return 1
    return 1 if result.outside or (args.require_all and result.not_run) else 0


def derive_bounds_file(args, records) -> int:
    if not 0 < args.false_alarm < 1:
        raise ValueError(f"--false-alarm is a share of runs in (0, 1), got {args.false_alarm}")
    if args.from_measured:
        measured, source = measured_from_bounds_file(args.from_measured), str(args.from_measured)
        commands = [line.split("from: ", 1)[1] for line in args.from_measured.read_text().splitlines()
                    if line.startswith("#") and "from: " in line]
        machines = [reference_machine(args.from_measured) or "unknown (not recorded with those values)"]
    else:
        measured, source = measured_from_records(records), str(args.out)
        commands = sorted({r.command for r in records if r.ok and r.command})
        machines = sorted({r.device for r in records if r.ok and r.device})
    if not measured:
        raise ValueError(f"no cell of {source} has two or more ok seeds; a spread needs at least two")
    derived, facts = derive(measured, args.false_alarm)
    command = (f"python -m benchmark check --derive {args.derive} --false-alarm {args.false_alarm:g} "
               + (f"--from-measured {args.from_measured}" if args.from_measured else f"--out {args.out}"))
    write_derived(args.derive, derived, facts, command, source, commands, machines, args.false_alarm)
    print(f"wrote {len(derived)} bounds to {args.derive}")
    for (dataset, pair, preset), f in facts.items():
        rates = ", ".join(f"{r:.1%} at {k} new seed{'s' if k > 1 else ''}" for k, r in f["rates"].items())
        print(f"  {dataset} {pair} {preset}: quantile {f['quantile']:.2f}; simulated false-alarm rate {rates}")
    return 0
