"""Activation checkpointing of a trunk's blocks: the same math with less memory.

With it on (and gradients being recorded), each residual block keeps only its input for backward and
recomputes its insides when backward reaches it (torch.utils.checkpoint, non-reentrant, so forward
hooks on the block's BatchNorm layers keep their gradient paths). Memory for backward then grows with
one tensor per block instead of five or so, at the price of one more forward per block. The blocks
have no randomness (dropout 0, no drop-path), so no RNG state is saved for the recomputation.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterable

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


def run_blocks(blocks: Iterable[nn.Module], x: torch.Tensor, checkpointed: bool) -> torch.Tensor:
    """x through `blocks` in order, each block checkpointed when asked and gradients are on."""
    checkpointed = checkpointed and torch.is_grad_enabled()
    for block in blocks:
        x = checkpoint(block, x, use_reentrant=False, preserve_rng_state=False) if checkpointed else block(x)
    return x


@contextmanager
def checkpointed_blocks(*models: nn.Module, on: bool = True):
    """Turn block checkpointing on for the trunks of `models` inside the block (restored after)."""
    trunks = [m.trunk for m in models]
    previous = [t.checkpoint_blocks for t in trunks]
    for trunk in trunks:
        trunk.checkpoint_blocks = on
    try:
        yield
    finally:
        for trunk, state in zip(trunks, previous):
            trunk.checkpoint_blocks = state
