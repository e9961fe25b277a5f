"""Attention transfer (Zagoruyko & Komodakis 2017) on the trunk's stages: ZSKT's student term.

ZSKT's reference (polo5/ZeroShotKnowledgeTransfer solver.py l.197-211, l.231-234): per stage, the attention map
is the channel mean of the squared activations, flattened and L2-normalised per sample; the term is the mean
squared difference of the student's and the teacher's maps, summed over stages and weighted by beta (250,
main.py l.59). Teacher and student must have as many stages with the same resolution (main.py l.73 asserts the
same family). On a log-mel the map spans frequency x time: whatever length the clip has, both models see the
same one, so the maps align position by position.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from ..losses import kd_kl
from .loop import Distiller


def attention_map(features: torch.Tensor) -> torch.Tensor:
    """(B, C, F, T) -> (B, F*T): mean over channels of the squared activations, L2-normalised per sample, fp32."""
    return F.normalize(features.float().pow(2).mean(1).flatten(1), dim=1)


def attention_transfer(student_stages: list[torch.Tensor], teacher_stages: list[torch.Tensor]) -> torch.Tensor:
    """Sum over stages of mean((a_s - a_t)^2), a = attention_map. Stages are paired in order."""
    if len(student_stages) != len(teacher_stages):
        raise ValueError(f"attention transfer pairs stages in order, but the student has {len(student_stages)} "
                         f"and the teacher {len(teacher_stages)}; use a teacher and a student of one family "
                         f"(WRN with WRN, ResNet with ResNet), as ZSKT's reference requires")
    total = student_stages[0].new_zeros((), dtype=torch.float32)
    for index, (s, t) in enumerate(zip(student_stages, teacher_stages)):
        if s.shape[2:] != t.shape[2:]:
            raise ValueError(f"attention transfer: stage {index} has resolution {tuple(s.shape[2:])} in the "
                             f"student and {tuple(t.shape[2:])} in the teacher; the pair's trunks must "
                             f"downsample alike (one family)")
        total = total + (attention_map(s) - attention_map(t)).pow(2).mean()
    return total


def trunk_stages(model: nn.Module) -> list[nn.Module]:
    stages = getattr(model.trunk, "stages", None)
    if stages is None:
        raise ValueError(f"{type(model.trunk).__name__} names no stages (a `stages()` method), so attention "
                         f"transfer has nothing to compare")
    return stages()


class StageTaps:
    """Forward hooks on `model`'s trunk stages that collect each stage's output while `collecting()`. They are put
    on once, for the distiller's life, rather than around each pass: a compiled pass (methods/inversion/
    compiled.py) cannot add or remove hooks inside its graph. `remove()` takes them off again: the teacher is
    shared by later cells (teacher cache), so none may stay on it."""

    def __init__(self, model: nn.Module):
        self.outputs: list[torch.Tensor] = []
        self.on = False
        self._handles = [m.register_forward_hook(self._hook) for m in trunk_stages(model)]

    def _hook(self, module: nn.Module, inputs, output: torch.Tensor) -> None:
        if self.on:
            self.outputs.append(output)

    @contextmanager
    def collecting(self):
        """Inside the block, the outputs of the trunk stages in the last forward pass, in order."""
        self.outputs, self.on = [], True
        try:
            yield self.outputs
        finally:  # the caller holds what was collected; the taps keep nothing alive past the block
            self.outputs, self.on = [], False

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


class AttentionDistiller(Distiller):
    """ZSKT's student loss: KD on logits at `temperature` + beta * attention transfer over the trunk stages."""

    def __init__(self, teacher: nn.Module, student: nn.Module, temperature: float, beta: float):
        super().__init__()
        self.models = (teacher, student)
        self.temperature, self.beta = temperature, beta
        t_count, s_count = len(trunk_stages(teacher)), len(trunk_stages(student))  # checked before any work
        if t_count != s_count:
            raise ValueError(f"attention transfer pairs trunk stages in order, but the teacher has {t_count} and "
                             f"the student {s_count}; use a teacher and a student of one family (WRN with WRN, "
                             f"ResNet with ResNet), as ZSKT's reference requires (main.py l.73)")
        self.taps = (StageTaps(teacher), StageTaps(student))

    def terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        (teacher, student), (teacher_taps, student_taps) = self.models, self.taps
        with torch.no_grad(), teacher_taps.collecting() as t_stages:
            t_logits = teacher(x)
        with student_taps.collecting() as s_stages:
            s_logits = student(x)
        return {"kd": kd_kl(s_logits, t_logits, self.temperature), "at": attention_transfer(s_stages, t_stages)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        terms = self.terms(x)
        return terms["kd"] + self.beta * terms["at"]

    def close(self) -> None:
        for taps in self.taps:
            taps.remove()
