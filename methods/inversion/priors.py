"""Image priors of DeepInversion adapted to spectrograms (axes: frequency, time)."""
from __future__ import annotations

import torch


def total_variation_l2(x: torch.Tensor) -> torch.Tensor:
    """Sum of L2 norms of neighbour differences along time and along frequency, averaged over
    the batch. (DeepInversion's TV-L2 also uses the two diagonals; on a spectrogram the axes
    have different meanings, so we keep one term per axis.)"""
    d_time = x[..., :, 1:] - x[..., :, :-1]
    d_freq = x[..., 1:, :] - x[..., :-1, :]
    return (d_time.flatten(1).norm(dim=1) + d_freq.flatten(1).norm(dim=1)).mean()


def l2_norm(x: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of each sample's L2 norm."""
    return x.flatten(1).norm(dim=1).mean()
