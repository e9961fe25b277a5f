"""Synthesis scenes: a short synthesized event placed in a clip-length background before the teacher sees it.

Why: on long, mostly quiet clips (synth-long, ESC-50's padded 5 s clips; methods/README.md, "Options for long,
mostly silent clips") the teacher's BatchNorm statistics and its pooled features describe clips that are mostly
background with one short event. Inverting a whole clip-length input lets the synthesizer spread class evidence
over every frame; inverting only an event-length input asks a short event to match statistics of whole clips. A
scene keeps the synthesized event short and puts it at a random offset in a background of the clip's length:
  - "silence": digital silence as the front end renders it (no parameters);
  - "learned": a stationary background per sample, a per-mel level (starting at digital silence) plus a learned
    amplitude of a fixed Gaussian texture: n_mels + 1 numbers per sample, so the background cannot carry an
    event of its own but can become a quiet noise floor;
  - "mixed": every other sample of a batch in digital silence, the rest learned. Recordings come both ways
    (zero-padded clips, clips with a noise floor), and a prior on batch statistics moves every background of a
    batch the same way, so "learned" alone turns all of them into noise floors (measured:
    results/synth-long/README.md, "The hypotheses, one line each").
The teacher (and the BN prior) see the whole scene, and the scene is what enters the pool, so the student
distils on clip-length inputs shaped like the ones it will classify.
This has no image counterpart: an image has no quiet background to be mostly made of. The event replaces the
background where it sits (in log-mel terms the louder source dominates a bin), and its edges are free to blend.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from benchmark.core.ranges import POSITIVE, Constraint, OneOf

from .augment import place_in_canvas
from .randomness import on_device

SCENES = ("off", "silence", "learned", "mixed")


@dataclass(frozen=True)
class SceneFields:
    """The config fields of the methods whose synthesizer can place its events in a scene (ADI, CMI, FRAMI): a
    `data_free.scene` override reaches these and no other method (methods/overrides.py)."""

    # "off"; "silence", a digital-silence background; "learned", a stationary background per sample learned with
    # Adam at `scene_lr`. Records made before the fields existed had no scene: left out of the hash at "off".
    scene: str = field(default="off", metadata={"unhashed_value": "off"})
    scene_lr: float = field(default=0.05, metadata={"unhashed_value": 0.05})  # DeepInversion's di_lr, an input step
    RANGES: ClassVar[dict[str, Any]] = {"scene": OneOf(SCENES), "scene_lr": POSITIVE}
    CONSTRAINTS: ClassVar[tuple[Constraint, ...]] = (
        Constraint(("scene", "length_from"), lambda c: c.scene == "off" or c.length_from == "events",
                   "a scene holds a shorter synthesized event: scene != 'off' needs data_free.length_from = "
                   "'events'"),)


def silence_fill(data, device: torch.device) -> torch.Tensor:
    """(n_mels, 1): digital silence as the models see it, the front end's log of its log_offset normalised by
    the teacher's normaliser. No clip is read: what a zero-padded stretch of any clip becomes."""
    silence = torch.full_like(data.normaliser.mean, math.log(data.frontend.log_offset))
    return data.normaliser(silence).to(device)


class SynthesisScene(nn.Module):
    """Holds one batch's background and event offsets; `reset()` draws a fresh batch of them, `forward(event)`
    returns the scene. The learned background has its own Adam (the generator methods' step sizes, ~1e-3, would
    leave it where it starts within a short budget), stepped by the synthesizer beside its own optimizer."""

    def __init__(self, kind: str, batch: int, frames: int, silence: torch.Tensor, lr: float,
                 generator: torch.Generator | None = None):
        super().__init__()
        if kind not in SCENES[1:]:
            raise ValueError(f"scene {kind!r} is not one of {SCENES[1:]} (use 'off' for no scene)")
        self.kind, self.batch, self.frames, self.lr, self.generator = kind, batch, frames, lr, generator
        self.register_buffer("silence", silence.detach().clone())  # (n_mels, 1)
        n_mels = silence.shape[0]
        self.level = nn.Parameter(torch.zeros(batch, 1, n_mels, 1, device=silence.device))
        self.texture = nn.Parameter(torch.zeros(batch, 1, 1, 1, device=silence.device))
        self.register_buffer("noise", torch.zeros(batch, 1, n_mels, frames, device=silence.device))
        # "mixed": the samples that stay digital silence (even indices), fixed for the scene's life
        self.register_buffer("silent", (torch.arange(batch, device=silence.device) % 2 == 0).view(-1, 1, 1, 1))
        self.optimizer: torch.optim.Optimizer | None = None
        self.reset()

    def reset(self) -> None:
        """A new batch: backgrounds back at digital silence, a fresh texture, fresh optimizer state."""
        learned = self.kind != "silence"
        with torch.no_grad():
            self.level.copy_(self.silence.expand_as(self.level))
            self.texture.zero_()
            # drawn for a silence scene too, which never reads it: the draws after it (event offsets, jitter) stay
            # those the committed silence-scene record was made with
            self.noise.copy_(torch.randn(self.noise.shape, generator=on_device(self.generator, self.noise.device),
                                         device=self.noise.device))
        self.level.requires_grad_(learned)
        self.texture.requires_grad_(learned)
        self.optimizer = torch.optim.Adam([self.level, self.texture], lr=self.lr) if learned else None

    def background(self) -> torch.Tensor:
        """(B, 1, n_mels, frames)."""
        silence = self.silence.expand(self.batch, 1, *self.noise.shape[-2:])
        if self.kind == "silence":
            return silence
        learned = self.level + self.texture * self.noise
        if self.kind == "mixed":  # even samples stay digital silence (no gradient reaches their parameters)
            return torch.where(self.silent, silence, learned)
        return learned

    def forward(self, event: torch.Tensor) -> torch.Tensor:
        """Each event (B, 1, n_mels, T <= frames) at its own random offset in its background. Offsets are drawn
        afresh each call (on the event's device): the event moves within the scene as jitter does."""
        return place_in_canvas(event, self.frames, self.generator, background=self.background())

    def zero_grad_(self) -> None:
        if self.optimizer is not None:
            self.optimizer.zero_grad(set_to_none=True)

    def step(self) -> None:
        if self.optimizer is not None:
            self.optimizer.step()


class NoScene:
    """The scene of a synthesizer that places nothing: the events pass through as they are. Lets a synthesizer
    call its scene at every step without asking whether it has one."""

    frames = None

    def __call__(self, event: torch.Tensor) -> torch.Tensor:
        return event

    def reset(self) -> None: ...

    def zero_grad_(self) -> None: ...

    def step(self) -> None: ...


NO_SCENE = NoScene()


def scene_of(config: "SceneFields", data, event_frames: int, device: torch.device,
             generator: torch.Generator | None = None) -> "SynthesisScene | NoScene":
    """The scene a method's config asks for (its `scene`, `scene_lr` and `synth_batch`), or NO_SCENE."""
    return make_scene(config.scene, config.synth_batch, data, event_frames, config.scene_lr, device,
                      generator) or NO_SCENE


def make_scene(kind: str, batch: int, data, event_frames: int, lr: float, device: torch.device,
               generator: torch.Generator | None = None) -> SynthesisScene | None:
    """The scene a synthesizer's events go into, or None ("off", or events already as long as the clips)."""
    if kind == "off":
        return None
    frames = data.typical_frames()
    if event_frames >= frames:
        return None
    return SynthesisScene(kind, batch, frames, silence_fill(data, device), lr, generator)
