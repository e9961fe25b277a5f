"""The leaderboard plots say where chance and the kd-noise floor are, and tell methods apart without
overlapping text labels."""
import pandas as pd

from benchmark.plots import plot_cost, plot_ranking


def _board(with_floor: bool) -> pd.DataFrame:
    rows = [("teacher", 90.0, 0, 0.0), ("student", 80.0, 0, 0.0), ("kd", 82.0, 0, 0.0),
            ("adi", 30.0, 1000, 10.0), ("cmi", 31.0, 2000, 10.5), ("frami", 31.5, 4000, 200.0)]
    if with_floor:
        rows.append(("kd-noise", 15.0, 1000, 0.5))
    return pd.DataFrame([{"dataset": "synth", "pair": "a:b", "method": m, "n": 3, "accuracy": acc, "ci95": 2.0,
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
