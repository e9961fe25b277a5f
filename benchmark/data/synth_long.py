"""`synth-long`: the embedded set's ten classes as short events placed at random in long clips of low noise or
silence (no download).

Why: real sound sets such as ESC-50 hold 5 s clips in which the sound often fills well under a second and the rest
is near-silence. There a data-free method that synthesizes the padded clip's length spends most of its budget on
frames that carry no class evidence, and the teacher's BatchNorm statistics (the BN prior) are dominated by quiet
frames. This set reproduces that shape without a download: each clip is one `synth` event of
`data.long_event_seconds` (the same generators, noise and time-reversed partners) at a uniformly random offset in
`data.long_clip_seconds` of either digital silence or coloured noise 30-50 dB below the event's peak.

Every clip is a pure function of (seed, class, index); the whole set is cached on disk like `synth`.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace

import numpy as np

from .base import ClipSet, DataConfig
from .registry import DATASETS
from .synth import CLASSES, SynthSpec, cached_waveforms, coloured_noise, embedded_clipset, render_clip, synth_spec

SILENT_SHARE = 0.5  # clips whose background is digital silence; the others get low noise
BACKGROUND_DB_BELOW_PEAK = (30.0, 50.0)


@dataclass(frozen=True)
class SynthLongSpec:
    event: SynthSpec  # the events: `synth` clips with min/max seconds = the event durations
    clip_seconds: float
    silent_share: float = SILENT_SHARE
    background_db_below_peak: tuple[float, float] = BACKGROUND_DB_BELOW_PEAK
    version: int = 1  # bump when the placement or background changes, to invalidate caches

    def key(self) -> str:
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


def long_spec(cfg: DataConfig) -> SynthLongSpec:
    low, high = cfg.long_event_seconds
    event = replace(synth_spec(cfg), min_seconds=low, max_seconds=high)
    return SynthLongSpec(event, cfg.long_clip_seconds)


def render_long_clip(spec: SynthLongSpec, class_index: int, index: int) -> np.ndarray:
    """One event (a `synth` clip of event length) at a random offset in a canvas of silence or low noise.
    Placement and background have their own stream, so a time-reversed partner's event sits elsewhere."""
    event = render_clip(spec.event, class_index, index)
    n = int(spec.clip_seconds * spec.event.sample_rate)
    rng = np.random.default_rng([spec.event.seed, class_index, index, 2])
    canvas = np.zeros(n)
    if rng.random() >= spec.silent_share:
        noise = coloured_noise(rng, n, spec.event.sample_rate, rng.uniform(0, 2))
        level = np.max(np.abs(event)) * 10 ** (-rng.uniform(*spec.background_db_below_peak) / 20)
        canvas = noise / (np.max(np.abs(noise)) + 1e-12) * level
    event = event[:n]
    start = int(rng.integers(0, n - len(event) + 1))
    canvas[start : start + len(event)] += event
    return canvas.astype(np.float32)


def build_long_waveforms(spec: SynthLongSpec) -> list[np.ndarray]:
    return [render_long_clip(spec, c, i) for c in range(len(CLASSES)) for i in range(spec.event.clips_per_class)]


def load_synth_long(cfg: DataConfig) -> ClipSet:
    """The embedded long-clip set: `synth`'s ten classes as short events in long quiet clips."""
    spec = long_spec(cfg)
    waves = cached_waveforms(f"synth-long-{spec.key()}", spec.event.clips_per_class * len(CLASSES),
                             lambda: build_long_waveforms(spec))
    return embedded_clipset("synth-long", spec.event, waves,
                            {"generator": "benchmark.data.synth_long", "spec": asdict(spec)})


DATASETS.add("synth-long", load_synth_long,
             "embedded long-clip set: synth's 10 classes as short events at random in long clips of silence or "
             "low noise, no download")
