"""The units of work of a sweep and what runs them wherever they run (this process, a worker
process of `--jobs N`, or a Ray task).

A job is a small picklable description; the worker rebuilds what it needs (datasets from the
on-disk synth/feature caches, teachers from the on-disk teacher cache) and keeps it for the
next job in the same process. A worker never writes records: it returns them to the driver,
which is the only writer of `runs.jsonl`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace

import torch

from methods import METHODS

from ..checkpoints.teachers import TeacherCache
from ..config.cells import Cell, cell_config
from ..core.prepared import PreparedData
from ..store.disk import cache_dir
from ..store.record_schema import RunRecord
from .cell import run_cell, train_or_load_teacher
from .grid import SweepSpec
from .loading import DataProvider
from .numerics import Numerics, apply_numerics
from .placement import GpuSlot, record_gpu_fields
from .tracking import TrackingConfig, open_cell_tracker


@dataclass(frozen=True)
class TeacherJob:
    """Train (or find cached) the teacher of (dataset, arch, seed) before the cells that use it."""

    dataset: str
    arch: str
    seed: int

    def label(self) -> str:
        return f"teacher {self.dataset} {self.arch} seed={self.seed}"


@dataclass(frozen=True)
class Runtime:
    """How a job runs: device, CPU threads, the command recorded with results, tracking, float settings,
    and the share of a GPU each cell has."""

    spec: SweepSpec
    device: str  # "cpu" or "cuda"
    command: str
    threads: int | None = None  # torch intra-op threads; None keeps torch's default
    executor: str = "local"
    tracking: TrackingConfig = TrackingConfig()
    numerics: Numerics = Numerics()  # TF32 and determinism, applied in every process before its first job
    gpu_share: float = 1.0  # on CUDA, the share of one GPU per cell (Ray's fraction); local workers have theirs


def teacher_jobs(cells: list[Cell]) -> list[TeacherJob]:
    """One job per distinct teacher that a pending cell needs, in first-use order."""
    jobs = [TeacherJob(c.dataset, c.teacher, c.seed) for c in cells if METHODS.get(c.method).method_cls.uses_teacher]
    return list(dict.fromkeys(jobs))


class _WorkerState:
    """Per-process caches, so consecutive jobs in one worker share datasets and teachers."""

    def __init__(self):
        self.provider: DataProvider | None = None
        self.teachers: TeacherCache | None = None
        self.gpu_slot: GpuSlot | None = None  # a `--jobs N` worker's GPU (placement.local_gpu_slots)

    def data(self, spec: SweepSpec, name: str) -> PreparedData:
        if self.provider is None or self.provider.spec != spec:
            self.provider = DataProvider(spec)  # one sweep at a time per process
        return self.provider.get(name)

    def teacher_cache(self) -> TeacherCache:
        root = cache_dir() / "teachers"
        if self.teachers is None or self.teachers.root != root:
            self.teachers = TeacherCache(root)
        return self.teachers


_STATE = _WorkerState()


def _configure(runtime: Runtime) -> torch.device:
    if runtime.threads:
        torch.set_num_threads(runtime.threads)
    apply_numerics(runtime.numerics)
    return torch.device(runtime.device)


def start_worker(counter, slots: list[GpuSlot], env: dict[str, str]) -> None:
    """Initializer of a `--jobs N` worker process, before any job and before CUDA starts in it: take the
    next worker number i, see only GPU i mod count (slots empty: a CPU sweep), set the numerics environment."""
    os.environ.update(env)
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    if slots:
        _STATE.gpu_slot = slots[index % len(slots)]
        os.environ["CUDA_VISIBLE_DEVICES"] = _STATE.gpu_slot.visible_device


def prepare_data(runtime: Runtime, name: str) -> PreparedData:
    """Load and featurise a dataset in this process (and fill the on-disk caches workers read)."""
    return _STATE.data(runtime.spec, name)


def run_teacher_job(job: TeacherJob, runtime: Runtime) -> dict:
    """Make sure the teacher exists in the on-disk cache; returns what a log line needs."""
    device = _configure(runtime)
    data = _STATE.data(runtime.spec, job.dataset)
    _, info = train_or_load_teacher(runtime.spec.preset, data, job.arch, job.seed, _STATE.teacher_cache(), device,
                                    runtime.spec.teacher_checkpoint)
    return {"label": job.label(), "cached": info["cached"], "val_accuracy": info["val_accuracy"]}


def run_cell_job(cell: Cell, runtime: Runtime) -> RunRecord:
    """Run one cell and return its record (failures are records too); tracking can never fail it."""
    device = _configure(runtime)
    preset = runtime.spec.preset
    data = _STATE.data(runtime.spec, cell.dataset)
    tags = {"dataset": cell.dataset, "pair": cell.pair, "method": cell.method, "preset": preset.name}
    config = cell_config(cell, preset, runtime.spec.teacher_hash)
    tracker = open_cell_tracker(runtime.tracking, cell.label(), {**config, **tags,
                                                                 "seed": cell.seed}, tags)
    # the teacher phase trained every teacher this cell needs, so a cell only loads: a teacher retrained here
    # (on another GPU or node) would be another teacher than its sibling cells'
    saver = runtime.spec.model_saver()
    keep = (lambda record, model, teacher: saver(record, model, teacher, data)) if saver else None
    record = run_cell(cell, preset, data, _STATE.teacher_cache().loading_only(), device, runtime.command, tracker,
                      runtime.spec.teacher_checkpoint, keep)
    share = _STATE.gpu_slot.share if _STATE.gpu_slot else runtime.gpu_share
    record = replace(record, torch_threads=torch.get_num_threads(), executor=runtime.executor, worker_pid=os.getpid(),
                     **record_gpu_fields(device, share))
    tracker.finish(record, data.class_names)
    return record
