"""frontier.md, frontier.csv and frontier.png from a folder's records, and the leaderboard's frontier section."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..store.disk import write_atomic
from ..store.record_schema import RunRecord
from .frontier import SPEEDUP_REFERENCES, frontier_frame
from .frontier_plot import plot_frontier
from .intervals import interval_of

LEGEND = (
    "One row per data-free method (and the `kd-noise` floor) at one budget (`budget`: the setting's --set changes, "
    "blank for the preset itself), per dataset, pair and preset, cheapest total first. accuracy: mean over seeds "
    "[95% two-level bootstrap CI: seeds, then clips within seed; the verdicts' test], or the seeds themselves when "
    "fewer than 3. margin: mean over shared seeds of (method - kd-noise at the same budget), pp, with the seed-aware "
    "Holm verdict. synthesis_s, kd_s, total_s: seconds per cell, mean over seeds, from the records' per-phase wall "
    "time (total: synthesis + KD + evaluation). sample_iterations: teacher forward+backward per synthesized sample, "
    "summed over the cell. speed-up vs adi / cmi: that method's seconds (at the preset's own budget) / this row's, in "
    "synthesis time and in total time (Fast's table reports the synthesis one only). pareto: no cheaper row (total_s) "
    "is more accurate by the seed-aware test (two-level bootstrap, Holm over the group's cheaper-vs-dearer "
    "comparisons); dominated_by names the rows that are. With fewer than 3 seeds no verdict is reached, so no row "
    "is dominated.\n")


def _speedup(value: float) -> str:
    return "—" if not np.isfinite(value) else (f"{value:.0f}x" if value >= 100 else f"{value:.2f}x")


def shown_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The frontier as the markdown shows it: intervals as text, speed-ups as 'Nx', the Pareto mark."""
    rows = []
    for _, r in frame.iterrows():
        row = {"dataset": r.dataset, "pair": r.pair, "preset": r.preset, "method": r.method, "budget": r.budget,
               "seeds": r.seeds, "accuracy": interval_of(r).text(),
               "margin vs kd-noise (pp)": "—" if not np.isfinite(r["margin_vs_kd-noise"]) else
               f"{r['margin_vs_kd-noise']:+.2f} ({r['beats_kd-noise']})",
               "synthesis_s": f"{r.synthesis_s:.1f}", "kd_s": f"{r.kd_s:.1f}", "total_s": f"{r.total_s:.1f}",
               "sample_iterations": f"{r.sample_iterations:.0f}"}
        for ref in SPEEDUP_REFERENCES:
            row[f"synthesis speed-up vs {ref}"] = _speedup(r[f"speedup_synthesis_vs_{ref}"])
            row[f"total speed-up vs {ref}"] = _speedup(r[f"speedup_total_vs_{ref}"])
        row |= {"pareto": "yes" if r.pareto else "no", "dominated_by": r.dominated_by or "—"}
        rows.append(row)
    return pd.DataFrame(rows)


def frontier_markdown(frame: pd.DataFrame) -> str:
    """The table and its legend (for frontier.md and the leaderboard's section)."""
    if frame.empty:
        return "No data-free records: the frontier is empty.\n"
    return LEGEND + "\n" + shown_frame(frame).to_markdown(index=False) + "\n"


def csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["seed_accuracies"] = [" ".join(f"{a:.4g}" for a in seeds) for seeds in frame.seed_accuracies]
    return out


def write_frontier(records: list[RunRecord], out: Path, header: str) -> pd.DataFrame:
    """OUT/frontier.md, frontier.csv and frontier.png; refuses records with no data-free method, naming the fix."""
    out = Path(out)
    frame = frontier_frame(records)
    if frame.empty:
        raise ValueError(f"{out}/runs.jsonl holds no ok record of a data-free method or kd-noise; run some first, "
                         f"e.g. `python -m benchmark run --preset smoke --methods adi,cmi,kd-noise --out {out}`")
    write_atomic(out / "frontier.csv", csv_frame(frame).to_csv(index=False))
    write_atomic(out / "frontier.md", header + "\n## Cost-accuracy frontier\n\n" + frontier_markdown(frame)
                 + "\n![frontier](frontier.png)\n")
    plot_frontier(frame, out / "frontier.png")
    return frame
