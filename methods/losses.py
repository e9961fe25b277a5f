"""Distillation losses shared by the methods (each tested against hand-derived values)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def kd_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Hinton et al. 2015: KL(softmax(t/T) || softmax(s/T)) * T^2, averaged over the batch."""
    # fp32 before /T: under bf16 autocast a logit carries about 3 significant digits
    log_p_s = F.log_softmax(student_logits.float() / temperature, dim=1)
    log_p_t = F.log_softmax(teacher_logits.float() / temperature, dim=1)
    return F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True) * temperature**2

