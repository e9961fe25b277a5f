"""The field's generator baselines (DAFL, DFAD, ZSKT, DFQ: methods/inversion/generative.py) and method groups.

Each loss term against a value derived by hand on tiny inputs; each term that is on moves the generator and a
weight of 0 removes it; the adversarial alternation (the generator step raises the discrepancy the student
step lowers); the reference settings each method registers; `--methods paper|field|all`."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from benchmark.cli import main
from benchmark.config.presets import PRESETS
from benchmark.core.registry import UnknownNameError
from methods import METHODS, TABLE_ORDER, build_method, group_members, method_config, parse_methods
from methods.inversion.attention import AttentionDistiller, attention_map, attention_transfer
from methods.inversion.distill import LogitDistiller
from methods.inversion.generative import (GenerativeConfig, GenerativeSynthesizer, GeneratorSamples, activation_loss,
                                          balance_loss, kl_discrepancy, l1_discrepancy, one_hot_loss)
from models import create_model

CPU = torch.device("cpu")
FIELD = ("dafl", "dfad", "zskt", "dfq")
TERMS = {"bn": "bn_weight", "oh": "oh_weight", "act": "act_weight", "balance": "balance_weight", "adv": "adv_weight"}
OFF = {weight: 0.0 for weight in TERMS.values()}


# --- each term against a hand-derived value -----------------------------------------------------------------

def test_one_hot_loss_by_hand():
    # argmaxes 0 and 1; CE of [2, 0] at 0 is log(1 + e^-2), of [0, 1] at 1 is log(1 + e^-1)
    expected = (math.log(1 + math.exp(-2)) + math.log(1 + math.exp(-1))) / 2
    assert one_hot_loss(torch.tensor([[2.0, 0.0], [0.0, 1.0]])).item() == pytest.approx(expected, rel=1e-6)


def test_activation_loss_by_hand():
    assert activation_loss(torch.tensor([[1.0, -2.0], [3.0, 0.0]])).item() == pytest.approx(-1.5)


def test_balance_loss_is_the_negative_entropy_of_the_batch_mean_prediction():
    # one sample, softmax([ln 3, 0]) = [3/4, 1/4]: sum p log p = 3/4 ln 3/4 + 1/4 ln 1/4
    one = torch.tensor([[math.log(3.0), 0.0]])
    assert balance_loss(one).item() == pytest.approx(0.75 * math.log(0.75) + 0.25 * math.log(0.25), rel=1e-6)
    # two mirrored samples average to [1/2, 1/2]: the minimum, -ln 2 (balance is rewarded per batch, not sample)
    two = torch.tensor([[math.log(3.0), 0.0], [0.0, math.log(3.0)]])
    assert balance_loss(two).item() == pytest.approx(-math.log(2.0), rel=1e-6)


def test_balance_loss_of_a_confident_teacher_is_finite_with_finite_gradients():
    """Every sample's softmax underflows to 0 for class 1 (logit gap 200, e^-200 < fp32's smallest number): the
    reference's p * log(p) reads 0 * -inf = nan there; the limit is 0, so the loss is 1 * ln 1 + 0 = 0."""
    logits = torch.tensor([[200.0, 0.0], [200.0, 0.0]], requires_grad=True)
    assert torch.log(torch.softmax(logits, 1).mean(0))[1] == -math.inf  # the reference's nan, reproduced
    loss = balance_loss(logits)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(logits.grad).all()


def test_a_term_at_weight_zero_that_is_nan_does_not_reach_the_loss():
    """DFAD (balance weight 0) on a confident teacher: 0 * nan in the weighted sum ended the cell before."""
    teacher, student = _pair()
    config = GenerativeConfig(synth_batch=4, iterations=1, nz=8, generator_width=4, checkpointing="off",
                              **(OFF | {"adv_weight": 1.0}))
    synth = GenerativeSynthesizer(config, teacher, student, 4, 16, 24, CPU, 0)
    terms = {name: torch.tensor(1.0) for name in TERMS} | {"balance": torch.tensor(math.nan)}
    assert synth.weighted_loss(terms).item() == 1.0
    synth.close()


def test_l1_discrepancy_by_hand():
    assert l1_discrepancy(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 4.0]])).item() == pytest.approx(1.5)


def test_kl_discrepancy_by_hand():
    # p_t = [3/4, 1/4], p_s = [1/2, 1/2]: KL(p_t || p_s) = 3/4 ln(3/2) + 1/4 ln(1/2), at T = 1
    got = kl_discrepancy(torch.tensor([[0.0, 0.0]]), torch.tensor([[math.log(3.0), 0.0]])).item()
    assert got == pytest.approx(0.75 * math.log(1.5) + 0.25 * math.log(0.5), rel=1e-6)


def test_attention_map_and_transfer_by_hand():
    # channels [1, 2] and [3, 0] over two positions: mean of squares [5, 2], L2-normalised
    features = torch.tensor([[1.0, 2.0], [3.0, 0.0]]).view(1, 2, 1, 2)
    torch.testing.assert_close(attention_map(features), torch.tensor([[5.0, 2.0]]) / math.sqrt(29.0))
    # maps [1, 0] and [0, 1]: mean squared difference 1 per stage, summed over two stages
    s, t = torch.tensor([1.0, 0.0]).view(1, 1, 1, 2), torch.tensor([0.0, 1.0]).view(1, 1, 1, 2)
    assert attention_transfer([s, s], [t, t]).item() == pytest.approx(2.0)


def test_attention_transfer_refuses_a_pair_of_two_families_before_work():
    teacher, student = create_model("wrn16_2_tiny", 4, 8), create_model("resnet18_tiny", 4, 8)
    with pytest.raises(ValueError, match="teacher has 3 and the student 4.*one family"):
        AttentionDistiller(teacher, student, 20.0, 250.0)


def test_attention_distiller_adds_beta_times_at_and_closes_leaving_no_hook_on_the_teacher():
    torch.manual_seed(0)
    teacher = create_model("wrn16_2_tiny", 4, 8).eval().requires_grad_(False)
    student = create_model("wrn10_2_tiny", 4, 8)
    distiller = AttentionDistiller(teacher, student, 20.0, 250.0)
    x = torch.randn(3, 1, 16, 24)
    terms = distiller.terms(x)
    assert terms["at"].item() > 0
    torch.testing.assert_close(distiller(x), terms["kd"] + 250.0 * terms["at"])
    assert not any(taps.on or taps.outputs for taps in distiller.taps)  # collected inside terms() only
    distiller.close()
    assert all(not m._forward_hooks for m in teacher.modules())  # the cached teacher is shared by later cells


# --- each term that is on moves the generator; weight 0 removes it ------------------------------------------

def _pair():
    torch.manual_seed(0)
    teacher = create_model("wrn16_2_tiny", 4, 8).eval().requires_grad_(False)
    student = create_model("wrn10_2_tiny", 4, 8).eval()
    return teacher, student


def _generator_grads(**weights) -> list[torch.Tensor]:
    teacher, student = _pair()
    config = GenerativeConfig(synth_batch=4, iterations=1, nz=8, generator_width=4, checkpointing="off",
                              **(OFF | weights))
    synth = GenerativeSynthesizer(config, teacher, student, 4, 16, 24, CPU, 0)
    synth.synthesize()  # one step; its gradients stay in .grad
    synth.close()
    return [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in synth.generator.parameters()]


@pytest.mark.parametrize("term", list(TERMS))
def test_each_term_that_is_on_moves_the_generator(term):
    grads = _generator_grads(**{TERMS[term]: 1.0})
    assert sum(g.abs().sum() for g in grads) > 0, term


def test_weights_of_zero_remove_every_term():
    assert all(g.abs().sum() == 0 for g in _generator_grads())


@pytest.mark.parametrize("term", list(TERMS))
def test_a_term_at_weight_zero_changes_nothing(term):
    """Everything on but `term` equals everything on with `term`'s weight set to 0 explicitly, and differs from
    everything on: the weight is the only switch, and the term is in the sum when on."""
    on = {weight: 1.0 for weight in TERMS.values()}
    without = _generator_grads(**(on | {TERMS[term]: 0.0}))
    with_term = _generator_grads(**on)
    assert any(not torch.equal(a, b) for a, b in zip(without, with_term)), term


# --- the adversarial alternation ----------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["dfad", "zskt"])
def test_generator_step_raises_the_discrepancy_the_student_step_lowers(method):
    teacher, student = _pair()
    config = dataclasses.replace(METHODS.get(method).config, synth_batch=16, nz=8, generator_width=4, lr_g=1e-2,
                                 checkpointing="off")
    synth = GenerativeSynthesizer(config, teacher, student, 4, 16, 24, CPU, 0)
    z = torch.randn(16, 8, generator=torch.Generator().manual_seed(3))

    def discrepancy():
        with torch.no_grad():
            x = synth.generator(z)
            return synth.discrepancy(student(x), teacher(x)).item(), x

    before, _ = discrepancy()
    terms, _ = synth.step_terms(z)
    synth.optimizer.zero_grad()
    synth.weighted_loss(terms).backward()
    synth.optimizer.step()
    after_generator, x = discrepancy()
    synth.close()
    assert after_generator > before

    distiller = (AttentionDistiller(teacher, student, config.temperature, config.at_weight) if config.at_weight
                 else LogitDistiller(teacher, student, config.temperature))
    opt = torch.optim.SGD(student.parameters(), lr=1e-2)
    student.eval()  # BN statistics fixed, so the same batch is measured twice alike
    loss_before = distiller(x)  # DFAD: KL at T=1; ZSKT: KL at T=20 + 250 x attention transfer
    opt.zero_grad()
    loss_before.backward()
    opt.step()
    with torch.no_grad():
        assert distiller(x).item() < loss_before.item()
        if method == "dfad":  # the generator's L1 gap falls with the student's KL at T=1 (ZSKT's step trades
            assert synth.discrepancy(student(x), teacher(x)).item() < after_generator  # KL for attention here)


# --- the loop pieces: fresh samples, host syncs, checkpointing ----------------------------------------------

def test_kd_batches_are_fresh_generator_samples_and_nothing_is_pooled():
    teacher, student = _pair()
    config = GenerativeConfig(synth_batch=4, kd_batch=4, nz=8, generator_width=4, pool_size=8, checkpointing="off")
    synth = GenerativeSynthesizer(config, teacher, student, 4, 16, 24, CPU, 0)
    samples = GeneratorSamples(synth, config.diagnostic_samples)
    samples.add(synth.synthesize())
    rng = torch.Generator().manual_seed(0)
    a, b = samples.sample(4, rng), samples.sample(4, rng)
    synth.close()
    assert a.shape == (4, 1, 16, 24) and not torch.equal(a, b) and samples.nbytes == 0
    assert a.abs().max() <= 4.0  # 4*tanh: the normalised log-mel range
    assert len(samples) == config.diagnostic_samples == 8 and samples.all().shape[0] == 8


@pytest.mark.parametrize("level", ["blocks", "passes"])
def test_checkpointing_leaves_the_generator_gradients_equal(level):
    on = {weight: 1.0 for weight in TERMS.values()}

    def grads(checkpointing):
        teacher, student = _pair()
        config = GenerativeConfig(synth_batch=4, iterations=1, nz=8, generator_width=4, checkpointing=checkpointing,
                                  **on)
        synth = GenerativeSynthesizer(config, teacher, student, 4, 16, 24, CPU, 0)
        synth.synthesize()
        synth.close()
        return [p.grad.clone() for p in synth.generator.parameters()]

    reference, bounded = grads("off"), grads(level)
    for a, b in zip(reference, bounded):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


def test_the_planner_counts_no_pool_and_the_generator_in_the_kd_step():
    from benchmark.planning.plan import Device, plan_cell
    from benchmark.planning.steps import kd_step as counted_kd_step
    preset = PRESETS.get("micro")
    plan = plan_cell(preset, "synth", "wrn16_2_tiny", "wrn10_2_tiny", "dafl", 1, Device(), flops=True)
    assert plan.pool_gb == 0 and plan.fits and plan.flops_per_kd_step > 0
    config = method_config("dafl", preset)
    with_generator = counted_kd_step("dafl", config, "wrn16_2_tiny", "wrn10_2_tiny", 10, 32, 40, 16)
    pooled = counted_kd_step("kd-noise", dataclasses.replace(method_config("kd-noise", preset), temperature=20.0),
                             "wrn16_2_tiny", "wrn10_2_tiny", 10, 32, 40, 16)
    assert with_generator.flops > pooled.flops  # the generator's forward is part of each KD step


# --- the reference settings each method registers -----------------------------------------------------------

def test_each_method_registers_its_reference_settings():
    dafl, dfad, zskt, dfq = (METHODS.get(name).config for name in FIELD)
    common = dict(rounds=16000, iterations=1, kd_steps=5, synth_batch=256, kd_batch=256, eval_every=80, lr_g=1e-3,
                  kd_optimizer="sgd", kd_lr=0.1, kd_weight_decay=1e-4, kd_augment=False)
    for config in (dafl, dfad, zskt):
        assert {k: getattr(config, k) for k in common} == common
    assert (dafl.oh_weight, dafl.act_weight, dafl.balance_weight, dafl.adv_weight, dafl.bn_weight) == (1, 0.1, 20, 0, 0)
    assert (dafl.nz, dafl.temperature) == (512, 20)
    assert (dfad.adv_weight, dfad.discrepancy, dfad.temperature, dfad.at_weight) == (1, "l1", 1, 0)
    assert (zskt.adv_weight, zskt.discrepancy, zskt.temperature, zskt.at_weight) == (1, "kl", 20, 250)
    assert (dfq.rounds, dfq.kd_steps, dfq.eval_every) == (8000, 10, 40)  # 200 epochs of 400 KD steps
    assert (dfq.bn_weight, dfq.oh_weight, dfq.adv_weight, dfq.balance_weight, dfq.temperature) == (1, 1, 1, 20, 20)


def test_a_bad_discrepancy_is_refused_naming_the_field():
    from benchmark.core.ranges import check_config
    with pytest.raises(ValueError, match="discrepancy.*'l2'"):
        check_config(dataclasses.replace(METHODS.get("dfad").config, discrepancy="l2"), "test")


# --- method groups ------------------------------------------------------------------------------------------

# The paper's own rows (Tables 2 and 3) and the controls: not CMI, whose column the FRAMI paper does not report.
PAPER = ["teacher", "student", "kd", "adi", "frami", "frami-no-finv", "frami-no-reused",
         "frami-no-finv-no-reused", "kd-noise", "kd-subset"]


def test_groups_paper_field_all():
    assert parse_methods("paper") == PAPER
    field = parse_methods("field")
    assert set(FIELD) | {"kd-noise", "kd-subset"} <= set(field) and not set(field) & set(PAPER[:8])
    assert all("field" in METHODS.get(n).groups for n in field if n not in ("kd-noise", "kd-subset"))
    assert parse_methods("all") == list(TABLE_ORDER) == group_members("all")
    assert parse_methods("dfad,paper,dfad") == ["dfad", *PAPER]  # mixed, each once
    assert "cmi" not in PAPER and parse_methods("paper,cmi") == [*PAPER, "cmi"]  # CMI: a Table 2 column, not a paper row


def test_an_unknown_method_or_group_lists_groups_and_names(capsys):
    with pytest.raises(UnknownNameError, match="unknown method or group 'feild'; groups: paper, field, all; "
                                               "methods: teacher, student"):
        parse_methods("feild")
    assert main(["plan", "--preset", "micro", "--methods", "feild"]) != 0
    assert "groups: paper, field, all" in capsys.readouterr().err


def test_a_method_declaring_an_unknown_group_is_refused():
    from methods.registry import register_method
    with pytest.raises(ValueError, match="unknown group.*'feild'.*paper, field"):
        register_method("never", type(build_method("dafl", METHODS.get("dafl").config)), GenerativeConfig(), "x",
                        groups=("feild",))
    assert "never" not in METHODS


def test_list_methods_shows_the_groups(capsys):
    assert main(["list", "methods"]) == 0
    out = capsys.readouterr().out
    assert "groups (--methods GROUP):" in out
    assert f"paper   {__import__('methods').GROUPS['paper']}: {', '.join(PAPER)}" in out
