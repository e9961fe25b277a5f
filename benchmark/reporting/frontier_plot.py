"""frontier.png: accuracy against total seconds per cell (log), one point per method and budget, with the
kd-noise floor and chance drawn and the Pareto set connected."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from methods import FLOOR

from .drawing import draw_accuracy, readable_log_axis
from .intervals import interval_of
from .plots import panels, save

MARKERS = "osD^vP*Xh<>"


def plot_frontier(frame: pd.DataFrame, path: Path) -> list[list[str]]:
    """One panel per dataset, pair (and preset when several); returns each panel's legend labels."""
    shown = frame.copy()
    if shown.preset.nunique() > 1:
        shown["pair"] = shown.pair + " [" + shown.preset + "]"
    plt, fig, axes_groups = panels(shown, 4.8)
    colors = {m: plt.cm.tab10(i % 10) for i, m in enumerate(sorted(frame.method.unique()))}
    for ax, ((dataset, pair), g) in axes_groups:
        budgets = {b: i for i, b in enumerate(sorted(g.budget.unique()))}
        for _, row in g.iterrows():
            draw_accuracy(ax, row.total_s, interval_of(row), color=colors[row.method],
                          marker=MARKERS[budgets[row.budget] % len(MARKERS)], label=row.label)
        front = g[g.pareto].sort_values("total_s")
        ax.plot(front.total_s, front.accuracy, color="0.35", lw=1, ls="-", zorder=1,
                label="Pareto set (not dominated)")
        floor = g[(g.method == FLOOR) & (g.budget == "")]
        floor = floor if len(floor) else g[g.method == FLOOR]
        if len(floor):
            ax.axhline(floor.accuracy.iloc[0], color="tab:red", lw=1.2, alpha=0.8,
                       label=f"{FLOOR} floor ({floor.accuracy.iloc[0]:.1f}%)")
        chance = g.chance.dropna()
        if len(chance):
            ax.axhline(chance.iloc[0], ls=":", lw=1.2, color="black", label=f"chance ({chance.iloc[0]:.1f}%)")
        readable_log_axis(ax.xaxis)
        ax.set_xlabel("total seconds per cell (synthesis + KD + evaluation), log")
        ax.set_ylabel("test accuracy (%): mean, 95% two-level bootstrap CI\n(seeds as dots when fewer than 3)")
        ax.set_title(f"{dataset} {pair}", fontsize=9)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return save(plt, fig, path)
