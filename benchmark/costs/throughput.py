"""`python -m benchmark throughput`: what one step of each method's phases costs on this device.

A sweep record holds whole-phase wall times; those mix step cost with step counts. Here
every phase is one step measured in isolation (warm-up, then timed repetitions), built
the way the sweep builds it (same context, teacher, configs, autocast), so a preset's
cost can be predicted and a slow phase found. The synthesis step's FLOPs over its time,
against the device's measured matrix-multiply peak, say how far a step is from
compute-bound (small convolutions, hooks and Python overheads dominate at small scale).

Phases: features (log-mel of clips, no cache), synthesis and distill (data-free methods),
train (teacher, student, kd on real batches), evaluate (forward under no_grad).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import shlex
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from methods import METHODS, TABLE_ORDER, build_method, method_config
from methods.inversion.loop import (DataFreeMethod, autocast, kd_step, make_optimizer, models_for_device,
                                   synchronize, synthesis_layout)
from methods.inversion.randomness import device_generator
from methods.inversion.hooks import frozen
from methods.inversion.pool import TensorPool
from methods.kd import KnowledgeDistillation, kd_batch_loss
from methods.supervised import StudentMethod, TeacherMethod
from models import create_model

from ..batching import Batch, bucketed_batches, make_batch
from ..checkpoints.teachers import TeacherCache
from ..data import DATASETS, cache_dir
from ..data.features import LogMel
from ..environment import device_description, git_commit, package_versions, resolve_device
from ..execution.cell import Cell, make_context, peak_memory_mb
from ..execution.grid import SweepSpec, parse_pairs
from ..execution.loading import DataProvider, data_config
from ..numerics import matmul_tf32, tf32_in_effect
from ..planning.memory import FlopCount
from ..presets import PRESETS, Preset
from ..store.records import write_atomic
from ..training import cross_entropy_loss
from .profiling import StepProfile, profile_markdown, profile_step

DEFAULT_MATMUL_SIZE = {"cpu": 2048, "cuda": 8192}
FEATURE_CLIPS = 64  # clips per feature-extraction "step"
EVAL_BATCH = 64  # training.predict's batch size


@dataclass(frozen=True)
class Timing:
    median_ms: float
    min_ms: float
    peak_memory_mb: float


@dataclass(frozen=True)
class MatmulPeak:
    """Best time of torch.mm on square n x n matrices: the device's practical FLOP/s ceiling."""

    precision: str  # fp32 | bf16
    n: int
    repeats: int
    median_ms: float
    min_ms: float
    flops_per_s: float  # 2 n^3 / min time
    tf32: bool = False  # fp32 measured with TF32 on: the work's mode (numerics.tf32_in_effect)


@dataclass(frozen=True)
class Measurement:
    method: str  # a method name; "-" for phases every method shares (features, evaluate)
    phase: str  # features | synthesis | distill | train | evaluate
    model: str  # what runs: architecture(s), or the front end
    precision: str  # fp32 | bf16-autocast
    batch: int  # samples per step (clips for features, synthesized samples for synthesis)
    ms_per_step_median: float
    ms_per_step_min: float
    samples_per_s: float
    ms_per_sample: float
    peak_memory_mb: float
    sample_iterations_per_step: int | None = None  # synthesis: teacher fwd+bwd per sample per step
    sample_iterations_per_s: float | None = None
    flops_per_step: float | None = None  # forward + backward, torch's FLOP formulas (planning.memory.FlopCount)
    achieved_flops_per_s: float | None = None
    fraction_of_matmul_peak: float | None = None  # against the peak of the same precision
    note: str = ""
    profile: dict | None = None  # --profile: top operators and time outside them (benchmark.costs.profiling)


def time_step(step: Callable[[], object], device: torch.device, warmup: int, repeats: int) -> Timing:
    """Median and min wall time of `step` after `warmup` untimed calls; peak memory of the timed calls
    (CUDA: allocator peak since the reset; CPU: the process's peak RSS so far)."""
    for _ in range(warmup):
        step()
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        step()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return Timing(1000 * statistics.median(times), 1000 * min(times), peak_memory_mb(device))


def count_flops(step: Callable[[], object]) -> int:
    """FLOPs of one call of `step` (matmuls and convolutions, forward and backward). FlopCount, not
    FlopCounterMode: the latter's module tracking keeps activations alive and undoes checkpointing."""
    with FlopCount() as counter:
        step()
    return counter.total


def measure_matmul_peak(device: torch.device, n: int, precision: str, warmup: int, repeats: int) -> MatmulPeak:
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.randn(n, n, generator=generator).to(device, dtype) for _ in range(2))
    repeats = max(repeats, 3)
    tf32 = precision == "fp32" and tf32_in_effect()  # the work's mode, so no step beats its own ceiling
    with matmul_tf32(tf32):
        timing = time_step(lambda: torch.mm(a, b), device, max(warmup, 1), repeats)
    return MatmulPeak(precision, n, repeats, timing.median_ms, timing.min_ms, 2 * n**3 / (timing.min_ms / 1000),
                      tf32)


class Workbench:
    """The data, context and trained teacher of one (preset, dataset, pair, device), shared by every
    measurement; built as `samples` and the sweep build them (make_context, teacher cache)."""

    def __init__(self, preset: Preset, dataset: str | None = None, pair: str | None = None,
                 device: torch.device = torch.device("cpu"), warmup: int = 2, repeats: int = 5,
                 matmul_size: int | None = None, seed: int = 0, data_root: Path | None = None,
                 profile_phases: tuple[str, ...] = ()):
        if warmup < 0 or repeats < 1:
            raise ValueError(f"--warmup must be >= 0 and --repeats >= 1, got {warmup} and {repeats}")
        self.preset, self.device, self.warmup, self.repeats, self.seed = preset, device, warmup, repeats, seed
        self.profile_phases = profile_phases  # phases also run under torch.profiler
        self.dataset = dataset or preset.datasets[0]
        (self.teacher_arch, self.student_arch), = parse_pairs(pair or preset.pairs[0])
        self.matmul_size = matmul_size or DEFAULT_MATMUL_SIZE[device.type]
        self.spec = SweepSpec(preset, (self.dataset,), ((self.teacher_arch, self.student_arch),), ("teacher",), (seed,),
                              data_root=data_root)
        self.data = DataProvider(self.spec).get(self.dataset)
        cell = Cell(self.dataset, self.teacher_arch, self.student_arch, "teacher", seed)
        self.ctx = make_context(cell, preset, self.data, TeacherCache(cache_dir() / "teachers"), device)
        self._peaks: dict[str, MatmulPeak] = {}
        self.teacher_info: dict | None = None  # set on first use: arch, trained now or cached, val accuracy

    @property
    def pair(self) -> str:
        return f"{self.teacher_arch}:{self.student_arch}"

    @property
    def data_free_precision(self) -> str:
        """The data-free loop runs under bf16 autocast on CUDA when the preset asks for it."""
        return "bf16-autocast" if self.preset.amp and self.device.type == "cuda" else "fp32"

    def teacher(self) -> torch.nn.Module:
        """The trained teacher (loaded from the cache, or trained now and cached), frozen."""
        model, info = self.ctx.teacher()
        if self.teacher_info is None:
            self.teacher_info = {"arch": self.teacher_arch, "trained_now": not info["cached"],
                                  "val_accuracy": info.get("val_accuracy")}
        return model.eval().requires_grad_(False)

    def config(self, method: str, **changes):
        config = method_config(method, self.preset)
        return dataclasses.replace(config, **changes) if changes else config

    def new_model(self, arch: str) -> torch.nn.Module:
        torch.manual_seed(self.seed)
        return create_model(arch, self.data.num_classes, self.preset.embedding_dim).to(self.device)

    def real_batch(self, split: str, batch_size: int) -> Batch:
        """A batch as the training loop draws it: shuffled, length-bucketed (on the CPU)."""
        data = getattr(self.data, split)
        generator = torch.Generator().manual_seed(self.seed)
        batch = next(bucketed_batches(data, batch_size, generator, drop_last=True), None)
        return batch if batch is not None else make_batch(data, torch.arange(len(data)))

    def matmul_peak(self, precision: str) -> MatmulPeak:
        key = "bf16" if precision.startswith("bf16") else "fp32"
        if key not in self._peaks:
            self._peaks[key] = measure_matmul_peak(self.device, self.matmul_size, key, self.warmup, self.repeats)
        return self._peaks[key]

    @property
    def peaks(self) -> list[MatmulPeak]:
        return list(self._peaks.values())

    def measure(self, method: str, phase: str, model: str, batch: int, step: Callable[[], object],
                precision: str = "fp32", flops: bool = True, count: Callable[[], int] | None = None,
                note: str = "", device: torch.device | None = None) -> Measurement:
        """Time `step`, then run it once more to count its FLOPs. `count` (synthesis) reads a running
        total of sample-iterations; its growth over the timed calls gives the count per step."""
        device = device or self.device
        before = count() if count else 0
        timing = time_step(step, device, self.warmup, self.repeats)
        iterations = (count() - before) // (self.warmup + self.repeats) if count else None
        flops_per_step = count_flops(step) if flops else None
        profiled = profile_step(step, device).as_dict() if phase in self.profile_phases else None
        seconds = timing.median_ms / 1000
        achieved = flops_per_step / seconds if flops_per_step else None
        return Measurement(
            method, phase, model, precision, batch, timing.median_ms, timing.min_ms, batch / seconds,
            timing.median_ms / batch, timing.peak_memory_mb,
            sample_iterations_per_step=iterations,
            sample_iterations_per_s=iterations / seconds if iterations is not None else None,
            flops_per_step=float(flops_per_step) if flops_per_step else None,
            achieved_flops_per_s=achieved,
            fraction_of_matmul_peak=achieved / self.matmul_peak(precision).flops_per_s if achieved else None,
            note=note, profile=profiled)


# --- the phases ------------------------------------------------------------------------------

def measure_features(bench: Workbench, clips: int = FEATURE_CLIPS) -> Measurement:
    """Log-mel of training clips with the raw transform (no feature cache), on the CPU where the
    pipeline runs it; waveforms are loaded first so file reading is not timed."""
    clipset = DATASETS.get(bench.dataset)(data_config(bench.spec))
    frontend = bench.preset.frontend
    max_samples = None if frontend.max_seconds is None else int(frontend.max_seconds * frontend.sample_rate)
    waves = [torch.from_numpy(np.asarray(clipset.load(c), dtype=np.float32)[:max_samples])
             for c in clipset.split("train")[:clips]]
    logmel = LogMel(frontend)

    def step():
        with torch.no_grad():
            for wave in waves:
                logmel(wave)

    seconds = sum(len(w) for w in waves) / frontend.sample_rate
    return bench.measure("-", "features", "LogMel (cpu)", len(waves), step, flops=False,
                         note=f"{seconds / len(waves):.2f} s of audio per clip", device=torch.device("cpu"))


def data_free_method(name: str, bench: Workbench, **changes) -> DataFreeMethod:
    if not issubclass(METHODS.get(name).method_cls, DataFreeMethod):
        raise ValueError(f"method {name!r} synthesizes nothing; data-free methods: " + ", ".join(data_free_names()))
    return build_method(name, bench.config(name, **changes))


def data_free_names() -> list[str]:
    return [n for n in METHODS.names() if issubclass(METHODS.get(n).method_cls, DataFreeMethod)]


def _prepare_models(bench: Workbench) -> tuple[torch.nn.Module, torch.nn.Module]:
    """Teacher and a fresh student as the data-free loop holds them (NHWC on CUDA)."""
    return models_for_device(bench.teacher(), bench.ctx.new_student(), bench.device)


def steady_synthesizer(method: DataFreeMethod, bench: Workbench, teacher: torch.nn.Module,
                       student: torch.nn.Module, frames: int):
    """The method's synthesizer as it runs after the first rounds: CMI's memory bank full of past embeddings,
    Fast past its warm-up (with its adversarial pass). The student goes in eval mode, as synthesis holds it."""
    synthesizer = method.make_synthesizer(bench.ctx, teacher, student.eval(), frames)
    bank = getattr(synthesizer, "bank", None)
    if bank is not None:
        bank.add(torch.randn(bank.size, bank.data.shape[1], device=bank.data.device))
    synthesizer.to_steady_state()
    return synthesizer


def measure_synthesis_step(name: str, bench: Workbench, synth_batch: int | None = None) -> Measurement:
    """One optimisation step of the method's synthesizer (its config with iterations=1)."""
    changes = {"iterations": 1} | ({"synth_batch": synth_batch} if synth_batch else {})
    method = data_free_method(name, bench, **changes)
    teacher, student = _prepare_models(bench)
    frames = method.synthesized_frames(bench.ctx)
    synthesizer = steady_synthesizer(method, bench, teacher, student, frames)

    def step():
        with autocast(bench.ctx):
            synthesizer.synthesize()

    try:
        with synthesis_layout(student, bench.device):  # as the loop holds it for a round's synthesis
            return bench.measure(name, "synthesis", f"{bench.teacher_arch}->{bench.student_arch}",
                                 method.config.synth_batch, step, bench.data_free_precision,
                                 count=lambda: synthesizer.sample_iterations, note=f"{frames} frames")
    finally:
        synthesizer.close()


def measure_distill_step(name: str, bench: Workbench, kd_batch: int | None = None) -> Measurement:
    """One KD step on a pool batch: sample from the pool, distiller loss, backward, optimizer step."""
    method = data_free_method(name, bench, **({"kd_batch": kd_batch} if kd_batch else {}))
    cfg = method.config
    teacher, student = _prepare_models(bench)
    distiller = method.make_distiller(bench.ctx, teacher, student).to(bench.device)
    opt = make_optimizer(cfg, list(student.parameters()) + list(distiller.parameters()))
    frames = method.synthesized_frames(bench.ctx)
    generator = device_generator(torch.Generator().manual_seed(bench.seed), bench.device, bench.seed)
    synthesizer = None
    if method.keeps_pool:
        pool = TensorPool(cfg.pool_size)
        pool.add(torch.randn(min(cfg.pool_size, 2 * cfg.kd_batch), 1, bench.data.n_mels, frames,
                             generator=generator, device=bench.device))
    else:  # the generator methods draw a fresh batch of their generator at every KD step: part of the step
        synthesizer = method.make_synthesizer(bench.ctx, teacher, student, frames)
        pool = method.make_transfer_set(synthesizer)
    student.train()

    def step():
        kd_step(bench.ctx, cfg, pool, generator, distiller, opt)

    try:
        return bench.measure(name, "distill", f"{bench.teacher_arch}->{bench.student_arch}", cfg.kd_batch, step,
                             bench.data_free_precision,
                             note=f"{frames} frames" + ("" if method.keeps_pool else "; fresh generator samples"))
    finally:
        if synthesizer is not None:
            synthesizer.close()


def measure_train_step(name: str, bench: Workbench) -> Measurement:
    """One supervised step as training.train_supervised takes it (AdamW, fp32, batch moved to the device)."""
    method_cls, cfg = METHODS.get(name).method_cls, bench.config(name)
    arch = bench.teacher_arch if issubclass(method_cls, TeacherMethod) else bench.student_arch
    is_kd = issubclass(method_cls, KnowledgeDistillation)
    loss_fn = kd_batch_loss(bench.teacher(), cfg) if is_kd else cross_entropy_loss
    model = bench.new_model(arch).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    batch = bench.real_batch("train", cfg.batch_size)

    def step():
        loss = loss_fn(model, batch.to(bench.device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    label = f"{bench.teacher_arch}->{arch}" if is_kd else arch
    return bench.measure(name, "train", label, len(batch.labels), step, note=f"{batch.x.shape[-1]} frames (padded)")


def measure_evaluate(bench: Workbench, arch: str) -> Measurement:
    """Forward of a model on a test batch under no_grad, as training.predict runs it."""
    model = bench.teacher() if arch == bench.teacher_arch else bench.new_model(arch)
    model.eval()
    batch = bench.real_batch("test", EVAL_BATCH)

    def step():
        with torch.no_grad():
            b = batch.to(bench.device)
            model(b.x, b.lengths).argmax(dim=1).cpu()

    return bench.measure("-", "evaluate", arch, len(batch.labels), step, note=f"{batch.x.shape[-1]} frames (padded)")


def measure_input_gradient(name: str, bench: Workbench) -> Measurement:
    """The teacher's forward plus backward to its input at the method's synthesis batch and shape, with
    frozen weights and no hooks or losses: the network part of every synthesis step, so its fraction of
    the matmul peak is the ceiling a synthesis step of this teacher can reach at this batch."""
    method = data_free_method(name, bench)
    teacher, _ = _prepare_models(bench)
    teacher.eval()
    frames = method.synthesized_frames(bench.ctx)
    x = torch.randn(method.config.synth_batch, 1, bench.data.n_mels, frames, device=bench.device, requires_grad=True)

    def step():
        x.grad = None
        with autocast(bench.ctx):
            teacher(x).float().logsumexp(dim=1).sum().backward()

    with frozen(teacher):
        return bench.measure("-", "input-grad", bench.teacher_arch, method.config.synth_batch, step,
                             bench.data_free_precision, note=f"{frames} frames; ceiling of synthesis")


def phases_of(name: str) -> list[Callable[[str, Workbench], Measurement]]:
    method_cls = METHODS.get(name).method_cls
    if issubclass(method_cls, DataFreeMethod):
        return [measure_synthesis_step, measure_distill_step]
    if issubclass(method_cls, (TeacherMethod, StudentMethod, KnowledgeDistillation)):
        return [measure_train_step]
    return []


def measure_all(bench: Workbench, methods: list[str]) -> tuple[list[Measurement], list[str]]:
    """Every phase of every method, then the shared phases; returns (measurements, methods skipped).
    The matmul peaks come first, on an otherwise idle device."""
    for precision in ("fp32", "bf16") if bench.device.type == "cuda" else ("fp32",):
        bench.matmul_peak(precision)
    measurements, skipped = [measure_features(bench)], []
    for name in methods:
        phases = phases_of(name)
        if not phases:
            skipped.append(name)
        measurements.extend(measure(name, bench) for measure in phases)
    data_free = [n for n in methods if n in data_free_names()]
    if data_free:
        measurements.append(measure_input_gradient(data_free[0], bench))
    measurements.extend(measure_evaluate(bench, arch) for arch in (bench.student_arch, bench.teacher_arch))
    return measurements, skipped
