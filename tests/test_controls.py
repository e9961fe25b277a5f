"""The kd-noise floor and kd-subset ceiling, the synthesis diagnostics, and every data-free row's margin over
the floor with its seed-aware verdict."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from benchmark.config.presets import PRESETS
from benchmark.core.features import FeatureSet
from benchmark.reporting.report_tables import floor_section
from benchmark.stats.claims import floor_comparisons
from benchmark.store.record_schema import RunRecord
from methods import METHODS, method_config
from methods.controls import NoiseSynthesizer, RealSubsetSynthesizer
from methods.inversion.diagnostics import (bn_losses, class_probabilities, pool_diagnostics, student_agreement,
                                           teacher_view)
from methods.inversion.hooks import BatchNormStatistics
from methods.inversion.pool import TensorPool, fit_frames


def test_controls_take_the_data_free_budget_of_a_preset():
    cpu = PRESETS.get("cpu")
    for name in ("kd-noise", "kd-subset"):
        config = method_config(name, cpu)
        for key, value in cpu.data_free.items():
            if hasattr(config, key):  # CMI's bank and generator settings reach CMI and FRAMI only
                assert getattr(config, key) == value, (name, key)
        for key in ("rounds", "synth_batch", "pool_size", "kd_steps", "kd_batch", "kd_lr"):
            assert getattr(config, key) == getattr(method_config("cmi", cpu), key), (name, key)
        assert config.temperature == method_config("cmi", cpu).temperature == 20.0


def test_noise_is_standard_normal_of_the_synthesized_shape_and_costs_no_teacher_step():
    synthesizer = NoiseSynthesizer(512, (1, 8, 20), torch.device("cpu"), seed=0)
    x = synthesizer.synthesize()
    assert x.shape == (512, 1, 8, 20) and synthesizer.sample_iterations == 0
    assert abs(x.mean().item()) < 0.01 and abs(x.std().item() - 1) < 0.01
    assert not torch.equal(x, synthesizer.synthesize())  # a new draw every round


def test_fit_frames_crops_longer_and_zero_pads_shorter_clips():
    generator = torch.Generator().manual_seed(0)
    long = torch.arange(20.0).reshape(2, 10)
    crop = fit_frames(long, 4, generator)
    start = int(crop[0, 0])
    assert crop.shape == (2, 4) and torch.equal(crop, long[:, start:start + 4])
    short = fit_frames(long[:, :3], 5, generator)
    assert torch.equal(short, torch.tensor([[0, 1, 2, 0, 0], [10, 11, 12, 0, 0.0]]))


def test_real_subset_draws_every_training_clip_once_before_any_repeat():
    train = FeatureSet([torch.full((4, 6), float(i)) for i in range(10)], torch.arange(10), [str(i) for i in range(10)])
    synthesizer = RealSubsetSynthesizer(train, batch=4, frames=6, device=torch.device("cpu"), seed=0)
    pool = TensorPool(8)
    for _ in range(2):
        pool.add(synthesizer.synthesize())
    clips = pool.all()[:, 0, 0, 0].tolist()
    assert len(set(clips)) == 8  # 8 distinct real clips
    third = synthesizer.synthesize()[:, 0, 0, 0].tolist()
    assert len(set(clips) | set(third)) == 10  # the last two unseen clips come before any repeat


class FixedTeacher(nn.Module):
    """Logits chosen per sample, so the diagnostics can be derived by hand."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = logits

    def forward(self, x):
        return self.logits[x[:, 0, 0, 0].long()]


def test_teacher_view_by_hand():
    # 4 samples, 3 classes: argmax = 0, 0, 1, 0; intended = 0, 1, 1, 2 -> agreement 2/4
    logits = torch.tensor([[2.0, 0, 0], [1.0, 0, 0], [0, 3.0, 0], [5.0, 0, 0]])
    x = torch.arange(4.0).reshape(4, 1, 1, 1)
    view = teacher_view(FixedTeacher(logits), x, torch.tensor([0, 1, 1, 2]), 3, torch.device("cpu"), batch_size=3)
    assert view["target_agreement"] == 0.5 and view["classes_covered"] == 2
    assert view["largest_class_share"] == 0.75
    entropy = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert view["argmax_entropy"] == pytest.approx(entropy / math.log(3))
    confidence = [torch.softmax(row, 0).max().item() for row in logits]
    assert view["mean_confidence"] == pytest.approx(sum(confidence) / 4)
    assert "target_agreement" not in teacher_view(FixedTeacher(logits), x, None, 3, torch.device("cpu"))


def test_student_agreement_by_hand_and_the_students_mode_is_kept():
    # teacher argmax 0, 0, 1, 0; student argmax 0, 1, 1, 2 -> they agree on samples 0 and 2: 2/4
    teacher = FixedTeacher(torch.tensor([[2.0, 0, 0], [1.0, 0, 0], [0, 3.0, 0], [5.0, 0, 0]]))
    student = FixedTeacher(torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 1.0, 0], [0, 0, 1.0]])).train()
    x = torch.arange(4.0).reshape(4, 1, 1, 1)
    teacher_argmax = class_probabilities(teacher, x, torch.device("cpu")).argmax(1)
    assert student_agreement(teacher_argmax, student, x, torch.device("cpu"), batch_size=3) == 0.5
    assert student.training  # scored in eval mode, handed back as it came


def bn_teacher() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 3),
                          nn.BatchNorm2d(4), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    with torch.no_grad():  # running statistics of "real" data: mean 0.5, variance 2 at every layer
        for bn in (model[1], model[4]):
            bn.running_mean.fill_(0.5)
            bn.running_var.fill_(2.0)
    return model.eval()


def test_bn_loss_is_deepinversions_r_feature_averaged_over_batches():
    teacher = bn_teacher()
    batches = [torch.randn(6, 1, 8, 8, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    hooks = BatchNormStatistics(teacher, instance_means=False)
    expected = []
    for x in batches:
        with hooks.active(), torch.no_grad():
            teacher(x)
        expected.append(float(hooks.loss()))
    hooks.remove()
    assert bn_losses(teacher, batches, torch.device("cpu")) == pytest.approx(sum(expected) / 3, rel=1e-6)
    assert all(not layer._forward_hooks for layer in (teacher[1], teacher[4]))  # hooks removed afterwards


def test_pool_diagnostics_compare_the_pool_with_real_and_noise_batches():
    teacher = bn_teacher()
    train = FeatureSet([torch.randn(8, 10) for _ in range(12)], torch.arange(12) % 3, [str(i) for i in range(12)])
    pool = torch.randn(16, 1, 8, 8)
    out = pool_diagnostics(teacher, pool, torch.arange(16) % 3, train, 3, batch=6, device=torch.device("cpu"), seed=0,
                           student=teacher)
    assert {"target_agreement", "classes_covered", "argmax_entropy", "mean_confidence", "bn_loss_pool",
            "bn_loss_real", "bn_loss_noise"} <= set(out)
    assert out["student_agreement"] == 1.0  # the teacher as its own student agrees everywhere
    assert out["bn_batch"] == 6 and all(out[k] > 0 for k in ("bn_loss_pool", "bn_loss_real", "bn_loss_noise"))


def record(method: str, seed: int, correct: int, iterations: int) -> RunRecord:
    targets = [i % 4 for i in range(40)]
    predictions = [t if i < correct else (t + 1) % 4 for i, t in enumerate(targets)]
    return RunRecord.from_dict({
        "dataset": "synth", "teacher": "t", "student": "s", "pair": "t:s", "method": method, "seed": seed,
        "preset": "cpu", "config_hash": "h", "status": "ok", "accuracy": 100.0 * correct / 40,
        "test_ids": [str(i) for i in range(40)], "test_targets": targets, "test_predictions": predictions,
        "phases": {"synthesis": {"seconds": 1.0, "sample_iterations": iterations}}})


def test_every_data_free_row_is_judged_against_the_floor_and_the_controls_are_not():
    records = [record("kd-noise", s, 5, 0) for s in range(3)] + [record("kd-subset", s, 30, 0) for s in range(3)]
    records += [record("adi", s, 30 + s, 100) for s in range(3)] + [record("cmi", s, 6 - s % 2, 100) for s in range(3)]
    comps = {c.method: c for c in floor_comparisons(records)}
    assert set(comps) == {"adi", "cmi"}  # kd-subset synthesizes nothing: a control, not a data-free row
    assert comps["adi"].verdict() == "supported" and comps["adi"].mean_diff == pytest.approx(65.0)
    assert comps["adi"].seed_differences == {0: 62.5, 1: 65.0, 2: 67.5}
    assert comps["cmi"].verdict() == "not significant"
    text = floor_section(list(comps.values()))
    assert "Margin over the kd-noise floor" in text and "0: +62.5, 1: +65.0, 2: +67.5" in text
    assert floor_comparisons([r for r in records if r.method != "kd-noise"]) == []


def test_the_controls_run_as_methods_and_record_diagnostics(tmp_path):
    from benchmark.cli import main
    from benchmark.store.records import RunStore

    assert set(METHODS.names()) >= {"kd-noise", "kd-subset"}
    argv = ["run", "--preset", "micro", "--methods", "kd-noise,kd-subset,adi", "--seeds", "1", "--out", str(tmp_path)]
    assert main(argv) == 0
    records = {r.method: r for r in RunStore(tmp_path).read_records()}
    assert all(r.ok for r in records.values())
    for method in ("kd-noise", "kd-subset"):
        assert records[method].phases["synthesis"]["sample_iterations"] == 0
    assert "target_agreement" in records["adi"].extras["diagnostics"]
    assert "target_agreement" not in records["kd-noise"].extras["diagnostics"]  # noise has no intended labels
    assert "Margin over the kd-noise floor" in (tmp_path / "table2.md").read_text()
    assert "beats_kd-noise" in (tmp_path / "leaderboard.md").read_text()
