"""The leaderboard's figures. matplotlib (Agg) is imported on first use: most commands draw nothing.

Every panel marks where a result stops meaning anything: chance (100 / classes on the test split)
and, where the folder holds it, the `kd-noise` floor (KD on teacher-labelled noise at the same
budget); a data-free row near either line has learnt nothing the floor does not give.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from methods import FLOOR

from .drawing import draw_accuracy, readable_log_axis
from .intervals import interval_of

ACCURACY_LABEL = "test accuracy (%): mean, 95% two-level bootstrap CI\n(seeds as dots when fewer than 3)"
REFERENCE_METHODS = ("teacher", "student", "kd", "kd-subset")  # drawn as labelled horizontal lines


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def panels(board: pd.DataFrame, height: float):
    plt = pyplot()
    groups = list(board.groupby(["dataset", "pair"]))
    fig, axes = plt.subplots(1, len(groups), figsize=(6.5 * len(groups), height), squeeze=False)
    return plt, fig, zip(axes[0], groups)


def _reference_lines(ax, g: pd.DataFrame, vertical: bool = False) -> None:
    """Chance, the kd-noise floor and the data-driven references, each named in the legend."""
    line = ax.axvline if vertical else ax.axhline
    chance = g.chance.dropna()
    if len(chance):
        line(chance.iloc[0], ls=":", lw=1.2, color="black", label=f"chance ({chance.iloc[0]:.1f}%)")
    floor = g[g.method == FLOOR]
    if len(floor):
        line(floor.accuracy.iloc[0], ls="-", lw=1.2, color="tab:red", alpha=0.8,
             label=f"{FLOOR} floor ({floor.accuracy.iloc[0]:.1f}%)")
    if vertical:
        return
    for (_, row), color in zip(g[g.method.isin(REFERENCE_METHODS)].iterrows(), ("0.3", "0.5", "0.65", "0.8")):
        line(row.accuracy, ls="--", lw=0.8, color=color, label=f"{row.method} ({row.accuracy:.1f}%)")


def save(plt, fig, path: Path) -> list[list[str]]:
    """Write the figure; returns each panel's legend labels (what a reader can identify in it)."""
    labels = [ax.get_legend_handles_labels()[1] for ax in fig.axes]
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return labels


def plot_cost(board: pd.DataFrame, path: Path) -> list[list[str]]:
    """Accuracy against synthesis wall time per cell. Methods are told apart by marker and colour in
    a legend outside the axes (text labels beside the points overlapped when methods cost alike);
    the time axis is logarithmic, with readable major ticks only, when costs span more than 10x."""
    plt, fig, axes_groups = panels(board, 4.5)
    markers = "osD^vP*Xh<>"
    for ax, ((dataset, pair), g) in axes_groups:
        data_free = g[g.sample_iterations > 0].sort_values("synthesis_s")
        for i, (_, row) in enumerate(data_free.iterrows()):
            draw_accuracy(ax, row.synthesis_s, interval_of(row), color=plt.cm.tab10(i % 10),
                          marker=markers[i % len(markers)], label=row.method)
        _reference_lines(ax, g)
        seconds = data_free.synthesis_s[data_free.synthesis_s > 0]
        if len(seconds) and seconds.max() > 10 * seconds.min():
            readable_log_axis(ax.xaxis)
        ax.set_xlabel("synthesis wall time per cell (s)")
        ax.set_ylabel(ACCURACY_LABEL)
        ax.set_title(f"{dataset} {pair}", fontsize=9)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return save(plt, fig, path)


def plot_ranking(board: pd.DataFrame, path: Path) -> list[list[str]]:
    plt, fig, axes_groups = panels(board, 0.45 * board.method.nunique() + 1.8)
    for ax, ((dataset, pair), g) in axes_groups:
        g = g.sort_values("accuracy")
        ax.barh(range(len(g)), g.accuracy, color="tab:blue", alpha=0.6)
        for position, (_, row) in enumerate(g.iterrows()):
            draw_accuracy(ax, position, interval_of(row), color="black", marker="|", horizontal=True)
        ax.set_yticks(range(len(g)), g.method)
        _reference_lines(ax, g, vertical=True)
        ax.set_xlabel(ACCURACY_LABEL)
        ax.set_title(f"{dataset} {pair}", fontsize=9)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="lower right")
    return save(plt, fig, path)
