"""`synth`: the embedded synthetic sound set (no download; the default for the demo and tests).

Ten classes, half time-independent (TID: stationary, any excerpt looks like any other) and
half time-dependent (TD: the order of events in time is the class). Two TD pairs are exact
time reversals of each other (up/down chirp, rising/falling notes): a model that pools
away time order cannot tell them apart, which is the distinction the FRAMI paper's
Table 1 draws. Parameters are drawn per clip from overlapping ranges, durations vary,
and background noise is added at a random SNR, so a small model trained from scratch
lands well below 100%.

Every clip is a pure function of (seed, class, index); the whole set is cached on disk.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..store.disk import cache_dir, cache_write_error, discard_corrupt, write_atomically
from .base import TIME_DEPENDENT, TIME_INDEPENDENT, Clip, ClipSet, DataConfig
from .registry import DATASETS

log = logging.getLogger("benchmark.synth")
Rng = np.random.Generator


@dataclass(frozen=True)
class SynthSpec:
    sample_rate: int
    clips_per_class: int
    min_seconds: float
    max_seconds: float
    seed: int
    snr_db: tuple[float, float] = (-9.0, 6.0)
    split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)  # train, val, test
    version: int = 2  # bump when a generator changes, to invalidate caches

    def key(self) -> str:
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


# --- building blocks ------------------------------------------------------------------------

def log_uniform(rng: Rng, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def harmonic_tone(rng: Rng, freq: np.ndarray | float, n: int, sr: int, max_harmonics: int = 6) -> np.ndarray:
    """Harmonic tone with random roll-off; `freq` may be a per-sample trajectory (Hz)."""
    inst = np.broadcast_to(np.asarray(freq, dtype=np.float64), (n,))
    phase = 2 * np.pi * np.cumsum(inst) / sr
    rolloff = rng.uniform(0.5, 2.0)
    out = np.zeros(n)
    for k in range(1, int(rng.integers(1, max_harmonics + 1)) + 1):
        alias = inst * k < sr / 2
        out += alias * np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k**rolloff
    return out


def fade(n: int, sr: int, seconds: float) -> np.ndarray:
    """Raised-cosine fade in and out, so clip edges do not click."""
    env = np.ones(n)
    m = min(n // 2, max(1, int(seconds * sr)))
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, m))
    env[:m] *= ramp
    env[n - m :] *= ramp[::-1]
    return env


def coloured_noise(rng: Rng, n: int, sr: int, slope: float, band: tuple[float, float] | None = None) -> np.ndarray:
    """Gaussian noise with a 1/f^slope power spectrum, optionally band-limited."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / sr)
    gain = 1 / np.maximum(freqs, 20.0) ** (slope / 2)
    if band is not None:
        gain *= (freqs >= band[0]) & (freqs <= band[1])
    return np.fft.irfft(spectrum * gain, n)


def decaying_blip(rng: Rng, sr: int, freq: float, seconds: float) -> np.ndarray:
    m = max(4, int(seconds * sr))
    t = np.arange(m) / sr
    return np.sin(2 * np.pi * freq * t) * np.exp(-t / (seconds / 4))


def place(out: np.ndarray, event: np.ndarray, start: int, gain: float = 1.0) -> None:
    end = min(len(out), start + len(event))
    if start < end:
        out[start:end] += gain * event[: end - start]


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)) + 1e-12)


# --- time-independent classes ---------------------------------------------------------------

def harmonic_hum(rng: Rng, n: int, sr: int) -> np.ndarray:
    return harmonic_tone(rng, log_uniform(rng, 80, 500), n, sr, max_harmonics=8) * fade(n, sr, 0.02)


def noise_band(rng: Rng, n: int, sr: int) -> np.ndarray:
    low = log_uniform(rng, 100, 2500)
    band = (low, min(sr / 2, low * log_uniform(rng, 1.5, 6)))
    return coloured_noise(rng, n, sr, rng.uniform(0, 2), band) * fade(n, sr, 0.02)


def tone_cluster(rng: Rng, n: int, sr: int) -> np.ndarray:
    t = np.arange(n) / sr
    out = sum(
        rng.uniform(0.3, 1) * np.sin(2 * np.pi * log_uniform(rng, 200, 3000) * t + rng.uniform(0, 6.3))
        for _ in range(int(rng.integers(2, 7)))
    )
    return out * fade(n, sr, 0.02)


def crackle(rng: Rng, n: int, sr: int) -> np.ndarray:
    """Poisson clicks at a constant rate: stationary, unlike the accelerating pulses."""
    out = np.zeros(n)
    rate = rng.uniform(6, 30)
    for start in np.flatnonzero(rng.random(n) < rate / sr):
        place(out, decaying_blip(rng, sr, log_uniform(rng, 300, 3000), rng.uniform(0.004, 0.03)), start,
              rng.uniform(0.3, 1))
    return out


def tremolo(rng: Rng, n: int, sr: int) -> np.ndarray:
    t = np.arange(n) / sr
    carrier = harmonic_tone(rng, log_uniform(rng, 150, 1500), n, sr, max_harmonics=4)
    depth = rng.uniform(0.5, 1.0)
    am = 1 - depth * 0.5 * (1 + np.sin(2 * np.pi * rng.uniform(3, 16) * t))
    return carrier * am * fade(n, sr, 0.02)


# --- time-dependent classes -----------------------------------------------------------------

def up_chirp(rng: Rng, n: int, sr: int) -> np.ndarray:
    """Exponential sweep upwards with an asymmetric (fast attack, slow decay) envelope."""
    f_start = log_uniform(rng, 150, 1200)
    f_end = f_start * log_uniform(rng, 1.25, 6)
    traj = f_start * (f_end / f_start) ** np.linspace(0, 1, n)
    attack = np.minimum(1, np.arange(n) / max(1, int(rng.uniform(0.01, 0.05) * sr)))
    decay = np.exp(-np.linspace(0, rng.uniform(0.5, 2.5), n))
    return harmonic_tone(rng, traj, n, sr, max_harmonics=3) * attack * decay * fade(n, sr, 0.01)


def rising_notes(rng: Rng, n: int, sr: int) -> np.ndarray:
    """Two plucked notes, the second 3-12 semitones above the first."""
    f1 = log_uniform(rng, 120, 1000)
    f2 = f1 * 2 ** (rng.uniform(3, 12) / 12)
    out = np.zeros(n)
    half = n // 2
    for f, start in ((f1, 0), (f2, half)):
        m = n - half if start else half
        t = np.arange(m) / sr
        env = np.minimum(1, t / 0.01) * np.exp(-t / rng.uniform(0.15, 0.6))
        place(out, harmonic_tone(rng, f, m, sr, max_harmonics=5) * env, start)
    return out * fade(n, sr, 0.01)


def accelerating_pulses(rng: Rng, n: int, sr: int) -> np.ndarray:
    """Tone blips whose spacing shrinks geometrically: the rhythm, not the timbre, is the class."""
    out = np.zeros(n)
    freq = log_uniform(rng, 300, 3000)
    gap = rng.uniform(0.25, 0.5) * n / sr
    ratio = rng.uniform(0.75, 0.95)
    pos = rng.uniform(0, 0.05) * sr
    while pos < n:
        place(out, decaying_blip(rng, sr, freq, rng.uniform(0.01, 0.04)), int(pos), rng.uniform(0.6, 1))
        pos += max(gap, 0.03) * sr
        gap *= ratio
    return out


def reversed_of(generator: Callable[[Rng, int, int], np.ndarray]) -> Callable[[Rng, int, int], np.ndarray]:
    def reversed_generator(rng: Rng, n: int, sr: int) -> np.ndarray:
        return generator(rng, n, sr)[::-1].copy()

    reversed_generator.reverses = generator  # type: ignore[attr-defined]
    return reversed_generator


@dataclass(frozen=True)
class SynthClass:
    name: str
    kind: str
    generate: Callable[[Rng, int, int], np.ndarray]


CLASSES: list[SynthClass] = [
    SynthClass("harmonic_hum", TIME_INDEPENDENT, harmonic_hum),
    SynthClass("noise_band", TIME_INDEPENDENT, noise_band),
    SynthClass("tone_cluster", TIME_INDEPENDENT, tone_cluster),
    SynthClass("crackle", TIME_INDEPENDENT, crackle),
    SynthClass("tremolo", TIME_INDEPENDENT, tremolo),
    SynthClass("up_chirp", TIME_DEPENDENT, up_chirp),
    SynthClass("down_chirp", TIME_DEPENDENT, reversed_of(up_chirp)),
    SynthClass("rising_notes", TIME_DEPENDENT, rising_notes),
    SynthClass("falling_notes", TIME_DEPENDENT, reversed_of(rising_notes)),
    SynthClass("accelerating_pulses", TIME_DEPENDENT, accelerating_pulses),
]


# --- the set --------------------------------------------------------------------------------

def clip_rng(spec: SynthSpec, class_index: int, index: int) -> Rng:
    """Per-clip generator. A reversed class shares its partner's stream, so clip i of
    down_chirp is exactly clip i of up_chirp played backwards (before the noise)."""
    source = CLASSES[class_index].generate
    partner = getattr(source, "reverses", None)
    if partner is not None:
        class_index = next(i for i, c in enumerate(CLASSES) if c.generate is partner)
    return np.random.default_rng([spec.seed, class_index, index])


def render_clip(spec: SynthSpec, class_index: int, index: int) -> np.ndarray:
    sr = spec.sample_rate
    rng = clip_rng(spec, class_index, index)
    n = int(rng.uniform(spec.min_seconds, spec.max_seconds) * sr)
    signal = CLASSES[class_index].generate(rng, n, sr)
    signal = signal / rms(signal)
    # Background noise: its own stream, so TD partners differ in noise but not in signal.
    noise_rng = np.random.default_rng([spec.seed, class_index, index, 1])
    noise = coloured_noise(noise_rng, n, sr, noise_rng.uniform(0, 2))
    snr_db = noise_rng.uniform(*spec.snr_db)
    mix = signal + noise / rms(noise) * 10 ** (-snr_db / 20)
    peak = np.max(np.abs(mix)) + 1e-9
    return (mix / peak * noise_rng.uniform(0.1, 0.9)).astype(np.float32)


def split_of(spec: SynthSpec, index: int) -> str:
    """Fixed split assignment: a seeded permutation of clip indices, cut by the fractions."""
    order = np.random.default_rng([spec.seed, 999]).permutation(spec.clips_per_class)
    rank = int(np.flatnonzero(order == index)[0])
    n_train = int(round(spec.split_fractions[0] * spec.clips_per_class))
    n_val = int(round(spec.split_fractions[1] * spec.clips_per_class))
    return "train" if rank < n_train else ("val" if rank < n_train + n_val else "test")


def build_waveforms(spec: SynthSpec) -> list[np.ndarray]:
    return [render_clip(spec, c, i) for c in range(len(CLASSES)) for i in range(spec.clips_per_class)]


def _read_cached(path: Path, n_clips: int) -> tuple[np.ndarray, np.ndarray]:
    """The stored (audio, offsets); raises where the file is truncated or does not hold this set."""
    with np.load(path) as data:
        flat, offsets = data["audio"], data["offsets"]
    if offsets.shape != (n_clips + 1,) or int(offsets[-1]) != flat.shape[0]:
        raise ValueError(f"{flat.shape[0]} samples and {offsets.shape[0]} offsets for {n_clips} clips")
    return flat, offsets


def load_or_build(spec: SynthSpec) -> list[np.ndarray]:
    """Waveforms of the whole `synth` set (see cached_waveforms)."""
    return cached_waveforms(f"synth-{spec.key()}", spec.clips_per_class * len(CLASSES), lambda: build_waveforms(spec))


def cached_waveforms(name: str, n_clips: int, build: Callable[[], list[np.ndarray]]) -> list[np.ndarray]:
    """Waveforms of an embedded set, stored as float16 under `name` in the cache folder (what every run sees,
    cached or not). A corrupt cache file is rebuilt; one that cannot be written raises CacheUnusable naming the
    path and the fix."""
    path = cache_dir() / f"{name}.npz"
    cached = None
    if path.exists():
        try:
            cached = _read_cached(path, n_clips)
            log.info("embedded set cache hit: %s", path)
        except Exception as exc:  # whatever a damaged file raises (BadZipFile, EOFError, ...): rebuild it
            discard_corrupt([path], exc, log)
    if cached is not None:
        flat, offsets = cached
    else:
        log.info("building %s (%d clips) -> %s", name, n_clips, path)
        waves = build()
        offsets = np.cumsum([0] + [len(w) for w in waves])
        flat = np.concatenate(waves).astype(np.float16)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # a file object: savez adds no ".npz" to the temp name
            write_atomically(path, lambda handle: np.savez(handle, audio=flat, offsets=offsets))
        except OSError as exc:
            raise cache_write_error(path, exc, "synth cache", flat.nbytes + offsets.nbytes) from exc
    return [flat[offsets[i] : offsets[i + 1]].astype(np.float32) for i in range(len(offsets) - 1)]


def synth_spec(cfg: DataConfig) -> SynthSpec:
    return SynthSpec(cfg.sample_rate, cfg.synth_clips_per_class, cfg.synth_min_seconds, cfg.synth_max_seconds,
                     cfg.seed, tuple(cfg.synth_snr_db))


def load_synth(cfg: DataConfig) -> ClipSet:
    """The embedded synthetic set (10 classes: 5 time-independent, 5 time-dependent)."""
    spec = synth_spec(cfg)
    return embedded_clipset("synth", spec, load_or_build(spec), {"generator": "benchmark.data.synth",
                                                                  "spec": asdict(spec)})


def embedded_clipset(name: str, spec: SynthSpec, waves: list[np.ndarray], description: dict) -> ClipSet:
    """A ClipSet over the ten classes' waveforms (class-major order), split by `split_of`."""
    clips, audio = [], {}
    for c in range(len(CLASSES)):
        for i in range(spec.clips_per_class):
            clip = Clip(f"{CLASSES[c].name}-{i:04d}", c, split_of(spec, i))
            clips.append(clip)
            audio[clip.clip_id] = waves[c * spec.clips_per_class + i]
    return ClipSet(name, [c.name for c in CLASSES], spec.sample_rate, clips, lambda clip: audio[clip.clip_id],
                   [c.kind for c in CLASSES], description)


DATASETS.add("synth", load_synth, "embedded synthetic set: 10 classes (5 TD, 5 TID), no download")
