"""Budget curves: accuracy against synthesis cost, the cost–accuracy frontier of the data-free methods.

A curve varies one config field (default `data_free.iterations`: optimisation steps per synthesized
batch) over several values; each value is a sweep of the preset changed by `--set`-style overrides
(benchmark/customize.py), so every point's records carry the value in `config.overrides` and its own
config hash, and an interrupted curve resumes like any sweep. Points are read from the resolved configs
of the records in the folder, so records of the preset's own run copied into it are a point as well. Each
point reports, per method: accuracy (mean and the two-level bootstrap 95% interval over seeds and clips,
reporting/intervals.py, and every seed), synthesis sample-iterations and wall seconds per cell, and the
margin over `kd-noise` at the same budget.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from methods.overrides import ConfigKeyError

from .cell import Cell, cell_config
from .customize import NESTED_CONFIGS, customized, parse_value
from .plots import ACCURACY_LABEL, FLOOR_METHOD, panels, save
from .presets import Preset
from .record_schema import RunRecord
from .records import write_atomic
from .reporting.drawing import draw_accuracy, readable_log_axis
from .reporting.intervals import accuracy_interval, interval_columns, interval_of


@dataclasses.dataclass(frozen=True)
class Axis:
    """The field a curve varies and its values, as `block.field=v1,v2,...`."""

    block: str
    field: str
    values: tuple[Any, ...]

    @classmethod
    def parse(cls, text: str) -> "Axis":
        key, sep, raw = text.partition("=")
        block, dot, field = key.strip().partition(".")
        values = tuple(parse_value(v.strip()) for v in raw.split(",") if v.strip())
        if not sep or not dot or len(values) < 2:
            raise ConfigKeyError(f"--vary takes block.field=v1,v2,... with two or more values "
                                 f"(e.g. data_free.iterations=1,4,12,32), got {text!r}")
        return cls(block.strip(), field.strip(), values)

    @property
    def name(self) -> str:
        return f"{self.block}.{self.field}"

    def presets(self, base: Preset) -> list[Preset]:
        """One checked preset per value (a bad field or value fails here, before anything runs)."""
        return [customized(base, {self.block: {self.field: value}}) for value in self.values]

    def value_of(self, record: RunRecord) -> Any:
        """The field's value in the config the record ran with (resolved, so a run of the preset itself is a
        point too): config.data / config.frontend for those blocks, else the method's config."""
        config = record.config or {}
        section = config.get(self.block) if self.block in NESTED_CONFIGS else config.get("method")
        return (section or {}).get(self.field)


def methods_per_value(methods: tuple[str, ...], presets: list[Preset]) -> list[tuple[str, ...]]:
    """For each value's preset, the methods to run there: all at the first value, later only those whose
    cell config (method, teacher training, data, front end) the axis changed; a method without the field
    (kd under data_free.iterations) runs once, not once per value."""
    def what_runs(method: str, preset: Preset) -> str:
        config = cell_config(Cell("d", "t", "s", method, 0), preset)
        config.pop("overrides", None)
        return json.dumps(config, sort_keys=True, default=str)

    seen = {method: set() for method in methods}
    out = []
    for preset in presets:
        here = []
        for method in methods:
            key = what_runs(method, preset)
            if key not in seen[method]:
                seen[method].add(key)
                here.append(method)
        out.append(tuple(here))
    return out


def curve_frame(records: list[RunRecord], axis: Axis, methods: tuple[str, ...] | None = None) -> pd.DataFrame:
    """One row per (dataset, pair, method, value) with ok records at a value of the axis (of `methods` only,
    when given)."""
    rows, kept = [], {}
    for r in records:
        value = axis.value_of(r)
        if not r.ok or value is None or (methods and r.method not in methods):
            continue
        synthesis = r.phases.get("synthesis") or {}
        kept.setdefault((r.dataset, r.pair, r.method, value), []).append(r)
        rows.append({"dataset": r.dataset, "pair": r.pair, "method": r.method, "value": value, "seed": r.seed,
                     "accuracy": r.accuracy, "sample_iterations": synthesis.get("sample_iterations", 0),
                     "wall_seconds": r.wall_seconds})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    points = []
    for (dataset, pair, method, value), g in frame.groupby(["dataset", "pair", "method", "value"]):
        interval = accuracy_interval(kept[(dataset, pair, method, value)])
        floor = frame[(frame.dataset == dataset) & (frame.pair == pair) & (frame.method == FLOOR_METHOD)
                      & (frame.value == value)]
        shared = g.merge(floor[["seed", "accuracy"]], on="seed", suffixes=("", "_floor"))
        points.append({"dataset": dataset, "pair": pair, "method": method, axis.name: value, "seeds": len(g),
                       "sample_iterations_per_cell": g.sample_iterations.mean(),
                       "wall_s_per_cell": g.wall_seconds.mean(), **interval_columns(interval),
                       "per_seed": ", ".join(f"{s}: {a:.1f}" for s, a in zip(g.seed, g.accuracy)),
                       "margin_vs_kd-noise": ((shared.accuracy - shared.accuracy_floor).mean()
                                              if method != FLOOR_METHOD and len(shared) else np.nan)})
    return pd.DataFrame(points).sort_values(["dataset", "pair", "method", axis.name]).reset_index(drop=True)


def plot_curve(points: pd.DataFrame, axis: Axis, x: str, label: str, path: Path, chance: float | None) -> None:
    """Accuracy against `x` per method: the means joined by a line, each with its two-level bootstrap interval
    (or its seeds below 3); kd-noise, whose synthesis costs no sample-iterations, is a band across the
    sample-iteration plot."""
    plt, fig, axes_groups = panels(points, 4.5)
    for ax, ((dataset, pair), g) in axes_groups:
        for i, (method, m) in enumerate(g.groupby("method")):
            if method == FLOOR_METHOD and x == "sample_iterations_per_cell":
                mean = m.accuracy.mean()
                ax.axhline(mean, color="tab:red", lw=1.2, label=f"{FLOOR_METHOD} (all budgets: {mean:.1f}%)")
                continue
            color, marker = plt.cm.tab10(i % 10), "osD^v"[i % 5]
            m = m.sort_values(x)
            ax.plot(m[x], m.accuracy, color=color, lw=1, label=method)
            for _, row in m.iterrows():
                draw_accuracy(ax, row[x], interval_of(row), color=color, marker=marker)
        if chance:
            ax.axhline(chance, ls=":", color="black", lw=1, label=f"chance ({chance:.1f}%)")
        readable_log_axis(ax.xaxis)
        ax.set_xlabel(label)
        ax.set_ylabel(ACCURACY_LABEL)
        ax.set_title(f"{dataset} {pair}: varying {axis.name}", fontsize=9)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    save(plt, fig, path)


def write_curve(records: list[RunRecord], axis: Axis, out: Path, header: str,
                methods: tuple[str, ...] | None = None) -> pd.DataFrame:
    """curve.md, curve.csv and the two plots under `out`."""
    out = Path(out)
    points = curve_frame(records, axis, methods)
    if points.empty:
        write_atomic(out / "curve.md", header + "\nNo ok records at any point of the curve yet.\n")
        return points
    classes = {len(set(r.test_targets)) for r in records if r.ok and r.test_targets}
    chance = 100.0 / max(classes) if classes else None  # 100 / classes in the test split
    shown = points.copy()
    shown["accuracy"] = [interval_of(row).text() for _, row in points.iterrows()]
    shown = shown.drop(columns=["ci_low", "ci_high", "seed_accuracies"])
    write_atomic(out / "curve.csv", points.assign(seed_accuracies=[" ".join(f"{a:.4g}" for a in seeds) for seeds
                                                                   in points.seed_accuracies]).to_csv(index=False))
    text = (header + f"\n## Budget curve: varying `{axis.name}` over {', '.join(map(str, axis.values))}\n\n"
            "accuracy: mean over seeds [95% two-level bootstrap CI: seeds, then clips within seed, as the verdicts], "
            "or the seeds themselves when fewer than 3 (per_seed: seed: accuracy). "
            "sample_iterations_per_cell: teacher forward+backward per synthesized sample, summed over the cell's "
            "synthesis; wall_s_per_cell: the whole cell (synthesis, KD, evaluation). margin_vs_kd-noise: mean over "
            "shared seeds of (method - kd-noise) at the same budget, in pp.\n\n"
            + shown.to_markdown(index=False, floatfmt=".2f")
            + "\n\n![accuracy vs sample-iterations](curve_sample_iterations.png)\n"
            "![accuracy vs wall seconds](curve_wall_seconds.png)\n")
    write_atomic(out / "curve.md", text)
    plot_curve(points, axis, "sample_iterations_per_cell", "synthesis sample-iterations per cell",
               out / "curve_sample_iterations.png", chance)
    plot_curve(points, axis, "wall_s_per_cell", "wall seconds per cell", out / "curve_wall_seconds.png", chance)
    return points
