"""`python -m benchmark frontier --out DIR [--with DIR2 ...]`: the cost-accuracy frontier (frontier.md, .csv,
.png) from DIR/runs.jsonl, and from the records of other sweeps when named (one frontier over the paper's rows in
results/ and the field's in results/field/)."""
from __future__ import annotations

from pathlib import Path

from ..reporting.frontier_report import write_frontier
from ..reporting.reports import provenance_header, records_or_error
from ..store.records import cell_key
from .options import add_results_parser

NAME = "frontier"


def add_parser(sub) -> None:
    p = add_results_parser(sub, NAME, "write frontier.md, frontier.csv and frontier.png (accuracy against synthesis, "
                                      "KD and total seconds per cell, speed-ups vs ADI and CMI, Pareto set) from "
                                      "OUT/runs.jsonl")
    p.add_argument("--with", dest="also", type=Path, action="append", default=[], metavar="DIR",
                   help="also read DIR/runs.jsonl (repeatable); a cell recorded in several folders counts once, "
                        "from the first folder that holds it (OUT first)")


def main(args) -> int:
    records, seen = [], set()
    for folder in [args.out, *args.also]:
        for record in records_or_error(folder):
            if cell_key(record) not in seen:
                seen.add(cell_key(record))
                records.append(record)
    write_frontier(records, args.out, provenance_header(records, "DFKD audio benchmark: cost-accuracy frontier"))
    print(f"wrote {args.out / 'frontier.md'}, frontier.csv and frontier.png")
    return 0
