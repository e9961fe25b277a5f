"""KD (Hinton et al. 2015): the student mimics the teacher's softened logits on real training data."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from benchmark.core.ranges import NON_NEGATIVE, POSITIVE
from benchmark.core.training import TrainConfig, train_supervised

from .base import CellContext, Method, MethodResult
from .losses import kd_kl
from .registry import register_method


@dataclass(frozen=True)
class KDConfig(TrainConfig):
    temperature: float = 4.0
    ce_weight: float = 0.0  # weight of the hard-label CE term (0: pure distillation)
    RANGES: ClassVar[dict[str, Any]] = {"temperature": POSITIVE, "ce_weight": NON_NEGATIVE}


def kd_batch_loss(teacher, cfg: KDConfig):
    """Per-batch KD loss: KL to the teacher's softened logits (+ optional CE on labels)."""

    def loss_fn(model, batch):
        with torch.no_grad():
            t_logits = teacher(batch.x, batch.lengths)
        s_logits = model(batch.x, batch.lengths)
        loss = kd_kl(s_logits, t_logits, cfg.temperature)
        if cfg.ce_weight:
            loss = loss + cfg.ce_weight * F.cross_entropy(s_logits, batch.labels)
        return loss

    return loss_fn


class KnowledgeDistillation(Method):
    def run(self, ctx: CellContext) -> MethodResult:
        teacher, _ = ctx.teacher()
        student = ctx.new_student()
        val_acc, stats, end = train_supervised(student, ctx.data.train, ctx.data.val, self.config, ctx.device, ctx.seed,
                                          kd_batch_loss(teacher, self.config),
                                          label=f"kd {ctx.teacher_arch}->{ctx.student_arch}", log=ctx.log)
        return MethodResult(student, val_acc, {"distill": stats}, end_of_budget=end)


register_method("kd", KnowledgeDistillation, KDConfig(), "Hinton KD on real training data (softened logits, T=4)",
                table2=dict(label="KD", order=2, paper={
                    "resnet34:resnet18": {"us8k": 75.63, "esc50": 67.00, "audiomnist": 99.87},
                    "wrn40_2:wrn16_2": {"us8k": 75.27, "esc50": 63.50, "audiomnist": 99.80}}))
