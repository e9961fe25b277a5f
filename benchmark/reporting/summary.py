"""What `run` prints when it ends: Table 2 and Table 3, the verdicts in words, the wall time, and one
line comparing the run with the committed reference (`results/bounds/<preset>.csv`, bounds derived
from the committed results), so the answer and its regression check are in the terminal."""
from __future__ import annotations

from pathlib import Path

from ..stats.bounds import check_bounds, read_bounds, reference_machine
from ..stats.claims import comparisons, floor_comparisons, groups
from ..store.record_schema import RunRecord
from ..store.records import RUNS_FILE
from .report_tables import cells_teacher, floor_frame, table2, table3, verdict_sentences

REFERENCE_BOUNDS = Path(__file__).resolve().parents[2] / "results" / "bounds"


def reference_line(records: list[RunRecord], preset: str, bounds_dir: Path = REFERENCE_BOUNDS) -> str:
    """Bounds of the committed reference that concern this run's cells, checked against its records."""
    path = bounds_dir / f"{preset}.csv"
    if not path.exists():
        return f"reference: no committed bounds for preset {preset!r} ({path} does not exist)"
    try:
        bounds = read_bounds(path)
    except ValueError as exc:  # the run's records are written; say why the check could not be made
        return f"reference: cannot read {path}: {exc}"
    relevant = [b for b in bounds if any(b.matches(r) for r in records)]
    if not relevant:
        return f"reference: none of this run's cells has a bound in {path}"
    problems = check_bounds(records, relevant).outside
    verdict = "all within" if not problems else f"{len(problems)} outside: " + "; ".join(problems)
    here = sorted({r.device for r in records if r.device})
    machines = (f"reference made on {reference_machine(path) or 'a machine the file does not name'}; "
                f"this run on {', '.join(here) or 'an unrecorded machine'}")
    return f"reference ({path}; {machines}): {len(relevant)} bounds checked, {verdict}"


def skipped_files_lines(records: list[RunRecord], records_path: Path, shown: int = 5) -> list[str]:
    """Per dataset, how many files `--on-bad-file skip` left out, where the full list is, and the first few."""
    skipped: dict[str, list[dict]] = {}
    for record in records:
        files = (record.dataset_description or {}).get("skipped_files") or []
        if files and len(files) >= len(skipped.get(record.dataset, [])):
            skipped[record.dataset] = files
    lines = []
    for dataset, files in sorted(skipped.items()):
        lines.append(f"{dataset}: {len(files)} file{'s' if len(files) != 1 else ''} skipped (--on-bad-file skip; "
                     f"see dataset_description.skipped_files in the {dataset} records of {records_path})")
        lines += [f"  {f.get('problem', 'skipped')}: {f.get('path')}" + (f" ({f['detail']})" if f.get("detail") else "")
                  for f in files[:shown]]
        if len(files) > shown:
            lines.append(f"  ... and {len(files) - shown} more")
    return lines


def teacher_lines(records: list[RunRecord]) -> list[str]:
    """Which teacher the cells of each dataset and pair used and its accuracy, so no data-free row is read
    without it (also when the `teacher` method was not run)."""
    lines = []
    for dataset, pair in groups(records):
        for t in cells_teacher(records, dataset, pair):
            source = (f"--teacher-checkpoint sha256 {t.teacher_checkpoint[:12]}" if t.teacher_checkpoint
                      else f"trained here, seed {t.seed}")
            val = f", val {t.val_accuracy:.2f}%" if t.val_accuracy is not None else ""
            lines.append(f"- {dataset} {pair}: test {t.accuracy:.2f}%{val} ({source})")
    return ["", "Teacher the cells used", *lines] if lines else []


def run_summary(out: Path, records: list[RunRecord], preset: str, seconds: float) -> str:
    """Built from this run's own records (one setting), so other settings in the folder never enter it."""
    out = Path(out)
    parts = [f"== run finished in {seconds / 60:.1f} min; reports in {out}/ =="]
    comps, floor = comparisons(records), floor_comparisons(records)
    for heading, frame in (("Table 2: methods", table2(records, comps)),
                           ("Table 3: FRAMI ablations", table3(records, comps))):
        if not frame.empty:
            parts += ["", heading, frame.to_markdown(index=False)]
    parts += teacher_lines(records)
    if floor:
        parts += ["", "Margin over the kd-noise floor (seed-aware, Holm-adjusted)", floor_frame(floor).to_markdown(index=False)]
    parts += ["", "Verdicts (seed-aware, Holm-adjusted; details in significance.md)",
              *(verdict_sentences(comps) or ["- none: no claim of the paper compares two methods of this run"])]
    skipped = skipped_files_lines(records, out / RUNS_FILE)
    if skipped:
        parts += ["", *skipped]
    parts += ["", reference_line(records, preset)]
    return "\n".join(parts)
