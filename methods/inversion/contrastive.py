"""Contrastive pieces of CMI (Fang et al. 2021) and FRAMI's feature-invariance term."""
from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .randomness import on_device

HEAD_CHUNK_ROWS = 1024  # rows of the contrastive head per checkpointed chunk (memory bank included)


class MLPHead(nn.Module):
    """Linear-ReLU-Linear projection, L2-normalised output (CMI's instance-discrimination head)."""

    def __init__(self, dim_in: int, dim_out: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim_in, dim_in), nn.ReLU(inplace=True), nn.Linear(dim_in, dim_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(x).float(), dim=1, p=2)  # unit vectors in fp32: cosines follow


def project_rows(head: nn.Module, rows: torch.Tensor, chunked: bool, chunk_rows: int = HEAD_CHUNK_ROWS) -> torch.Tensor:
    """head(rows); when `chunked`, in checkpointed chunks of rows (the head is row-wise, so the result and its
    gradients are the same), keeping only each chunk's input for backward instead of the hidden layer of
    every row of the batch and the memory bank."""
    if not chunked or not torch.is_grad_enabled() or len(rows) <= chunk_rows:
        return head(rows)
    return torch.cat([checkpoint(head, part, use_reentrant=False) for part in rows.split(chunk_rows)])


class MemoryBank:
    """Ring buffer of past samples' (local, global) embeddings, the extra negatives of CMI. It lives on
    the synthesis device (a GPU step never copies the bank over from the host) and is written in place."""

    def __init__(self, size: int, dim: int, device: torch.device | str | None = None):
        self.data = torch.zeros(size, dim, device=device)
        self.size, self.ptr, self.count = size, 0, 0

    def add(self, features: torch.Tensor) -> None:
        rows = features.detach()
        if len(rows) > self.size:  # only the last `size` rows would survive the ring
            self.ptr = (self.ptr + len(rows) - self.size) % self.size
            rows = rows[-self.size:]
        n = len(rows)
        first = min(n, self.size - self.ptr)
        self.data[self.ptr:self.ptr + first] = rows[:first]
        self.data[:n - first] = rows[first:]
        self.ptr = (self.ptr + n) % self.size
        self.count = min(self.size, self.count + n)

    def sample(self, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.count == 0:
            return self.data[:0]
        index = torch.randperm(self.count, generator=on_device(generator, self.data.device),
                               device=self.data.device)[: min(k, self.count)]
        return self.data[index]


def cosine_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b.T of unit rows in fp32, autocast or not: /tau (0.1) magnifies bf16's rounding near cosine 1
    (about 0.004) to 0.04, the size of T_finv's margin."""
    if a.device.type not in ("cpu", "cuda"):  # the planner's meta device has no autocast
        return a.float() @ b.float().T
    with torch.autocast(a.device.type, enabled=False):
        return a.float() @ b.float().T


def _per_row_mean(per_row: torch.Tensor, n_current: int) -> torch.Tensor:
    """Mean over current rows plus mean over cached rows, as CMI's reference does, so the
    memory bank does not dilute the gradient reaching the current batch
    (zju-vipa/CMI datafree/synthesis/contrastive.py, `loss_cr[:B].mean() + loss_cr[B:].mean()`)."""
    if len(per_row) > n_current:
        return per_row[:n_current].mean() + per_row[n_current:].mean()
    return per_row.mean()


def instance_contrastive_loss(local: torch.Tensor, global_: torch.Tensor, temperature: float,
                              n_current: int) -> torch.Tensor:
    """CMI's InfoNCE: anchor = local view i, positive = global view i, negatives = the other
    global views (current batch and memory bank). Rows [0, n_current) are the current batch.
    As in CMI's reference code the positive also sits in the denominator (a softmax
    cross-entropy over all global views)."""
    cos = cosine_matrix(local, global_.detach())  # (N, N): both L2-normalised
    per_row = F.cross_entropy(cos / temperature, torch.arange(len(cos), device=cos.device), reduction="none")
    return _per_row_mean(per_row, n_current)


def feature_invariance_contrastive_loss(local: torch.Tensor, global_: torch.Tensor, temperature: float,
                                        n_current: int, t_finv: torch.Tensor | None = None) -> torch.Tensor:
    """FRAMI's Eq. 2 as the paper writes it, per anchor i:

        -log( exp((cos(x_i, x_i+) + T_finv(X_i)) / tau) / sum_j exp(cos(x_i, x_j-) / tau) )
      = -(cos(x_i, x_i+) + T_finv(X_i)) / tau + logsumexp_j cos(x_i, x_j-) / tau

    The denominator holds the negatives only, so the positive's logit (and T_finv with it)
    never saturates: d loss_i / d T_finv(X_i) = -1/tau for every anchor, whereas inside a
    softmax with the positive in the denominator it would be -(1 - p_i)/tau -> 0 once T_finv
    lifts p_i towards 1. `t_finv` None (or zeros) is the same form without the invariance
    term: the `frami-no-finv` ablations use it, so they remove exactly T_finv.
    Rows past n_current (the memory bank's cached views) are anchors with T_finv = 0.
    """
    n = len(local)
    if n < 2:
        raise ValueError("Eq. 2 needs at least one negative: a batch of 2 or a non-empty memory bank")
    cos = cosine_matrix(local, global_.detach())
    positive = cos.diagonal()
    if t_finv is not None:
        positive = positive + F.pad(t_finv, (0, n - n_current))
    eye = torch.eye(n, dtype=torch.bool, device=cos.device)
    negatives = torch.logsumexp((cos / temperature).masked_fill(eye, float("-inf")), dim=1)
    per_row = negatives - positive / temperature
    return _per_row_mean(per_row, n_current)


def feature_invariance(chunk_embeddings: torch.Tensor) -> torch.Tensor:
    """T_finv (FRAMI Eq. 1): mean over chunk pairs j<k of cos(chunk_j, chunk_k), per sample.

    chunk_embeddings: (B, K, D) -> (B,). K must be at least 2.
    """
    k = chunk_embeddings.shape[1]
    if k < 2:
        raise ValueError(f"T_finv needs at least 2 chunks, got {k}")
    unit = F.normalize(chunk_embeddings.float(), dim=2)
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
