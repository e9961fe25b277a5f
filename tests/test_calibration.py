"""A plan priced from measured steps: a cell's price is its step counts times the measured step times (checked by
hand), calibrations are stored keyed by device, threads and code and reused, and `plan --calibrate` writes
predicted_seconds and predicted_from for every cell."""
from __future__ import annotations

import json
import math

import pytest

from benchmark.cli import main
from benchmark.config.presets import PRESETS
from benchmark.costs.calibration import (Calibration, CellTimes, actual_phases, calibrate, cell_key, cell_times,
                                         code_key, price_cell, price_data, price_sweep, price_teacher,
                                         timed_in_passes)
from benchmark.store.record_schema import RunRecord
from methods import method_config

CPU = PRESETS.get("cpu")
T, S = "wrn16_2_tiny", "wrn10_2_tiny"
TIMES = CellTimes({"synthesis": 0.5, "distill": 0.1, "train": 0.2, "evaluate": 0.01, "features": 0.02},
                  train_clips=560, val_clips=120, test_clips=120, teacher_step_seconds=0.3,
                  teacher_evaluate_seconds=0.02)


def test_a_data_free_cell_is_its_step_counts_times_its_step_times():
    config = method_config("frami", CPU)  # 6 rounds x 24 iterations, 6 KD rounds x 50 steps, validation each round
    assert (config.rounds, config.iterations, config.kd_rounds, config.kd_steps, config.eval_every) == (6, 24, 6, 50, 1)
    price = price_cell(CPU, "synth", T, S, "frami", TIMES)
    # validation: 6 passes over 120 clips (student 0.01 s a clip); the teacher's view of 6 batches of 32 (0.02 s a
    # clip); the pool diagnostics over 192 clips: 4 teacher passes and one student pass
    passes = 6 * 120 * 0.01 + 6 * 32 * 0.02 + 192 * (4 * 0.02 + 0.01)
    assert price.phases == pytest.approx({"synthesis": 144 * 0.5, "distill": 300 * 0.1, "validation": passes,
                                          "evaluate": 2 * 120 * 0.01})
    assert price.seconds == pytest.approx(72 + 30 + passes + 2.4) and price.predicted_from == "calibration"


def test_a_supervised_cell_is_priced_at_its_full_budget_of_epochs():
    config = method_config("student", CPU)
    steps = config.epochs * math.ceil(560 / config.batch_size)  # 20 x 18
    price = price_cell(CPU, "synth", T, S, "student", TIMES)
    assert price.phases == pytest.approx({"train": steps * 0.2, "validation": config.epochs * 120 * 0.01,
                                          "evaluate": 2 * 120 * 0.01})
    assert "distill" in price_cell(CPU, "synth", T, S, "kd", TIMES).phases  # KD's phase, as its records name it
    assert price_cell(CPU, "synth", T, S, "teacher", TIMES).phases == {"evaluate": pytest.approx(120 * 0.01)}
    teacher = method_config("teacher", CPU)
    assert price_teacher(CPU, TIMES) == pytest.approx(teacher.epochs * math.ceil(560 / teacher.batch_size) * 0.3
                                                      + teacher.epochs * 120 * 0.02)
    assert price_data(TIMES) == pytest.approx(800 * 0.02)


def test_a_sweep_sums_its_seeds_teachers_and_data_once(tmp_path, monkeypatch):
    monkeypatch.setenv("DFKD_CACHE", str(tmp_path))
    calibration = Calibration("cpu:test", 2, "code")
    for method in ("adi", "kd-noise"):
        calibration.cells[cell_key(CPU, "synth", T, S, method)] = TIMES
    priced = price_sweep(CPU, ["synth"], [(T, S)], ["adi", "kd-noise", "cmi"], 3, calibration.times)
    adi = price_cell(CPU, "synth", T, S, "adi", TIMES)
    noise = price_cell(CPU, "synth", T, S, "kd-noise", TIMES)
    assert priced.uncalibrated == [("synth", f"{T}:{S}", "cmi")]  # not guessed: listed
    assert priced.phases["teacher"] == pytest.approx(3 * price_teacher(CPU, TIMES))
    assert priced.phases["data"] == pytest.approx(price_data(TIMES))
    assert priced.phases["distill"] == pytest.approx(3 * (adi.phases["distill"] + noise.phases["distill"]))


def test_calibrations_are_stored_by_device_threads_and_code(tmp_path, monkeypatch):
    monkeypatch.setenv("DFKD_CACHE", str(tmp_path))
    stored = Calibration("cpu:test", 2, "abc")
    stored.cells["k"] = TIMES
    stored.save()
    assert Calibration.load("cpu:test", 2, "abc").cells == {"k": TIMES}
    assert Calibration.load("cpu:test", 1, "abc").cells == {}  # other threads: another calibration
    assert Calibration.load("cpu:test", 2, "def").cells == {}  # other code: measured again
    assert len(code_key()) == 16


def test_passes_visit_every_step_kind_in_turn_and_price_each_by_its_mean():
    calls, speeds = [], iter([1.0, 2.0, 1.0, 1.5, 3.0, 1.5])  # the machine slows in the third pass
    timers = {kind: (lambda kind=kind: calls.append(kind) or next(speeds)) for kind in ("synthesis", "distill")}
    samples = timed_in_passes(timers, 3)
    # interleaved: a slow stretch of the machine's time lands on every kind, not on whichever was timed then
    assert calls == ["synthesis", "distill"] * 3
    assert samples == {"synthesis": [1.0, 1.0, 3.0], "distill": [2.0, 1.5, 1.5]}
    shared = {"evaluate": [0.01] * 3, "features": [0.02] * 3, "teacher": [0.3] * 3, "teacher-evaluate": [0.02] * 3}
    times = cell_times("frami", samples | shared, 3, dict(train_clips=560, val_clips=120, test_clips=120))
    assert times.step_seconds == pytest.approx({"synthesis": 5 / 3, "distill": 5 / 3, "evaluate": 0.01,
                                                "features": 0.02})
    assert times.teacher_step_seconds == pytest.approx(0.3) and times.at_pass(2).step_seconds["synthesis"] == 3.0
    with pytest.raises(ValueError, match="at least one pass"):
        calibrate(CPU, ["synth"], [(T, S)], ["adi"], None, Calibration("cpu:test", 2, "code"), passes=0)


def test_a_price_says_how_far_it_moves_when_priced_at_each_pass_alone():
    passes = [dict(TIMES.step_seconds, teacher=0.3, **{"teacher-evaluate": 0.02}) for _ in range(3)]
    passes[1]["synthesis"] = 1.0  # one slow pass of the synthesis step: 144 steps at 1.0 s instead of 0.5 s
    times = CellTimes(TIMES.step_seconds, 560, 120, 120, 0.3, 0.02, pass_seconds=passes)
    each = [price_cell(CPU, "synth", T, S, "frami", times.at_pass(i)).seconds for i in range(3)]
    assert each[1] - each[0] == pytest.approx(144 * 0.5)
    assert price_cell(CPU, "synth", T, S, "frami", times).spread == pytest.approx(
        (each[1] - each[0]) / (sum(each) / 3))
    assert price_cell(CPU, "synth", T, S, "frami", TIMES).spread == 0.0  # no passes kept: no spread claimed


def test_actual_phases_read_the_records_and_put_the_rest_of_a_cell_under_validation():
    record = RunRecord.from_dict({
        "dataset": "synth", "teacher": T, "student": S, "pair": f"{T}:{S}", "method": "adi", "seed": 0,
        "preset": "cpu", "status": "failed", "wall_seconds": 40.0,
        "phases": {"synthesis": {"seconds": 10.0}, "distill": {"seconds": 25.0}, "evaluate": {"seconds": 0.5},
                   "evaluate_end_of_budget": {"seconds": 0.5}}})
    assert actual_phases([record]) == pytest.approx({"synthesis": 10.0, "distill": 25.0, "evaluate": 1.0,
                                                     "validation": 4.0})


@pytest.mark.slow
def test_plan_calibrate_prices_every_cell_from_measured_steps(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DFKD_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "plan.json"
    assert main(["plan", "--preset", "micro", "--methods", "kd,adi", "--calibrate", "--device", "cpu",
                 "--json", str(out)]) == 0
    cells = {c["method"]: c for c in json.loads(out.read_text())}
    assert {c["predicted_from"] for c in cells.values()} == {"calibration"}
    assert all(c["calibration_spread"] >= 0 for c in cells.values())  # how far the machine moved between passes
    assert all(c["predicted_seconds"] > 0 for c in cells.values())
    assert "predicted from steps measured on cpu:" in capsys.readouterr().out
    # stored: a second plan prices from it without measuring
    assert main(["plan", "--preset", "micro", "--methods", "kd,adi,cmi", "--device", "cpu",
                 "--json", str(out)]) == 0
    cells = {c["method"]: c for c in json.loads(out.read_text())}
    assert cells["adi"]["predicted_from"] == "calibration" and cells["cmi"]["predicted_from"] == "flop-bound"
    assert "1 cell kind(s) not priced" in capsys.readouterr().out


# --- the gpu preset: a grid that fits a GPU-day -------------------------------------------------------------------

def test_reference_pricing_scales_a_measured_step_by_its_roofline():
    """A step of twice the FLOPs and bytes takes twice as long; on a device with less bandwidth, a memory-bound
    step takes longer by the bandwidth ratio and a compute-bound one not at all."""
    from benchmark.costs.reference_steps import Measured, ReferenceSteps
    ref = ReferenceSteps(target="h100")
    compute_bound = Measured(1.0, flops=ref.peak * 10, bytes=1e9)
    assert ref.scaled(compute_bound, 2 * compute_bound.flops, 2e9) == pytest.approx(2.0)
    memory_bound = Measured(1.0, flops=1.0, bytes=4.8e12)  # one second of the H200's bandwidth
    assert ref.scaled(memory_bound, 1.0, 4.8e12) == pytest.approx(4.8 / 3.35)


@pytest.mark.slow
def test_the_gpu_presets_grid_is_priced_at_a_gpu_day_or_less(tmp_path, monkeypatch, capsys):
    """paper,cmi on the three datasets and both pairs, 3 seeds, from the committed H200 steps scaled to an H100."""
    monkeypatch.setenv("DFKD_CACHE", str(tmp_path))
    out = tmp_path / "gpu.json"
    assert main(["plan", "--preset", "gpu", "--methods", "paper,cmi", "--datasets", "all", "--reference",
                 "--json", str(out)]) == 0
    cells = json.loads(out.read_text())
    assert len(cells) == 3 * 2 * 11 and all(c["fits"] for c in cells)
    assert all(c["predicted_from"].startswith("reference: cuda:NVIDIA H200") for c in cells)
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "scaled by FLOPs and bytes to H100 SXM (an estimate, not a calibration)" in line
    hours = float(line.split(": ")[1].split(" h")[0])
    assert hours <= 24.0


def test_a_compiled_cell_is_timed_apart_from_the_eager_one():
    """Compiling keeps a cell's identity (the same math) but not its step times: a calibration keeps them apart."""
    from benchmark.config.customize import customized
    preset = PRESETS.get("cpu")
    compiled = customized(preset, {"data_free": {"compile": "inductor"}})
    cell = ("synth", "wrn16_2_tiny", "wrn10_2_tiny", "frami")
    assert cell_key(compiled, *cell) != cell_key(preset, *cell)
    assert cell_key(customized(preset, {}), *cell) == cell_key(preset, *cell)
