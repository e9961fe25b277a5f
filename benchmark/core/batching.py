"""Length-bucketed batches of variable-length log-mel clips.

Clips of similar length go together so that padding (which BatchNorm statistics and the
convolutions near a clip's end would otherwise see) stays small; statistics pooling is
masked, so what padding remains never enters the pooled statistics.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch

from .features import FeatureSet, pad_batch


@dataclass
class Batch:
    x: torch.Tensor  # (B, 1, n_mels, T_max)
    lengths: torch.Tensor  # (B,)
    labels: torch.Tensor  # (B,)
    index: torch.Tensor  # positions in the FeatureSet

    def to(self, device: torch.device) -> "Batch":
        return Batch(self.x.to(device, non_blocking=True), self.lengths.to(device), self.labels.to(device),
                     self.index)


def make_batch(data: FeatureSet, index: torch.Tensor) -> Batch:
    x, lengths = pad_batch([data.features[int(i)] for i in index])
    return Batch(x, lengths, data.labels[index], index)


def bucketed_batches(data: FeatureSet, batch_size: int, generator: torch.Generator | None = None,
                     bucket_batches: int = 20, drop_last: bool = False) -> Iterator[Batch]:
    """Shuffled batches (generator given) or deterministic length-sorted batches (None)."""
    lengths = data.lengths
    if generator is None:
        order = torch.argsort(lengths, stable=True)
        chunks = list(order.split(batch_size))
    else:
        order = torch.randperm(len(data), generator=generator)
        chunks = []
        for bucket in order.split(batch_size * bucket_batches):
            bucket = bucket[torch.argsort(lengths[bucket], stable=True)]
            chunks.extend(bucket.split(batch_size))
        chunks = [chunks[i] for i in torch.randperm(len(chunks), generator=generator)]
    for chunk in chunks:
        if drop_last and len(chunk) < batch_size:
            continue
        yield make_batch(data, chunk)
