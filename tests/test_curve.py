"""The budget curve: one checked sweep per value of a config field, points with per-seed accuracies, costs
and the margin over kd-noise at the same budget."""
from __future__ import annotations

import pytest

from benchmark.cli import main
from benchmark.config.presets import PRESETS
from benchmark.reporting.curve import Axis, curve_frame
from benchmark.store.record_schema import RunRecord
from benchmark.store.records import RunStore
from methods import method_config
from methods.overrides import ConfigKeyError


def test_an_axis_is_a_field_and_two_or_more_values():
    axis = Axis.parse("data_free.iterations=1, 4,12")
    assert (axis.block, axis.field, axis.values, axis.name) == ("data_free", "iterations", (1, 4, 12),
                                                                 "data_free.iterations")
    for bad in ("data_free.iterations=4", "iterations=1,2", "data_free.iterations"):
        with pytest.raises(ConfigKeyError, match="block.field=v1,v2"):
            Axis.parse(bad)


def test_each_value_is_a_checked_preset():
    presets = Axis.parse("adi.input_lr=0.1,0.2").presets(PRESETS.get("cpu"))
    assert [method_config("adi", p).input_lr for p in presets] == [0.1, 0.2]
    with pytest.raises(ConfigKeyError, match="closest valid key: 'iterations'"):
        Axis.parse("data_free.iteratons=1,2").presets(PRESETS.get("cpu"))


def record(method: str, seed: int, value: int, accuracy: float) -> RunRecord:
    return RunRecord.from_dict({
        "dataset": "synth", "teacher": "t", "student": "s", "pair": "t:s", "method": method, "seed": seed,
        "preset": "cpu", "config_hash": f"h{value}", "status": "ok", "accuracy": accuracy, "wall_seconds": 10.0 * value,
        "config": {"overrides": {"data_free": {"iterations": value}}, "method": {"iterations": value}},
        "phases": {"synthesis": {"sample_iterations": 0 if method == "kd-noise" else 100 * value}}})


def test_points_hold_seeds_costs_and_the_margin_over_the_floor_at_the_same_budget():
    axis = Axis.parse("data_free.iterations=1,4")
    records = [record("adi", s, v, 20.0 + 10 * v + s) for v in (1, 4) for s in range(3)]
    records += [record("kd-noise", s, v, 12.0 + s) for v in (1, 4) for s in range(2)]  # seed 2 missing: not shared
    records.append(record("adi", 0, 9, 50.0))  # a value outside the axis is still a point of the records
    points = curve_frame(records, axis)
    adi = points[points.method == "adi"].set_index("data_free.iterations")
    assert list(adi.index) == [1, 4, 9] and adi.loc[4, "seeds"] == 3
    assert adi.loc[4, "accuracy"] == pytest.approx(61.0) and adi.loc[4, "per_seed"] == "0: 60.0, 1: 61.0, 2: 62.0"
    assert adi.loc[4, "sample_iterations_per_cell"] == 400 and adi.loc[4, "wall_s_per_cell"] == 40
    assert adi.loc[1, "margin_vs_kd-noise"] == pytest.approx(18.0)  # seeds 0, 1: (30 - 12 + 31 - 13) / 2
    assert points[points.method == "kd-noise"]["margin_vs_kd-noise"].isna().all()


def test_the_curve_command_runs_every_point_and_resumes(tmp_path, capsys):
    argv = ["curve", "--preset", "micro", "--vary", "data_free.iterations=1,3", "--methods", "adi,kd-noise",
            "--seeds", "1", "--out", str(tmp_path)]
    assert main(argv) == 0
    records = RunStore(tmp_path).read_records()
    assert sorted((r.method, r.config["overrides"]["data_free"]["iterations"]) for r in records) == [
        ("adi", 1), ("adi", 3), ("kd-noise", 1), ("kd-noise", 3)]
    adi = {r.config["overrides"]["data_free"]["iterations"]: r for r in records if r.method == "adi"}
    assert adi[3].phases["synthesis"]["sample_iterations"] == 3 * adi[1].phases["synthesis"]["sample_iterations"]
    for name in ("curve.md", "curve.csv", "curve_sample_iterations.png", "curve_wall_seconds.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert main(argv) == 0
    assert "data_free.iterations=3: 0 cells run" in capsys.readouterr().out
    assert len(RunStore(tmp_path).read_records()) == 4


def test_a_run_of_the_preset_itself_is_a_point_at_its_own_value():
    """No overrides in the record: the value comes from the config the cell resolved (cpu: 24 iterations)."""
    own = RunRecord.from_dict({**record("adi", 0, 24, 40.0).to_dict(), "config": {"method": {"iterations": 24}}})
    points = curve_frame([own, record("adi", 0, 4, 20.0)], Axis.parse("data_free.iterations=4,12"))
    assert list(points["data_free.iterations"]) == [4, 24]
