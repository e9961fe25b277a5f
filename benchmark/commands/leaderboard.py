"""`python -m benchmark leaderboard`: leaderboard.md and its plots from OUT/runs.jsonl."""
from __future__ import annotations

from pathlib import Path

from ..leaderboard import write_leaderboard
from ..reports import provenance_header, records_or_error

NAME = "leaderboard"


def add_parser(sub) -> None:
    p = sub.add_parser("leaderboard", help="write leaderboard.md and PNG plots from OUT/runs.jsonl")
    p.add_argument("--out", type=Path, default=Path("results"))


def main(args) -> int:
    records = records_or_error(args.out)
    write_leaderboard(records, args.out, provenance_header(records, "DFKD audio benchmark: leaderboard"))
    print(f"wrote {args.out / 'leaderboard.md'} and plots")
    return 0
