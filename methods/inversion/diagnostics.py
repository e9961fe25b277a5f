"""What a synthesized pool looks like to the teacher: the numbers that say whether a data-free student had
anything to learn from, before its accuracy does.

- target agreement: the teacher's argmax equals the label the synthesizer aimed for (methods with
  intended labels: ADI, CMI, FRAMI);
- classes covered by the teacher's argmax over the pool, and the entropy of that argmax distribution
  (normalised by log C: 1 = every class equally often, 0 = one class);
- the teacher's mean confidence (max softmax probability);
- the BN-statistics loss (DeepInversion's r_feature, every BatchNorm2d weighted 1) of pool batches,
  beside the same loss on real training batches and on Gaussian-noise batches of the same size and
  length: a pool that matches the BN prior no worse than real data, yet teaches nothing, says the prior
  does not pin down realistic spectrograms (the question tests/measurements/measure_bn_prior.py measures; its
  answer: results/README.md, "Budget curve, and why the data-free students are weak");
- the distilled student's agreement with the teacher's argmax on the pool: whether KD fitted the transfer set at
  all, which separates "learned the pool, which does not transfer" from "did not learn the pool".
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .hooks import BatchNormStatistics
from .pool import fit_frames


@torch.no_grad()
def class_probabilities(model: nn.Module, x: torch.Tensor, device: torch.device, batch_size: int = 256) -> torch.Tensor:
    """Softmax of `model` on `x` (N, 1, n_mels, T) in batches, on the CPU. Read in fp32 outside autocast: a
    generator's pool is bf16 under bf16 autocast, and the models' weights are fp32."""
    return torch.cat([model(x[i:i + batch_size].to(device, torch.float32)).float().softmax(1).cpu()
                      for i in range(0, len(x), batch_size)])


def teacher_view(teacher: nn.Module, x: torch.Tensor, intended: torch.Tensor | None, num_classes: int,
                 device: torch.device, batch_size: int = 256) -> dict[str, float]:
    """Agreement, coverage, argmax entropy and confidence of the teacher on `x` (N, 1, n_mels, T)."""
    return view_of(class_probabilities(teacher, x, device, batch_size), intended, num_classes)


def view_of(probs: torch.Tensor, intended: torch.Tensor | None, num_classes: int) -> dict[str, float]:
    """teacher_view's numbers from the teacher's class probabilities."""
    confidence, argmax = probs.max(1)
    counts = torch.bincount(argmax, minlength=num_classes).float()
    shares = counts / counts.sum()
    entropy = max(0.0, -(shares[shares > 0] * shares[shares > 0].log()).sum().item())
    view = {"classes_covered": int((counts > 0).sum()), "argmax_entropy": entropy / math.log(num_classes),
            "mean_confidence": confidence.mean().item(), "largest_class_share": shares.max().item()}
    if intended is not None:
        view["target_agreement"] = (argmax == intended.cpu()).float().mean().item()
    return view


def student_agreement(teacher_argmax: torch.Tensor, student: nn.Module, x: torch.Tensor, device: torch.device,
                      batch_size: int = 256) -> float:
    """Share of `x` on which the distilled student's argmax equals the teacher's (`teacher_argmax`, on the CPU;
    the student scored in eval mode and handed back in its mode): near 1 with the student near chance on the
    test split says the transfer set was learned but does not carry over to real clips; low says the KD phase
    did not even fit it."""
    was_training = student.training
    student.eval()
    try:
        student_argmax = class_probabilities(student, x, device, batch_size).argmax(1)
    finally:
        student.train(was_training)
    return (student_argmax == teacher_argmax).float().mean().item()


def real_batch(train, batch: int, frames: int, generator: torch.Generator) -> torch.Tensor:
    """`batch` random training clips fitted to `frames`, as (batch, 1, n_mels, frames)."""
    index = torch.randperm(len(train), generator=generator)[:batch].tolist()
    return torch.stack([fit_frames(train.features[i], frames, generator) for i in index]).unsqueeze(1)


@torch.no_grad()
def bn_losses(teacher: nn.Module, batches: list[torch.Tensor], device: torch.device) -> float:
    """Mean r_feature over `batches`, each one forward of the teacher."""
    statistics = BatchNormStatistics(teacher, instance_means=False)
    try:
        losses = []
        for x in batches:
            with statistics.active():
                teacher(x.to(device, torch.float32))  # fp32, as in teacher_view
            losses.append(float(statistics.loss()))
        return sum(losses) / len(losses)
    finally:
        statistics.remove()


def pool_diagnostics(teacher: nn.Module, pool_x: torch.Tensor, intended: torch.Tensor | None, train,
                     num_classes: int, batch: int, device: torch.device, seed: int, batches: int = 4,
                     student: nn.Module | None = None) -> dict:
    """Every diagnostic of the final pool; the BN comparison over `batches` batches of `batch` clips each; with
    the distilled `student`, its agreement with the teacher on the pool."""
    generator = torch.Generator().manual_seed(seed)
    frames = pool_x.shape[-1]
    batch = max(2, min(batch, len(pool_x), len(train)))
    pool_batches = [pool_x[torch.randperm(len(pool_x), generator=generator)[:batch]] for _ in range(batches)]
    real = [real_batch(train, batch, frames, generator) for _ in range(batches)]
    noise = [torch.randn(batch, *pool_x.shape[1:], generator=generator) for _ in range(batches)]
    teacher_probs = class_probabilities(teacher, pool_x, device)  # one teacher pass serves both views below
    agreement = {} if student is None else {
        "student_agreement": student_agreement(teacher_probs.argmax(1), student, pool_x, device)}
    return {**view_of(teacher_probs, intended, num_classes),
            "bn_loss_pool": bn_losses(teacher, pool_batches, device),
            "bn_loss_real": bn_losses(teacher, real, device),
            "bn_loss_noise": bn_losses(teacher, noise, device),
            "bn_batch": batch, **agreement}
