"""Image priors of DeepInversion adapted to spectrograms (axes: frequency, time).

As in the reference (NVlabs/DeepInversion cifar10/deepinversion_cifar10.py, `loss_var =
torch.norm(diff1) + ...` and `torch.norm(inputs_jit, 2)`), each norm is taken over the whole
batch, not per sample, so a weight means the same thing as the reference's at the same batch size.
"""
from __future__ import annotations

import torch


def total_variation_l2(x: torch.Tensor) -> torch.Tensor:
    """L2 norm (over the whole batch) of neighbour differences along time plus along frequency.
    (DeepInversion's TV-L2 also uses the two diagonals; on a spectrogram the axes have
    different meanings, so we keep one term per axis.)"""
    d_time = x[..., :, 1:] - x[..., :, :-1]
    d_freq = x[..., 1:, :] - x[..., :-1, :]
    return d_time.norm() + d_freq.norm()


def l2_norm(x: torch.Tensor) -> torch.Tensor:
    """L2 norm of the whole batch."""
    return x.norm()
