"""Read one audio file as mono float32 at the rate the front end wants.

Real datasets mix sample rates, bit depths (8-bit unsigned up to 32-bit float) and channel
counts (UrbanSound8K has all of them), so every loader goes through this one reader. A file
that cannot be read in full raises BadAudioFile naming the path: a truncated download must
fail loudly instead of becoming a shorter clip.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio

# libsndfile reports a data chunk that is longer than the file as "data : 14400 (should be 7178)".
_DATA_CHUNK_LOG = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
# Streaming writers leave these placeholders in the header; the data after them is complete.
_PLACEHOLDER_SIZES = {0, 0xFFFFFFFF}


class BadAudioFile(ValueError):
    """An audio file that cannot be read in full; the message names the path and the reason."""

    def __init__(self, path: Path | str, reason: str):
        self.path, self.reason = Path(path), reason
        super().__init__(f"cannot read audio file {self.path}: {reason}")


def _truncation(extra_info: str) -> str | None:
    match = _DATA_CHUNK_LOG.search(extra_info)
    if match is None:
        return None
    declared, present = int(match.group(1)), int(match.group(2))
    if declared in _PLACEHOLDER_SIZES or present >= declared:
        return None
    return f"truncated: the header declares {declared} bytes of audio but the file holds {present}"


def read_native(path: Path | str) -> tuple[np.ndarray, int]:
    """(samples, channels) float32 at the file's own rate; raises BadAudioFile."""
    path = Path(path)
    if not path.is_file():
        raise BadAudioFile(path, "file not found")
    try:
        with sf.SoundFile(str(path)) as handle:
            problem = _truncation(handle.extra_info)
            if problem is not None:
                raise BadAudioFile(path, problem)
            data = handle.read(dtype="float32", always_2d=True)
            rate = handle.samplerate
    except sf.SoundFileError as exc:  # format not recognised, missing chunks, I/O errors
        raise BadAudioFile(path, str(exc).replace(f"'{path}'", "file").strip()) from exc
    if data.shape[0] == 0:
        raise BadAudioFile(path, "no audio samples")
    if not np.isfinite(data).all():
        raise BadAudioFile(path, "contains NaN or infinite samples")
    return data, rate


@lru_cache(maxsize=16)
def _resampler(orig_rate: int, new_rate: int) -> torchaudio.transforms.Resample:
    """The windowed-sinc kernel depends only on the rate pair, so build it once per pair."""
    return torchaudio.transforms.Resample(orig_rate, new_rate)


def resample(wave: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Mono float32 resampling (torchaudio's sinc interpolation); a no-op at equal rates."""
    if orig_rate == new_rate:
        return wave
    with torch.no_grad():
        out = _resampler(int(orig_rate), int(new_rate))(torch.from_numpy(np.ascontiguousarray(wave)))
    return out.numpy().astype(np.float32, copy=False)


def read_audio(path: Path | str, target_rate: int) -> np.ndarray:
    """Mono float32 samples at `target_rate`: channels are averaged, then resampled."""
    data, rate = read_native(path)
    mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    return resample(np.ascontiguousarray(mono, dtype=np.float32), rate, target_rate)
