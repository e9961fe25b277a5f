"""The cost-accuracy frontier: per-phase seconds, speed-ups against ADI and CMI in synthesis and in total time,
the margin over kd-noise, the Pareto set by the seed-aware test, and the command's files and refusals.

Hand-made group (3 seeds, 40 test clips, per-cell seconds synthesis + distill + evaluate):
  kd-noise  10%   0 +  9 + 1 = 10 s
  fast      90%   5 + 14 + 1 = 20 s
  adi       50%  30 +  9 + 1 = 40 s
  cmi       60%  50 +  9 + 1 = 60 s
Speed-ups of fast: synthesis 30/5 = 6 and total 40/20 = 2 vs ADI; 50/5 = 10 and 60/20 = 3 vs CMI.
Margin of adi over kd-noise: 50 - 10 = 40 pp. Pareto: fast (cheaper than adi and cmi, 30-40 pp more accurate on
every seed) dominates both; kd-noise and fast remain.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from benchmark.cli import main
from benchmark.reporting.frontier import frontier_frame
from benchmark.reporting.frontier_report import write_frontier
from benchmark.reporting.intervals import accuracy_interval
from benchmark.reporting.leaderboard import write_leaderboard
from benchmark.store.record_schema import RunRecord
from benchmark.store.records import RunStore

CLIPS = 40


def record(method: str, seed: int, accuracy: float, synthesis_s: float, distill_s: float, iterations: int = 100,
           overrides: dict | None = None, preset: str = "cpu") -> RunRecord:
    right = round(CLIPS * accuracy / 100)
    targets = [i % 4 for i in range(CLIPS)]
    order = np.random.default_rng(seed).permutation(CLIPS)  # which clips a seed gets right differs by seed
    predictions = [t if rank < right else (t + 1) % 4 for t, rank in zip(targets, np.argsort(order))]
    phases = {"synthesis": {"seconds": synthesis_s, "sample_iterations": 0 if method == "kd-noise" else iterations},
              "distill": {"seconds": distill_s}, "evaluate": {"seconds": 1.0}}
    return RunRecord.from_dict({
        "dataset": "synth", "teacher": "t", "student": "s", "pair": "t:s", "method": method, "seed": seed,
        "preset": preset, "config_hash": f"{method}-{overrides}", "status": "ok", "accuracy": 100.0 * right / CLIPS,
        "config": {"overrides": overrides} if overrides else {}, "phases": phases, "wall_seconds": 99.0,
        "test_ids": [f"c{i}" for i in range(CLIPS)], "test_targets": targets, "test_predictions": predictions})


def group(seeds=3) -> list[RunRecord]:
    rows = [("kd-noise", 10.0, 0.0, 9.0), ("fast", 90.0, 5.0, 14.0), ("adi", 50.0, 30.0, 9.0),
            ("cmi", 60.0, 50.0, 9.0)]
    supervised = [RunRecord("synth", "t", "s", "t:s", m, s, "cpu", "ok", accuracy=95.0, wall_seconds=5.0)
                  for m in ("teacher", "student") for s in range(seeds)]
    return [record(m, s, *row) for m, *row in rows for s in range(seeds)] + supervised


@pytest.fixture(scope="module")
def frame():
    return frontier_frame(group()).set_index("label")


def test_only_data_free_methods_and_the_floor_are_points_cheapest_first(frame):
    assert list(frame.index) == ["kd-noise", "fast", "adi", "cmi"]


def test_seconds_per_phase_and_total_per_cell(frame):
    assert frame.loc["fast", ["synthesis_s", "kd_s", "total_s"]].tolist() == [5.0, 14.0, 20.0]
    assert frame.loc["cmi", "total_s"] == 60.0 and frame.loc["adi", "sample_iterations"] == 100


def test_speedups_against_adi_and_cmi_in_synthesis_and_in_total_time(frame):
    fast = frame.loc["fast"]
    assert fast.speedup_synthesis_vs_adi == pytest.approx(6.0) and fast.speedup_total_vs_adi == pytest.approx(2.0)
    assert fast.speedup_synthesis_vs_cmi == pytest.approx(10.0) and fast.speedup_total_vs_cmi == pytest.approx(3.0)
    assert frame.loc["adi", "speedup_total_vs_adi"] == 1.0
    assert frame.loc["cmi", "speedup_total_vs_adi"] == pytest.approx(40 / 60)


def test_margin_over_the_floor_with_the_seed_aware_verdict(frame):
    assert frame.loc["adi", "margin_vs_kd-noise"] == pytest.approx(40.0)
    assert frame.loc["fast", "margin_vs_kd-noise"] == pytest.approx(80.0)
    assert frame.loc["adi", "beats_kd-noise"] == "supported"
    assert math.isnan(frame.loc["kd-noise", "margin_vs_kd-noise"])


def test_pareto_set_by_the_seed_aware_test_and_total_time(frame):
    assert frame.pareto.to_dict() == {"kd-noise": True, "fast": True, "adi": False, "cmi": False}
    assert frame.loc["adi", "dominated_by"] == "fast" and frame.loc["cmi", "dominated_by"] == "fast"


def test_with_two_seeds_no_verdict_so_nothing_is_dominated():
    frame = frontier_frame(group(seeds=2)).set_index("label")
    assert frame.pareto.all()
    assert frame.ci_low.isna().all() and frame.loc["fast", "seed_accuracies"] == (90.0, 90.0)


def test_interval_is_the_two_level_bootstrap_within_0_and_100():
    perfect = accuracy_interval([record("adi", s, 100.0, 1, 1) for s in range(3)])
    assert (perfect.low, perfect.high) == (100.0, 100.0)
    none = accuracy_interval([record("adi", s, 0.0, 1, 1) for s in range(3)])
    assert (none.low, none.high) == (0.0, 0.0)
    spread = accuracy_interval([record("adi", s, a, 1, 1) for s, a in enumerate((2.5, 10.0, 40.0))])
    assert 0.0 <= spread.low < spread.mean < spread.high <= 100.0 and spread.text().startswith("17.50 [")
    two = accuracy_interval([record("adi", s, a, 1, 1) for s, a in enumerate((10.0, 90.0))])
    assert math.isnan(two.low) and two.seeds == (10.0, 90.0) and two.text() == "50.00 (seeds 10.0, 90.0)"


def test_budget_sweep_points_are_labelled_and_read_against_adi_at_the_preset_budget():
    records = group() + [record("adi", s, 20.0, 5.0, 9.0, overrides={"data_free": {"iterations": 4}})
                         for s in range(3)]
    frame = frontier_frame(records).set_index("label")
    point = frame.loc["adi @ data_free.iterations=4"]
    assert point.budget == "data_free.iterations=4" and point.total_s == 15.0
    assert point.speedup_synthesis_vs_adi == pytest.approx(6.0)  # adi at the preset's own budget: 30 s / 5 s
    assert point.speedup_total_vs_adi == pytest.approx(40 / 15)
    assert point["margin_vs_kd-noise"] == pytest.approx(10.0)  # no kd-noise at that budget: the group's only one


def test_the_command_writes_the_three_files(tmp_path, capsys):
    store = RunStore(tmp_path)
    for r in group():
        store.append(r)
    assert main(["frontier", "--out", str(tmp_path)]) == 0
    for name in ("frontier.md", "frontier.csv", "frontier.png"):
        assert (tmp_path / name).stat().st_size > 0
    text = (tmp_path / "frontier.md").read_text()
    assert "| fast" in text and "6.00x" in text and "dominated_by" in text and "![frontier](frontier.png)" in text
    csv = (tmp_path / "frontier.csv").read_text().splitlines()
    assert csv[0].startswith("dataset,pair,preset,method") and len(csv) == 5


def test_the_command_joins_other_folders_and_counts_a_shared_cell_once(tmp_path, capsys):
    """--with DIR: the paper's sweep and the field's in one frontier; kd-noise recorded in both folders is one
    set of seeds, read from OUT."""
    records = group()
    paper, field = tmp_path / "paper", tmp_path / "field"
    for folder, methods in ((paper, {"teacher", "student", "adi", "cmi", "kd-noise"}), (field, {"fast", "kd-noise"})):
        store = RunStore(folder)
        for r in records:
            if r.method in methods:
                store.append(r)
    assert main(["frontier", "--out", str(paper), "--with", str(field)]) == 0
    csv = (paper / "frontier.csv").read_text().splitlines()
    methods = [line.split(",")[3] for line in csv[1:]]
    assert sorted(methods) == ["adi", "cmi", "fast", "kd-noise"]
    assert main(["frontier", "--out", str(field)]) == 0 and "| adi" not in (field / "frontier.md").read_text()


def test_a_folder_without_records_is_a_clear_error(tmp_path, capsys):
    assert main(["frontier", "--out", str(tmp_path)]) == 2
    assert "no records at" in capsys.readouterr().err
    store = RunStore(tmp_path)
    for r in group():
        if r.method in ("teacher", "student"):
            store.append(r)
    assert main(["frontier", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no ok record of a data-free method" in err and "python -m benchmark run" in err


def test_write_frontier_refuses_before_writing(tmp_path):
    with pytest.raises(ValueError, match="no ok record of a data-free method"):
        write_frontier([], tmp_path, "# h\n")
    assert not (tmp_path / "frontier.md").exists()


def test_the_leaderboard_has_a_frontier_section(tmp_path):
    write_leaderboard(group(), tmp_path, "# header\n")
    text = (tmp_path / "leaderboard.md").read_text()
    section = text[text.index("## Cost-accuracy frontier"):]
    assert "| fast" in section and "![frontier](leaderboard_frontier.png)" in section
    assert (tmp_path / "leaderboard_frontier.png").stat().st_size > 1000


def test_a_curve_budget_names_only_the_blocks_that_reach_the_method_and_a_seed_counts_once():
    """A zipped curve gives every cell the same overrides: kd-noise's point must not be labelled (and split off)
    by `fast.iterations`, CMI's names only `cmi.iterations`; kd-noise measured in two folders counts each seed once."""
    curve = {"cmi": {"iterations": 6}, "fast": {"iterations": 2}}
    records = group() + [record("kd-noise", s, 10.0, 0.0, 9.0, overrides=curve) for s in range(2)]
    records += [record("cmi", s, 40.0, 10.0, 9.0, overrides=curve) for s in range(3)]
    rows = frontier_frame(records).set_index("label")
    assert "cmi @ cmi.iterations=6" in rows.index
    assert [label for label in rows.index if label.startswith("kd-noise")] == ["kd-noise"]
    assert rows.loc["kd-noise", "seeds"] == 3  # seeds 0 and 1 of the curve's kd-noise are not counted twice
