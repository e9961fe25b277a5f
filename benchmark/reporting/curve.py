"""Budget curves: accuracy against synthesis cost, the cost–accuracy frontier of the data-free methods.

A curve varies one config field (default `data_free.iterations`: optimisation steps per synthesized
batch) over several values; each value is a sweep of the preset changed by `--set`-style overrides
(benchmark/config/customize.py), so every point's records carry the value in `config.overrides` and its own
config hash, and an interrupted curve resumes like any sweep. Points are read from the resolved configs
of the records in the folder, so records of the preset's own run copied into it are a point as well. Each
point reports, per method: accuracy (mean and the two-level bootstrap 95% interval over seeds and clips,
reporting/intervals.py, and every seed), synthesis sample-iterations and wall seconds per cell, and the
margin over `kd-noise` at the same budget.

Several axes (`--vary cmi.iterations=6,12,24 --vary fast.iterations=2,5,10`) are zipped by position: budget
point k sets the k-th value of every axis, so methods whose own blocks set a field (Fast's iterations at the
cpu preset) each run over their own values in one curve. A record is then at point k when its resolved cell
config is the one point k's preset gives its method; a method no axis changes (kd-noise there) runs once and
is at every point.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from methods import FLOOR, METHODS
from methods.overrides import SCOPES, ConfigKeyError, scope_of

from ..config.cells import Cell, cell_config
from ..config.customize import NESTED_CONFIGS, customized, parse_value
from ..config.presets import Preset
from ..store.disk import write_atomic
from ..store.record_schema import RunRecord
from .drawing import draw_accuracy, readable_log_axis
from .intervals import accuracy_interval, interval_columns, interval_of
from .plots import ACCURACY_LABEL, panels, save


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


@dataclasses.dataclass(frozen=True)
class Axes:
    """What a curve varies: one axis (its points are its values, labelled by them), or several of as many
    values zipped by position (budget point k sets the k-th value of each, labelled 1..K)."""

    axes: tuple[Axis, ...]

    @classmethod
    def of(cls, axes: "Axis | Axes | list[Axis] | tuple[Axis, ...]") -> "Axes":
        if isinstance(axes, Axes):
            return axes
        axes = (axes,) if isinstance(axes, Axis) else tuple(axes)
        names = [a.name for a in axes]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ConfigKeyError(f"--vary {', '.join(twice)} given more than once; give each field once with all "
                                 f"its values")
        if len({len(a.values) for a in axes}) > 1:
            counts = "; ".join(f"{a.name} has {len(a.values)} ({', '.join(map(str, a.values))})" for a in axes)
            raise ConfigKeyError(f"several --vary are zipped by position (budget point k takes the k-th value of "
                                 f"each), so each needs as many values: {counts}")
        return cls(axes)

    @property
    def zipped(self) -> bool:
        return len(self.axes) > 1

    @property
    def name(self) -> str:
        return ", ".join(a.name for a in self.axes)

    @property
    def column(self) -> str:
        """The points' column: the field's name for one axis, `budget` (1..K) for zipped axes."""
        return "budget" if self.zipped else self.axes[0].name

    @property
    def points(self) -> tuple[Any, ...]:
        return tuple(range(1, len(self.axes[0].values) + 1)) if self.zipped else self.axes[0].values

    def label(self, k: int) -> str:
        """Point k (0-based) as the command prints it."""
        settings = ", ".join(f"{a.name}={a.values[k]}" for a in self.axes)
        return f"budget {k + 1} ({settings})" if self.zipped else settings

    def presets(self, base: Preset) -> list[Preset]:
        """One checked preset per point (a bad field or value fails here, before anything runs)."""
        if not self.zipped:
            return self.axes[0].presets(base)
        points = []
        for k in range(len(self.points)):
            changes: dict[str, dict[str, Any]] = {}
            for a in self.axes:
                changes.setdefault(a.block, {})[a.field] = a.values[k]
            points.append(customized(base, changes))
        return points

    def check(self, base: Preset, methods: tuple[str, ...]) -> None:
        """Combinations that would vary nothing or the wrong thing, refused before any work: an axis on a method
        not run; a `--set` of a varied field (the axis would silently replace it); a scope axis whose field a run
        method's own block sets (that block wins, so the method would not move: it needs its own axis)."""
        for a in self.axes:
            if a.block in METHODS.names() and a.block not in methods:
                raise ConfigKeyError(f"--vary {a.name}: {a.block} is not in --methods ({', '.join(methods)}); "
                                     f"add it or drop this axis")
            if a.field in base.overrides.get(a.block, {}):
                raise ConfigKeyError(f"--vary {a.name} and --set/--config {a.name}="
                                     f"{base.overrides[a.block][a.field]!r} both set {a.name}; drop the --set")
            if a.block not in SCOPES:
                continue
            for method in methods:
                own = base.per_method.get(method, {})
                if (a.field in own and scope_of(METHODS.get(method).config) == a.block
                        and f"{method}.{a.field}" not in {b.name for b in self.axes}):
                    values = ",".join("V" for _ in a.values)
                    raise ConfigKeyError(
                        f"--vary {a.name} does not reach {method}: its block (preset {base.name}'s, with any "
                        f"--set) sets {a.field} = {own[a.field]!r}, which wins over {a.block}; add --vary "
                        f"{method}.{a.field}={values} ({len(a.values)} values, zipped with {a.name} by position)")

    def points_of(self, record: RunRecord, presets: list[Preset] | None,
                  seen: dict[tuple[str, int], str] | None = None) -> list[Any]:
        """The points a record is at: one axis, its value of the field (any value, so a run of the preset itself
        copied into the folder is a point too); zipped axes, every k whose preset gives the record's method the
        record's cell config (all of them for a method no axis changes). `seen` keeps each (method, k)'s config
        across the records of one report."""
        if not self.zipped:
            value = self.axes[0].value_of(record)
            return [] if value is None else [value]
        if presets is None:
            raise ValueError("zipped --vary axes need the curve's presets to place records at budget points")
        seen = {} if seen is None else seen
        for k, preset in enumerate(presets):
            if (record.method, k) not in seen:
                seen[record.method, k] = what_runs(record.method, preset)
        ran = _identity(record.config or {})
        return [k + 1 for k in range(len(presets)) if seen[record.method, k] == ran]

    def settings(self, record: RunRecord) -> dict[str, Any]:
        """For zipped axes, the record's own value of each varied field (column `field`, or `block.field` for
        data and frontend), so a row says what budget k meant for its method."""
        if not self.zipped:
            return {}
        out = {}
        for a in self.axes:
            out.setdefault(a.name if a.block in NESTED_CONFIGS else a.field, a.value_of(record))
        return out


def _identity(config: dict) -> str:
    """A cell config as compared across points: without the overrides that name the point, nor a teacher file."""
    kept = {k: v for k, v in config.items() if k not in ("overrides", "teacher_checkpoint")}
    return json.dumps(kept, sort_keys=True, default=str)


def what_runs(method: str, preset: Preset) -> str:
    """What determines a cell of `method` at `preset`, whatever its overrides are called."""
    return _identity(json.loads(json.dumps(cell_config(Cell("d", "t", "s", method, 0), preset), default=str)))


def methods_per_value(methods: tuple[str, ...], presets: list[Preset]) -> list[tuple[str, ...]]:
    """For each value's preset, the methods to run there: all at the first value, later only those whose
    cell config (method, teacher training, data, front end) the axis changed; a method without the field
    (kd under data_free.iterations) runs once, not once per value."""
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


def curve_frame(records: list[RunRecord], axis: Axis | Axes, methods: tuple[str, ...] | None = None,
                presets: list[Preset] | None = None) -> pd.DataFrame:
    """One row per (dataset, pair, method, point) with ok records at a point of the axes (of `methods` only,
    when given); zipped axes need the curve's `presets` (Axes.presets)."""
    axes = Axes.of(axis)
    rows, kept, settings, seen = [], {}, {}, {}
    for r in records:
        if not r.ok or (methods and r.method not in methods):
            continue
        synthesis = r.phases.get("synthesis") or {}
        for value in axes.points_of(r, presets, seen):
            kept.setdefault((r.dataset, r.pair, r.method, value), []).append(r)
            settings.setdefault((r.dataset, r.pair, r.method, value), axes.settings(r))
            rows.append({"dataset": r.dataset, "pair": r.pair, "method": r.method, "value": value, "seed": r.seed,
                         "accuracy": r.accuracy, "sample_iterations": synthesis.get("sample_iterations", 0),
                         "wall_seconds": r.wall_seconds})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    points = []
    for (dataset, pair, method, value), g in frame.groupby(["dataset", "pair", "method", "value"]):
        interval = accuracy_interval(kept[(dataset, pair, method, value)])
        floor = frame[(frame.dataset == dataset) & (frame.pair == pair) & (frame.method == FLOOR)
                      & (frame.value == value)]
        shared = g.merge(floor[["seed", "accuracy"]], on="seed", suffixes=("", "_floor"))
        points.append({"dataset": dataset, "pair": pair, "method": method, axes.column: value,
                       **settings[(dataset, pair, method, value)], "seeds": len(g),
                       "sample_iterations_per_cell": g.sample_iterations.mean(),
                       "wall_s_per_cell": g.wall_seconds.mean(), **interval_columns(interval),
                       "per_seed": ", ".join(f"{s}: {a:.1f}" for s, a in zip(g.seed, g.accuracy)),
                       "margin_vs_kd-noise": ((shared.accuracy - shared.accuracy_floor).mean()
                                              if method != FLOOR and len(shared) else np.nan)})
    return pd.DataFrame(points).sort_values(["dataset", "pair", "method", axes.column]).reset_index(drop=True)


def plot_curve(points: pd.DataFrame, axis: Axis | Axes, x: str, label: str, path: Path, chance: float | None) -> None:
    """Accuracy against `x` per method: the means joined by a line, each with its two-level bootstrap interval
    (or its seeds below 3); kd-noise, whose synthesis costs no sample-iterations, is a band across the
    sample-iteration plot."""
    plt, fig, axes_groups = panels(points, 4.5)
    for ax, ((dataset, pair), g) in axes_groups:
        for i, (method, m) in enumerate(g.groupby("method")):
            if method == FLOOR and x == "sample_iterations_per_cell":
                mean = m.accuracy.mean()
                ax.axhline(mean, color="tab:red", lw=1.2, label=f"{FLOOR} (all budgets: {mean:.1f}%)")
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


def what_varies(axes: Axes) -> str:
    """The curve.md heading: the one field and its values, or the budget points of the zipped axes."""
    if not axes.zipped:
        a = axes.axes[0]
        return f"varying `{a.name}` over {', '.join(map(str, a.values))}"
    each = "; ".join(f"`{a.name}` {', '.join(map(str, a.values))}" for a in axes.axes)
    return (f"budget points 1..{len(axes.points)}, point k setting the k-th value of {each}. A method no axis "
            f"changes ran once and is shown at every point.")


def setting_text(value) -> str:
    """A config value for the table: numbers in their shortest exact form, '—' where the method has no such field."""
    if isinstance(value, float):
        return "—" if value != value else f"{value:g}"
    return str(value)


def write_curve(records: list[RunRecord], axis: Axis | Axes, out: Path, header: str,
                methods: tuple[str, ...] | None = None, presets: list[Preset] | None = None) -> pd.DataFrame:
    """curve.md, curve.csv and the two plots under `out` (zipped axes need the curve's `presets`)."""
    out = Path(out)
    axis = Axes.of(axis)
    points = curve_frame(records, axis, methods, presets)
    if points.empty:
        write_atomic(out / "curve.md", header + "\nNo ok records at any point of the curve yet.\n")
        return points
    classes = {len(set(r.test_targets)) for r in records if r.ok and r.test_targets}
    chance = 100.0 / max(classes) if classes else None  # 100 / classes in the test split
    shown = points.copy()
    shown["accuracy"] = [interval_of(row).text() for _, row in points.iterrows()]
    shown = shown.drop(columns=["ci_low", "ci_high", "seed_accuracies"])
    for field_name in {a.name.rpartition(".")[2] for a in axis.axes} & set(shown.columns):
        # the varied settings as given (a learning rate of 0.005 must not print as 0.01 under floatfmt .2f)
        shown[field_name] = [setting_text(v) for v in shown[field_name]]
    write_atomic(out / "curve.csv", points.assign(seed_accuracies=[" ".join(f"{a:.4g}" for a in seeds) for seeds
                                                                   in points.seed_accuracies]).to_csv(index=False))
    text = (header + f"\n## Budget curve: {what_varies(axis)}\n\n"
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
