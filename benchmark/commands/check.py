"""`python -m benchmark check --out DIR --bounds FILE`: exit non-zero if any cell's accuracy is outside
its bounds; `check --out DIR --derive FILE [--margin PP]` writes bounds from measured records."""
from __future__ import annotations

from pathlib import Path

from ..bounds import derive_bounds, read_bounds, violations, write_derived_bounds
from ..records import RunStore

NAME = "check"


def add_parser(sub) -> None:
    p = sub.add_parser("check", help="exit non-zero if any cell's accuracy is outside its bounds")
    p.add_argument("--out", type=Path, default=Path("results"), help="results folder holding runs.jsonl")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--bounds", type=Path, help="CSV: dataset,pair,method,lower,upper[,preset]")
    g.add_argument("--derive", type=Path, help="write a bounds CSV from OUT's ok records instead of checking")
    p.add_argument("--margin", type=float, default=10.0, help="--derive: percentage points around min/max (10)")


def main(args) -> int:
    records = list(RunStore(args.out).latest_by_cell().values())
    if args.derive:
        derived = derive_bounds(records, args.margin)
        commands = sorted({r.command for r in records if r.ok and r.command})
        write_derived_bounds(args.derive, derived, args.margin, str(args.out), commands)
        print(f"wrote {len(derived)} bounds to {args.derive}")
        return 0
    bounds = read_bounds(args.bounds)
    if not bounds:  # a check that checks nothing must not pass
        raise ValueError(f"{args.bounds} holds no bounds (only a header, comments or nothing); nothing to check. "
                         "Add rows dataset,pair,method,lower,upper[,preset], or derive them with --derive")
    problems = violations(records, bounds)
    for line in problems:
        print(f"OUT OF BOUNDS: {line}")
    print(f"{len(bounds)} bounds checked against {len(records)} records: "
          + ("all met" if not problems else f"{len(problems)} violations"))
    return 1 if problems else 0
