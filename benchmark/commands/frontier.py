"""`python -m benchmark frontier --out DIR`: the cost-accuracy frontier (frontier.md, .csv, .png) from
DIR/runs.jsonl."""
from __future__ import annotations

from ..reporting.frontier_report import write_frontier
from ..reports import write_report
from .options import add_results_parser

NAME = "frontier"


def add_parser(sub) -> None:
    add_results_parser(sub, NAME, "write frontier.md, frontier.csv and frontier.png (accuracy against synthesis, "
                                  "KD and total seconds per cell, speed-ups vs ADI and CMI, Pareto set) from "
                                  "OUT/runs.jsonl")


def main(args) -> int:
    write_report(args.out, write_frontier, "DFKD audio benchmark: cost-accuracy frontier")
    print(f"wrote {args.out / 'frontier.md'}, frontier.csv and frontier.png")
    return 0
