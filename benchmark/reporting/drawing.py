"""How every plot draws an accuracy and a log axis, so a reader can trust them at a glance.

- An accuracy with 3 or more seeds: its mean with the two-level bootstrap interval (intervals.py), which
  stays within [0, 100]. With fewer: the seeds themselves as small dots beside a hollow mean, no interval.
- A log axis: major ticks only, at 1, 2, 5 x 10^k (thinned to decades when many), labelled as plain numbers;
  minor ticks stay as marks without labels. matplotlib's default labels minor ticks when the data span less
  than a decade or two, and those labels (2x10^2 3x10^2 ...) overlapped on the committed curve.
"""
from __future__ import annotations

import math

import numpy as np
from matplotlib.ticker import FuncFormatter, Locator, LogLocator, NullFormatter

from .intervals import AccuracyInterval

MAX_TICKS = 6


class ReadableLogLocator(Locator):
    """Major ticks of a log axis, at most MAX_TICKS: 1-2-5 steps (1-2-3-5 over short spans), else decades, else
    every n-th decade."""

    def __call__(self):
        low, high = sorted(self.axis.get_view_interval())
        return self.tick_values(low, high)

    def tick_values(self, vmin, vmax):
        vmin, vmax = sorted((vmin, vmax))
        if not (vmax > 0 and math.isfinite(vmax)):
            return np.array([])
        vmin = max(vmin, vmax * 1e-12)
        decades = range(math.floor(math.log10(vmin)), math.ceil(math.log10(vmax)) + 1)
        fine = [m * 10.0 ** k for k in decades for m in (1, 2, 5) if vmin <= m * 10.0 ** k <= vmax]
        if len(fine) < 3:  # under ~5x: 1-2-3-5 steps
            fine = [m * 10.0 ** k for k in decades for m in (1, 2, 3, 5) if vmin <= m * 10.0 ** k <= vmax]
        if len(fine) < 2:  # under ~2.5x: the axis ends, two significant digits
            return np.array(sorted({float(f"{vmin:.2g}"), float(f"{vmax:.2g}")}))
        if len(fine) <= MAX_TICKS:
            return np.array(fine)
        whole = [10.0 ** k for k in decades if vmin <= 10.0 ** k <= vmax]
        return np.array(whole[::math.ceil(len(whole) / MAX_TICKS)])


def tick_text(value: float, _pos=None) -> str:
    """Plain numbers: 200, 5000, 20000, 0.5; scientific from a million on."""
    if value >= 1e6:
        return f"{value:.0e}".replace("e+0", "e")
    return f"{value:g}" if value < 1 else f"{value:,.0f}".replace(",", "")


def readable_log_axis(axis) -> None:
    """Put `axis` (ax.xaxis or ax.yaxis) on a log scale with readable major ticks only."""
    if axis is axis.axes.xaxis:
        axis.axes.set_xscale("log")
    else:
        axis.axes.set_yscale("log")
    axis.set_major_locator(ReadableLogLocator())
    axis.set_major_formatter(FuncFormatter(tick_text))
    axis.set_minor_locator(LogLocator(subs="auto"))
    axis.set_minor_formatter(NullFormatter())


def draw_accuracy(ax, position: float, interval: AccuracyInterval, *, color, marker: str = "o",
                  label: str | None = None, horizontal: bool = False) -> None:
    """One accuracy at `position` on the cost (or category) axis. `horizontal`: accuracy on the x axis."""
    def xy(pos, acc):
        return (acc, pos) if horizontal else (pos, acc)

    if interval.has_interval:
        err = np.array([[interval.mean - interval.low], [interval.high - interval.mean]]).clip(min=0)
        x, y = xy(position, interval.mean)
        ax.errorbar(x, y, **({"xerr": err} if horizontal else {"yerr": err}), fmt=marker, color=color,
                    capsize=3, label=label)
        return
    x, y = xy(position, interval.mean)
    ax.plot(x, y, marker=marker, ls="none", markerfacecolor="none", color=color,
            label=None if label is None else f"{label} (seeds, n={len(interval.seeds)})")
    seeds = np.asarray(interval.seeds)
    sx, sy = xy(np.full(len(seeds), position), seeds)
    ax.scatter(sx, sy, s=12, color=color, alpha=0.8, zorder=3)
