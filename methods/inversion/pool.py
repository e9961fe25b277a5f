"""The transfer set of synthesized spectrograms, kept as tensors (CMI keeps 8-bit PNG files,
which would quantise a log-mel), bounded: past `max_samples` the oldest are dropped."""
from __future__ import annotations

import torch


class TensorPool:
    def __init__(self, max_samples: int):
        if max_samples <= 0:
            raise ValueError(f"pool size must be positive, got {max_samples}")
        self.max_samples = max_samples
        self._chunks: list[torch.Tensor] = []
        self.total_added = 0

    def __len__(self) -> int:
        return sum(len(c) for c in self._chunks)

    def add(self, batch: torch.Tensor) -> None:
        self._chunks.append(batch.detach().to("cpu", torch.float32).clone())
        self.total_added += len(batch)
        excess = len(self) - self.max_samples
        while excess > 0:
            oldest = self._chunks[0]
            if len(oldest) <= excess:
                self._chunks.pop(0)
                excess -= len(oldest)
            else:
                self._chunks[0] = oldest[excess:]
                excess = 0

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """A uniformly random batch (without replacement) from the whole pool."""
        data = torch.cat(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
        self._chunks = [data]
        index = torch.randperm(len(data), generator=generator)[:batch_size]
        return data[index]

    @property
    def nbytes(self) -> int:
        return sum(c.numel() * c.element_size() for c in self._chunks)
