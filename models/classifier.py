"""Audio classifier = 2-D CNN trunk -> frame-level states H -> statistics pooling -> U -> logits."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .backend import PoolingBackend


@dataclass
class ModelOutput:
    logits: torch.Tensor
    frames: torch.Tensor  # H: (B, C, T') frame-level hidden states
    frame_lengths: torch.Tensor | None  # valid frames of H per clip (None: all valid)
    utterance: torch.Tensor  # U: (B, D) utterance-level hidden state


class AudioClassifier(nn.Module):
    """Wraps any trunk mapping (B, 1, F, T) -> (B, C, F', T') with `time_stride` total time downsampling.

    Frequency is collapsed by a mean over F', which keeps H defined for every input length.
    """

    def __init__(self, trunk: nn.Module, channels: int, time_stride: int, num_classes: int, embedding_dim: int):
        super().__init__()
        self.trunk = trunk
        self.channels = channels
        self.time_stride = time_stride
        self.embedding_dim = embedding_dim
        self.num_classes = num_classes
        self.backend = PoolingBackend(channels, embedding_dim, num_classes)

    def frame_lengths(self, lengths: torch.Tensor | None) -> torch.Tensor | None:
        """Valid output frames: every stride-2 stage (k3/p1, k7/p3, pool k3/p1) maps L -> ceil(L/2)."""
        if lengths is None:
            return None
        return torch.div(lengths + self.time_stride - 1, self.time_stride, rounding_mode="floor").clamp(min=1)

    def frames(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x).mean(dim=2)

    def forward_hidden(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> ModelOutput:
        h = self.frames(x)
        frame_lengths = self.frame_lengths(lengths)
        logits, u = self.backend(h, frame_lengths)
        return ModelOutput(logits, h, frame_lengths, u)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_hidden(x, lengths).logits
