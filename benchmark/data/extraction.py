"""A ClipSet read through the log-mel front end: each clip's features, then the splits normalised with the
training split's statistics into the `PreparedData` that methods receive."""
from __future__ import annotations

import numpy as np
import torch

from ..core.features import FeatureSet, FrontEndConfig, LogMel, Normaliser
from ..core.prepared import PreparedData
from .audio_io import FIX_HINT, SCREEN_WINDOW_RATE, SCREEN_WINDOW_SAMPLES, BadAudioFile, ClipTooShort, too_short_reason
from .base import ClipSet


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


def normalise(split: FeatureSet, normaliser: Normaliser) -> FeatureSet:
    return FeatureSet([normaliser(f) for f in split.features], split.labels, split.ids)


def prepare(clipset: ClipSet, frontend: FrontEndConfig, extract, features_key: str | None = None) -> PreparedData:
    """`extract(clipset, split)` returns the raw FeatureSet (possibly from the feature cache, whose entry
    `features_key` names)."""
    raw = {s: extract(clipset, s) for s in ("train", "val", "test")}
    normaliser = Normaliser.fit(raw["train"])
    return PreparedData(clipset.name, clipset.class_names, clipset.class_kinds, frontend, normaliser,
                        *(normalise(raw[s], normaliser) for s in ("train", "val", "test")), clipset.description,
                        features_key)
