"""What the student matches on synthesized batches: logits, or logits plus reused hidden states.

Teacher and student are held outside the module's parameters (a plain tuple), so a
distiller's `parameters()` are only its own trainable parts (FRAMI's projections).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.core.ranges import NON_NEGATIVE
from models import AudioClassifier
from models.pooling import masked_mean_var

from ..losses import kd_kl
from .loop import Distiller


class LogitDistiller(Distiller):
    """KL between softened teacher and student logits (KD on the transfer set)."""

    def __init__(self, teacher: AudioClassifier, student: AudioClassifier, temperature: float):
        super().__init__()
        self.models = (teacher, student)
        self.temperature = temperature

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        teacher, student = self.models
        with torch.no_grad():
            t_logits = teacher(x)
        return kd_kl(student(x), t_logits, self.temperature)


@dataclass(frozen=True)
class ReusedBackendWeights:
    """Switches/weights of FRAMI's reused-teacher-backend terms (0 turns a term off)."""

    frame: float = 1.0  # mean and variance over time of frame-level states H
    utterance: float = 1.0  # mean and variance (over the batch) of utterance-level states U
    backend_logits: float = 1.0  # student's H through the teacher's frozen pooling + classifier
    RANGES: ClassVar[dict[str, Any]] = {"frame": NON_NEGATIVE, "utterance": NON_NEGATIVE,
                                        "backend_logits": NON_NEGATIVE}


def moment_matching(student_mean, student_var, teacher_mean, teacher_var) -> torch.Tensor:
    """MSE of means plus MSE of variances, in fp32 (the moments come from fp32 reductions)."""
    return (F.mse_loss(student_mean.float(), teacher_mean.float())
            + F.mse_loss(student_var.float(), teacher_var.float()))


class ReusedBackendDistiller(Distiller):
    """Logit KD plus FRAMI's reused-backend terms on hidden states before/after pooling.

    Student frame states are mapped to the teacher's width by a learned 1x1 convolution
    (identity when the widths agree), utterance states by a linear map likewise.
    """

    def __init__(self, teacher: AudioClassifier, student: AudioClassifier, temperature: float,
                 weights: ReusedBackendWeights):
        super().__init__()
        self.models = (teacher, student)
        self.temperature, self.weights = temperature, weights
        self.frame_proj = (nn.Identity() if student.channels == teacher.channels
                           else nn.Conv1d(student.channels, teacher.channels, 1))
        self.utterance_proj = (nn.Identity() if student.embedding_dim == teacher.embedding_dim
                               else nn.Linear(student.embedding_dim, teacher.embedding_dim))

    def work_key(self) -> tuple:
        """The terms switched on change the work (a zero weight skips its term); their sizes do not."""
        return (*super().work_key(), *(name for name, w in vars(self.weights).items() if w))

    def terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        teacher, student = self.models
        with torch.no_grad():
            t = teacher.forward_hidden(x)
        s = student.forward_hidden(x)
        h_s = self.frame_proj(s.frames)
        out = {"kd": kd_kl(s.logits, t.logits, self.temperature)}
        if self.weights.frame:
            out["frame"] = moment_matching(*masked_mean_var(h_s, None), *masked_mean_var(t.frames, None))
        if self.weights.utterance:
            u_s, u_t = self.utterance_proj(s.utterance).float(), t.utterance.float()
            out["utterance"] = moment_matching(u_s.mean(0), u_s.var(0, unbiased=False),
                                               u_t.mean(0), u_t.var(0, unbiased=False))
        if self.weights.backend_logits:
            reused_logits, _ = teacher.backend(h_s)  # frozen teacher pooling + embedding + classifier
            out["backend_logits"] = kd_kl(reused_logits, t.logits, self.temperature)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        terms = self.terms(x)
        w = {"kd": 1.0, "frame": self.weights.frame, "utterance": self.weights.utterance,
             "backend_logits": self.weights.backend_logits}
        return sum(w[k] * v for k, v in terms.items())
