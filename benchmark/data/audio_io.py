"""Read one audio file as mono float32 at the rate the front end wants.

Real datasets mix sample rates, bit depths (8-bit unsigned up to 32-bit float) and channel
counts (UrbanSound8K has all of them), so every loader goes through this one reader. A file
that cannot be read in full raises BadAudioFile naming the path: a truncated download must
fail loudly instead of becoming a shorter clip. A clip shorter than one analysis window of the
front end is a bad file too (ClipTooShort): it has no spectrogram frame.

Under on_bad_file="skip" the loaders screen every file before the splits are made
(`screen_for_policy`: the header, the length, and the samples of float files), so bad files never
enter a ClipSet, its splits or its feature-cache key; what was left out is listed in the
description ("skipped_files") that every record stores.
"""
from __future__ import annotations

import logging
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio

from .base import DataConfig
from .sources import DatasetIndex, FileProblem

# libsndfile reports a data chunk that is longer than the file as "data : 14400 (should be 7178)".
_DATA_CHUNK_LOG = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
# Streaming writers leave these placeholders in the header; the data after them is complete.
_PLACEHOLDER_SIZES = {0, 0xFFFFFFFF}
_FLOAT_SUBTYPES = {"FLOAT", "DOUBLE"}  # the only PCM kinds that can hold NaN or infinity

# Kinds of bad audio files (FileProblem.kind), shared by the loaders' screen and `datasets verify`.
UNREADABLE = "unreadable audio"
TOO_SHORT = "clip shorter than one analysis window"

# The fix a message about one bad file ends with.
FIX_HINT = ("Fix: remove or replace the file, or run with --on-bad-file skip to leave such files out (they are "
            "counted and listed in every record); `python -m benchmark datasets verify` lists every bad file.")

log = logging.getLogger("benchmark.data")


class BadAudioFile(ValueError):
    """An audio file that cannot be read in full; the message names the path and the reason
    (and, where given, the fix)."""

    def __init__(self, path: Path | str, reason: str, hint: str = ""):
        self.path, self.reason, self.hint = Path(path), reason, hint
        super().__init__(self.message())

    def message(self) -> str:
        return f"cannot read audio file {self.path}: {self.reason}" + (f". {self.hint}" if self.hint else "")

    def with_hint(self, hint: str) -> "BadAudioFile":
        return type(self)(self.path, self.reason, hint)


class ClipTooShort(BadAudioFile):
    """A clip with fewer samples than one analysis window: the front end cannot make a single frame of it."""

    def message(self) -> str:
        return f"audio file {self.path} is too short: {self.reason}" + (f". {self.hint}" if self.hint else "")


# The default front end's analysis window, n_fft 512 at 16 kHz = 32 ms; every preset's window lasts 32 ms
# (tests/test_bad_audio.py checks each preset against it). A constant here, so this module, which the front end
# imports, does not import the front end back.
SCREEN_WINDOW_SAMPLES, SCREEN_WINDOW_RATE = 512, 16000


def window_samples_at(rate: int) -> int:
    """One analysis window in samples at `rate`, rounded up: the shortest clip the screen keeps."""
    return -(-SCREEN_WINDOW_SAMPLES * int(rate) // SCREEN_WINDOW_RATE)


def too_short_reason(samples: int, rate: int, window: int) -> str:
    return (f"{samples} sample{'s' if samples != 1 else ''} ({1000 * samples / rate:.1f} ms) at {rate} Hz, fewer "
            f"than one analysis window ({window} samples, {1000 * window / rate:.1f} ms)")


def resampled_length(frames: int, orig_rate: int, new_rate: int) -> int:
    """Samples `resample` returns for `frames` samples (torchaudio: ceil(frames * new / orig))."""
    return frames if orig_rate == new_rate else -(-int(frames) * int(new_rate) // int(orig_rate))


def _truncation(extra_info: str) -> str | None:
    match = _DATA_CHUNK_LOG.search(extra_info)
    if match is None:
        return None
    declared, present = int(match.group(1)), int(match.group(2))
    if declared in _PLACEHOLDER_SIZES or present >= declared:
        return None
    return f"truncated: the header declares {declared} bytes of audio but the file holds {present}"


def _check_samples(path: Path, data: np.ndarray) -> None:
    if data.shape[0] == 0:
        raise BadAudioFile(path, "no audio samples")
    if not np.isfinite(data).all():
        raise BadAudioFile(path, "contains NaN or infinite samples")


def _open(path: Path, use):
    """`use(handle)` on the open file after the header checks; every failure is a BadAudioFile."""
    if not path.is_file():
        raise BadAudioFile(path, "file not found")
    try:
        with sf.SoundFile(str(path)) as handle:
            problem = _truncation(handle.extra_info)
            if problem is not None:
                raise BadAudioFile(path, problem)
            return use(handle)
    except sf.SoundFileError as exc:  # format not recognised, missing chunks, I/O errors
        raise BadAudioFile(path, str(exc).replace(f"'{path}'", "file").strip()) from exc


def read_native(path: Path | str) -> tuple[np.ndarray, int]:
    """(samples, channels) float32 at the file's own rate; raises BadAudioFile."""
    path = Path(path)
    data, rate = _open(path, lambda h: (h.read(dtype="float32", always_2d=True), h.samplerate))
    _check_samples(path, data)
    return data, rate


def probe(path: Path | str) -> tuple[int, int]:
    """(frames, rate) of a file, checking what read_native checks without decoding integer PCM: the
    header, truncation, emptiness, and (float files only, the ones that can hold them) NaN/inf samples."""
    path = Path(path)

    def inspect(handle) -> tuple[int, int]:
        if handle.subtype in _FLOAT_SUBTYPES:
            _check_samples(path, handle.read(dtype="float32", always_2d=True))
        elif handle.frames == 0:
            raise BadAudioFile(path, "no audio samples")
        return int(handle.frames), int(handle.samplerate)

    return _open(path, inspect)


def screen_index(index: DatasetIndex, target_rate: int) -> list[FileProblem]:
    """Move every file that `read_audio` would reject, or whose clip at `target_rate` is shorter than one
    analysis window, from index.files to index.problems; returns the problems found."""
    window = window_samples_at(target_rate)
    keep, found = [], []
    for f in index.files:
        try:
            frames, rate = probe(f.path)
        except BadAudioFile as exc:
            found.append(FileProblem(UNREADABLE, str(f.path), exc.reason))
            continue
        samples = resampled_length(frames, rate, target_rate)
        if samples < window:
            found.append(FileProblem(TOO_SHORT, str(f.path), too_short_reason(samples, target_rate, window)))
            continue
        keep.append(f)
    index.files = keep
    index.problems += found
    return found


def screen_for_policy(index: DatasetIndex, cfg: DataConfig) -> DatasetIndex:
    """The index as a loader should split it: under "skip", bad audio files screened out (screen_index);
    every problem (left out under "skip"; raised by apply_bad_file_policy under "fail") is listed in
    index.notes["skipped_files"], which the ClipSet's description carries into every record."""
    if cfg.on_bad_file == "skip":
        found = screen_index(index, cfg.sample_rate)
        if found:
            log.warning("%s: leaving out %d bad audio file(s) (on_bad_file skip), e.g. %s", index.name, len(found),
                        found[0].line())
    index.notes["skipped_files"] = [{"path": p.path, "problem": p.kind, "detail": p.detail} for p in index.problems]
    return index


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
