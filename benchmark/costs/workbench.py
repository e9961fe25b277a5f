"""The measuring bench: one (preset, dataset, pair, device) set up as a sweep cell sets it up (data, context,
trained teacher), with the primitives every measurement uses: a step timed after warm-up, its FLOPs counted,
and the device's matrix-multiply peak to hold them against. `benchmark throughput` and the measurement
scripts (tests/measurements/) build their steps on it."""
from __future__ import annotations

import dataclasses
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch

from methods import method_config
from methods.inversion.loop import models_for_device, synchronize
from models import create_model

from ..checkpoints.teachers import TeacherCache
from ..config.cells import Cell
from ..config.presets import Preset
from ..core.batching import Batch, bucketed_batches
from ..execution.cell import make_context, peak_memory_mb
from ..execution.grid import SweepSpec, parse_pairs
from ..execution.loading import DataProvider
from ..execution.numerics import matmul_tf32, tf32_in_effect
from ..planning.memory import WorkCount
from ..store.disk import cache_dir
from .profiling import profile_step

DEFAULT_MATMUL_SIZE = {"cpu": 2048, "cuda": 8192}
# Past the last-level cache on either device (a CPU's L3 is tens of MB; an H100's L2 50 MB), so the copy measures
# memory, not cache.
DEFAULT_COPY_MB = {"cpu": 256, "cuda": 2048}


@dataclass(frozen=True)
class Timing:
    median_ms: float
    min_ms: float
    mean_ms: float  # what a run of many such steps averages: the estimate a price multiplies by step counts
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
    flops_per_step: float | None = None  # forward + backward, torch's FLOP formulas (planning.memory.WorkCount)
    achieved_flops_per_s: float | None = None
    fraction_of_matmul_peak: float | None = None  # against the peak of the same precision
    bytes_per_step: float | None = None  # read + written by its operators, eager (planning.memory.WorkCount)
    roofline_ms: float | None = None  # max(FLOPs / matmul peak, bytes / copy bandwidth): the least it can take
    fraction_of_roofline: float | None = None  # roofline_ms / measured median
    bound: str | None = None  # "compute" or "memory": which term of the roofline is larger
    note: str = ""
    profile: dict | None = None  # --profile: top operators and time outside them (benchmark.costs.profiling)
    ms_per_step_mean: float | None = None  # the timed calls' mean (a calibration prices with it)


def spread_indices(n: int) -> Iterator[int]:
    """Indices in [0, n) whose first k, for every k, are spread evenly over the range (the golden-ratio sequence):
    a few calls sample early and late rounds, short and long batches alike, however many calls there are."""
    position = 0.0
    while True:
        position = (position + 0.6180339887498949) % 1.0
        yield int(position * n)


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
    return Timing(1000 * statistics.median(times), 1000 * min(times), 1000 * statistics.fmean(times),
                  peak_memory_mb(device))


def count_work(step: Callable[[], object]) -> WorkCount:
    """FLOPs (matmuls and convolutions, forward and backward) and bytes moved by one call of `step`, run eagerly:
    a compiled step (methods/inversion/compiled.py) is counted by the eager operators it stands for, so its
    roofline is the eager one and its fraction of it says what compiling gained."""
    with torch._dynamo.config.patch(disable=True), WorkCount() as counter:
        step()
    return counter


def count_flops(step: Callable[[], object]) -> int:
    return count_work(step).flops


@dataclass(frozen=True)
class Bandwidth:
    """Best time of copying one large buffer into another: the device's practical memory bandwidth (a copy
    reads and writes every byte once)."""

    megabytes: float  # of the buffer copied
    repeats: int
    median_ms: float
    min_ms: float
    bytes_per_s: float  # 2 x buffer bytes / min time


def measure_bandwidth(device: torch.device, megabytes: float, warmup: int, repeats: int) -> Bandwidth:
    n = int(megabytes * 2**20 // 4)
    source = torch.ones(n, device=device)
    target = torch.empty_like(source)
    repeats = max(repeats, 3)
    timing = time_step(lambda: target.copy_(source), device, max(warmup, 1), repeats)
    return Bandwidth(megabytes, repeats, timing.median_ms, timing.min_ms, 2 * source.nbytes / (timing.min_ms / 1000))


def roofline(flops: float, bytes_moved: float, flops_per_s: float, bytes_per_s: float) -> tuple[float, str]:
    """(least seconds a step can take on this device, which term bounds it)."""
    compute, memory = flops / flops_per_s, bytes_moved / bytes_per_s
    return (compute, "compute") if compute >= memory else (memory, "memory")


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
                 profile_phases: tuple[str, ...] = (), trained_teacher: bool = True, count_work: bool = True):
        if warmup < 0 or repeats < 1:
            raise ValueError(f"--warmup must be >= 0 and --repeats >= 1, got {warmup} and {repeats}")
        self.preset, self.device, self.warmup, self.repeats, self.seed = preset, device, warmup, repeats, seed
        self.profile_phases = profile_phases  # phases also run under torch.profiler
        # timing only (a calibration): an untrained teacher times the same as a trained one, and no FLOPs counted
        self.trained_teacher, self.count_work = trained_teacher, count_work
        self.dataset = dataset or preset.datasets[0]
        (self.teacher_arch, self.student_arch), = parse_pairs(pair or preset.pairs[0])
        self.matmul_size = matmul_size or DEFAULT_MATMUL_SIZE[device.type]
        self.spec = SweepSpec(preset, (self.dataset,), ((self.teacher_arch, self.student_arch),), ("teacher",), (seed,),
                              data_root=data_root)
        self.data = DataProvider(self.spec).get(self.dataset)
        cell = Cell(self.dataset, self.teacher_arch, self.student_arch, "teacher", seed)
        self.ctx = make_context(cell, preset, self.data, TeacherCache(cache_dir() / "teachers"), device)
        self._peaks: dict[str, MatmulPeak] = {}
        self._bandwidth: Bandwidth | None = None
        self._untrained: torch.nn.Module | None = None
        self.teacher_info: dict | None = None  # set on first use: arch, trained now or cached, val accuracy
        self._turns: dict[str, Iterator[int]] = {}

    @property
    def pair(self) -> str:
        return f"{self.teacher_arch}:{self.student_arch}"

    @property
    def data_free_precision(self) -> str:
        """The data-free loop runs under bf16 autocast on CUDA when the preset asks for it."""
        return "bf16-autocast" if self.preset.amp and self.device.type == "cuda" else "fp32"

    def teacher(self) -> torch.nn.Module:
        """The trained teacher (loaded from the cache, or trained now and cached), frozen; with
        trained_teacher=False an untrained one of the same architecture (a step takes as long with either)."""
        if not self.trained_teacher:
            if self._untrained is None:
                self._untrained = self.new_model(self.teacher_arch).eval().requires_grad_(False)
                self.teacher_info = {"arch": self.teacher_arch, "trained_now": False, "val_accuracy": None,
                                     "untrained": True}
            return self._untrained
        model, info = self.ctx.teacher()
        if self.teacher_info is None:
            self.teacher_info = {"arch": self.teacher_arch, "trained_now": not info["cached"],
                                  "val_accuracy": info.get("val_accuracy")}
        return model.eval().requires_grad_(False)

    def config(self, method: str, **changes):
        config = method_config(method, self.preset)
        return dataclasses.replace(config, **changes) if changes else config

    def synthesis_models(self) -> tuple[torch.nn.Module, torch.nn.Module]:
        """The teacher and a fresh student as the data-free loop holds them (NHWC on CUDA)."""
        return models_for_device(self.teacher(), self.ctx.new_student(), self.device)

    def new_model(self, arch: str) -> torch.nn.Module:
        torch.manual_seed(self.seed)
        return create_model(arch, self.data.num_classes, self.preset.embedding_dim).to(self.device)

    def epoch(self, split: str, batch_size: int, shuffled: bool = True) -> list[Batch]:
        """Every batch of one pass over a split as the cells draw them (on the CPU): shuffled and length-bucketed
        as training takes an epoch, or length-sorted as evaluation does (shuffled=False). A step timed by cycling
        through them costs what the epoch's steps average; one batch would price every step at its own length."""
        generator = torch.Generator().manual_seed(self.seed) if shuffled else None
        return list(bucketed_batches(getattr(self.data, split), batch_size, generator))

    def turn(self, key: str, n: int) -> Iterator[int]:
        """Which of n batches (or rounds) each call of a measured step takes: spread evenly over them, and going
        on where the last measurement of `key` stopped, so that the timed calls of a calibration's passes
        together cover all n, not the same few in every pass."""
        key = f"{key}/{n}"
        if key not in self._turns:
            self._turns[key] = spread_indices(n)
        return self._turns[key]

    def matmul_peak(self, precision: str) -> MatmulPeak:
        key = "bf16" if precision.startswith("bf16") else "fp32"
        if key not in self._peaks:
            self._peaks[key] = measure_matmul_peak(self.device, self.matmul_size, key, self.warmup, self.repeats)
        return self._peaks[key]

    @property
    def peaks(self) -> list[MatmulPeak]:
        return list(self._peaks.values())

    def bandwidth(self) -> Bandwidth:
        if self._bandwidth is None:
            self._bandwidth = measure_bandwidth(self.device, DEFAULT_COPY_MB[self.device.type], self.warmup,
                                                self.repeats)
        return self._bandwidth

    def measure(self, method: str, phase: str, model: str, batch: int, step: Callable[[], object],
                precision: str = "fp32", flops: bool = True, count: Callable[[], int] | None = None,
                note: str = "", device: torch.device | None = None) -> Measurement:
        """Time `step`, then run it once more to count its FLOPs and bytes, and hold the time against the
        roofline of this device. `count` (synthesis) reads a running total of sample-iterations; its growth over
        the timed calls gives the count per step."""
        device = device or self.device
        before = count() if count else 0
        timing = time_step(step, device, self.warmup, self.repeats)
        iterations = (count() - before) // (self.warmup + self.repeats) if count else None
        work = count_work(step) if flops and self.count_work else None
        profiled = profile_step(step, device).as_dict() if phase in self.profile_phases else None
        seconds = timing.median_ms / 1000
        achieved = work.flops / seconds if work and work.flops else None
        limit, bound = (roofline(work.flops, work.bytes, self.matmul_peak(precision).flops_per_s,
                                 self.bandwidth().bytes_per_s) if work else (None, None))
        return Measurement(
            method, phase, model, precision, batch, timing.median_ms, timing.min_ms, batch / seconds,
            timing.median_ms / batch, timing.peak_memory_mb,
            sample_iterations_per_step=iterations,
            sample_iterations_per_s=iterations / seconds if iterations is not None else None,
            flops_per_step=float(work.flops) if achieved else None,
            achieved_flops_per_s=achieved,
            fraction_of_matmul_peak=achieved / self.matmul_peak(precision).flops_per_s if achieved else None,
            bytes_per_step=float(work.bytes) if work else None,
            roofline_ms=1000 * limit if work else None,
            fraction_of_roofline=limit / seconds if work else None, bound=bound,
            note=note, profile=profiled, ms_per_step_mean=timing.mean_ms)
