"""The leaderboard plots say where chance and the kd-noise floor are, and tell methods apart without
overlapping text labels; every plot draws intervals within [0, 100] (the two-level bootstrap), seeds instead of
an interval below 3 seeds, and log axes whose tick labels do not overlap. The plot tests
drive the writers the commands use and inspect the figures they save (Figure.savefig is wrapped)."""
import itertools

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.figure import Figure

from benchmark.reporting.curve import Axis, write_curve
from benchmark.reporting.drawing import ReadableLogLocator, tick_text
from benchmark.reporting.frontier import frontier_frame
from benchmark.reporting.frontier_plot import plot_frontier
from benchmark.reporting.leaderboard import write_leaderboard
from benchmark.reporting.plots import plot_cost, plot_ranking
from benchmark.store.record_schema import RunRecord

matplotlib.use("Agg")
CLIPS = 40


def _board(with_floor: bool) -> pd.DataFrame:
    rows = [("teacher", 90.0, 0, 0.0), ("student", 80.0, 0, 0.0), ("kd", 82.0, 0, 0.0),
            ("adi", 30.0, 1000, 10.0), ("cmi", 31.0, 2000, 10.5), ("frami", 31.5, 4000, 200.0)]
    if with_floor:
        rows.append(("kd-noise", 15.0, 1000, 0.5))
    return pd.DataFrame([{"dataset": "synth", "pair": "a:b", "method": m, "n": 3, "accuracy": acc, "ci95": 2.0,
                          "ci_low": acc - 2.0, "ci_high": acc + 2.0, "seed_accuracies": (acc - 1, acc, acc + 1),
                          "chance": 10.0, "sample_iterations": it, "synthesis_s": s} for m, acc, it, s in rows])


def test_cost_plot_names_chance_floor_references_and_every_data_free_method(tmp_path):
    (labels,) = plot_cost(_board(with_floor=True), tmp_path / "cost.png")
    assert (tmp_path / "cost.png").stat().st_size > 0
    assert "chance (10.0%)" in labels and "kd-noise floor (15.0%)" in labels
    assert {"adi", "cmi", "frami"} <= set(labels)  # a legend entry each, not a text label beside the point
    assert {"teacher (90.0%)", "student (80.0%)", "kd (82.0%)"} <= set(labels)


def test_without_a_floor_only_chance_is_drawn(tmp_path):
    (labels,) = plot_ranking(_board(with_floor=False), tmp_path / "ranking.png")
    assert labels == ["chance (10.0%)"]
    (labels,) = plot_ranking(_board(with_floor=True), tmp_path / "ranking.png")
    assert labels == ["chance (10.0%)", "kd-noise floor (15.0%)"]

@pytest.fixture
def saved(monkeypatch):
    """Every figure saved while the test runs."""
    figures = []
    original = Figure.savefig

    def keep(fig, *args, **kwargs):
        figures.append(fig)
        return original(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    return figures


def _record(method, seed, accuracy, iterations=24, synthesis_s=10.0, overrides=None):
    right = round(CLIPS * accuracy / 100)
    targets = [i % 4 for i in range(CLIPS)]
    predictions = [t if i < right else (t + 1) % 4 for i, t in enumerate(targets)]
    return RunRecord.from_dict({
        "dataset": "synth", "teacher": "t", "student": "s", "pair": "t:s", "method": method, "seed": seed,
        "preset": "cpu", "config_hash": f"h{iterations}", "status": "ok", "accuracy": 100.0 * right / CLIPS,
        "config": {"overrides": overrides or {}, "method": {"iterations": iterations}},
        "wall_seconds": 5.0 * iterations,
        "phases": {"synthesis": {"seconds": synthesis_s, "sample_iterations": 0 if method == "kd-noise" else
                                 192 * iterations}, "distill": {"seconds": 30.0}},
        "test_ids": [f"c{i}" for i in range(CLIPS)], "test_targets": targets, "test_predictions": predictions})


def _curve_records():
    """The committed curve's shape: 2 seeds per budget, 1 to 32 iterations (192 to 6144 sample-iterations),
    seeds far apart (a 2-seed t-interval then spans far beyond 0 and 100)."""
    out = []
    for it in (1, 4, 12, 32):
        over = {"data_free": {"iterations": it}}
        out += [_record("cmi", 0, 10.0, it, overrides=over), _record("cmi", 1, 90.0, it, overrides=over),
                _record("kd-noise", 0, 10.0, it, overrides=over), _record("kd-noise", 1, 10.0, it, overrides=over)]
    return out


def drawn_accuracies(ax, horizontal=False):
    """Every accuracy value an interval or a seed dot puts on the axes (errorbar segments and caps, dots)."""
    column = 0 if horizontal else 1
    values = []
    for artist in ax.collections:
        if isinstance(artist, LineCollection):
            values += [point[column] for segment in artist.get_segments() for point in segment]
        elif isinstance(artist, PathCollection):
            values += list(np.asarray(artist.get_offsets())[:, column])
    for line in ax.lines:
        data = line.get_xdata() if horizontal else line.get_ydata()
        values += [float(v) for v in np.atleast_1d(data)]
    return np.asarray(values, float)


def overlapping_tick_labels(fig):
    """Pairs of visible tick labels (major and minor) whose drawn text boxes intersect, per axis."""
    canvas = FigureCanvasAgg(fig)  # a saved figure is closed; draw it again on an Agg canvas
    canvas.draw()
    renderer = canvas.get_renderer()
    found = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            labels = [t for t in axis.get_majorticklabels() + axis.get_minorticklabels()
                      if t.get_visible() and t.get_text()]
            boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in labels]
            found += [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2) if box_a.overlaps(box_b)]
    return found


def test_curve_intervals_stay_within_0_and_100_and_two_seeds_are_drawn_as_seeds(tmp_path, saved):
    write_curve(_curve_records(), Axis.parse("data_free.iterations=1,4,12,32"), tmp_path, "# h\n")
    assert len(saved) == 2
    for fig in saved:
        (ax,) = fig.axes
        values = drawn_accuracies(ax)
        assert values.min() >= 0 and values.max() <= 100, (values.min(), values.max())
        assert not any(isinstance(c, LineCollection) for c in ax.collections)  # 2 seeds: no interval at all
        dots = np.concatenate([c.get_offsets()[:, 1] for c in ax.collections if isinstance(c, PathCollection)])
        assert {10.0, 90.0} <= set(np.round(dots, 6))  # the seeds themselves


def test_curve_log_axis_has_readable_major_ticks_only(tmp_path, saved):
    write_curve(_curve_records(), Axis.parse("data_free.iterations=1,4,12,32"), tmp_path, "# h\n")
    for fig in saved:
        assert overlapping_tick_labels(fig) == []
        assert not [t for t in fig.axes[0].xaxis.get_minorticklabels() if t.get_text()]


def test_cost_plot_interval_of_a_spread_method_stays_above_0(tmp_path, saved):
    records = [_record("adi", s, a, synthesis_s=20.0) for s, a in enumerate((2.5, 10.0, 40.0))]
    records += [_record("cmi", s, 30.0 + s, synthesis_s=400.0) for s in range(3)]
    records += [_record("kd-noise", s, 10.0, synthesis_s=0.01) for s in range(3)]
    write_leaderboard(records, tmp_path, "# h\n")
    cost = next(f for f in saved if "synthesis wall time" in f.axes[0].get_xlabel())
    values = drawn_accuracies(cost.axes[0])
    assert values.min() >= 0 and values.max() <= 100, (values.min(), values.max())
    assert overlapping_tick_labels(cost) == []  # 20 s to 400 s: a log axis
    ranking = next(f for f in saved if f.axes[0].get_xlabel().startswith("test accuracy"))
    values = drawn_accuracies(ranking.axes[0], horizontal=True)
    assert values.min() >= 0 and values.max() <= 100


def test_frontier_plot_bounds_ticks_and_pareto_line(tmp_path, saved):
    records = [_record("adi", s, a, synthesis_s=20.0) for s, a in enumerate((2.5, 10.0, 40.0))]
    records += [_record("cmi", s, 80.0, synthesis_s=15.0) for s in range(3)]
    records += [_record("kd-noise", s, 10.0, synthesis_s=0.01) for s in range(3)]
    frame = frontier_frame(records)
    labels = plot_frontier(frame, tmp_path / "frontier.png")[0]
    assert "chance (25.0%)" in labels and "kd-noise floor (10.0%)" in labels
    (fig,) = saved
    ax = fig.axes[0]
    values = drawn_accuracies(ax)
    assert values.min() >= 0 and values.max() <= 100
    assert overlapping_tick_labels(fig) == [] and ax.get_xscale() == "log"
    (pareto,) = [line for line in ax.lines if line.get_label() == "Pareto set (not dominated)"]
    front = frame[frame.pareto].sort_values("total_s")
    assert list(pareto.get_xdata()) == list(front.total_s)


@pytest.mark.parametrize("low, high", [(192, 6144), (20, 110), (30, 45), (1, 1e9), (0.5, 3), (900, 1100)])
def test_log_ticks_are_few_and_inside_the_view(low, high):
    ticks = ReadableLogLocator().tick_values(low, high)
    assert 1 <= len(ticks) <= 6 and all(low * 0.99 <= t <= high * 1.01 for t in ticks)
    assert len({tick_text(t) for t in ticks}) == len(ticks)  # distinct labels


def test_tick_text_is_plain():
    assert [tick_text(v) for v in (200, 5000, 20000, 0.5, 2e6)] == ["200", "5000", "20000", "0.5", "2e6"]
