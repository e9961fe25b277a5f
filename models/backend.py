"""The classifier back end shared by every trunk: statistics pooling -> embedding U -> logits.

FRAMI's "reused teacher backend" feeds a student's frame-level states through the
teacher's frozen back end, so the back end is its own module.
"""
from __future__ import annotations

import torch
from torch import nn

from .pooling import StatisticsPooling


class PoolingBackend(nn.Module):
    def __init__(self, channels: int, embedding_dim: int, num_classes: int):
        super().__init__()
        self.pooling = StatisticsPooling()
        self.embedding = nn.Sequential(
            nn.Linear(2 * channels, embedding_dim), nn.BatchNorm1d(embedding_dim), nn.ReLU(inplace=True)
        )
        self.classifier = nn.Linear(embedding_dim, num_classes)

    def forward(self, h: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (logits, utterance-level state U)."""
        u = self.embedding(self.pooling(h, lengths))
        return self.classifier(u), u
