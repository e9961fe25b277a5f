"""Where cells run on GPUs: the flags checked against each other before any work, each `--jobs N` worker's
GPU (worker i on GPU i mod count), and the share of a GPU each record states.

- `resolve_placement` turns `--device`, `--executor`, `--gpus-per-cell`, `--ray-address` into the workers'
  device and GPU share, or raises `PlacementError`: one line naming the contradictory flags and the fix
  (`--device cuda --gpus-per-cell 0`; CUDA workers asked of a machine with no GPU that would run them).
- `local_gpu_slots` plans the local executor's workers: worker i sees only GPU i mod count (through
  CUDA_VISIBLE_DEVICES, set in the worker before CUDA starts), so `cuda` in worker i is that GPU. Workers
  beyond the GPU count share one; their records say so (`gpu_shared`) with the share they had.
- `cells_per_gpu` turns `--cells-per-gpu N|auto` into N worker processes per GPU: `auto` from the grid's counted
  peak memory (benchmark/planning), a given N checked against it; N cells that would not fit are refused before
  any work, with the numbers. Each cell is its own process, so each pays a CUDA context beside its counted peak.
- A Ray cell asks for `--gpus-per-cell` GPUs: default one whole GPU per task (so synthesis cells, which
  hold a pool, a memory bank and the teacher's activations, never share one unless told); a fraction
  shares a GPU with other tasks, with no memory limit between them, and the records say so.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import torch

DEVICES = ("auto", "cpu", "cuda")


class PlacementError(ValueError):
    """Flags that contradict each other or the machines; the message names them and the fix."""


@dataclass(frozen=True)
class PlacementRequest:
    """What the flags ask for, and what this machine (the driver, Ray's head) has."""

    executor: str  # "local" or "ray"
    device: str  # --device: auto, cpu or cuda
    gpus_per_cell: float | None  # --gpus-per-cell (None: not given)
    ray_address: str | None  # --ray-address (None: Ray starts on this machine)
    head_has_cuda: bool  # whether this machine sees a CUDA GPU

    @property
    def runs_here(self) -> bool:
        """Whether the workers run on this machine (the local executor, or a Ray started here)."""
        return self.executor != "ray" or self.ray_address is None


@dataclass(frozen=True)
class Placement:
    device: str  # the workers' device: "cpu" or "cuda"
    gpus_per_cell: float  # Ray: GPUs each task asks for; local: 1 on CUDA (refined per worker), 0 on CPU


# Each rule returns the one-line error for a contradiction, or None. Checked in order, before any work.
def _unknown_device(r: PlacementRequest) -> str | None:
    if r.device not in DEVICES:
        return f"unknown device {r.device!r}; valid devices: {', '.join(DEVICES)}"
    return None


def _negative_share(r: PlacementRequest) -> str | None:
    if r.gpus_per_cell is not None and r.gpus_per_cell < 0:
        return f"--gpus-per-cell {r.gpus_per_cell:g} is negative; give 0 (CPU cells), a fraction, or 1 and more"
    return None


def _cuda_without_gpus(r: PlacementRequest) -> str | None:
    if r.device == "cuda" and r.gpus_per_cell == 0:
        return ("--device cuda --gpus-per-cell 0 ask for CUDA cells that get no GPU; give --gpus-per-cell 1 "
                "(or a fraction to share a GPU), or --device cpu")
    return None


def _cpu_with_gpus(r: PlacementRequest) -> str | None:
    if r.device == "cpu" and r.gpus_per_cell:
        return (f"--device cpu --gpus-per-cell {r.gpus_per_cell:g} reserve GPUs that CPU cells never use; drop "
                "--gpus-per-cell, or use --device cuda")
    return None


def _share_without_ray(r: PlacementRequest) -> str | None:
    if r.executor != "ray" and r.gpus_per_cell is not None:
        return (f"--gpus-per-cell is a Ray option (--executor {r.executor} gives worker i GPU i mod count); drop "
                "--gpus-per-cell, or add --executor ray")
    return None


def _cuda_workers_without_gpu(r: PlacementRequest) -> str | None:
    wants_cuda = r.device == "cuda" or (r.executor == "ray" and bool(r.gpus_per_cell) and r.device == "auto")
    if wants_cuda and r.runs_here and not r.head_has_cuda:
        asked = "--device cuda" if r.device == "cuda" else f"--gpus-per-cell {r.gpus_per_cell:g}"
        where = "a Ray started on this machine" if r.executor == "ray" else f"--executor {r.executor}"
        return (f"{asked} asks for CUDA workers, but this machine has no visible CUDA GPU and {where} runs them "
                "here; use --device cpu, or --executor ray --ray-address ADDR of a cluster with GPU nodes")
    return None


RULES: tuple[Callable[[PlacementRequest], str | None], ...] = (
    _unknown_device, _negative_share, _cuda_without_gpus, _cpu_with_gpus, _share_without_ray,
    _cuda_workers_without_gpu)


def resolve_placement(request: PlacementRequest) -> Placement:
    """The workers' device and GPU share, or a PlacementError naming the first contradiction."""
    for rule in RULES:
        problem = rule(request)
        if problem:
            raise PlacementError(problem)
    if request.executor == "ray":
        if request.device == "auto":  # a share given decides; otherwise what this machine has
            cuda = bool(request.gpus_per_cell) if request.gpus_per_cell is not None else request.head_has_cuda
        else:
            cuda = request.device == "cuda"
        default = 1.0 if cuda else 0.0  # a whole GPU per task unless --gpus-per-cell says otherwise
        return Placement("cuda" if cuda else "cpu",
                         request.gpus_per_cell if request.gpus_per_cell is not None else default)
    cuda = request.device == "cuda" or (request.device == "auto" and request.head_has_cuda)
    return Placement("cuda" if cuda else "cpu", 1.0 if cuda else 0.0)


def check_ray_gpus(cluster_gpus: float, gpus_per_cell: float, address: str | None) -> None:
    """A task asking for more GPUs than the Ray cluster has would wait forever: say so before any work."""
    if gpus_per_cell > 0 and cluster_gpus < gpus_per_cell:
        where = f"at {address}" if address else "started on this machine"
        raise PlacementError(f"the Ray cluster {where} has {cluster_gpus:g} GPUs but every task asks for "
                             f"{gpus_per_cell:g} (--gpus-per-cell); its tasks would never start. Add GPU nodes "
                             "(an autoscaling cluster: start one first), or use --device cpu")


@dataclass(frozen=True)
class GpuSlot:
    """The GPU one local worker is pinned to."""

    visible_device: str  # its CUDA_VISIBLE_DEVICES entry: the worker's `cuda` is this physical GPU
    share: float  # 1 / the number of workers pinned to this GPU

    @property
    def shared(self) -> bool:
        return self.share < 1


def visible_gpus() -> list[str]:
    """This process's GPUs as CUDA_VISIBLE_DEVICES entries (indices, or the entries it was given)."""
    count = torch.cuda.device_count()
    given = os.environ.get("CUDA_VISIBLE_DEVICES")
    entries = [e.strip() for e in given.split(",") if e.strip()] if given is not None else []
    return entries[:count] if given is not None else [str(i) for i in range(count)]


def local_gpu_slots(jobs: int, gpus: list[str]) -> list[GpuSlot]:
    """Worker i -> GPU i mod len(gpus), with the share of that GPU each of its workers has."""
    if not gpus:
        raise PlacementError("CUDA workers were asked for but no CUDA GPU is visible; use --device cpu")
    per_gpu = [len(range(g, jobs, len(gpus))) for g in range(len(gpus))]
    return [GpuSlot(gpus[i % len(gpus)], 1.0 / per_gpu[i % len(gpus)]) for i in range(jobs)]


def record_gpu_fields(device: torch.device, share: float) -> dict:
    """The record's gpus_per_cell and gpu_shared for a cell that ran on `device` with `share` of a GPU."""
    if device.type != "cuda":
        return {"gpus_per_cell": 0.0, "gpu_shared": None}
    return {"gpus_per_cell": share, "gpu_shared": share < 1}


# What one more process on a GPU costs beside its tensors: its CUDA context with the cuBLAS and cuDNN handles and
# workspaces. An allowance, not yet a measurement here (tests/gpu/check.py measures it where a GPU is lent).
CUDA_CONTEXT_GB = 0.6
# The counted peaks need no margin on top: on the H200 the measured synthesis peaks were 0.55-0.86 of the counted
# ones at batch 256 (results/gpu/memory/memory_check.json), and a cell's count takes the larger of its steps.
ALLOCATOR_MARGIN = 1.0


@dataclass(frozen=True)
class GpuPacking:
    """How many cells share each GPU, and the arithmetic behind it (for the sweep's first line)."""

    cells_per_gpu: int
    cell_gb: float  # the largest counted cell peak of the grid, with the allocator's margin and a CUDA context
    gpu_gb: float

    def describe(self) -> str:
        return (f"{self.cells_per_gpu} cell(s) per GPU: each at most {self.cell_gb:.2f} GB (largest counted peak x "
                f"{ALLOCATOR_MARGIN:g} + {CUDA_CONTEXT_GB:g} GB CUDA context) of {self.gpu_gb:.1f} GB")


def cells_per_gpu(requested: str, largest_peak_gb: float, gpu_gb: float) -> GpuPacking:
    """`--cells-per-gpu` as a number of worker processes per GPU: `auto` packs as many of the grid's largest cell as
    fit; a number is refused (PlacementError naming the numbers and the fix) when that many do not fit."""
    need = largest_peak_gb * ALLOCATOR_MARGIN + CUDA_CONTEXT_GB
    fit = int(gpu_gb // need)
    if requested == "auto":
        if fit < 1:
            raise PlacementError(f"--cells-per-gpu auto: the grid's largest cell needs {need:.2f} GB, more than the "
                                 f"GPU's {gpu_gb:.1f} GB; `python -m benchmark plan` names it and the batch that fits")
        return GpuPacking(fit, need, gpu_gb)
    try:
        count = int(requested)
    except ValueError:
        count = 0
    if count < 1:
        raise PlacementError(f"--cells-per-gpu takes a whole number >= 1 or auto, got {requested!r}")
    if count > fit:
        raise PlacementError(f"--cells-per-gpu {count}: {count} cells need {count * need:.2f} GB ({need:.2f} GB each: "
                             f"the grid's largest counted peak x {ALLOCATOR_MARGIN:g} + a {CUDA_CONTEXT_GB:g} GB CUDA "
                             f"context) but the GPU has {gpu_gb:.1f} GB; use --cells-per-gpu {max(fit, 1)} "
                             f"{'' if fit else '(and a smaller batch) '}or auto")
    return GpuPacking(count, need, gpu_gb)


def packed_jobs(requested: str, executor: str, device: str, jobs: int, largest_peak_gb: float, gpu_gb: float,
                gpu_count: int) -> tuple[int, GpuPacking]:
    """The local executor's worker count for `--cells-per-gpu`: N per visible GPU (worker i on GPU i mod count)."""
    if executor != "local" or device != "cuda":
        raise PlacementError("--cells-per-gpu packs cells onto this machine's GPUs: it needs --executor local and "
                             "CUDA cells (on Ray give --gpus-per-cell 1/N instead)")
    if jobs != 1:
        raise PlacementError(f"--cells-per-gpu sets the number of workers (N per GPU); drop --jobs {jobs}")
    packing = cells_per_gpu(requested, largest_peak_gb, gpu_gb)
    return packing.cells_per_gpu * gpu_count, packing
