"""Controls for the data-free rows: the same loop, budget and distiller as the data-free methods, with a
transfer set that needs no inversion.

- `kd-noise`: KD on Gaussian noise of the synthesized shape (in the normalised log-mel space the models
  see), labelled by the teacher's soft outputs. The floor: a data-free method is only as good as its margin
  over it.
- `kd-subset`: KD on as many real training clips as the pool holds (cropped or zero-padded to the
  synthesized length, as the pool's clips are). The ceiling at that budget: what the same number of
  samples buys when they are real. Where the methods synthesize events (`length_from = "events"`), each
  clip is cropped around its sounding span, not at random, so the real samples are events as well.

Both take the `data_free` block of a preset (they are DataFreeConfig), so a preset's budget reaches them
and the methods they control alike: rounds, synth_batch, pool_size, kd_steps, kd_batch, kd_augment, the
KD optimiser and temperature (CMI/FRAMI's T = 20). Neither optimises anything before KD, so their
synthesis sample-iterations are 0.
"""
from __future__ import annotations

import torch

from benchmark.core.features import Normaliser
from benchmark.core.prepared import sounding_bounds

from .base import CellContext
from .inversion.distill import LogitDistiller
from .inversion.loop import DataFreeConfig, DataFreeMethod, Synthesizer
from .inversion.pool import fit_frames
from .inversion.randomness import device_generator
from .registry import METHODS, register_method

# The floor every data-free row is read against. A run with a data-free method runs it too (unless
# `run --no-floor`), so its summary and Table 2 can say what the synthesis bought.
FLOOR = "kd-noise"


class NoiseSynthesizer(Synthesizer):
    """Standard normal batches: the normalised features of real clips have zero mean and unit variance
    per mel bin, so this is noise at the scale of the data, with no structure in time or frequency."""

    def __init__(self, batch: int, shape: tuple[int, int, int], device: torch.device, seed: int):
        super().__init__()
        self.batch, self.shape, self.device = batch, shape, device
        self.generator = device_generator(torch.Generator().manual_seed(seed), device, seed)

    def synthesize(self) -> torch.Tensor:
        return torch.randn(self.batch, *self.shape, generator=self.generator, device=self.device)


class RealSubsetSynthesizer(Synthesizer):
    """Real training clips, `batch` per call, without repeats until every training clip was drawn once:
    after `pool_size / batch` rounds the pool holds pool_size distinct real clips (if the split has them)."""

    def __init__(self, train, batch: int, frames: int, device: torch.device, seed: int,
                 normaliser: Normaliser | None = None):
        super().__init__()
        self.train, self.batch, self.frames, self.device = train, batch, frames, device
        self.normaliser = normaliser  # given: crop around each clip's sounding span (raw power needs it)
        self.generator = torch.Generator().manual_seed(seed)
        self.order: list[int] = []

    def next_indices(self) -> list[int]:
        picked = []
        while len(picked) < self.batch:
            if not self.order:
                self.order = torch.randperm(len(self.train), generator=self.generator).tolist()
            picked.append(self.order.pop())
        return picked

    def synthesize(self) -> torch.Tensor:
        clips = [self.crop(self.train.features[i]) for i in self.next_indices()]
        return torch.stack(clips).unsqueeze(1).to(self.device)

    def crop(self, feature: torch.Tensor) -> torch.Tensor:
        if self.normaliser is None or feature.shape[1] <= self.frames:
            return fit_frames(feature, self.frames, self.generator)
        first, end = sounding_bounds(self.normaliser.invert(feature))
        start = min(max(0, (first + end - self.frames) // 2), feature.shape[1] - self.frames)
        return feature[:, start:start + self.frames]


class KDOnNoise(DataFreeMethod):
    optimises_samples = False  # its batches cost no teacher passes (the planner counts its KD phase only)

    def make_synthesizer(self, ctx: CellContext, teacher, student, frames: int) -> Synthesizer:
        return NoiseSynthesizer(self.config.synth_batch, (1, ctx.data.n_mels, frames), ctx.device, ctx.seed)

    def make_distiller(self, ctx: CellContext, teacher, student):
        return LogitDistiller(teacher, student, self.config.temperature)


class KDOnRealSubset(KDOnNoise):
    def make_synthesizer(self, ctx: CellContext, teacher, student, frames: int) -> Synthesizer:
        around_events = ctx.data.normaliser if self.config.length_from == "events" else None
        return RealSubsetSynthesizer(ctx.data.train, self.config.synth_batch, frames, ctx.device, ctx.seed,
                                     around_events)


register_method(FLOOR, KDOnNoise, DataFreeConfig(),
                "control (floor): KD on teacher-labelled Gaussian noise, same loop and budget as the data-free methods",
                groups=("paper", "field"))
register_method("kd-subset", KDOnRealSubset, DataFreeConfig(),
                "control (ceiling at the budget): KD on as many real training clips as the pool holds, same loop",
                groups=("paper", "field"))


def synthesizes(method: str) -> bool:
    """A data-free method that optimises its transfer set through the teacher (the controls do not)."""
    cls = METHODS.get(method).method_cls
    return issubclass(cls, DataFreeMethod) and bool(cls.optimises_samples)


def with_floor(methods: tuple[str, ...]) -> tuple[str, ...]:
    """`methods` plus the floor when any of them is data-free and the floor is not there yet."""
    if FLOOR in methods or not any(synthesizes(m) for m in methods):
        return tuple(methods)
    return (*methods, FLOOR)
