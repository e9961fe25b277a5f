"""The cost of a grid before it runs: per cell, predicted peak device memory, FLOPs, time on a given device,
whether it fits and, if not, the largest batch that does. Steps are counted on the meta device at the cell's
own batch and shapes (benchmark/planning/steps.py), so no data and no compute are needed."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache

import torch

from methods import METHODS, method_config
from methods.inversion.loop import DataFreeConfig

from ..config.presets import Preset
from ..store.disk import cache_dir, write_atomic
from .shapes import dataset_shape
from .steps import StepCount, _models, is_data_free, kd_step, model_bytes, synthesis_step, train_step

GB = 1e9


@dataclass(frozen=True)
class Device:
    """What a plan is priced on. Defaults: one H100/H200 at bf16 dense peak (989 TFLOP/s) and 40% of it."""

    memory_gb: float = 80.0
    peak_tflops: float = 989.0
    efficiency: float = 0.4

    def __post_init__(self):
        for name in ("memory_gb", "peak_tflops"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--device-{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if not 0 < self.efficiency <= 1:
            raise ValueError(f"--efficiency is a fraction of the peak in (0, 1], got {self.efficiency}")


@dataclass(frozen=True)
class CellPlan:
    dataset: str
    pair: str
    method: str
    seeds: int
    frames: int  # synthesized (data-free) or typical (supervised) frames
    batch: int  # synthesis batch (data-free) or training batch (supervised)
    checkpointing: str
    model_gb: float  # teacher + student parameters and buffers
    synthesis_gb: float  # peak of a synthesis step above the models (generator, head, bank, activations)
    kd_gb: float  # peak of a KD / training step above the models (with the synthesizer's resident state)
    pool_gb: float  # the transfer set, a ring on the device (fp32 here; bf16 under autocast for generator output)
    peak_memory_gb: float  # device: models + pool + the larger step
    flops_per_synthesis_step: float
    flops_per_kd_step: float
    flops_per_cell: float
    hours_per_cell: float
    fits: bool
    largest_batch_that_fits: int | None  # None when the cell fits
    bytes_per_synthesis_step: float = 0.0  # read + written by its operators, eager (memory.WorkCount)
    bytes_per_kd_step: float = 0.0  # the KD step (data-free) or the training step (supervised)
    synthesis_steps: int = 0  # per cell (one seed)
    kd_steps: int = 0  # KD steps (data-free) or training steps (supervised) per cell

    @property
    def gpu_hours(self) -> float:
        return self.hours_per_cell * self.seeds


def plan_grid(preset: Preset, datasets, pairs, methods, seeds: int, device: Device) -> list[CellPlan]:
    return [plan_cell(preset, d, t, s, m, seeds, device) for d in datasets for (t, s) in pairs for m in methods]


def plan_cell(preset: Preset, dataset: str, teacher: str, student: str, method: str, seeds: int,
              device: Device, flops: bool = True) -> CellPlan:
    """The plan of one cell; flops=False counts memory only (what `run` checks before a sweep)."""
    shape = dataset_shape(dataset, preset.data)
    frontend, classes, dim = preset.frontend, shape.num_classes, preset.embedding_dim
    config = method_config(method, preset)
    models = _models_bytes(teacher, student, classes, dim)
    typical = shape.frames(frontend)
    if is_data_free(method):
        frames = max(8, round(config.length_factor * typical))
        batch = config.synth_batch
        synth, kd = _data_free_steps(method, config, teacher, student, classes, frontend.n_mels, frames, dim, flops)
        counts = (config.rounds * config.iterations, config.kd_rounds * config.kd_steps)
        steps = counts[0] * synth.flops + counts[1] * kd.flops
        pool = (min(config.pool_size, config.rounds * config.synth_batch) * frontend.n_mels * frames * 4
                if METHODS.get(method).method_cls.keeps_pool else 0)  # the generator methods keep no pool
        checkpointing = config.checkpointing
    else:
        frames, batch, checkpointing = typical, config.batch_size, "off"
        kd = _train_step(config, *_trained_and_teacher(method, teacher, student), classes, frontend.n_mels, frames,
                         dim, flops)
        synth = type(kd)(0, 0)
        counts = (0, config.epochs * -(-shape.train_clips // config.batch_size))
        steps = counts[1] * kd.flops
        pool = 0
    peak = models + pool + max(synth.peak_bytes, kd.peak_bytes)
    fits = peak <= device.memory_gb * GB
    largest = None if fits else _largest_batch(method, config, teacher, student, classes, frontend.n_mels, frames,
                                               dim, models + pool, device)
    return CellPlan(dataset, f"{teacher}:{student}", method, seeds, frames, batch, checkpointing, models / GB,
                    synth.peak_bytes / GB, kd.peak_bytes / GB, pool / GB, peak / GB, float(synth.flops),
                    float(kd.flops), float(steps), steps / (device.peak_tflops * 1e12 * device.efficiency) / 3600,
                    fits, largest, float(synth.bytes_moved), float(kd.bytes_moved), *counts)


def _trained_and_teacher(method: str, teacher: str, student: str) -> tuple[str, str | None]:
    """A supervised cell's trained architecture, and the teacher it distils from (KD) or None."""
    return (teacher if method == "teacher" else student), (teacher if method == "kd" else None)


@lru_cache(maxsize=64)
def _models_bytes(teacher: str, student: str, classes: int, dim: int) -> int:
    return sum(model_bytes(m) for m in _models(teacher, student, classes, dim))


@lru_cache(maxsize=256)
def _data_free_steps(method, config, teacher, student, classes, n_mels, frames, dim, flops=True):
    key = ("data-free", method, config, teacher, student, classes, n_mels, frames, dim, flops)
    return _stored(key, lambda: (synthesis_step(method, config, teacher, student, classes, n_mels, frames, dim, flops),
                                 kd_step(method, config, teacher, student, classes, n_mels, frames, dim, flops)))


@lru_cache(maxsize=256)
def _train_step(config, arch, teacher, classes, n_mels, frames, dim, flops=True):
    key = ("train", config, arch, teacher, classes, n_mels, frames, dim, flops)
    return _stored(key, lambda: (train_step(config, arch, teacher, classes, n_mels, frames, dim, flops),))[0]


PLAN_CODE_VERSION = 3  # bump when a change to the methods or models changes what a step allocates or computes


def _stored(key: tuple, count) -> tuple[StepCount, ...]:
    """Step counts from the plan cache (JSON under DFKD_CACHE/plans, keyed by everything they depend on and
    the torch version), or counted now and stored: a count on the meta device takes seconds, and `run` counts
    every cell of its grid before it starts."""
    blob = json.dumps([repr(part) for part in key] + [torch.__version__, PLAN_CODE_VERSION])
    path = cache_dir() / "plans" / f"{hashlib.sha1(blob.encode()).hexdigest()[:20]}.json"
    try:
        return tuple(StepCount(**entry) for entry in json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        pass  # absent, unreadable or of another layout: count again
    counts = count()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps([dataclasses.asdict(c) for c in counts]))
    except OSError:
        pass  # a read-only cache only costs the next run the same seconds
    return counts


def _largest_batch(method, config, teacher, student, classes, n_mels, frames, dim, resident, device) -> int:
    """The largest synthesis batch (data-free) or training batch (supervised) whose step fits beside what stays
    resident (models, pool), by bisection on the counted peak (0: not even a batch of 2 fits)."""
    field = "synth_batch" if isinstance(config, DataFreeConfig) else "batch_size"

    def fits(batch: int) -> bool:
        changed = dataclasses.replace(config, **{field: batch})
        if isinstance(config, DataFreeConfig):
            changed = dataclasses.replace(changed, kd_batch=min(config.kd_batch, batch))
            counts = _data_free_steps(method, changed, teacher, student, classes, n_mels, frames, dim, False)
        else:
            counts = (_train_step(changed, *_trained_and_teacher(method, teacher, student), classes, n_mels, frames,
                                  dim, False),)
        return resident + max(c.peak_bytes for c in counts) <= device.memory_gb * GB

    low, high = 1, getattr(config, field)  # a batch of 1 cannot train (BatchNorm): the smallest probe is 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return low if low >= 2 else 0
