"""A calibration times a synthesis step in the state of each of its cell's rounds, not only in the steady state: CMI's
and FRAMI's memory bank fills over a cell's first rounds (a step's negatives, and its head's rows, grow with it), and
Fast's adversarial pass starts after its warm-up. `Synthesizer.at_round(i)` must put a synthesizer where round i of
a real cell finds it; checked here against the rounds of a synthesizer that ran them."""
from __future__ import annotations

import dataclasses
import statistics
from types import SimpleNamespace

import pytest
import torch

from benchmark.cli import main
from benchmark.config.customize import customized
from benchmark.config.presets import PRESETS
from benchmark.costs import calibration, throughput
from benchmark.costs.workbench import Workbench, spread_indices
from benchmark.store.records import RunStore
from methods import build_method, method_config
from methods.inversion import loop
from models import create_model

MICRO = PRESETS.get("micro")


def synthesizer_of(method: str, **changes):
    config = dataclasses.replace(method_config(method, MICRO), iterations=1, **changes)
    torch.manual_seed(0)
    teacher = create_model("wrn16_2_tiny", 10, 16).eval().requires_grad_(False)
    student = create_model("wrn10_2_tiny", 10, 16).eval()
    ctx = SimpleNamespace(data=SimpleNamespace(num_classes=10, n_mels=32), device=torch.device("cpu"), seed=0,
                          amp=False)
    return build_method(method, config).make_synthesizer(ctx, teacher, student, 24)


def negatives_drawn(synthesizer) -> list[int]:
    """Record how many bank rows each call of the synthesizer's bank.sample returns."""
    drawn, sample = [], synthesizer.bank.sample
    synthesizer.bank.sample = lambda k, generator=None: (rows := sample(k, generator)) is not None and (
        drawn.append(len(rows)) or rows)
    return drawn


@pytest.mark.parametrize("method", ["cmi", "frami"])
def test_a_contrastive_synthesizer_at_round_i_draws_the_negatives_round_i_of_a_cell_draws(method):
    changes = dict(synth_batch=3, bank_size=7, n_negatives=5)  # the bank fills in 3 rounds, the draw caps at 5
    ran = synthesizer_of(method, **changes)
    in_a_cell = negatives_drawn(ran)
    for _ in range(5):
        ran.synthesize()
    assert in_a_cell == [0, 3, 5, 5, 5]  # min(n_negatives, bank rows): 0, 3, 6 -> 5, 7 -> 5, ...
    placed = synthesizer_of(method, **changes)
    at_round = negatives_drawn(placed)
    for round_index in (4, 0, 2, 1, 3):  # any order: each call starts from the state it is put in
        placed.at_round(round_index)
        placed.synthesize()
    assert at_round == [in_a_cell[i] for i in (4, 0, 2, 1, 3)]
    ran.close()
    placed.close()


def test_fast_at_round_i_has_its_adversarial_pass_on_when_round_i_of_a_cell_has():
    ran = synthesizer_of("fast", warmup=3)
    in_a_cell = []
    for _ in range(5):
        ran.synthesize()
        in_a_cell.append(ran.adversarial_on)  # as the round just synthesized had it
    assert in_a_cell == [False, False, True, True, True]
    placed = synthesizer_of("fast", warmup=3)
    at_round = []
    for round_index in (4, 0, 2, 1, 3):
        placed.at_round(round_index)
        placed.synthesize()
        at_round.append(placed.adversarial_on)
    assert at_round == [in_a_cell[i] for i in (4, 0, 2, 1, 3)]
    ran.close()
    placed.close()


def test_calls_spread_evenly_over_a_cells_rounds():
    first_six = [next(rounds) for rounds in [spread_indices(6)] for _ in range(6)]
    assert sorted(first_six) == list(range(6))  # the cpu preset's 6 rounds: each once in the first 6 calls
    for rounds in (30, 200):  # the gpu and paper presets: a pass's calls sample early and late rounds alike
        draws = spread_indices(rounds)
        sample = [next(draws) for _ in range(24)]
        assert all(0 <= r < rounds for r in sample)
        assert statistics.fmean(sample) == pytest.approx((rounds - 1) / 2, rel=0.1)


def test_a_calibration_times_synthesis_over_its_cells_rounds(monkeypatch):
    asked = []
    monkeypatch.setattr(calibration, "measure_synthesis_step",
                        lambda name, bench, rounds=None: asked.append((name, rounds)) or SimpleNamespace(
                            ms_per_step_mean=100.0))
    cpu = PRESETS.get("cpu")
    bench = SimpleNamespace(config=lambda name: method_config(name, cpu))
    timers = calibration.step_timers(bench, ["frami", "kd"])
    assert timers["frami", "synthesis"]() == pytest.approx(0.1)
    assert asked == [("frami", method_config("frami", cpu).rounds)]
    assert ("kd", "synthesis") not in timers and ("kd", "train") in timers


def kd_samples_by_rounds(record: dict) -> int:
    """The KD samples a cell's record should hold by DataFreeMethod.kd_batch_in_round, from its own config."""
    name, settings = record["method"], record["config"]["method"]
    config = method_config(name, MICRO)
    config = dataclasses.replace(config, **{k: v for k, v in settings.items() if k in {
        f.name for f in dataclasses.fields(config)} and k in ("synth_batch", "kd_batch", "pool_size", "rounds",
                                                               "kd_steps", "warmup")})
    method = build_method(name, config)
    return config.kd_steps * sum(method.kd_batch_in_round(i) for i in range(config.first_kd_round, config.rounds))


def test_kd_batch_in_round_is_what_a_cells_kd_steps_draw(tmp_path):
    """A cell's pool gains one synthesis batch a round, so with synth_batch < kd_batch its first KD rounds draw the
    whole, smaller pool (a calibration that timed full batches priced the cpu preset's KD steps 9% high); a
    generator method draws kd_batch fresh samples at every step. Held against the KD samples real cells record."""
    out = tmp_path / "out"
    assert main(["run", "--preset", "micro", "--methods", "adi,kd-noise,fast,dfad", "--seeds", "1", "--out", str(out),
                 "--no-tables", "--set", "data_free.synth_batch=2", "--set", "data_free.rounds=3",
                 "--set", "fast.rounds=3", "--set", "fast.warmup=1"]) == 0
    records = {r["method"]: r for r in RunStore(out).read()}
    assert set(records) == {"adi", "kd-noise", "fast", "dfad"}
    for name, record in records.items():
        assert record["status"] == "ok", record.get("error")
        assert record["phases"]["distill"]["samples"] == kd_samples_by_rounds(record), name
    adi = records["adi"]["config"]["method"]
    full = adi["kd_steps"] * adi["rounds"] * adi["kd_batch"]
    assert records["adi"]["phases"]["distill"]["samples"] < full  # the first round's batch is the 2-sample pool


def test_a_kd_step_timed_over_a_cells_rounds_draws_each_rounds_batch(monkeypatch):
    drawn, draw = [], loop.draw_kd_batch
    monkeypatch.setattr(loop, "draw_kd_batch", lambda *a, **k: (x := draw(*a, **k)) is not None and (
        drawn.append(len(x)) or x))
    preset = customized(MICRO, {"data_free": {"synth_batch": 2, "rounds": 5}})
    bench = Workbench(preset, warmup=0, repeats=10, trained_teacher=False, count_work=False)
    throughput.measure_distill_step("adi", bench, rounds=5)
    method = build_method("adi", bench.config("adi"))
    rounds = spread_indices(5)
    assert drawn[:10] == [method.kd_batch_in_round(next(rounds)) for _ in range(10)]
    assert set(drawn[:10]) == {2, method.config.kd_batch}  # round 0's 2-sample pool, then full batches
    drawn.clear()
    throughput.measure_distill_step("adi", bench)  # without rounds: the steady state, full batches
    assert set(drawn) == {method.config.kd_batch}
