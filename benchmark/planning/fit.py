"""`run` plans first: a cell whose counted step does not fit the device is refused before any work, with the
memory it needs and the fix (benchmark/planning/plan.py counts it; here only memory, no FLOPs)."""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from .plan import GB, Device, plan_cell
from .steps import is_data_free


log = logging.getLogger("benchmark.planning")


class CellDoesNotFit(ValueError):
    """A grid cell needs more device memory than the device has."""


def cell_memory_gb(device: str, given: float | None) -> float | None:
    """What a cell may use: --device-memory, else the GPU's memory, or on CPU the memory available now. None
    for CUDA workers of a cluster whose head has no GPU (their memory is not known here; pass --device-memory)."""
    if given is not None:
        if not given > 0:
            raise ValueError(f"--device-memory takes a positive number of GB, got {given}")
        return given
    if device == "cuda":
        if not torch.cuda.is_available():
            log.info("no GPU here to read the workers' memory from; pass --device-memory GB to check cells first")
            return None
        return torch.cuda.get_device_properties(0).total_memory / GB
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024 / GB
    raise RuntimeError("cannot tell the available memory (/proc/meminfo has no MemAvailable); pass --device-memory")


def check_grid_fits(spec, memory_gb: float) -> None:
    """Raise CellDoesNotFit naming the first (dataset, pair, method) whose counted peak exceeds `memory_gb`."""
    device = Device(memory_gb=memory_gb)
    for dataset in spec.datasets:
        for teacher, student in spec.pairs:
            for method in spec.methods:
                cell = plan_cell(spec.preset, dataset, teacher, student, method, 1, device, flops=False)
                if not cell.fits:
                    raise CellDoesNotFit(_message(cell, memory_gb))


def _message(cell, memory_gb: float) -> str:
    field = "data_free.synth_batch" if is_data_free(cell.method) else "supervised.batch_size"
    batch = cell.largest_batch_that_fits
    fix = (f"--set {field}={batch} (the largest batch that fits)" if batch else "a device with more memory")
    if field == "data_free.synth_batch" and cell.checkpointing != "passes":
        fix += " or --set data_free.checkpointing=passes (the same math, less memory)"
    return (f"cell {cell.dataset} {cell.pair} {cell.method} needs {cell.peak_memory_gb:.2f} GB of device memory "
            f"(models {cell.model_gb:.2f}, pool {cell.pool_gb:.2f}, synthesis step {cell.synthesis_gb:.2f}, "
            f"KD/training step {cell.kd_gb:.2f} "
            f"at batch {cell.batch}), more than the {memory_gb:.2f} GB there are. Fix: {fix}; "
            f"`python -m benchmark plan` prices the whole grid")


def largest_cell_gb(spec) -> float:
    """The largest counted peak (GB) of any cell of the grid: what packing several cells on one GPU plans for."""
    device = Device()
    return max(plan_cell(spec.preset, dataset, teacher, student, method, 1, device, flops=False).peak_memory_gb
               for dataset in spec.datasets for teacher, student in spec.pairs for method in spec.methods)
