"""CMI's generator (DCGAN-style, as in the CMI/Fast-Datafree reference), for log-mels.

z -> linear to a (128, F/4, T/4) map -> two (upsample x2, conv, BN, LeakyReLU) stages
-> conv to one channel. Images end in a sigmoid (pixels in [0, 1]); a normalised log-mel
is roughly zero-mean, unit-variance per mel bin, so we end in `scale * tanh`, which keeps
outputs in +-scale standard deviations.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


class SpectrogramGenerator(nn.Module):
    def __init__(self, nz: int, n_mels: int, frames: int, width: int = 64, scale: float = 4.0):
        super().__init__()
        self.n_mels, self.frames, self.scale = n_mels, frames, scale
        self.init_f, self.init_t = -(-n_mels // 4), -(-frames // 4)
        self.project = nn.Linear(nz, 2 * width * self.init_f * self.init_t)
        self.width = width
        # methods/inversion/memory.py: keep only the body's input for backward and recompute the rest. The
        # body's BatchNorms run in training mode, so a recomputation updates their running statistics once
        # more; nothing reads those (the generator never runs in eval mode and is re-initialised per batch).
        self.checkpoint_body = False
        self.body = nn.Sequential(
            nn.BatchNorm2d(2 * width),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(2 * width, 2 * width, 3, 1, 1, bias=False),
            nn.BatchNorm2d(2 * width),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(2 * width, width, 3, 1, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width, 1, 3, 1, 1),
        )
        # Channels-last convolution weights (kept by .to(device) and by reset's in-place init): the body's
        # convolutions then run NHWC, as the teacher's and student's do (inversion/loop.models_for_device).
        # On the CPU a cpu-preset generator's forward+backward took 75 ms instead of 114 (width 16, batch 32,
        # one thread); its last convolution, to one channel, 10 ms instead of 22. `reset` draws its normal
        # weights in storage order, so a seed gives other (identically distributed) initial weights than the
        # NCHW generator of code before this layout, and so other cells than records made then.
        self.to(memory_format=torch.channels_last)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project(z).view(len(z), 2 * self.width, self.init_f, self.init_t)
        if self.checkpoint_body and torch.is_grad_enabled():
            out = checkpoint(self.body, h, use_reentrant=False)
        else:
            out = self.body(h)
        out = out[..., : self.n_mels, : self.frames]
        return self.scale * torch.tanh(out)

    def reset(self) -> None:
        """Re-initialise as CMI's reset_model does: N(0, 0.02) weights, BN weights N(1, 0.02)."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight, 0.0, 0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)
