"""seeds.md: every method's runs one by one. Beside each mean: the per-seed values, the interquartile mean where
there are 4 or more runs, the student at the end of the budget beside the one selected on validation (what the
selection adds), the teachers the runs used, and for every pair of methods the probability that a run of one
beats a run of the other. The rule for failed and diverged runs heads the file."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from methods import TABLE_ORDER

from ..stats.aggregates import MIN_RUNS_FOR_IQM, improvement_estimate, iqm_estimate
from ..stats.claims import RUN_RULE, groups, latest, select
from ..store.disk import write_atomic
from ..store.record_schema import RunRecord
from ..store.settings import split_by_setting

AGGREGATES_TEXT = (
    f"IQM: the interquartile mean, the mean of the middle half of the runs (25% cut at each end, as rliable and "
    f"scipy.stats.trim_mean cut), given from {MIN_RUNS_FOR_IQM} runs on, with a 95% percentile bootstrap interval "
    "over runs. Selected: the student the method kept by validation accuracy (what every other table reports); "
    "end of budget: the same run's student after its last step; `selection adds` is their mean difference over "
    "the runs that have both (records written before the end-of-budget student was stored show —). Teachers: "
    "the distinct teachers (by the hash of their weights) the runs distilled from.\n\n"
    "Probability of improvement, row over column: the share of all pairs of one run of each in which the row's "
    "run scores higher (ties count half), with a 95% bootstrap interval resampling each method's runs "
    "separately (Agarwal et al. 2021). It says how often one method wins, not by how much.\n")


def seed_values(runs: list[RunRecord], value=lambda r: r.accuracy) -> str:
    shown = [(r.seed, value(r), r.status) for r in sorted(runs, key=lambda r: r.seed)]
    return ", ".join(f"{seed}: {v:.1f}" + (" (diverged)" if status == "diverged" else "")
                     for seed, v, status in shown if v is not None) or "—"


def mean_std(values: list[float]) -> str:
    if not values:
        return "—"
    arr = np.asarray(values, float)
    return f"{arr.mean():.2f}" + (f" ± {arr.std(ddof=1):.2f}" if len(arr) > 1 else "")


def teachers_text(runs: list[RunRecord]) -> str:
    hashes = {r.teacher_sha256 for r in runs if r.teacher_sha256}
    if hashes:
        return f"{len(hashes)} ({', '.join(sorted(h[:8] for h in hashes))})"
    return "—" if all(r.teacher_val_accuracy is None for r in runs) else "not hashed (older records)"


def method_row(method: str, runs: list[RunRecord], left_out: int) -> dict:
    accuracies = [r.accuracy for r in runs]
    both = [r for r in runs if r.final_accuracy is not None]
    adds = (f"{np.mean([r.accuracy - r.final_accuracy for r in both]):+.2f} ({len(both)} runs)" if both else "—")
    diverged = sum(r.status == "diverged" for r in runs)
    return {"method": method,
            "runs": f"{len(runs)}" + (f" ({diverged} diverged)" if diverged else "")
                    + (f", {left_out} left out" if left_out else ""),
            "selected, per seed": seed_values(runs), "mean ± std": mean_std(accuracies),
            "IQM [95% CI]": iqm_estimate(accuracies).text(),
            "end of budget, per seed": seed_values(both, lambda r: r.final_accuracy),
            "end-of-budget mean": mean_std([r.final_accuracy for r in both]), "selection adds (pp)": adds,
            "teachers": teachers_text(runs)}


def improvement_matrix(runs_by_method: dict[str, list[RunRecord]]) -> pd.DataFrame:
    names = list(runs_by_method)
    rows = []
    for a in names:
        row = {"P(row > column)": a}
        for b in names:
            row[b] = "" if a == b else improvement_estimate([r.accuracy for r in runs_by_method[a]],
                                                            [r.accuracy for r in runs_by_method[b]]).text()
        rows.append(row)
    return pd.DataFrame(rows)


def group_section(records: list[RunRecord], dataset: str, pair: str, suffix: str) -> str:
    runs_by_method, rows = {}, []
    for method in [*TABLE_ORDER, *sorted({r.method for r in records} - set(TABLE_ORDER))]:
        runs, left_out = select(records, dataset, pair, method)
        if runs or left_out:
            rows.append(method_row(method, runs, left_out))
        if runs:
            runs_by_method[method] = runs
    text = f"## {dataset} {pair}{suffix}\n\n" + pd.DataFrame(rows).to_markdown(index=False) + "\n"
    if len(runs_by_method) > 1:
        text += ("\n### Probability of improvement\n\n"
                 + improvement_matrix(runs_by_method).to_markdown(index=False) + "\n")
    return text


def write_seeds(records: list[RunRecord], out: Path, header: str) -> None:
    parts = split_by_setting(records) or {"": []}
    sections = []
    for setting, part in parts.items():
        suffix = f" (setting: {setting})" if len(parts) > 1 else ""
        part = latest(part)
        sections += [group_section(part, dataset, pair, suffix) for dataset, pair in groups(part)]
    write_atomic(Path(out) / "seeds.md", header + RUN_RULE + "\n\n" + AGGREGATES_TEXT + "\n"
                 + ("\n".join(sections) or "No records.\n"))
