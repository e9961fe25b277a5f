"""The transfer set of synthesized spectrograms, kept as tensors (CMI keeps 8-bit PNG files,
which would quantise a log-mel), bounded: past `max_samples` the oldest are dropped."""
from __future__ import annotations

import torch
import torch.nn.functional as F


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
        """Store a copy on the CPU; floating batches as float32 (bf16 under autocast), labels as they are."""
        batch = batch.detach().to("cpu")
        self._chunks.append(batch.to(torch.float32, copy=True) if batch.is_floating_point() else batch.clone())
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

    def all(self) -> torch.Tensor:
        """Everything in the pool, oldest first."""
        return torch.cat(self._chunks)

    @property
    def nbytes(self) -> int:
        return sum(c.numel() * c.element_size() for c in self._chunks)


def fit_frames(feature: torch.Tensor, frames: int, generator: torch.Generator) -> torch.Tensor:
    """(n_mels, T) -> (n_mels, frames): a random crop of a longer clip, a zero-padded shorter one (zero is
    the training mean after normalisation). Real clips enter a pool, or are compared with one, this way."""
    length = feature.shape[1]
    if length >= frames:
        start = int(torch.randint(0, length - frames + 1, (1,), generator=generator))
        return feature[:, start:start + frames]
    return F.pad(feature, (0, frames - length))
