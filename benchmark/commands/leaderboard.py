"""`python -m benchmark leaderboard`: leaderboard.md and its plots from OUT/runs.jsonl."""
from __future__ import annotations

from ..reporting.leaderboard import write_leaderboard
from ..reporting.reports import write_report
from .options import add_results_parser

NAME = "leaderboard"


def add_parser(sub) -> None:
    add_results_parser(sub, NAME, "write leaderboard.md and PNG plots from OUT/runs.jsonl")


def main(args) -> int:
    write_report(args.out, write_leaderboard, "DFKD audio benchmark: leaderboard")
    print(f"wrote {args.out / 'leaderboard.md'} and plots")
    return 0
