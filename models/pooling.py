"""Length-aware statistics pooling: frame-level states H (B, C, T') -> [mean, std] (B, 2C).

Only the first `lengths[b]` frames of clip b count, so zero padding in a batch leaves
each clip's pooled statistics exactly as if the clip had been processed alone.
"""
from __future__ import annotations

import torch
from torch import nn

STD_EPS = 1e-5


def frame_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """Boolean mask (B, max_len) that is True on valid frames."""
    steps = torch.arange(max_len, device=lengths.device)
    return steps.unsqueeze(0) < lengths.clamp(min=1, max=max_len).unsqueeze(1)


def masked_mean_var(h: torch.Tensor, lengths: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (biased) variance over time of H (B, C, T), over valid frames only; in fp32 whatever H's
    dtype (under bf16 autocast a variance from bf16 sums loses most of its digits)."""
    h = h.float()
    if lengths is None:
        return h.mean(dim=2), h.var(dim=2, unbiased=False)
    mask = frame_mask(lengths, h.shape[2]).unsqueeze(1).to(h.dtype)  # (B, 1, T)
    count = mask.sum(dim=2)  # (B, 1)
    mean = (h * mask).sum(dim=2) / count
    var = (((h - mean.unsqueeze(2)) * mask) ** 2).sum(dim=2) / count
    return mean, var


class StatisticsPooling(nn.Module):
    """Concatenated masked mean and standard deviation over time (x-vector style)."""

    def forward(self, h: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        mean, var = masked_mean_var(h, lengths)
        return torch.cat([mean, torch.sqrt(var + STD_EPS)], dim=1)
