"""What a spectrogram is here: the log-mel front end's settings and transform, a split's per-clip features,
the training split's normaliser, and zero-padded batches of variable-length clips.

Features are computed once per clip (benchmark/data/extraction.py reads the audio), normalised with mean/std
from the training split only, and kept as a list of variable-length (n_mels, T) tensors.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
import torchaudio

from .ranges import NON_NEGATIVE, POSITIVE, Constraint, at_least


@dataclass(frozen=True)
class FrontEndConfig:
    """Every setting of the front end; recorded with results and hashed into cache keys."""

    sample_rate: int = 16000
    n_fft: int = 512
    win_length: int = 400  # 25 ms at 16 kHz (AST-style window)
    hop_length: int = 160  # 10 ms
    n_mels: int = 64
    f_min: float = 50.0
    f_max: float | None = None
    log_offset: float = 1e-6  # log(power + offset)
    max_seconds: float | None = None  # crop longer clips (None: keep full length)
    # Valid ranges (benchmark/core/ranges.py), checked before anything runs.
    RANGES: ClassVar[dict[str, Any]] = {
        "sample_rate": at_least(1), "n_fft": at_least(2), "win_length": at_least(1), "hop_length": at_least(1),
        "n_mels": at_least(1), "f_min": NON_NEGATIVE, "f_max": POSITIVE, "log_offset": POSITIVE,
        "max_seconds": POSITIVE}
    CONSTRAINTS: ClassVar[tuple[Constraint, ...]] = (
        Constraint(("win_length", "n_fft"), lambda c: c.win_length <= c.n_fft, "win_length <= n_fft"),
        Constraint(("n_mels", "n_fft"), lambda c: c.n_mels <= c.n_fft // 2 + 1, "n_mels <= n_fft // 2 + 1 (FFT bins)"),
        Constraint(("f_min", "f_max", "sample_rate"),
                   lambda c: c.f_min < (c.f_max if c.f_max is not None else c.sample_rate / 2) <= c.sample_rate / 2,
                   "f_min < f_max <= sample_rate / 2 (f_max None: sample_rate / 2)"))

    def key(self) -> str:
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]

    def frames(self, seconds: float) -> int:
        return int(seconds * self.sample_rate) // self.hop_length + 1

    @property
    def window_samples(self) -> int:
        """One analysis window (the FFT frame, n_fft samples): a shorter clip is a bad file. (torchaudio
        cannot pad a clip of n_fft // 2 samples or fewer at all; a longer one under n_fft has no full window.)"""
        return self.n_fft


class LogMel(torch.nn.Module):
    def __init__(self, cfg: FrontEndConfig):
        super().__init__()
        self.cfg = cfg
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=cfg.sample_rate,
            n_fft=cfg.n_fft,
            win_length=cfg.win_length,
            hop_length=cfg.hop_length,
            f_min=cfg.f_min,
            f_max=cfg.f_max,
            n_mels=cfg.n_mels,
            power=2.0,
        )

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """(samples,) -> (n_mels, frames) log power."""
        return torch.log(self.mel(wave) + self.cfg.log_offset)


@dataclass
class FeatureSet:
    """Per-clip log-mel features of one split, unnormalised, with labels and ids."""

    features: list[torch.Tensor]  # each (n_mels, T_i), float32
    labels: torch.Tensor  # (N,) int64
    ids: list[str]

    def __len__(self) -> int:
        return len(self.features)

    @property
    def lengths(self) -> torch.Tensor:
        return torch.tensor([f.shape[1] for f in self.features])


@dataclass
class Normaliser:
    """Per-mel-bin mean/std over all training frames (never from validation or test)."""

    mean: torch.Tensor  # (n_mels, 1)
    std: torch.Tensor

    @classmethod
    def fit(cls, train: FeatureSet) -> "Normaliser":
        frames = torch.cat(train.features, dim=1)
        return cls(frames.mean(dim=1, keepdim=True), frames.std(dim=1, keepdim=True).clamp(min=1e-5))

    def __call__(self, feature: torch.Tensor) -> torch.Tensor:
        return (feature - self.mean) / self.std

    def invert(self, feature: torch.Tensor) -> torch.Tensor:
        return feature * self.std + self.mean


def pad_batch(features: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack (n_mels, T_i) features into (B, 1, n_mels, T_max) zeros-padded, plus lengths (B,)."""
    lengths = torch.tensor([f.shape[1] for f in features])
    batch = features[0].new_zeros(len(features), 1, features[0].shape[0], int(lengths.max()))
    for i, f in enumerate(features):
        batch[i, 0, :, : f.shape[1]] = f
    return batch, lengths
