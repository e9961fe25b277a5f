"""Everything generated from the records of a results folder: tables, significance, leaderboard.

Each file starts with a header naming the command(s), preset(s), machine and wall time that
produced the records, so a number is never separated from where it came from.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from ..store.record_schema import RunRecord
from ..store.records import RunStore
from .leaderboard import write_leaderboard
from .report_tables import write_tables


def provenance_header(records: list[RunRecord], title: str) -> str:
    if not records:
        return f"# {title}\n\nNo records.\n"
    commands = sorted({r.command or "?" for r in records})
    presets = sorted({r.preset for r in records})
    devices = sorted({r.device or "?" for r in records})
    commits = sorted({r.git_commit or "?" for r in records})
    starts = [datetime.fromisoformat(r.started_at) for r in records if r.started_at]
    ends = [datetime.fromisoformat(r.finished_at) for r in records if r.finished_at]
    span = (max(ends) - min(starts)).total_seconds() if starts and ends else float("nan")
    compute = sum(r.wall_seconds or 0 for r in records)
    lines = [f"# {title}", "",
             "Generated from `runs.jsonl` by `python -m benchmark tables` (never edited by hand).", "",
             f"- command: {'; '.join(f'`{c}`' for c in commands)}",
             f"- preset: {', '.join(presets)}",
             f"- machine: {', '.join(devices)}",
             f"- code: {', '.join(commits)}",
             f"- wall time: {span / 60:.1f} min from first cell start to last cell end "
             f"({compute / 60:.1f} min summed over {len(records)} cells)", ""]
    return "\n".join(lines) + "\n"


def write_all(out: Path) -> None:
    """Regenerate every report under `out` from `out/runs.jsonl`."""
    records = list(RunStore(out).latest_by_cell().values())
    write_tables(records, Path(out), provenance_header(records, "DFKD audio benchmark: tables"))
    write_leaderboard(records, Path(out), provenance_header(records, "DFKD audio benchmark: leaderboard"))


def records_or_error(out: Path) -> list[RunRecord]:
    """The latest record of each cell in OUT, or an error saying how to make some."""
    store = RunStore(out)
    if not store.path.exists():
        raise FileNotFoundError(f"no records at {store.path}; run `python -m benchmark run --out {out}` first")
    return list(store.latest_by_cell().values())


def write_report(out: Path, writer, title: str) -> None:
    """`writer(records, out, header)` on the latest record of each cell in OUT (the tables and leaderboard commands)."""
    records = records_or_error(out)
    writer(records, Path(out), provenance_header(records, title))
