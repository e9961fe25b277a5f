"""curve with several --vary axes zipped by position: one curve puts Fast and CMI over their own
synthesis-step budgets, although Fast's preset block sets `iterations` and so masks `data_free.iterations`.
Bad combinations are refused before any work."""
from __future__ import annotations

import csv

import pytest

from benchmark.cli import main
from benchmark.config.presets import PRESETS
from benchmark.reporting.curve import Axes, Axis
from benchmark.store.records import RunStore
from methods import method_config
from methods.overrides import ConfigKeyError


def zipped(*texts: str) -> Axes:
    return Axes.of([Axis.parse(t) for t in texts])


def test_point_k_sets_the_kth_value_of_every_axis():
    """At the cpu preset, where Fast's own block sets iterations = 5, each method gets its own value per point."""
    axes = zipped("cmi.iterations=6,12,24", "fast.iterations=2,5,10")
    presets = axes.presets(PRESETS.get("cpu"))
    assert [(method_config("cmi", p).iterations, method_config("fast", p).iterations) for p in presets] == [
        (6, 2), (12, 5), (24, 10)]
    assert presets[0].overrides == {"cmi": {"iterations": 6}, "fast": {"iterations": 2}}  # the records say so
    assert axes.points == (1, 2, 3) and axes.column == "budget"
    assert axes.label(1) == "budget 2 (cmi.iterations=12, fast.iterations=5)"
    one = Axes.of(Axis.parse("data_free.iterations=1,4"))  # one axis: labelled by its values, as before
    assert (one.points, one.column, one.label(1)) == ((1, 4), "data_free.iterations", "data_free.iterations=4")


def test_a_scope_axis_and_a_method_axis_on_the_same_field_each_reach_their_own_methods():
    presets = zipped("data_free.iterations=6,12", "fast.iterations=2,5").presets(PRESETS.get("cpu"))
    assert [(method_config("cmi", p).iterations, method_config("fast", p).iterations) for p in presets] == [
        (6, 2), (12, 5)]


@pytest.mark.parametrize("texts, message", [
    (("cmi.iterations=6,12,24", "fast.iterations=2,5"),
     "each needs as many values: cmi.iterations has 3 (6, 12, 24); fast.iterations has 2 (2, 5)"),
    (("cmi.iterations=6,12", "cmi.iterations=2,5"), "--vary cmi.iterations given more than once"),
])
def test_axes_that_cannot_zip_are_refused(texts, message):
    with pytest.raises(ConfigKeyError, match=message.replace("(", r"\(").replace(")", r"\)")):
        zipped(*texts)


def test_an_axis_masked_by_a_method_block_is_refused_with_the_axis_to_add():
    cpu = PRESETS.get("cpu")
    with pytest.raises(ConfigKeyError, match=r"--vary data_free.iterations does not reach fast: .* sets iterations "
                                             r"= 5, which wins over data_free; add --vary fast.iterations=V,V,V"):
        zipped("data_free.iterations=6,12,24").check(cpu, ("cmi", "fast"))
    zipped("data_free.iterations=6,12,24", "fast.iterations=2,5,10").check(cpu, ("cmi", "fast"))  # the fix
    zipped("data_free.iterations=6,12,24").check(cpu, ("adi", "cmi", "kd-noise"))  # the committed curve's methods


@pytest.mark.parametrize("argv, message", [
    (["--vary", "data_free.iterations=6,12"], "--vary data_free.iterations does not reach fast"),
    (["--vary", "cmi.iterations=1,2", "--vary", "adi.input_lr=0.1,0.2"], "--vary adi.input_lr: adi is not in "
                                                                          "--methods (cmi, fast)"),
    (["--set", "fast.iterations=3", "--vary", "cmi.iterations=1,2", "--vary", "fast.iterations=2,5"],
     "--vary fast.iterations and --set/--config fast.iterations=3 both set fast.iterations"),
])
def test_bad_combinations_stop_the_command_before_any_work(argv, message, tmp_path, capsys):
    out = tmp_path / "curve"
    assert main(["curve", "--preset", "cpu", "--methods", "cmi,fast", "--seeds", "1", "--out", str(out), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_one_curve_runs_fast_and_cmi_over_their_own_iterations(tmp_path, capsys):
    argv = ["curve", "--preset", "micro", "--methods", "cmi,fast,kd-noise", "--seeds", "1",
            "--vary", "cmi.iterations=1,2", "--vary", "fast.iterations=2,3", "--out", str(tmp_path)]
    assert main(argv) == 0
    assert "budget 2 (cmi.iterations=2, fast.iterations=3): 2 cells run" in capsys.readouterr().out
    records = RunStore(tmp_path).read_records()
    ran = sorted((r.method, r.config["method"]["iterations"]) for r in records)
    assert ran == [("cmi", 1), ("cmi", 2), ("fast", 2), ("fast", 3), ("kd-noise", 2)]  # kd-noise: no axis moves it
    its = {(r.method, r.config["method"]["iterations"]): r.phases["synthesis"]["sample_iterations"] for r in records}
    assert its["cmi", 2] == 2 * its["cmi", 1] and 2 * its["fast", 3] == 3 * its["fast", 2]
    assert its["fast", 2] != its["cmi", 1]

    with open(tmp_path / "curve.csv") as f:
        rows = {(row["method"], int(row["budget"])): row for row in csv.DictReader(f)}
    assert {k: int(row["iterations"]) for k, row in rows.items()} == {
        ("cmi", 1): 1, ("cmi", 2): 2, ("fast", 1): 2, ("fast", 2): 3, ("kd-noise", 1): 2, ("kd-noise", 2): 2}
    for (method, k), row in rows.items():  # each point placed at its own measured cost
        assert float(row["sample_iterations_per_cell"]) == its[method, int(row["iterations"])]
    assert rows["cmi", 1]["margin_vs_kd-noise"] != ""  # the one floor run serves every point
    text = (tmp_path / "curve.md").read_text()
    assert "budget points 1..2, point k setting the k-th value of `cmi.iterations` 1, 2; `fast.iterations` 2, 3" in text

    assert main(argv) == 0  # resumes: nothing new
    assert len(RunStore(tmp_path).read_records()) == 5
    (tmp_path / "curve.csv").unlink()
    assert main([*argv, "--report-only"]) == 0
    assert (tmp_path / "curve.csv").read_text().count("\n") == 7  # header and the six rows again
