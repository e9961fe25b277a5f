"""A calibration prices methods whose steps do the same work from one pooled timing of that step, instead of from
each one's own calls: KD steps of the same distiller, clip length, augmentation, optimizer and batch in every KD
round, and synthesis steps of configs that differ only in what KD reads. Timed apart, the machine's noise priced one
logit-KD step at 100.3 to 117.3 ms across five methods of one cpu-preset calibration. And a KD step is timed as a
cell takes it: in the cell's canvas where its config asks for one, closing its distiller as the loop does."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from benchmark.config.customize import customized
from benchmark.config.presets import PRESETS
from benchmark.costs import calibration, throughput
from benchmark.costs.calibration import Calibration, calibrate, cell_key, pooled_steps
from benchmark.costs.workbench import Workbench
from methods import build_method
from methods.inversion import loop
from methods.inversion.distill import LogitDistiller, ReusedBackendDistiller, ReusedBackendWeights
from models import create_model

MICRO = PRESETS.get("micro")
T, S = "wrn16_2_tiny", "wrn10_2_tiny"


@pytest.fixture(scope="module")
def bench():
    return Workbench(MICRO, warmup=0, repeats=1, trained_teacher=False, count_work=False)


def key_of(bench, name: str, **changes):
    method = build_method(name, bench.config(name, **changes))
    teacher, student = bench.synthesis_models()
    distiller = method.make_distiller(bench.ctx, teacher, student)
    try:
        return method.kd_step_key(bench.ctx, distiller)
    finally:
        distiller.close()


def test_methods_whose_kd_steps_do_the_same_work_share_a_key(bench):
    keys = {m: throughput.step_keys(m, bench)["distill"] for m in (
        "adi", "cmi", "kd-noise", "kd-subset", "frami-no-reused", "frami-no-finv-no-reused", "frami", "frami-no-finv",
        "fast", "dfad", "zskt")}
    logit = {"adi", "cmi", "kd-noise", "kd-subset"}  # logit KD on a pool batch of the same clips
    assert len({keys[m] for m in logit}) == 1
    # FRAMI without its reused-backend terms distils by logits too, but the micro preset gives FRAMI longer clips
    frames = {m: build_method(m, bench.config(m)).synthesized_frames(bench.ctx) for m in ("adi", "frami-no-reused")}
    assert frames["frami-no-reused"] != frames["adi"] and keys["frami-no-reused"] != keys["adi"]
    assert keys["frami-no-reused"] == keys["frami-no-finv-no-reused"]
    assert keys["frami"] == keys["frami-no-finv"] != keys["adi"]  # + the reused-backend terms and projections
    # Fast's warm-up rounds distil nothing: its KD rounds start later, at larger pools (micro has no warm-up)
    assert keys["fast"] == keys["adi"]
    assert key_of(bench, "fast", rounds=3, warmup=1) != key_of(bench, "adi", rounds=3)
    assert keys["dfad"] is None and keys["zskt"] is None  # fresh generator samples inside the step
    # a setting that changes the work changes the key; one that scales a term does not
    assert key_of(bench, "adi", kd_batch=2) != keys["adi"]  # micro: 4 a step, its one round's pool
    assert key_of(bench, "adi", kd_batch=5) == keys["adi"]  # the pool holds 4: a step still draws 4
    assert key_of(bench, "adi", kd_optimizer="sgd") != keys["adi"]
    assert key_of(bench, "adi", length_factor=0.5) != keys["adi"]
    assert key_of(bench, "adi", temperature=7.0) == keys["adi"]


def test_a_distillers_work_key_names_its_class_its_own_parts_and_the_terms_it_runs():
    torch.manual_seed(0)
    teacher, student = create_model(T, 10, 16), create_model(S, 10, 16)
    assert LogitDistiller(teacher, student, 3.0).work_key() == LogitDistiller(teacher, student, 20.0).work_key()
    full = ReusedBackendDistiller(teacher, student, 20.0, ReusedBackendWeights())
    no_utterance = ReusedBackendDistiller(teacher, student, 20.0, ReusedBackendWeights(utterance=0.0))
    half = ReusedBackendDistiller(teacher, student, 20.0, ReusedBackendWeights(frame=0.5))
    # WRN-16-2-tiny's 64 channels from WRN-10-2-tiny's 32: a 1x1 convolution (weight, bias)
    assert full.work_key() == ("ReusedBackendDistiller", (64, 32, 1), (64,), "frame", "utterance", "backend_logits")
    assert no_utterance.work_key() != full.work_key() and half.work_key() == full.work_key()


def test_frami_with_and_without_its_reused_backend_kd_synthesizes_alike(bench):
    keys = {m: throughput.step_keys(m, bench)["synthesis"] for m in (
        "frami", "frami-no-reused", "frami-no-finv", "frami-no-finv-no-reused", "cmi", "adi", "kd-noise", "kd-subset")}
    assert keys["frami"] == keys["frami-no-reused"] and keys["frami-no-finv"] == keys["frami-no-finv-no-reused"]
    assert len({keys[m] for m in ("frami", "frami-no-finv", "cmi", "adi", "kd-noise", "kd-subset")}) == 6
    synthesis = lambda name, **changes: build_method(name, bench.config(name, **changes)).synthesis_step_key(  # noqa
        bench.ctx)
    assert synthesis("adi", kd_batch=2, kd_lr=1.0, temperature=7.0) == keys["adi"]  # KD settings: alike
    assert synthesis("adi", synth_batch=2) != keys["adi"] and synthesis("adi", iterations=9) != keys["adi"]


def test_a_pass_of_a_group_is_priced_at_the_groups_mean_in_that_pass():
    samples = {("adi", "distill"): [0.10, 0.13], ("kd-noise", "distill"): [0.12, 0.09],
               ("frami", "distill"): [0.20, 0.22], ("dfad", "distill"): [0.30, 0.40],
               ("adi", "synthesis"): [1.0, 2.0], ("kd-noise", "synthesis"): [3.0, 4.0],
               ("frami", "synthesis"): [5.0, 6.0], ("frami-no-reused", "synthesis"): [7.0, 8.0],
               ("-", "evaluate"): [0.01, 0.01]}
    keys = {"adi": {"distill": ("logit",), "synthesis": ("adi",)},
            "kd-noise": {"distill": ("logit",), "synthesis": ("noise",)},
            "frami": {"distill": ("reused",), "synthesis": ("frami",)},
            "frami-no-reused": {"distill": ("logit",), "synthesis": ("frami",)},  # no KD samples: not in a group
            "dfad": {"distill": None, "synthesis": ("dfad",)}}
    pooled, partners = pooled_steps(samples, keys)
    assert pooled["adi", "distill"] == pooled["kd-noise", "distill"] == pytest.approx([0.11, 0.11])
    assert pooled["frami", "distill"] == [0.20, 0.22] and pooled["dfad", "distill"] == [0.30, 0.40]  # alone
    assert pooled["frami", "synthesis"] == pooled["frami-no-reused", "synthesis"] == pytest.approx([6.0, 7.0])
    assert pooled["adi", "synthesis"] == [1.0, 2.0] and pooled["kd-noise", "synthesis"] == [3.0, 4.0]
    assert pooled["-", "evaluate"] == [0.01, 0.01]
    assert partners == {"adi": {"distill": ["kd-noise"]}, "kd-noise": {"distill": ["adi"]},
                        "frami": {"synthesis": ["frami-no-reused"]}, "frami-no-reused": {"synthesis": ["frami"]}}
    assert samples["adi", "distill"] == [0.10, 0.13]  # the samples given are left as they were


def test_a_calibration_prices_equal_steps_from_their_pooled_times(monkeypatch, tmp_path):
    monkeypatch.setenv("DFKD_CACHE", str(tmp_path))
    own = {"adi": 100.0, "kd-noise": 140.0, "frami": 300.0, "frami-no-finv": 200.0, "frami-no-reused": 260.0,
           "dfad": 50.0}  # ms
    timing = lambda ms: SimpleNamespace(ms_per_step_mean=ms, batch=1)  # noqa: E731
    monkeypatch.setattr(calibration, "measure_distill_step", lambda name, bench, rounds=None: timing(own[name]))
    monkeypatch.setattr(calibration, "measure_synthesis_step", lambda name, bench, rounds=None: timing(
        10 * own[name]))
    monkeypatch.setattr(calibration, "measure_train_step", lambda name, bench: timing(10.0))
    monkeypatch.setattr(calibration, "measure_evaluate", lambda bench, arch: timing(1.0))
    monkeypatch.setattr(calibration, "measure_features", lambda bench: timing(1.0))
    filled = calibrate(MICRO, ["synth"], [(T, S)], list(own), torch.device("cpu"), Calibration("cpu:test", 2, "c"),
                       passes=2)
    times = {m: filled.cells[cell_key(MICRO, "synth", T, S, m)] for m in own}
    distill = {m: t.step_seconds["distill"] for m, t in times.items()}
    assert distill["adi"] == distill["kd-noise"] == pytest.approx(0.12)  # micro: FRAMI's clips are longer
    assert distill["frami"] == distill["frami-no-finv"] == pytest.approx(0.25)
    assert distill["frami-no-reused"] == pytest.approx(0.26) and distill["dfad"] == pytest.approx(0.05)
    synthesis = {m: t.step_seconds["synthesis"] for m, t in times.items()}
    assert synthesis["frami"] == synthesis["frami-no-reused"] == pytest.approx(2.8)
    assert synthesis["adi"] == pytest.approx(1.0) and synthesis["frami-no-finv"] == pytest.approx(2.0)
    assert times["adi"].pooled_with == {"distill": ["kd-noise"]} and times["dfad"].pooled_with == {}
    assert times["frami"].pooled_with == {"synthesis": ["frami-no-reused"], "distill": ["frami-no-finv"]}
    assert [p["distill"] for p in times["kd-noise"].pass_seconds] == pytest.approx([0.12, 0.12])


def test_a_kd_step_is_timed_in_the_canvas_its_cell_places_it_in(monkeypatch):
    placed, place = [], loop.place_in_canvas
    monkeypatch.setattr(loop, "place_in_canvas", lambda x, frames, *a: placed.append((x.shape[-1], frames)) or place(
        x, frames, *a))
    preset = customized(MICRO, {"data_free": {"kd_canvas": "mean", "length_factor": 0.5}})
    bench = Workbench(preset, warmup=0, repeats=3, trained_teacher=False, count_work=False)
    throughput.measure_distill_step("adi", bench)
    typical = bench.data.typical_frames()
    clip = build_method("adi", bench.config("adi")).synthesized_frames(bench.ctx)
    assert clip < typical and placed[:3] == [(clip, typical)] * 3
    placed.clear()
    throughput.measure_distill_step("adi", Workbench(MICRO, warmup=0, repeats=3, trained_teacher=False,
                                                     count_work=False))
    assert placed == []  # no canvas asked for: none placed


def test_a_kd_step_timed_closes_its_distiller_as_the_loop_does(bench, monkeypatch):
    """ZSKT's distiller taps the teacher's stages, and `close` takes the taps off, as the loop's end does."""
    from methods.inversion.attention import AttentionDistiller
    closed, close = [], AttentionDistiller.close
    monkeypatch.setattr(AttentionDistiller, "close", lambda self: closed.append(self) or close(self))
    throughput.measure_distill_step("zskt", bench)
    assert len(closed) == 1
    assert not any(m._forward_hooks for model in closed[0].models for m in model.modules())  # taps off
