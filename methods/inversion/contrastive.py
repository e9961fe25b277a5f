"""Contrastive pieces of CMI (Fang et al. 2021) and FRAMI's feature-invariance term."""
from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn


class MLPHead(nn.Module):
    """Linear-ReLU-Linear projection, L2-normalised output (CMI's instance-discrimination head)."""

    def __init__(self, dim_in: int, dim_out: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim_in, dim_in), nn.ReLU(inplace=True), nn.Linear(dim_in, dim_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(x), dim=1, p=2)


class MemoryBank:
    """Ring buffer of past samples' (local, global) embeddings, the extra negatives of CMI."""

    def __init__(self, size: int, dim: int):
        self.data = torch.zeros(size, dim)
        self.size, self.ptr, self.count = size, 0, 0

    def add(self, features: torch.Tensor) -> None:
        for row in features.detach().cpu().split(self.size):
            n = len(row)
            idx = (torch.arange(n) + self.ptr) % self.size
            self.data[idx] = row.float()
            self.ptr = (self.ptr + n) % self.size
            self.count = min(self.size, self.count + n)

    def sample(self, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.count == 0:
            return self.data[:0]
        index = torch.randperm(self.count, generator=generator)[: min(k, self.count)]
        return self.data[index]


def instance_contrastive_loss(local: torch.Tensor, global_: torch.Tensor, temperature: float, n_current: int,
                              positive_bonus: torch.Tensor | None = None) -> torch.Tensor:
    """InfoNCE of CMI: anchor = local view i, positive = global view i, negatives = the other
    global views (current batch and memory bank). Rows [0, n_current) are the current batch.

    `positive_bonus` (FRAMI Eq. 2) is added to the positive's cosine before the temperature:
    exp((cos(x_i, x_i+) + T_finv(X_i)) / tau). Bonus None (or zero) gives exactly CMI's loss.
    As in CMI's reference code the positive also sits in the denominator, and the loss is the
    mean over current rows plus the mean over cached rows (so the bank does not dilute the
    gradient reaching the current batch).
    """
    cos = local @ global_.detach().T  # (N, N): both L2-normalised
    if positive_bonus is not None:
        bonus = torch.zeros(len(cos), device=cos.device, dtype=cos.dtype)
        bonus[:n_current] = positive_bonus
        cos = cos + torch.diag(bonus)
    per_row = F.cross_entropy(cos / temperature, torch.arange(len(cos), device=cos.device), reduction="none")
    if len(cos) > n_current:
        return per_row[:n_current].mean() + per_row[n_current:].mean()
    return per_row.mean()


def feature_invariance(chunk_embeddings: torch.Tensor) -> torch.Tensor:
    """T_finv (FRAMI Eq. 1): mean over chunk pairs j<k of cos(chunk_j, chunk_k), per sample.

    chunk_embeddings: (B, K, D) -> (B,). K must be at least 2.
    """
    k = chunk_embeddings.shape[1]
    if k < 2:
        raise ValueError(f"T_finv needs at least 2 chunks, got {k}")
    unit = F.normalize(chunk_embeddings, dim=2)
    pairs = list(itertools.combinations(range(k), 2))
    left = unit[:, [p[0] for p in pairs]]
    right = unit[:, [p[1] for p in pairs]]
    return (left * right).sum(dim=2).mean(dim=1)


def split_chunks(x: torch.Tensor, num_chunks: int) -> torch.Tensor:
    """(B, 1, F, K*L) -> (B*K, 1, F, L): K equal, consecutive time chunks of every sample."""
    b, c, f, t = x.shape
    length = t // num_chunks
    x = x[..., : num_chunks * length].reshape(b, c, f, num_chunks, length)
    return x.permute(0, 3, 1, 2, 4).reshape(b * num_chunks, c, f, length)
