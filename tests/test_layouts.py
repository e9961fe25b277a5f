"""The memory layouts the loop runs in (inversion/loop.models_for_device, synthesis_layout, the generator's
channels-last weights) change no math: one synthesis step's gradients and one reused-backend KD step's loss and
gradients equal those of the plain NCHW models within float rounding."""
from __future__ import annotations

import copy

import pytest
import torch

from methods.adi import ADIConfig, DeepInversionSynthesizer
from methods.cmi import CMIConfig, ContrastiveSynthesizer
from methods.frami import FRAMIConfig, FeatureInvarianceSynthesizer
from methods.inversion.distill import ReusedBackendDistiller, ReusedBackendWeights
from methods.inversion.generator import SpectrogramGenerator
from methods.inversion.loop import models_for_device, synthesis_layout
from models import create_model

CPU = torch.device("cpu")
SMALL = dict(synth_batch=4, iterations=1, nz=8, generator_width=8, bank_size=16, n_negatives=8)


def _models():
    torch.manual_seed(0)
    teacher = create_model("wrn10_2_tiny", 4, embedding_dim=8).eval().requires_grad_(False)
    student = create_model("resnet18_tiny", 4, embedding_dim=8).eval()
    return teacher, student


def _contrastive_gradients(synthesizer_cls, config, as_the_loop_holds_them: bool):
    teacher, student = _models()
    if as_the_loop_holds_them:
        teacher, student = models_for_device(teacher, student, CPU)
    synth = synthesizer_cls(config, teacher, student, 4, 16, 24, CPU, 0)
    synth.bank.add(torch.randn(synth.bank.size, synth.bank.data.shape[1], generator=torch.Generator().manual_seed(1)))
    with synthesis_layout(student, CPU) if as_the_loop_holds_them else torch.enable_grad():
        synth.synthesize()
    grads = [p.grad.clone() for p in synth.generator.parameters()] + [p.grad.clone() for p in synth.head.parameters()]
    synth.close()
    return grads


@pytest.mark.parametrize("synthesizer_cls,config", [(ContrastiveSynthesizer, CMIConfig(**SMALL, checkpointing="off")),
                                                    (FeatureInvarianceSynthesizer,
                                                     FRAMIConfig(**SMALL, num_chunks=2, checkpointing="off"))])
def test_channels_last_models_leave_the_generator_gradients_equal(synthesizer_cls, config):
    plain = _contrastive_gradients(synthesizer_cls, config, False)
    loop = _contrastive_gradients(synthesizer_cls, config, True)
    assert sum(g.abs().sum() for g in plain) > 0
    for a, b in zip(plain, loop):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)


def test_the_channels_last_generator_computes_what_an_nchw_copy_computes():
    torch.manual_seed(0)
    generator = SpectrogramGenerator(8, 16, 24, width=8)
    generator.reset()
    nchw = copy.deepcopy(generator).to(memory_format=torch.contiguous_format)
    assert generator.body[2].weight.is_contiguous(memory_format=torch.channels_last)
    assert nchw.body[2].weight.is_contiguous() and torch.equal(nchw.body[2].weight, generator.body[2].weight)
    z = torch.randn(4, 8)
    for model in (generator, nchw):
        model(z).square().mean().backward()
    torch.testing.assert_close(generator(z), nchw(z), rtol=1e-5, atol=1e-6)
    for a, b in zip(nchw.parameters(), generator.parameters()):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-6)


def test_channels_last_leaves_the_input_gradients_equal_in_deepinversion():
    def first_step_batch(as_the_loop_holds_them: bool) -> torch.Tensor:
        teacher, student = _models()
        if as_the_loop_holds_them:
            teacher, student = models_for_device(teacher, student, CPU)
        config = ADIConfig(synth_batch=4, iterations=1, input_lr=0.1, checkpointing="off")
        synth = DeepInversionSynthesizer(config, teacher, student, 4, (1, 16, 24), CPU, 0)
        with synthesis_layout(student, CPU) if as_the_loop_holds_them else torch.enable_grad():
            batch = synth.synthesize()  # the inputs after one Adam step: lr * sign-like step of the gradient
        synth.close()
        return batch

    torch.testing.assert_close(first_step_batch(True), first_step_batch(False), rtol=1e-4, atol=1e-5)


def test_the_student_is_back_in_nchw_after_synthesis_and_the_reused_backend_kd_step_is_unchanged():
    x = torch.randn(6, 1, 16, 24, generator=torch.Generator().manual_seed(2))

    def kd(as_the_loop_holds_them: bool):
        teacher, student = _models()
        if as_the_loop_holds_them:
            teacher, student = models_for_device(teacher, student, CPU)
            with synthesis_layout(student, CPU):
                assert student.trunk.net.conv1.weight.is_contiguous(memory_format=torch.channels_last)
            assert student.trunk.net.conv1.weight.is_contiguous()
        torch.manual_seed(3)
        distiller = ReusedBackendDistiller(teacher, student.train(), 4.0, ReusedBackendWeights())
        loss = distiller(x)
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in student.parameters() if p.grad is not None]

    (loss_a, grads_a), (loss_b, grads_b) = kd(False), kd(True)
    torch.testing.assert_close(loss_b, loss_a, rtol=1e-5, atol=1e-6)
    for a, b in zip(grads_a, grads_b):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
