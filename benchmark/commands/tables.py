"""`python -m benchmark tables`: Table 2/3 (md, csv, tex) and significance.md from OUT/runs.jsonl."""
from __future__ import annotations

from ..reporting.report_tables import write_tables
from ..reporting.reports import write_report
from .options import add_results_parser

NAME = "tables"


def add_parser(sub) -> None:
    add_results_parser(sub, NAME, "write Table 2/3 (md, csv, tex), significance.md from OUT/runs.jsonl")


def main(args) -> int:
    write_report(args.out, write_tables, "DFKD audio benchmark: tables")
    print(f"wrote tables and significance report to {args.out}")
    return 0
