"""The transfer set of synthesized spectrograms, kept as tensors (CMI keeps 8-bit PNG files, which would
quantise a log-mel), bounded: past `max_samples` the oldest are overwritten.

A ring buffer preallocated on the device the batches come from (the cell's device), at the batches' own
dtype: under bf16 autocast the generator's output is bf16 and stored as it is, exactly; ADI's inputs and
everything on CPU stay fp32. Adding is a copy into the ring and sampling is an index drawn on the device,
so a KD step never copies the pool over from the host. Rows are stored in the order they came, so until the
ring wraps, `sample` draws exactly what a list of batches concatenated oldest first would give.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .randomness import on_device


class TensorPool:
    def __init__(self, max_samples: int):
        if max_samples <= 0:
            raise ValueError(f"pool size must be positive, got {max_samples}")
        self.max_samples = max_samples
        self.data: torch.Tensor | None = None  # (max_samples, ...) once the first batch arrives
        self.count = 0  # rows filled
        self.ptr = 0  # next row to write
        self.total_added = 0

    def __len__(self) -> int:
        return self.count

    def add(self, batch: torch.Tensor) -> None:
        """Copy a batch into the ring on its device; floating batches as fp32, or bf16 if they are bf16."""
        batch = batch.detach()
        if self.data is None:
            dtype = batch.dtype if not batch.is_floating_point() or batch.dtype == torch.bfloat16 else torch.float32
            self.data = torch.empty(self.max_samples, *batch.shape[1:], dtype=dtype, device=batch.device)
        rows = batch[-self.max_samples:]
        skipped = len(batch) - len(rows)  # a batch larger than the pool keeps its newest rows
        self.ptr = (self.ptr + skipped) % self.max_samples
        first = min(len(rows), self.max_samples - self.ptr)
        self.data[self.ptr:self.ptr + first] = rows[:first]
        self.data[:len(rows) - first] = rows[first:]
        self.ptr = (self.ptr + len(rows)) % self.max_samples
        self.count = min(self.max_samples, self.count + len(rows))
        self.total_added += len(batch)

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """A uniformly random batch (without replacement) from the whole pool, drawn on the pool's device."""
        if self.data is None:
            raise ValueError("the pool is empty")
        device = self.data.device
        index = torch.randperm(self.count, generator=on_device(generator, device), device=device)[:batch_size]
        return self.data[index]

    def all(self) -> torch.Tensor:
        """Everything in the pool, oldest first."""
        if self.data is None:
            raise ValueError("the pool is empty")
        if self.count < self.max_samples:
            return self.data[:self.count]
        return torch.cat([self.data[self.ptr:], self.data[:self.ptr]])

    @property
    def nbytes(self) -> int:
        """Bytes of the rows filled (the ring itself holds max_samples rows from the first batch on)."""
        if self.data is None:
            return 0
        return self.count * self.data[0].numel() * self.data.element_size()


def fit_frames(feature: torch.Tensor, frames: int, generator: torch.Generator) -> torch.Tensor:
    """(n_mels, T) -> (n_mels, frames): a random crop of a longer clip, a zero-padded shorter one (zero is
    the training mean after normalisation). Real clips enter a pool, or are compared with one, this way."""
    length = feature.shape[1]
    if length >= frames:
        start = int(torch.randint(0, length - frames + 1, (1,), generator=generator))
        return feature[:, start:start + frames]
    return F.pad(feature, (0, frames - length))
