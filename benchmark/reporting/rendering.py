"""Turning synthesized log-mels into things people look at and listen to: the teacher's label
for each clip, a PNG grid, and audio by mel inversion (torchaudio InverseMelScale + Griffin-Lim).
Used by the `samples` command and by W&B tracking."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torchaudio

from methods import SynthesizedSamples

from ..core.features import FrontEndConfig
from ..core.prepared import PreparedData
from .plots import pyplot


@dataclass(frozen=True)
class LabelledSamples:
    """Synthesized clips back in log power, with the teacher's label and confidence for each."""

    log_mels: torch.Tensor  # (N, n_mels, T)
    labels: list[str]
    confidences: list[float]

    def titles(self) -> list[str]:
        return [f"{i}: {label} ({100 * p:.0f}%)" for i, (label, p) in enumerate(zip(self.labels, self.confidences))]


def label_samples(samples: SynthesizedSamples, data: PreparedData) -> LabelledSamples:
    log_mels = torch.stack([data.normaliser.invert(x[0]) for x in samples.inputs])
    confidence, label = samples.teacher_probs.max(1)
    return LabelledSamples(log_mels, [data.class_names[int(c)] for c in label], confidence.tolist())


def mel_to_wave(log_mel: torch.Tensor, fe: FrontEndConfig, griffin_lim_iters: int = 32) -> np.ndarray:
    """Invert a (n_mels, T) log-power mel spectrogram to audio (phase estimated by Griffin-Lim)."""
    power = (log_mel.exp() - fe.log_offset).clamp(min=0)
    inverse_mel = torchaudio.transforms.InverseMelScale(n_stft=fe.n_fft // 2 + 1, n_mels=fe.n_mels,
                                                        sample_rate=fe.sample_rate, f_min=fe.f_min, f_max=fe.f_max)
    griffin_lim = torchaudio.transforms.GriffinLim(n_fft=fe.n_fft, win_length=fe.win_length,
                                                   hop_length=fe.hop_length, power=2.0, n_iter=griffin_lim_iters)
    wave = griffin_lim(inverse_mel(power)).numpy()
    return (wave / (np.abs(wave).max() + 1e-9) * 0.9).astype(np.float32)


def plot_grid(log_mels: torch.Tensor, titles: list[str], path: Path) -> None:
    plt = pyplot()
    cols = min(4, len(log_mels))
    rows = -(-len(log_mels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for ax, mel, title in zip(axes.flat, log_mels, titles):
        ax.imshow(mel.numpy(), origin="lower", aspect="auto", cmap="magma")
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("frame", fontsize=7)
        ax.set_ylabel("mel bin", fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(log_mels):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
