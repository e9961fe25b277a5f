"""`python -m benchmark tables`: Table 2/3 (md, csv, tex) and significance.md from OUT/runs.jsonl."""
from __future__ import annotations

from pathlib import Path

from ..report_tables import write_tables
from ..reports import provenance_header, records_or_error

NAME = "tables"


def add_parser(sub) -> None:
    p = sub.add_parser("tables", help="write Table 2/3 (md, csv, tex), significance.md from OUT/runs.jsonl")
    p.add_argument("--out", type=Path, default=Path("results"))


def main(args) -> int:
    records = records_or_error(args.out)
    write_tables(records, args.out, provenance_header(records, "DFKD audio benchmark: tables"))
    print(f"wrote tables and significance report to {args.out}")
    return 0
