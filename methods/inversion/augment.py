"""Spectrogram augmentations that respect audio.

Image inversion jitters by random crops/flips; on a log-mel a horizontal flip reverses
time (it would turn an up-chirp into a down-chirp), and resizing stretches pitch. So:
jitter = circular roll in time, views = time crops kept at their own length (statistics
pooling accepts any length), plus SpecAugment-style time/frequency masks and a gain
offset (adding a constant to a log spectrogram is a change of loudness).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from benchmark.core.ranges import FRACTION, NON_NEGATIVE, between

from .randomness import on_device


def roll_time(x: torch.Tensor, max_shift: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """The whole batch rolled in time by one shift in [-max_shift, max_shift], drawn on x's device (no host
    read of the shift: the roll is an index_select; on the CPU the same draw and result as torch.roll)."""
    if max_shift <= 0:
        return x
    t = x.shape[-1]
    shift = torch.randint(-max_shift, max_shift + 1, (1,), generator=on_device(generator, x.device), device=x.device)
    source = (torch.arange(t, device=x.device) - shift) % t  # out[..., i] = x[..., i - shift]
    return x.index_select(-1, source)


def roll_time_per_sample(x: torch.Tensor, max_shift: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each clip rolled in time by its own shift in [-max_shift, max_shift], drawn on x's device."""
    if max_shift <= 0:
        return x
    b, t = x.shape[0], x.shape[-1]
    shifts = torch.randint(-max_shift, max_shift + 1, (b,), generator=on_device(generator, x.device), device=x.device)
    source = (torch.arange(t, device=x.device)[None, :] - shifts[:, None]) % t  # out[..., i] = x[..., i - shift]
    index = source.view(b, *([1] * (x.dim() - 2)), t).expand_as(x)
    return x.gather(-1, index)


def place_in_canvas(x: torch.Tensor, frames: int, generator: torch.Generator | None = None,
                    fill: torch.Tensor | None = None, background: torch.Tensor | None = None) -> torch.Tensor:
    """Each clip of x (B, C, F, T) at its own uniformly random offset in a canvas of `frames` frames filled with
    `fill` (F, 1) (default 0, the normalised training mean) or given whole as `background` (B, C, F, frames;
    gradients reach it where no clip covers it); offsets drawn on x's device: no host read. Clips already as
    long pass through.
    Why: a short synthesized event distilled alone teaches the student nothing about the long, mostly quiet
    clips it will classify (`kd_canvas`; methods/README.md, "Options for long, mostly silent clips")."""
    b, t = x.shape[0], x.shape[-1]
    if t >= frames:
        return x
    offsets = torch.randint(0, frames - t + 1, (b,), generator=on_device(generator, x.device), device=x.device)
    index = (offsets[:, None] + torch.arange(t, device=x.device)[None, :]).view(b, *([1] * (x.dim() - 2)), t)
    if background is not None:
        canvas = background.to(x.dtype)
    else:
        canvas = x.new_zeros(*x.shape[:-1], frames) if fill is None else fill.to(x).expand(*x.shape[:-1], frames)
    return canvas.scatter(-1, index.expand_as(x), x)


def mask_band(x: torch.Tensor, axis: int, max_width: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero one random band of up to max_width bins along `axis` (-1 time, -2 frequency), per sample."""
    size = x.shape[axis]
    if max_width <= 0 or size <= 1:
        return x
    b, device = x.shape[0], x.device
    generator = on_device(generator, device)  # drawn on x's device: no mask is copied over from the host
    width = torch.randint(0, min(max_width, size - 1) + 1, (b,), generator=generator, device=device)
    start = (torch.rand(b, generator=generator, device=device) * (size - width)).long()
    pos = torch.arange(size, device=device)
    keep = ~((pos[None] >= start[:, None]) & (pos[None] < (start + width)[:, None]))  # (B, size)
    shape = [b] + [1] * (x.dim() - 1)
    shape[axis] = size
    return x * keep.view(shape).to(x.dtype)


def random_time_crop(x: torch.Tensor, min_fraction: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """One crop (same window for the batch) of min_fraction..1 of the time axis, not resized. The window is
    drawn on the host (a CPU generator: no device involved): it sets the view's shape, which the host needs."""
    total = x.shape[-1]
    length = max(1, int(total * float(torch.empty(1).uniform_(min_fraction, 1.0, generator=generator))))
    start = int(torch.randint(0, total - length + 1, (1,), generator=generator))
    return x[..., start : start + length]


@dataclass(frozen=True)
class ViewConfig:
    max_roll_fraction: float = 0.1  # jitter: roll in time by up to this fraction of the length
    time_mask_fraction: float = 0.1
    freq_mask_fraction: float = 0.1
    gain_db: float = 0.0  # +-; in normalised log-mel units it is applied as a constant offset
    local_min_fraction: float = 0.25  # the local view keeps 25-100% of the time axis (CMI: scale 0.25-1)
    RANGES: ClassVar[dict[str, Any]] = {
        "max_roll_fraction": FRACTION, "time_mask_fraction": between(0, 1, high_open=True),
        "freq_mask_fraction": between(0, 1, high_open=True), "gain_db": NON_NEGATIVE,
        "local_min_fraction": between(0, 1, low_open=True)}


def kd_view(x: torch.Tensor, cfg: ViewConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """The training transform applied to pool batches at KD time (CMI reads its pool through
    pad-crop + flip): a per-clip roll in time and per-clip time and frequency masks."""
    t = x.shape[-1]
    x = roll_time_per_sample(x, int(cfg.max_roll_fraction * t), generator)
    x = mask_band(x, -1, int(cfg.time_mask_fraction * t), generator)
    return mask_band(x, -2, int(cfg.freq_mask_fraction * x.shape[-2]), generator)


class SpectrogramViews:
    """The 'global' (jittered) and 'local' (time-cropped) views of CMI, for spectrograms. Rolls, masks and
    gains are drawn on the data's device (`device_generator`), crop windows on the host (`generator`); on the
    CPU both are one generator, drawn in the same order as before the split."""

    def __init__(self, cfg: ViewConfig, generator: torch.Generator | None = None,
                 device_generator: torch.Generator | None = None):
        self.cfg, self.generator = cfg, generator
        self.device_generator = generator if device_generator is None else device_generator

    def global_view(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[-1]
        draws = self.device_generator
        x = roll_time(x, int(self.cfg.max_roll_fraction * t), draws)
        x = mask_band(x, -1, int(self.cfg.time_mask_fraction * t), draws)
        x = mask_band(x, -2, int(self.cfg.freq_mask_fraction * x.shape[-2]), draws)
        if self.cfg.gain_db:
            offset = (torch.rand(x.shape[0], 1, 1, 1, generator=on_device(draws, x.device), device=x.device) * 2
                      - 1) * self.cfg.gain_db / 10
            x = x + offset.to(x.dtype)
        return x

    def local_view(self, x: torch.Tensor) -> torch.Tensor:
        return random_time_crop(x, self.cfg.local_min_fraction, self.generator)
