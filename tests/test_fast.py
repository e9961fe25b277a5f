"""Fast (methods/fast.py, methods/inversion/meta.py): the momentum BN prior by hand, each loss term moving the
generator, the meta step by the first-order-MAML and Reptile rules by hand, every batch starting from the shared
initialisation, the reference's one-off reset, and the warm-up (no adversarial term, no KD)."""
from __future__ import annotations

import copy
import dataclasses
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

import methods.fast as fast_module
from benchmark.cli import main
from benchmark.config.presets import PRESETS
from benchmark.planning.plan import Device, plan_cell
from benchmark.store.records import RunStore
from methods import build_method, method_config
from methods.fast import (FastConfig, FastMetaSynthesizer, MomentumBatchNormStatistics, reset_batchnorms,
                          reset_first_layers)
from methods.inversion.generator import SpectrogramGenerator
from methods.inversion.meta import REPTILE_SCALE, MetaInitialisation
from models import create_model

CPU = torch.device("cpu")
TINY = dict(synth_batch=8, iterations=2, nz=8, generator_width=4, warmup=0, checkpointing="off")


def _pair(agree: bool = False):
    """A tiny teacher and a student; `agree`: the student is the teacher with its classifier nudged, so the two
    agree on the argmax of most samples but not on the probabilities (the adversarial term is then non-zero)."""
    torch.manual_seed(0)
    teacher = create_model("wrn10_2_tiny", 4, embedding_dim=8).eval().requires_grad_(False)
    if not agree:
        return teacher, create_model("wrn10_2_tiny", 4, embedding_dim=8).eval()
    student = copy.deepcopy(teacher).requires_grad_(True)
    with torch.no_grad():
        for p in student.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return teacher, student


def _synth(**changes) -> FastMetaSynthesizer:
    teacher, student = _pair(agree=True)
    return FastMetaSynthesizer(FastConfig(**(TINY | changes)), teacher, student, 4, 16, 24, CPU, 0)


def _adam_first_step(value: torch.Tensor, grad: torch.Tensor, lr: float) -> torch.Tensor:
    """Adam's first step, betas (0.5, 0.999), by hand: m_hat = g, v_hat = g^2, so p - lr g / (|g| + eps)."""
    m_hat = (0.5 * grad) / (1 - 0.5)
    v_hat = (0.001 * grad * grad) / (1 - 0.999)
    return value - lr * m_hat / (v_hat.sqrt() + 1e-8)


# --- the momentum BN prior -----------------------------------------------------------------------------------

def _bn_layer() -> nn.BatchNorm2d:
    layer = nn.BatchNorm2d(2).eval()
    layer.running_mean.zero_()
    layer.running_var.fill_(1.0)
    return layer


def test_momentum_bn_prior_by_hand():
    layer = _bn_layer()
    prior = MomentumBatchNormStatistics(layer, momentum=0.5)
    # channel 0: [1, 3] -> mean 2, var 1; channel 1: [0, 0] -> mean 0, var 0
    first = torch.tensor([[1.0, 3.0], [0.0, 0.0]]).view(1, 2, 1, 2)
    with prior.active():
        layer(first)
    # no average yet: ||(0, 0) - (2, 0)|| + ||(1, 1) - (1, 0)|| = 2 + 1
    assert prior.loss().item() == pytest.approx(3.0)
    prior.update_averages()  # the first batch's statistics become the average
    torch.testing.assert_close(prior.averages[0][0], torch.tensor([2.0, 0.0]))
    torch.testing.assert_close(prior.averages[0][1], torch.tensor([1.0, 0.0]))
    # channel 0: [2, 2] -> mean 2, var 0; channel 1: [1, -1] -> mean 0, var 1
    second = torch.tensor([[2.0, 2.0], [1.0, -1.0]]).view(1, 2, 1, 2)
    with prior.active():
        layer(second)
    # blended: mean 0.5 (2, 0) + 0.5 (2, 0) = (2, 0); var 0.5 (0, 1) + 0.5 (1, 0) = (0.5, 0.5)
    # r = ||(0, 0) - (2, 0)|| + ||(1, 1) - (0.5, 0.5)|| = 2 + sqrt(0.5)
    assert prior.loss().item() == pytest.approx(2.0 + math.sqrt(0.5), rel=1e-6)
    prior.update_averages()  # avg <- 0.5 avg + 0.5 last: var (0.5 (1, 0) + 0.5 (0, 1)) = (0.5, 0.5)
    torch.testing.assert_close(prior.averages[0][1], torch.tensor([0.5, 0.5]))
    prior.remove()


def test_without_momentum_the_prior_is_deepinversions():
    synth = _synth(bn_momentum=0.0, iterations=1)
    synth.synthesize()
    assert synth.bn.averages is None  # fast_meta.py:167: no update when bn_mmt is 0
    synth.close()
    synth = _synth(bn_momentum=0.9, iterations=1)
    synth.synthesize()
    assert synth.bn.averages is not None and len(synth.bn.averages) == len(synth.bn.layers)
    synth.close()


def test_the_weighted_loss_uses_the_reference_weights():
    synth = _synth()
    terms = {"bn": torch.tensor(2.0), "oh": torch.tensor(3.0), "adv": torch.tensor(-0.5)}
    cfg = FastConfig()  # bn 10, oh 0.5, adv 1.33 (fast_cifar.sh:8)
    synth.cfg = cfg
    assert synth.weighted_loss(terms).item() == pytest.approx(10 * 2.0 + 0.5 * 3.0 + 1.33 * -0.5)
    synth.close()


# --- each term moves the generator -----------------------------------------------------------------------------

@pytest.mark.parametrize("term", ["bn", "oh", "adv"])
def test_each_term_on_its_own_moves_the_generator(term):
    weights = {"bn_weight": 0.0, "oh_weight": 0.0, "adv_weight": 0.0} | {f"{term}_weight": 1.0}
    synth = _synth(iterations=1, **weights)
    before = [p.detach().clone() for p in synth.meta.shared.parameters()]
    synth.synthesize()
    grads = [p.grad for p in synth.generator.parameters()]
    assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0, term
    assert synth.last_losses[term].abs() > 0
    after = list(synth.meta.shared.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after))  # and the meta step moved the shared init
    synth.close()


def test_a_term_that_is_off_gives_no_gradient():
    synth = _synth(iterations=1, bn_weight=0.0, oh_weight=0.0, adv_weight=1.0, warmup=5)  # adversarial not yet on
    synth.synthesize()
    grads = [p.grad for p in synth.generator.parameters()]
    assert all(g is None or g.abs().sum() == 0 for g in grads)
    synth.close()


# --- the meta step ------------------------------------------------------------------------------------------------

def _tiny_generator() -> SpectrogramGenerator:
    torch.manual_seed(3)
    return SpectrogramGenerator(nz=2, n_mels=4, frames=4, width=1)


def test_reptile_meta_step_by_hand():
    shared = _tiny_generator()
    meta = MetaInitialisation(shared, lr=0.1, rule="reptile")
    old = [p.detach().clone() for p in shared.parameters()]
    fast = meta.start_batch()
    with torch.no_grad():  # "fine-tuning": any change of the fast weights
        for i, p in enumerate(fast.parameters()):
            p.add_(0.01 * (i + 1) * torch.ones_like(p))
    tuned = [p.detach().clone() for p in fast.parameters()]
    meta.finish_batch()
    for before, after, fine in zip(old, shared.parameters(), tuned):
        grad = REPTILE_SCALE * (before - fine)  # fast_meta.py:20
        torch.testing.assert_close(after.detach(), _adam_first_step(before, grad, 0.1))
        # moved towards the fine-tuned weights
        assert ((after.detach() - before).sign() == (fine - before).sign()).all()


def test_first_order_maml_meta_step_by_hand():
    shared = _tiny_generator()
    meta = MetaInitialisation(shared, lr=0.05, rule="fomaml")
    old = [p.detach().clone() for p in shared.parameters()]
    fast = meta.start_batch()
    opt = torch.optim.SGD(fast.parameters(), lr=0.5)
    z = torch.randn(3, 2, generator=torch.Generator().manual_seed(0))
    summed = [torch.zeros_like(p) for p in fast.parameters()]
    for _ in range(2):
        opt.zero_grad(set_to_none=True)
        fast(z).pow(2).mean().backward()
        for total, p in zip(summed, fast.parameters()):
            total += p.grad
        meta.after_step()
        opt.step()
    for total, p in zip(summed, shared.parameters()):
        torch.testing.assert_close(p.grad, total)  # the sum of the steps' fast gradients (fast_meta.py:27)
    meta.finish_batch()
    for before, after, total in zip(old, shared.parameters(), summed):
        torch.testing.assert_close(after.detach(), _adam_first_step(before, total, 0.05))


def test_the_synthesizer_meta_step_is_reptile_at_lr_g_times_g_steps():
    synth = _synth(meta_gradient="reptile", iterations=3, lr_g=1e-2)
    old = [p.detach().clone() for p in synth.meta.shared.parameters()]
    synth.synthesize()
    for before, after, fine in zip(old, synth.meta.shared.parameters(), synth.meta.fast.parameters()):
        expected = _adam_first_step(before, REPTILE_SCALE * (before - fine.detach()), 1e-2 * 3)  # fast_meta.py:88
        torch.testing.assert_close(after.detach(), expected)
    synth.close()


def test_an_unknown_meta_rule_is_refused():
    with pytest.raises(ValueError, match="meta gradient 'maml2' is not a rule; valid: fomaml, reptile"):
        MetaInitialisation(_tiny_generator(), 0.1, "maml2")


# --- every batch starts from the shared initialisation; the one-off reset ---------------------------------------

def test_every_batch_starts_from_the_shared_initialisation():
    synth = _synth(iterations=2)
    seen = []

    def first_forward(module, args):
        if not seen or len(seen) < synth.rounds_done:  # the batch's first step
            shared = synth.meta.shared.state_dict()
            seen.append(all(torch.equal(v, shared[k]) for k, v in module.state_dict().items()))

    handle = synth.generator.register_forward_pre_hook(first_forward)
    for _ in range(3):
        synth.synthesize()
        # after the batch the fast generator has moved away from the (updated) shared weights
        assert any(not torch.equal(a, b) for a, b in zip(synth.generator.parameters(), synth.meta.shared.parameters()))
    handle.remove()
    assert seen == [True, True, True]
    synth.close()


def test_reset_first_layers_redraws_the_projection_and_the_first_batchnorm_only():
    generator = _tiny_generator()
    before = {k: v.clone() for k, v in generator.state_dict().items()}
    torch.manual_seed(1)
    reset_first_layers(generator)
    after = generator.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"project.weight", "project.bias", "body.0.weight", "body.0.bias"} - {
        k for k in ("project.bias", "body.0.bias") if torch.equal(before[k], torch.zeros_like(before[k]))}
    assert torch.equal(after["project.bias"], torch.zeros_like(after["project.bias"]))
    assert torch.equal(after["body.0.bias"], torch.zeros_like(after["body.0.bias"]))
    big = SpectrogramGenerator(nz=64, n_mels=16, frames=16, width=8)
    reset_first_layers(big)  # N(0, 0.02), the BatchNorm's scale too (fast_meta.py:33)
    assert big.project.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert abs(big.body[0].weight.mean().item()) < 0.02
    reset_batchnorms(big)  # fast_meta.py:40: scales N(1, 0.02)
    assert all(abs(m.weight.mean().item() - 1) < 0.02 for m in big.modules() if isinstance(m, nn.BatchNorm2d))


def test_the_reset_happens_once_at_round_warmup_plus_reset_round(monkeypatch):
    calls = []
    monkeypatch.setattr(fast_module, "reset_first_layers", lambda g: calls.append(("l0", g)))
    monkeypatch.setattr(fast_module, "reset_batchnorms", lambda g: calls.append(("bn", g)))
    synth = _synth(iterations=1, warmup=2, reset_round=3, reset_bn=True)
    rounds = []
    for round_number in range(1, 8):
        synth.synthesize()
        if calls:
            rounds.append(round_number)
            assert all(g is synth.meta.shared for _, g in calls)  # the shared generator, not the batch's copy
            calls.clear()
    assert rounds == [5]  # fast_meta.py:110: self.ep == 120 + warmup, counted from 1
    synth.close()


# --- the warm-up ---------------------------------------------------------------------------------------------------

def test_the_adversarial_term_starts_with_round_warmup():
    synth = _synth(iterations=1, warmup=2)
    student_calls = []
    handle = synth.student.register_forward_hook(lambda *args: student_calls.append(synth.rounds_done))
    synth.synthesize()
    assert student_calls == [] and synth.last_losses["adv"].item() == 0.0  # ep 1 < warmup 2: no student pass
    synth.synthesize()
    assert student_calls == [2] and synth.last_losses["adv"].item() <= 0  # ep 2 >= 2 (fast_meta.py:144)
    handle.remove()
    synth.close()


def test_warmup_rounds_do_not_distil():
    cfg = FastConfig(rounds=220, warmup=20)
    assert (cfg.first_kd_round, cfg.kd_rounds) == (20, 200)  # datafree_kd.py: `if epoch >= args.warmup`


def test_a_micro_run_skips_kd_in_warm_up_rounds(tmp_path):
    out = tmp_path / "out"
    assert main(["run", "--preset", "micro", "--methods", "fast", "--seeds", "1", "--out", str(out), "--no-tables",
                 "--set", "fast.rounds=3", "--set", "fast.warmup=2"]) == 0
    (record,) = [r for r in RunStore(out).read() if r["method"] == "fast"]
    assert record["status"] == "ok", record.get("error")
    kd_steps = method_config("fast", PRESETS.get("micro")).kd_steps
    assert record["phases"]["distill"]["steps"] == 1 * kd_steps  # 3 rounds, 2 of warm-up
    assert record["phases"]["synthesis"]["samples"] == 3 * method_config("fast", PRESETS.get("micro")).synth_batch


def test_a_warm_up_as_long_as_the_cell_is_refused_before_any_work():
    method = build_method("fast", FastConfig(rounds=4, warmup=4))

    def no_teacher():
        raise AssertionError("the teacher was loaded")

    ctx = SimpleNamespace(load_teacher=no_teacher, teacher=no_teacher)
    with pytest.raises(ValueError, match="fast: warmup = 4 >= rounds = 4, so no round would distil"):
        method.run(ctx)


def test_run_refuses_a_warm_up_as_long_as_the_cell_before_the_sweep_starts(tmp_path, capsys):
    """The paper preset's 20 warm-up rounds at the GPU check's 2 rounds: refused by `run` before any cell (the
    first GPU check recorded it as a failed cell of each pair instead)."""
    out = tmp_path / "out"
    code = main(["run", "--preset", "micro", "--methods", "adi,fast", "--seeds", "1", "--out", str(out),
                 "--set", "data_free.rounds=2", "--set", "fast.warmup=2"])
    assert code == 2
    assert "fast: warmup = 2 >= rounds = 2" in capsys.readouterr().err
    assert not (out / "runs.jsonl").exists()


# --- memory, planner ---------------------------------------------------------------------------------------------

def _fast_gradients(level: str) -> list[torch.Tensor]:
    synth = _synth(iterations=1, checkpointing=level)
    synth.synthesize()
    grads = [p.grad.clone() for p in synth.generator.parameters()]
    synth.close()
    return grads


@pytest.mark.parametrize("level", ["blocks", "passes"])
def test_checkpointing_leaves_the_fast_generator_gradients_equal(level):
    reference, bounded = _fast_gradients("off"), _fast_gradients(level)
    assert sum(g.abs().sum() for g in reference) > 0
    for a, b in zip(reference, bounded):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


def test_the_planner_prices_a_fast_cell_past_its_warm_up():
    preset = PRESETS.get("micro")
    cell = plan_cell(preset, "synth", "wrn16_2_tiny", "wrn10_2_tiny", "fast", 1, Device())
    config = method_config("fast", preset)
    assert cell.fits and cell.synthesis_gb > 0 and cell.flops_per_synthesis_step > 0
    # KD FLOPs of the distilling rounds only: rounds x g_steps x synthesis + kd_rounds x kd_steps x KD
    assert config.kd_rounds == config.rounds - config.warmup
    assert cell.flops_per_cell == pytest.approx(config.rounds * config.iterations * cell.flops_per_synthesis_step
                                                + config.kd_rounds * config.kd_steps * cell.flops_per_kd_step)


def test_every_preset_resolves_fast_within_its_ranges():
    for name in ("micro", "smoke", "cpu", "paper"):
        config = method_config("fast", PRESETS.get(name))
        assert config.warmup < config.rounds, name
        assert config.pool_size >= config.rounds * config.synth_batch, name  # the reference keeps every batch
    assert dataclasses.asdict(method_config("fast", PRESETS.get("paper"))) == dataclasses.asdict(FastConfig())
