"""Table 2, Table 3, the TD/TID split and the significance report, rendered from records alone (the claims
and their verdicts are benchmark/stats/claims.py).

Cells show mean ± sample std over seeds and n (ok records only; failures are counted, never
averaged); the paper's number and our difference from it stand in a row beneath where the
paper reports that cell. Marks: * = differs from FRAMI with Holm-adjusted two-level bootstrap
p < 0.05 (seeds, then clips within seed; at least 3 seeds) within its table family (dataset and pair).
The verdicts count training runs as the unit of a claim; see `benchmark.stats.significance`.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from methods import FLOOR, TABLE_ORDER, table_methods

from ..stats.claims import Comparison, comparisons, floor_comparisons, groups, latest, select, significant_vs_frami
from ..stats.significance import MIN_SEEDS, McNemar, SeedTest
from ..store.disk import write_atomic
from ..store.record_schema import RunRecord
from ..store.settings import split_by_setting
from .reference import paper_accuracy
from .seeds_report import write_seeds


def table2_columns() -> dict[str, str]:
    """Method -> Table 2 column header, left to right, as the methods declare them (methods/registry.py)."""
    return {name: placement.label for name, placement in table_methods("table2")}


def table3_rows() -> dict[str, str]:
    """Method -> Table 3 row label, top to bottom."""
    return {name: placement.label for name, placement in table_methods("table3")}


def format_cell(ok: list[RunRecord], failed: int, mark: str = "") -> str:
    if not ok:
        return f"— ({failed} failed)" if failed else "—"
    acc = np.array([r.accuracy for r in ok], float)
    std = f" ± {acc.std(ddof=1):.2f}" if len(acc) > 1 else ""
    text = f"{acc.mean():.2f}{std} (n={len(acc)}){mark}"
    diverged = sum(r.status == "diverged" for r in ok)
    return text + (f", {diverged} diverged" if diverged else "") + (f", {failed} failed" if failed else "")


def paper_cell(ok: list[RunRecord], paper: float | None) -> str:
    if paper is None:
        return "—"
    if not ok:
        return f"{paper:.2f}"
    ours = float(np.mean([r.accuracy for r in ok]))
    return f"{paper:.2f} (Δ {ours - paper:+.2f})"


def floor_frame(comps: list[Comparison]) -> pd.DataFrame:
    """Margin of each data-free row over the floor: per-seed differences beside the mean, CI and verdict."""
    return pd.DataFrame([{
        "dataset": c.dataset, "pair": c.pair, "method": c.method, "seeds": c.n_seeds,
        "margin over kd-noise (pp)": f"{c.mean_diff:+.2f}",
        "per seed (pp)": ", ".join(f"{seed}: {d:+.1f}" for seed, d in c.seed_differences.items()) or "—",
        "two-level bootstrap 95% CI (pp)": ci_text(c), "Holm p": f"{c.holm_p:.3g}",
        "beats the floor": c.verdict(), **improvement_columns(c), **power_columns(c)} for c in comps])


def improvement_columns(c: Comparison) -> dict[str, str]:
    """P(a run of the method beats a run of the baseline) and the seed pairs refused for different teachers."""
    return {IMPROVEMENT_COLUMN: c.improvement.text(), REFUSED_COLUMN: str(len(c.refused))}


IMPROVEMENT_COLUMN = "P(method > baseline) [95% CI]"
REFUSED_COLUMN = "seed pairs refused (different teachers)"


def power_columns(c: Comparison) -> dict[str, str]:
    """The two seed-count numbers of a verdict (80% power, paired t at its Holm level), as table cells."""
    power = c.power()
    return {"Holm alpha": f"{c.holm_alpha:.3g}", MDD_COLUMN: power.mdd_text(), NEEDED_COLUMN: power.needed_text()}


MDD_COLUMN = "detectable at these seeds, 80% power (pp)"
NEEDED_COLUMN = "seeds per method to detect the observed diff"


def table2(records: list[RunRecord], comps: list[Comparison] | None = None) -> pd.DataFrame:
    records = latest(records)
    marks = significant_vs_frami(comps if comps is not None else comparisons(records))
    columns = table2_columns()
    if FLOOR not in columns and any(r.method == FLOOR for r in records):  # the floor beside the data-free rows
        columns[FLOOR] = FLOOR_COLUMN
    rows = []
    for dataset, pair in groups(records):
        ours = {"dataset": dataset, "pair": pair, "row": "ours"}
        paper = {"dataset": dataset, "pair": pair, "row": "paper"}
        for method, column in columns.items():
            ok, failed = select(records, dataset, pair, method)
            ours[column] = format_cell(ok, failed, "*" if (dataset, pair, method) in marks else "")
            if method == TEACHER and not ok and not failed:  # not run as a method: the teacher the cells used
                ok = cells_teacher(records, dataset, pair)
                ours[column] = format_cell(ok, 0, TEACHER_MARK) if ok else "—"
            paper[column] = paper_cell(ok, paper_accuracy(dataset, pair, method))
        rows.append(ours)
        if any(paper_accuracy(dataset, pair, m) is not None for m in columns):
            rows.append(paper)
    return pd.DataFrame(rows, columns=["dataset", "pair", "row", *columns.values()])


FLOOR_COLUMN = "Floor (kd-noise)"
TEACHER = "teacher"
TEACHER_MARK = " †"  # Table 2's Teacher cell from the teacher the cells used (the teacher method was not run)


def cells_teacher(records: list[RunRecord], dataset: str, pair: str) -> list[RunRecord]:
    """The teacher of a group's cells as teacher records (its test and validation accuracy as recorded by the
    cells that used it, schema v5): one per seed, or one for a --teacher-checkpoint (every seed's teacher)."""
    teachers: dict[object, RunRecord] = {}
    for r in records:
        if r.ok and (r.dataset, r.pair) == (dataset, pair) and r.teacher_accuracy is not None:
            teachers.setdefault(r.teacher_checkpoint or r.seed, RunRecord(
                r.dataset, r.teacher, r.student, r.pair, TEACHER, r.seed, r.preset, "ok",
                accuracy=r.teacher_accuracy, val_accuracy=r.teacher_val_accuracy,
                teacher_checkpoint=r.teacher_checkpoint))
    return list(teachers.values())


def table3(records: list[RunRecord], comps: list[Comparison] | None = None) -> pd.DataFrame:
    records = latest(records)
    marks = significant_vs_frami(comps if comps is not None else comparisons(records))
    labels = table3_rows()
    columns = [g for g in groups(records) if any(select(records, *g, m)[0] or select(records, *g, m)[1]
                                                 for m in labels)]
    rows = []
    for method, label in labels.items():
        row = {"method": label}
        for dataset, pair in columns:
            ok, failed = select(records, dataset, pair, method)
            cell = format_cell(ok, failed, "*" if (dataset, pair, method) in marks else "")
            paper = paper_accuracy(dataset, pair, method)
            row[f"{dataset} {pair}"] = cell + (f" | paper {paper_cell(ok, paper)}" if paper is not None else "")
        rows.append(row)
    return pd.DataFrame(rows)


def kind_table(records: list[RunRecord]) -> pd.DataFrame:
    """Mean accuracy on time-dependent vs time-independent classes (datasets that define them)."""
    records = [r for r in latest(records) if r.ok and r.accuracy_by_kind]
    rows = []
    for dataset, pair in groups(records):
        for method in TABLE_ORDER:
            ok = [r for r in records if (r.dataset, r.pair, r.method) == (dataset, pair, method)]
            if ok:
                td = np.mean([r.accuracy_by_kind.get("TD", np.nan) for r in ok])
                tid = np.mean([r.accuracy_by_kind.get("TID", np.nan) for r in ok])
                rows.append({"dataset": dataset, "pair": pair, "method": method, "n": len(ok), "TD": td, "TID": tid,
                             "TD - TID": td - tid})
    return pd.DataFrame(rows)


def seed_test_text(test: SeedTest) -> str:
    """The paired test over seeds as shown: its flag instead of a p-value when it has none."""
    if np.isnan(test.p_value):
        return f"{test.name}: n/a ({test.note})"
    return f"{test.name}: {test.p_value:.3g}" + (f" ({test.note})" if test.note else "")


def mcnemar_seed_text(tests: list[McNemar]) -> str:
    return ", ".join(f"{t.p_value:.2g}" for t in tests) if tests else "—"


def ci_text(c: Comparison) -> str:
    return f"[{c.bootstrap.low:.2f}, {c.bootstrap.high:.2f}]" if c.bootstrap else "—"


def significance_frame(comps: list[Comparison]) -> pd.DataFrame:
    return pd.DataFrame([{
        "family": c.family, "dataset": c.dataset, "pair": c.pair, "comparison": f"{c.method} vs {c.baseline}",
        "seeds": c.n_seeds, "mean diff (pp)": c.mean_diff, "two-level bootstrap 95% CI (pp)": ci_text(c),
        "bootstrap p": c.bootstrap_p, "Holm p": c.holm_p, "verdict": c.verdict(), **improvement_columns(c),
        "McNemar p per seed": mcnemar_seed_text(c.mcnemar_by_seed),
        "paired test over seeds": seed_test_text(c.seed_test),
        "McNemar p pooled (not used)": c.mcnemar_pooled.p_value if c.mcnemar_pooled else np.nan,
        "discordant pooled (method/baseline)": (f"{c.mcnemar_pooled.a_only}/{c.mcnemar_pooled.b_only}"
                                                if c.mcnemar_pooled else "—"), **power_columns(c)} for c in comps])


def verdict_sentences(comps: list[Comparison]) -> list[str]:
    return [f"- {c.family}, {c.dataset} {c.pair}: {c.method} vs {c.baseline}: {c.mean_diff:+.2f} pp over "
            f"{c.n_seeds} seeds, two-level bootstrap 95% CI {ci_text(c)}, bootstrap p = {c.bootstrap_p:.3g}, "
            f"Holm p = {c.holm_p:.3g} -> the paper's claim that {c.method} beats {c.baseline} is "
            f"**{c.verdict()}** by our data; a run of {c.method} beats one of {c.baseline} with probability "
            f"{c.improvement.text()}. Seeds: {c.power().sentence()}."
            + (f" {len(c.refused)} seed pair(s) refused: different teachers." if c.refused else "") for c in comps]


def seed_limits(comps: list[Comparison]) -> list[str]:
    """What the seed level of the bootstrap can say with the seed counts in this report."""
    lines = []
    for n in sorted({c.n_seeds for c in comps if c.bootstrap}):
        if n < MIN_SEEDS:
            lines.append(f"- {n} seed(s): the seed level has only {n ** n} ordered draw(s); the verdict is not "
                         "reached (the spread between training runs cannot be judged from so few).")
            continue
        lines.append(
            f"- {n} seeds: the seed level has only {n}^{n} = {n ** n} equally likely ordered draws "
            f"({math.comb(2 * n - 1, n)} distinct seed sets). One seed fills every slot with probability "
            f"1/{n ** n}, so if any single seed's own difference is at or below 0 the two-sided p stays near "
            f"2 x 1/{n ** n} x 1/2 = {1 / n ** n:.3g} or above before Holm: a claim can be supported only when "
            f"every seed points the same way. The seed level also shrinks the between-seed variance by "
            f"(n - 1)/n = {(n - 1) / n:.2f} while the clip level adds clip noise a second time, so with few "
            f"seeds read the CI as approximate; more seeds are the remedy.")
    return lines


METHOD_TEXT = (
    "Unit of a claim: the training run (seed), following Bouthillier et al. 2021, \"Accounting for Variance in "
    "Machine Learning Benchmarks\". The verdict rests on a paired two-level bootstrap (B = 10000 resamples) of the "
    "accuracy difference method - baseline in percentage points: each resample draws the seeds with replacement, "
    "then, within each drawn seed, its test clips with replacement, both methods on the same seed and clips; "
    "the statistic is the mean over drawn seeds of the per-seed difference. CI: the 2.5th and 97.5th percentiles. "
    "p-value (two-sided, H0: no difference): p = min(1, 2 x (min(k_le, k_ge) + 1) / (B + 1)), where k_le and k_ge "
    "count the resamples <= 0 and >= 0 (the +1 counts the data as one resample, so p >= 2/(B + 1), never 0). "
    "Holm's correction runs over each family (one table's comparisons for one dataset and pair) on these p-values. "
    "A claim is *supported* when the Holm-adjusted p < 0.05 and the CI lies above 0, *contradicted* when "
    "significant with the CI below 0; with fewer than 3 seeds the verdict is not reached.\n\n"
    "Beside the verdict, as context: exact McNemar within each seed (one p per seed, in seed order), the paired "
    "test over per-seed accuracies (t-test; Wilcoxon when n >= 6; a zero-variance or few-seed flag replaces or "
    "follows its p-value), and McNemar pooled over seeds, which treats every (seed, clip) as independent and so "
    "overstates the evidence: it drives no verdict and no mark.\n\n"
    "How many seeds: beside each verdict, from the per-seed differences (the numbers the bootstrap's seed level "
    "resamples), a paired t-test's power (noncentral t) at 80% and at the Holm-adjusted alpha of that verdict "
    "(0.05 / f, f the factor Holm multiplied its p by: m - rank in its family, or the earlier factor where "
    "the step-down keeps adjusted p monotone, so tied p-values share one level) gives the smallest difference "
    "detectable at the seeds present and the seeds per method at which the observed difference would be "
    "detected (at least 3, the verdict's "
    "minimum). They assume normal, independent per-seed differences with the observed sample sd and plan for "
    "the bootstrap verdict rather than give its exact power; with 1 or 2 seeds the seed sd is not estimated.\n\n"
    "Seed pairs: the two records of a seed are compared only when they distilled from one teacher (the hash of "
    "its weights; for older records, its accuracies); a pair of different teachers is refused and counted in its "
    "row, never compared. Probability of improvement (Agarwal et al. 2021, rliable): the share of all pairs of "
    "one run of each method in which the method's run scores higher (ties count half), with a 95% percentile "
    "bootstrap interval resampling each method's runs separately (B = 10000); at 3-5 runs that interval covers "
    "about 89-90% in simulation, not 95%, and where every pair of runs goes one way it collapses to that value "
    "(1.00 [1.00, 1.00]): a bootstrap of 3 runs cannot show more. Per-seed values, IQMs and the end-of-budget students: seeds.md.\n")


LEGEND = ("Cells: mean ± sample std of test accuracy (%) over seeds (n = runs that count: ok, or diverged and scored "
          "as the constant predictor; failed runs are left out and counted; the rule is in seeds.md). `*`: differs from "
          "FRAMI with Holm-adjusted two-level bootstrap p < 0.05 (resampling seeds, then clips within each seed; "
          "needs at least 3 seeds) within the table's family (same dataset and pair); see significance.md. "
          "`paper` rows: the FRAMI paper's number and our mean minus it, where the paper reports that cell "
          "(its pairs are resnet34:resnet18 and wrn40_2:wrn16_2 on the real datasets).\n")
TEACHER_NOTE = ("`†` in the Teacher column: the `teacher` method was not run; the test accuracy of the teacher the "
                "cells used, as they recorded it (n = teachers: one per seed, or one given with --teacher-checkpoint).\n")


def write_tables(records: list[RunRecord], out: Path, header: str) -> None:
    """table2/table3 (md, csv, tex), table_td_tid.md, significance.md and seeds.md. Settings (preset + changes) are never
    averaged together: with several in the records, each gets its own section (and a `setting` column)."""
    out = Path(out)
    parts = split_by_setting(records) or {"": []}
    mixed = len(parts) > 1
    texts: dict[str, list[str]] = {"table2": [], "table3": [], "kinds": [], "significance": []}
    frames: dict[str, list[pd.DataFrame]] = {"table2": [], "table3": []}
    for setting, part in parts.items():
        suffix = f" (setting: {setting})" if mixed else ""
        comps, floor = comparisons(part), floor_comparisons(part)
        for name, frame in (("table2", table2(part, comps)), ("table3", table3(part, comps))):
            title = ("Table 2: methods" if name == "table2" else "Table 3: FRAMI ablations") + suffix
            rows = {c.method for c in floor} & (set(table2_columns()) if name == "table2" else set(table3_rows()))
            table = frame.to_markdown(index=False)
            note = f"\n{TEACHER_NOTE}" if TEACHER_MARK.strip() in table else ""
            texts[name].append(f"## {title}\n\n{LEGEND}\n{table}\n{note}"
                               + floor_section([c for c in floor if c.method in rows]))
            frames[name].append(frame.assign(setting=setting) if mixed else frame)
        kinds = kind_table(part)
        if not kinds.empty:
            texts["kinds"].append(f"## Accuracy on time-dependent vs time-independent classes{suffix}\n\n"
                                  + kinds.to_markdown(index=False, floatfmt=".2f") + "\n")
        texts["significance"].append(significance_text(comps, suffix) + floor_section(floor))
    for name in ("table2", "table3"):
        frame = pd.concat(frames[name], ignore_index=True) if frames[name] else pd.DataFrame()
        write_atomic(out / f"{name}.md", header + "\n".join(texts[name]))
        write_atomic(out / f"{name}.csv", frame.to_csv(index=False))
        write_atomic(out / f"{name}.tex", frame.to_latex(index=False, escape=True))
    if texts["kinds"]:
        write_atomic(out / "table_td_tid.md", header + "\n".join(texts["kinds"]))
    write_atomic(out / "significance.md", header + "\n".join(texts["significance"]))
    write_seeds(records, out, header)


FLOOR_TEXT = ("Each data-free row against `kd-noise` (KD on teacher-labelled Gaussian noise, same loop and budget): "
              "the margin a method's synthesis buys. Same two-level bootstrap as above; Holm over the data-free "
              "methods of each dataset and pair; *supported* = beats the floor.\n")


def floor_section(comps: list[Comparison]) -> str:
    """The margin-over-the-floor table, or nothing when the records hold no kd-noise to compare with."""
    if not comps:
        return ""
    return f"\n### Margin over the kd-noise floor\n\n{FLOOR_TEXT}\n{floor_frame(comps).to_markdown(index=False)}\n"


def significance_text(comps: list[Comparison], suffix: str = "") -> str:
    sig = significance_frame(comps)
    body = sig.to_markdown(index=False, floatfmt=".3g") if not sig.empty else "No comparable records."
    limits = seed_limits(comps)
    return (f"## Significance of the paper's claims{suffix}\n\n" + METHOD_TEXT + "\n"
            + ("### Limits with these seeds\n\n" + "\n".join(limits) + "\n\n" if limits else "")
            + body + "\n\n### In words\n\n" + "\n".join(verdict_sentences(comps)) + "\n")
