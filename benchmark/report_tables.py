"""Table 2, Table 3, the TD/TID split and the significance report, from records alone.

Cells show mean ± sample std over seeds and n (ok records only; failures are counted, never
averaged); the paper's number and our difference from it stand in a row beneath where the
paper reports that cell. Marks: * = differs from FRAMI with Holm-adjusted McNemar p < 0.05
within its table family (dataset and pair).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .records import cell_key, write_atomic
from .reference import paper_accuracy
from .statistics import bootstrap_ci_diff, holm, mcnemar_exact, paired_correctness, paired_seed_test

TABLE2_COLUMNS = {"teacher": "Teacher", "student": "Student", "kd": "KD", "adi": "ADI", "cmi": "CMI",
                  "frami": "FRAMI"}
TABLE3_ROWS = {"frami": "FRAMI (full)", "frami-no-finv": "w/o T_finv", "frami-no-reused": "w/o Reused",
               "frami-no-finv-no-reused": "w/o T_finv w/o Reused"}
# The comparisons the paper's claims rest on: (method, baseline), claim = method beats baseline.
TABLE2_CLAIMS = [("frami", "adi"), ("frami", "kd"), ("frami", "cmi")]
TABLE3_CLAIMS = [("frami", m) for m in ("frami-no-finv", "frami-no-reused", "frami-no-finv-no-reused")]
ALPHA = 0.05


def latest(records: list[dict]) -> list[dict]:
    newest: dict[str, dict] = {}
    for r in records:
        newest[cell_key(r)] = r
    return list(newest.values())


def groups(records: list[dict]) -> list[tuple[str, str]]:
    return sorted({(r["dataset"], r["pair"]) for r in records})


def select(records: list[dict], dataset: str, pair: str, method: str) -> tuple[list[dict], int]:
    """(ok records, number of failed/diverged) of one table cell."""
    cell = [r for r in records if (r["dataset"], r["pair"], r["method"]) == (dataset, pair, method)]
    return [r for r in cell if r.get("status") == "ok"], sum(r.get("status") != "ok" for r in cell)


def format_cell(ok: list[dict], failed: int, mark: str = "") -> str:
    if not ok:
        return f"— ({failed} failed)" if failed else "—"
    acc = np.array([r["accuracy"] for r in ok], float)
    std = f" ± {acc.std(ddof=1):.2f}" if len(acc) > 1 else ""
    text = f"{acc.mean():.2f}{std} (n={len(acc)}){mark}"
    return text + (f", {failed} failed" if failed else "")


def paper_cell(ok: list[dict], paper: float | None) -> str:
    if paper is None:
        return "—"
    if not ok:
        return f"{paper:.2f}"
    ours = float(np.mean([r["accuracy"] for r in ok]))
    return f"{paper:.2f} (Δ {ours - paper:+.2f})"


@dataclass
class Comparison:
    dataset: str
    pair: str
    family: str
    method: str
    baseline: str
    n_seeds: int
    mean_diff: float
    seed_test: str
    seed_p: float
    mcnemar_p: float
    discordant: str
    ci_low: float
    ci_high: float
    holm_p: float = np.nan

    def verdict(self) -> str:
        if np.isnan(self.holm_p):
            return "not testable (missing records)"
        if self.holm_p < ALPHA and self.ci_low > 0:
            return "supported"
        if self.holm_p < ALPHA and self.ci_high < 0:
            return "contradicted (significant in the opposite direction)"
        return "not significant"


def compare(records, dataset, pair, family, method, baseline) -> Comparison:
    ok_m, _ = select(records, dataset, pair, method)
    ok_b, _ = select(records, dataset, pair, baseline)
    by_seed = {r["seed"]: r["accuracy"] for r in ok_b}
    shared = [r for r in ok_m if r["seed"] in by_seed]
    seed_test = paired_seed_test([r["accuracy"] for r in shared], [by_seed[r["seed"]] for r in shared])
    correct_m, correct_b = paired_correctness(ok_m, ok_b)
    if len(correct_m):
        mc = mcnemar_exact(correct_m, correct_b)
        ci = bootstrap_ci_diff(correct_m, correct_b)
        mc_p, discordant, low, high = mc.p_value, f"{mc.a_only}/{mc.b_only}", ci.low, ci.high
    else:
        mc_p, discordant, low, high = np.nan, "—", np.nan, np.nan
    return Comparison(dataset, pair, family, method, baseline, seed_test.n, seed_test.mean_diff, seed_test.name,
                      seed_test.p_value, mc_p, discordant, low, high)


def comparisons(records: list[dict]) -> list[Comparison]:
    """Holm's correction runs over each family: one table's claims for one dataset and pair."""
    records = latest(records)
    out = []
    for dataset, pair in groups(records):
        for family, claims in (("Table 2", TABLE2_CLAIMS), ("Table 3", TABLE3_CLAIMS)):
            family_rows = [compare(records, dataset, pair, family, m, b) for m, b in claims
                           if select(records, dataset, pair, m)[0] and select(records, dataset, pair, b)[0]]
            for row, p in zip(family_rows, holm([r.mcnemar_p for r in family_rows])):
                row.holm_p = p
            out.extend(family_rows)
    return out


def significant_vs_frami(comps: list[Comparison]) -> set[tuple[str, str, str]]:
    return {(c.dataset, c.pair, c.baseline) for c in comps if c.holm_p < ALPHA}


def table2(records: list[dict], comps: list[Comparison] | None = None) -> pd.DataFrame:
    records = latest(records)
    marks = significant_vs_frami(comps if comps is not None else comparisons(records))
    rows = []
    for dataset, pair in groups(records):
        ours = {"dataset": dataset, "pair": pair, "row": "ours"}
        paper = {"dataset": dataset, "pair": pair, "row": "paper"}
        for method, column in TABLE2_COLUMNS.items():
            ok, failed = select(records, dataset, pair, method)
            ours[column] = format_cell(ok, failed, "*" if (dataset, pair, method) in marks else "")
            paper[column] = paper_cell(ok, paper_accuracy(dataset, pair, method))
        rows.append(ours)
        if any(paper_accuracy(dataset, pair, m) is not None for m in TABLE2_COLUMNS):
            rows.append(paper)
    return pd.DataFrame(rows, columns=["dataset", "pair", "row", *TABLE2_COLUMNS.values()])


def table3(records: list[dict], comps: list[Comparison] | None = None) -> pd.DataFrame:
    records = latest(records)
    marks = significant_vs_frami(comps if comps is not None else comparisons(records))
    columns = [g for g in groups(records) if any(select(records, *g, m)[0] or select(records, *g, m)[1]
                                                 for m in TABLE3_ROWS)]
    rows = []
    for method, label in TABLE3_ROWS.items():
        row = {"method": label}
        for dataset, pair in columns:
            ok, failed = select(records, dataset, pair, method)
            cell = format_cell(ok, failed, "*" if (dataset, pair, method) in marks else "")
            paper = paper_accuracy(dataset, pair, method)
            row[f"{dataset} {pair}"] = cell + (f" | paper {paper_cell(ok, paper)}" if paper is not None else "")
        rows.append(row)
    return pd.DataFrame(rows)


def kind_table(records: list[dict]) -> pd.DataFrame:
    """Mean accuracy on time-dependent vs time-independent classes (datasets that define them)."""
    records = [r for r in latest(records) if r.get("status") == "ok" and r.get("accuracy_by_kind")]
    rows = []
    for dataset, pair in groups(records):
        for method in [*TABLE2_COLUMNS, *list(TABLE3_ROWS)[1:]]:
            ok = [r for r in records if (r["dataset"], r["pair"], r["method"]) == (dataset, pair, method)]
            if ok:
                td = np.mean([r["accuracy_by_kind"].get("TD", np.nan) for r in ok])
                tid = np.mean([r["accuracy_by_kind"].get("TID", np.nan) for r in ok])
                rows.append({"dataset": dataset, "pair": pair, "method": method, "n": len(ok), "TD": td, "TID": tid,
                             "TD - TID": td - tid})
    return pd.DataFrame(rows)


def significance_frame(comps: list[Comparison]) -> pd.DataFrame:
    return pd.DataFrame([{
        "family": c.family, "dataset": c.dataset, "pair": c.pair, "comparison": f"{c.method} vs {c.baseline}",
        "seeds": c.n_seeds, "mean diff (pp)": c.mean_diff, f"{c.seed_test} p": c.seed_p,
        "McNemar p (pooled seeds)": c.mcnemar_p, "discordant (method/baseline)": c.discordant,
        "bootstrap 95% CI (pp)": f"[{c.ci_low:.2f}, {c.ci_high:.2f}]", "Holm p": c.holm_p,
        "verdict": c.verdict()} for c in comps])


def verdict_sentences(comps: list[Comparison]) -> list[str]:
    return [f"- {c.family}, {c.dataset} {c.pair}: {c.method} vs {c.baseline}: {c.mean_diff:+.2f} pp over "
            f"{c.n_seeds} seeds, 95% CI [{c.ci_low:.2f}, {c.ci_high:.2f}], Holm p = {c.holm_p:.3g} -> the paper's "
            f"claim that {c.method} beats {c.baseline} is **{c.verdict()}** by our data." for c in comps]


LEGEND = ("Cells: mean ± sample std of test accuracy (%) over seeds (n = seeds with an ok record). `*`: differs from "
          "FRAMI with Holm-adjusted exact McNemar p < 0.05 within the table's family (same dataset and pair). "
          "`paper` rows: the FRAMI paper's number and our mean minus it, where the paper reports that cell "
          "(its pairs are resnet34:resnet18 and wrn40_2:wrn16_2 on the real datasets).\n")


def write_tables(records: list[dict], out: Path, header: str) -> None:
    out = Path(out)
    comps = comparisons(records)
    frames = {"table2": table2(records, comps), "table3": table3(records, comps)}
    for name, frame in frames.items():
        title = "Table 2: methods" if name == "table2" else "Table 3: FRAMI ablations"
        write_atomic(out / f"{name}.md", f"{header}## {title}\n\n{LEGEND}\n{frame.to_markdown(index=False)}\n")
        write_atomic(out / f"{name}.csv", frame.to_csv(index=False))
        write_atomic(out / f"{name}.tex", frame.to_latex(index=False, escape=True))
    kinds = kind_table(records)
    if not kinds.empty:
        write_atomic(out / "table_td_tid.md", header + "## Accuracy on time-dependent vs time-independent classes\n\n"
                     + kinds.to_markdown(index=False, floatfmt=".2f") + "\n")
    sig = significance_frame(comps)
    body = (sig.to_markdown(index=False, floatfmt=".3g") if not sig.empty else "No comparable records.")
    write_atomic(out / "significance.md", header + "## Significance of the paper's claims\n\n"
                 "Per comparison: paired test over seeds (t-test; Wilcoxon when n >= 6), exact McNemar on per-clip "
                 "correctness of the same test clips pooled over seeds, paired bootstrap 95% CI over clips of the "
                 "accuracy difference, Holm correction over each family (one table's comparisons for one dataset "
                 "and pair) applied to the McNemar p-values. A claim is *supported* when the Holm-adjusted p < 0.05 "
                 "and the CI lies above 0.\n\n" + body + "\n\n### In words\n\n" + "\n".join(verdict_sentences(comps))
                 + "\n")
