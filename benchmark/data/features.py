"""Log-mel front end (torchaudio transforms) and padded, length-aware batching.

Features are computed once per clip, normalised with mean/std from the training split
only, and kept as a list of variable-length (n_mels, T) tensors.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torchaudio

from .audio_io import (FIX_HINT, SCREEN_WINDOW_RATE, SCREEN_WINDOW_SAMPLES, BadAudioFile, ClipTooShort,
                       too_short_reason)
from ..ranges import NON_NEGATIVE, POSITIVE, Constraint, at_least
from .base import ClipSet


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
    # Valid ranges (benchmark/ranges.py), checked before anything runs.
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


def extract_split(clipset: ClipSet, split: str, cfg: FrontEndConfig, progress=None) -> FeatureSet:
    if clipset.sample_rate != cfg.sample_rate:
        raise ValueError(
            f"dataset {clipset.name!r} yields {clipset.sample_rate} Hz audio but the front end expects "
            f"{cfg.sample_rate} Hz; load it with DataConfig(sample_rate={cfg.sample_rate})"
        )
    logmel = LogMel(cfg)
    clips = clipset.split(split)
    max_samples = None if cfg.max_seconds is None else int(cfg.max_seconds * cfg.sample_rate)
    feats = []
    with torch.no_grad():
        for clip in clips:
            wave = load_clip(clipset, clip, cfg)[:max_samples]
            feats.append(logmel(torch.from_numpy(wave)))
            if progress is not None:
                progress()
    labels = torch.tensor([c.label for c in clips], dtype=torch.long)
    return FeatureSet(feats, labels, [c.clip_id for c in clips])


def load_clip(clipset: ClipSet, clip, cfg: FrontEndConfig) -> np.ndarray:
    """The clip's samples; a file that cannot be read, or a clip shorter than one analysis window, raises
    BadAudioFile / ClipTooShort naming the file, its length and the fix."""
    skipping = clipset.description.get("on_bad_file") == "skip"
    try:
        wave = np.asarray(clipset.load(clip), dtype=np.float32)
    except BadAudioFile as exc:
        raise exc.with_hint(
            "Fix: remove or replace the file (--on-bad-file skip screens each file's header, length and float "
            "samples before the splits are made; this fault showed only when the file was decoded)"
            if skipping else FIX_HINT) from exc
    if wave.shape[0] < cfg.window_samples:
        hint = (f"Fix: remove or replace the file; --on-bad-file skip leaves out clips shorter than the default front "
                f"end's window ({1000 * SCREEN_WINDOW_SAMPLES / SCREEN_WINDOW_RATE:.0f} ms), and this front end's "
                f"window (n_fft {cfg.n_fft} at {cfg.sample_rate} Hz) is longer" if skipping else FIX_HINT)
        raise ClipTooShort(clipset.source_of(clip), too_short_reason(wave.shape[0], cfg.sample_rate,
                                                                     cfg.window_samples), hint)
    return wave


def pad_batch(features: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack (n_mels, T_i) features into (B, 1, n_mels, T_max) zeros-padded, plus lengths (B,)."""
    lengths = torch.tensor([f.shape[1] for f in features])
    batch = features[0].new_zeros(len(features), 1, features[0].shape[0], int(lengths.max()))
    for i, f in enumerate(features):
        batch[i, 0, :, : f.shape[1]] = f
    return batch, lengths
