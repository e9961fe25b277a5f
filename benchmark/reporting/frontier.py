"""The cost-accuracy frontier of the data-free methods: what each costs per cell and what it buys.

Fast's table (zju-vipa/Fast-Datafree README) counts synthesis hours only; here every point carries
synthesis, KD and total seconds per cell side by side, and the speed-up against ADI and CMI in both, so the
two readings stand apart. A point is one method at one budget: one setting (preset plus its --set changes,
e.g. a `curve` sweep's `data_free.iterations=4`) of one dataset and pair; settings are never averaged.

Accuracy: mean over seeds with the two-level bootstrap interval (intervals.py). Margin: over `kd-noise` at
the same budget, with the seed-aware verdict (stats.claims.compare, Holm over the group). Pareto set: a point
is dominated when another point is cheaper in mean total seconds per cell and more accurate by the same
seed-aware test (Holm over every cheaper-vs-dearer comparison of the group); the others are the frontier.
With fewer than 3 seeds no verdict is reached, so nothing is dominated on accuracy alone.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from methods import FLOOR, METHODS

from ..stats.claims import Comparison, compare, latest
from ..stats.significance import holm
from ..store.record_schema import RunRecord
from ..store.settings import newest_config_only
from .intervals import accuracy_interval, interval_columns

SPEEDUP_REFERENCES = ("adi", "cmi")  # the slow inversion baselines every speed-up is read against
FAMILY = "frontier"
GROUP = ["dataset", "pair", "preset"]


def budget_of(record: RunRecord) -> str:
    """The record's changes to its preset as `block.field=value` ('' for the preset itself), without the blocks of
    other methods: a curve's `fast.iterations` does not change its kd-noise or CMI cells."""
    overrides = (record.config or {}).get("overrides") or {}
    return ", ".join(f"{block}.{name}={value}" for block, fields in sorted(overrides.items())
                     if block == record.method or block not in METHODS
                     for name, value in sorted(fields.items()))


def phase_seconds(record: RunRecord, phase: str) -> float:
    return float((record.phases.get(phase) or {}).get("seconds", 0.0))


def is_frontier_method(records: list[RunRecord]) -> bool:
    """Data-free points: synthesis through the teacher (sample-iterations > 0), and the kd-noise floor."""
    return any(r.method == FLOOR or (r.phases.get("synthesis") or {}).get("sample_iterations", 0) > 0
               for r in records)


@dataclass(frozen=True)
class Point:
    """One method at one budget in one (dataset, pair, preset): its ok records (one per seed) and costs."""

    dataset: str
    pair: str
    preset: str
    method: str
    budget: str
    records: tuple[RunRecord, ...]

    @property
    def label(self) -> str:
        return self.method + (f" @ {self.budget}" if self.budget else "")

    def mean_seconds(self, phase: str) -> float:
        return float(np.mean([phase_seconds(r, phase) for r in self.records]))

    @property
    def total_seconds(self) -> float:
        """Every timed phase of the cell (synthesis, KD, evaluation), mean over seeds."""
        return float(np.mean([sum(phase_seconds(r, p) for p in r.phases) for r in self.records]))

    @property
    def sample_iterations(self) -> float:
        return float(np.mean([(r.phases.get("synthesis") or {}).get("sample_iterations", 0) for r in self.records]))

    def relabelled(self) -> list[RunRecord]:
        """The records under the point's label, so the verdict machinery (which selects by method) tells
        budgets of one method apart."""
        return [dataclasses.replace(r, method=self.label) for r in self.records]


def frontier_points(records: list[RunRecord]) -> list[Point]:
    """Every data-free point and the floor's, from the latest ok record of each cell (one config hash each)."""
    ok = [r for r in newest_config_only(latest(records)) if r.ok and r.accuracy is not None]
    cells: dict[tuple, dict[int, RunRecord]] = {}
    for r in ok:  # a seed of one setting measured in two folders counts once: the first folder's (--out, then --with)
        cells.setdefault((r.dataset, r.pair, r.preset, r.method, budget_of(r)), {}).setdefault(r.seed, r)
    return [Point(*key, tuple(by_seed[s] for s in sorted(by_seed))) for key, by_seed in sorted(cells.items())
            if is_frontier_method(list(by_seed.values()))]


def _holm(family: list[Comparison]) -> list[Comparison]:
    for row, p in zip(family, holm([c.bootstrap_p for c in family])):
        row.holm_p = p
    return family


def floor_verdicts(points: list[Point]) -> dict[str, Comparison]:
    """Label -> the point against kd-noise at the same budget (else the group's only kd-noise point); Holm over
    the group's points."""
    floors = [p for p in points if p.method == FLOOR]
    family = []
    for p in points:
        if p.method == FLOOR:
            continue
        same = [f for f in floors if f.budget == p.budget] or (floors if len(floors) == 1 else [])
        if same:
            records = p.relabelled() + same[0].relabelled()
            family.append(compare(records, p.dataset, p.pair, FAMILY, p.label, same[0].label))
    return {c.method: c for c in _holm(family)}


def dominance(points: list[Point]) -> dict[str, list[str]]:
    """Label -> the labels of cheaper points that beat it by the seed-aware test (Holm over the group)."""
    records = [r for p in points for r in p.relabelled()]
    family = [compare(records, b.dataset, b.pair, FAMILY, b.label, a.label)
              for a in points for b in points if b.total_seconds < a.total_seconds]
    beaten: dict[str, list[str]] = {p.label: [] for p in points}
    for c in _holm(family):
        if c.verdict() == "supported":
            beaten[c.baseline].append(c.method)
    return beaten


def reference_point(points: list[Point], method: str, budget: str) -> Point | None:
    """The speed-up reference: `method` at the preset's own budget, else at the same budget."""
    for wanted in ("", budget):
        found = [p for p in points if p.method == method and p.budget == wanted]
        if found:
            return found[0]
    return None


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else np.nan


def group_frame(points: list[Point]) -> pd.DataFrame:
    """The frontier rows of one (dataset, pair, preset), cheapest total first."""
    margins = floor_verdicts(points)
    beaten = dominance(points)
    classes = {len(set(r.test_targets)) for p in points for r in p.records if r.test_targets}
    rows = []
    for p in sorted(points, key=lambda p: p.total_seconds):
        interval = accuracy_interval(list(p.records))
        margin = margins.get(p.label)
        row = {"dataset": p.dataset, "pair": p.pair, "preset": p.preset, "method": p.method, "budget": p.budget,
               "label": p.label, "seeds": len(p.records), **interval_columns(interval),
               "margin_vs_kd-noise": margin.mean_diff if margin else np.nan,
               "beats_kd-noise": margin.verdict() if margin else "",
               "synthesis_s": p.mean_seconds("synthesis"), "kd_s": p.mean_seconds("distill"),
               "total_s": p.total_seconds, "sample_iterations": p.sample_iterations}
        for ref in SPEEDUP_REFERENCES:
            base = reference_point(points, ref, p.budget)
            row[f"speedup_synthesis_vs_{ref}"] = (_ratio(base.mean_seconds("synthesis"), row["synthesis_s"])
                                                  if base else np.nan)
            row[f"speedup_total_vs_{ref}"] = _ratio(base.total_seconds, row["total_s"]) if base else np.nan
        row |= {"pareto": not beaten[p.label], "dominated_by": ", ".join(beaten[p.label]),
                "chance": 100.0 / max(classes) if classes else np.nan}
        rows.append(row)
    return pd.DataFrame(rows)


def frontier_frame(records: list[RunRecord]) -> pd.DataFrame:
    """One row per point, grouped by dataset, pair and preset; empty when no data-free records."""
    points = frontier_points(records)
    groups: dict[tuple, list[Point]] = {}
    for p in points:
        groups.setdefault((p.dataset, p.pair, p.preset), []).append(p)
    frames = [group_frame(g) for _, g in sorted(groups.items())]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

