"""Leaderboard: methods ranked per dataset and pair with 95% CIs over seeds, accuracy against
synthesis cost, and the share of the teacher-student gap each method closes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from methods import FLOOR

from ..stats.claims import floor_comparisons
from ..store.disk import write_atomic
from ..store.record_schema import RunRecord
from ..store.settings import split_by_setting
from .frontier import frontier_frame
from .frontier_plot import plot_frontier
from .frontier_report import frontier_markdown
from .intervals import accuracy_interval, interval_columns, interval_of
from .plots import plot_cost, plot_ranking


def ok_frame(records: list[RunRecord]) -> pd.DataFrame:
    rows = []
    for r in records:
        if not r.ok:
            continue
        synthesis = r.phases.get("synthesis", {})
        diagnostics = {f"diag_{k}": v for k, v in (r.extras or {}).get("diagnostics", {}).items()}
        rows.append({"dataset": r.dataset, "pair": r.pair, "method": r.method, "seed": r.seed, **diagnostics,
                     "student_largest_class_share": student_largest_class_share(r),
                     "classes": len(set(r.test_targets)) if r.test_targets else np.nan,
                     "accuracy": r.accuracy, "synthesis_seconds": synthesis.get("seconds", 0.0),
                     "sample_iterations": synthesis.get("sample_iterations", 0),
                     "wall_seconds": r.wall_seconds if r.wall_seconds is not None else np.nan})
    return pd.DataFrame(rows)


def student_largest_class_share(record: RunRecord) -> float:
    """The share of the test clips given the student's most frequent prediction: near 1 = collapsed."""
    if not record.test_predictions:
        return np.nan
    return float(np.bincount(record.test_predictions).max() / len(record.test_predictions))


def mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Mean and the half-width of its Student-t confidence interval (0 for one seed)."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return float(values.mean()), float("nan")
    half = sps.t.ppf(0.5 + level / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean()), float(half)


DIAGNOSTICS = {"diag_target_agreement": "target_agreement", "diag_classes_covered": "classes_covered",
               "diag_mean_confidence": "teacher_confidence", "diag_bn_loss_pool": "bn_loss_pool",
               "diag_bn_loss_real": "bn_loss_real", "student_largest_class_share": "student_top_class_share"}


def accuracy_columns(records: list[RunRecord], dataset: str, pair: str, method: str) -> dict:
    """Mean, the two-level bootstrap interval (seeds, then clips; within [0, 100]) and each seed's accuracy:
    what the tables print and the plots draw (reporting/intervals.py)."""
    return interval_columns(accuracy_interval([r for r in records if r.ok and r.accuracy is not None and
                                               (r.dataset, r.pair, r.method) == (dataset, pair, method)]))


def leaderboard(records: list[RunRecord]) -> pd.DataFrame:
    frame = ok_frame(records)
    if frame.empty:
        return frame
    verdicts = {(c.dataset, c.pair, c.method): c for c in floor_comparisons(records)}
    rows = []
    for (dataset, pair), group in frame.groupby(["dataset", "pair"]):
        teacher = group[group.method == "teacher"].accuracy.mean()
        student = group[group.method == "student"].accuracy.mean()
        floor = group[group.method == FLOOR].accuracy.mean()
        for method, g in group.groupby("method"):
            mean, half = mean_ci(g.accuracy.values)
            gap = teacher - student
            row = {"dataset": dataset, "pair": pair, "method": method, "n": len(g), "accuracy": mean,
                   "chance": 100.0 / group.classes.max() if group.classes.max() > 0 else np.nan,
                   "ci95": half, "gap_closed_%": 100 * (mean - student) / gap if gap and gap > 0 else np.nan}
            row |= accuracy_columns(records, dataset, pair, method)
            if np.isfinite(floor):
                verdict = verdicts.get((dataset, pair, method))
                power = verdict.power() if verdict else None
                row |= {"margin_vs_kd-noise": mean - floor if verdict else np.nan,
                        "beats_kd-noise": verdict.verdict() if verdict else "",
                        "detectable_vs_kd-noise_pp": power.mdd_text() if power else "",
                        "seeds_to_detect_margin": power.needed_text() if power else ""}
            row |= {label: g[column].mean() for column, label in DIAGNOSTICS.items() if column in g}
            row |= {"synthesis_s": g.synthesis_seconds.mean(), "sample_iterations": g.sample_iterations.mean(),
                    "cell_wall_s": g.wall_seconds.mean()}
            rows.append(row)
    board = pd.DataFrame(rows)
    board["rank"] = board.groupby(["dataset", "pair"]).accuracy.rank(ascending=False, method="min").astype(int)
    return board.sort_values(["dataset", "pair", "rank"]).reset_index(drop=True)


def leaderboard_by_setting(records: list[RunRecord]) -> pd.DataFrame:
    """The leaderboard of each setting (preset + changes; never averaged together), with a `setting` column
    when there are several."""
    parts = split_by_setting(records)
    if len(parts) <= 1:
        return leaderboard(next(iter(parts.values()), []))
    boards = [leaderboard(part) for part in parts.values()]
    return pd.concat([b.assign(setting=setting) for setting, b in zip(parts, boards) if not b.empty],
                     ignore_index=True)


def write_leaderboard(records: list[RunRecord], out: Path, header: str) -> pd.DataFrame:
    board = leaderboard_by_setting(records)
    if board.empty:
        write_atomic(out / "leaderboard.md", header + "\nNo ok records yet.\n")
        return board
    shown = board.copy()
    shown["accuracy"] = [interval_of(row).text() for _, row in board.iterrows()]
    shown = shown.drop(columns=["ci95", "ci_low", "ci_high", "seed_accuracies"])
    frontier = frontier_frame(records)
    text = (header + "\nAccuracy: mean over seeds [95% two-level bootstrap CI: seeds, then clips within each seed, "
            "as the verdicts], or each seed's accuracy when fewer than 3 seeds. gap_closed_%: "
            "(method - student) / (teacher - student). chance: 100 / classes in the test split. margin_vs_kd-noise and "
            "beats_kd-noise: each data-free row against KD on teacher-labelled noise at the same budget (seed-aware "
            "verdict, significance.md). detectable_vs_kd-noise_pp and seeds_to_detect_margin: from that verdict's "
            "per-seed margins, the smallest margin a paired t-test detects with 80% power at the seeds present and "
            "the seeds per method at which the observed margin would be, both at the verdict's Holm level "
            "(benchmark/stats/power.py; 1 or 2 seeds: not estimated). "
            "Synthesis diagnostics of the final pool (mean over seeds): target_agreement "
            "(teacher argmax = intended label), classes_covered (by the teacher's argmax), teacher_confidence, "
            "bn_loss_pool vs bn_loss_real (BN-statistics loss of pool vs real training batches of the same size); "
            "student_top_class_share: share of test clips given the student's most frequent prediction (collapse "
            "when near 1). synthesis_s and sample_iterations: per cell. The plots draw chance and, where present, "
            "the kd-noise floor.\n\n"
            + shown.to_markdown(index=False, floatfmt=".2f") + "\n\n![ranking](leaderboard_ranking.png)\n"
            "![cost](leaderboard_cost.png)\n"
            + "\n## Cost-accuracy frontier\n\n" + frontier_markdown(frontier)
            + ("" if frontier.empty else "\n![frontier](leaderboard_frontier.png)\n"))
    write_atomic(out / "leaderboard.md", text)
    panels = board.assign(pair=board.pair + " [" + board.setting + "]") if "setting" in board else board
    plot_ranking(panels, out / "leaderboard_ranking.png")
    plot_cost(panels, out / "leaderboard_cost.png")
    if not frontier.empty:
        plot_frontier(frontier, out / "leaderboard_frontier.png")
    return board
