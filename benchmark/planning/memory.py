"""Counting memory without a GPU.

`LiveMemory` watches every tensor storage that an operator creates while it is active (forward,
backward and optimizer ops alike, on any device, the meta device included) and keeps the running
total and its peak: the bytes a caching allocator would have to hand out for that code, less its
rounding. `SavedTensors` counts the bytes autograd keeps for backward (saved-tensor hooks), which is
the part of that peak that grows with the batch. `ResidentPeak` reads the process's measured peak
resident memory on Linux (VmHWM, reset through /proc/self/clear_refs), the CPU's counterpart of
`torch.cuda.max_memory_allocated`, against which the counts are checked.
"""
from __future__ import annotations

import weakref
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import flop_registry


def _storages(values) -> list[torch.UntypedStorage]:
    flat, _ = tree_flatten(values)
    return [v.untyped_storage() for v in flat if isinstance(v, torch.Tensor)]


class LiveMemory(TorchDispatchMode):
    """Peak bytes of the storages created inside the block (those that existed before are not counted:
    add parameters, optimizer state and buffers that outlive a step separately)."""

    def __init__(self):
        super().__init__()
        self.current = 0
        self.peak = 0
        self._tracked: dict[int, int] = {}  # id(storage) -> bytes, while the storage lives

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {id(s) for s in _storages((args, kwargs))}
        for storage in _storages(out):
            key = id(storage)
            if key in inputs or key in self._tracked:
                continue  # a view, an in-place or out= result: no new memory
            self._track(storage, key)
        return out

    def _track(self, storage: torch.UntypedStorage, key: int) -> None:
        size = storage.nbytes()
        self._tracked[key] = size
        self.current += size
        self.peak = max(self.peak, self.current)
        weakref.finalize(storage, self._free, key)

    def _free(self, key: int) -> None:
        self.current -= self._tracked.pop(key, 0)


def _tensor_bytes(values) -> int:
    flat, _ = tree_flatten(values)
    return sum(v.numel() * v.element_size() for v in flat if isinstance(v, torch.Tensor))


def moves_no_data(func) -> bool:
    """A view (its outputs alias an input without writing it: view, transpose, expand, ...) or an allocation that
    writes nothing (empty): no bytes go through memory."""
    returns = func._schema.returns
    if func._overloadpacket.__name__ in ("empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided"):
        return True
    return bool(returns) and all(r.alias_info is not None and not r.alias_info.is_write for r in returns)


class WorkCount(TorchDispatchMode):
    """FLOPs of the matmuls and convolutions (forward and backward, by torch's own formulas: torch.utils.
    flop_counter.flop_registry) and the bytes every operator reads and writes: the two axes of a roofline.
    FLOPs as FlopCounterMode counts them but without its per-module tracking, which keeps module outputs alive
    through backward (measured: a checkpointed FRAMI step at batch 32 held 28 GiB under FlopCounterMode, 3.9 GiB
    without), so a step counted with it would not be the step. The byte model is eager execution's: each operator reads each of its tensor inputs once and writes each of its outputs
    once (an in-place operator reads and writes its target), views and uninitialised allocations move nothing.
    A compiled or fused step moves fewer bytes; against this count it can exceed 100% of the eager roofline. On
    the meta device it counts a step without running it."""

    def __init__(self):
        super().__init__()
        self.flops = 0
        self.bytes_read = 0
        self.bytes_written = 0

    @property
    def bytes(self) -> int:
        return self.bytes_read + self.bytes_written

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.flops += formula(*args, **kwargs, out_val=out)
        if not moves_no_data(func):
            self.bytes_read += _tensor_bytes((args, kwargs))
            self.bytes_written += _tensor_bytes(out)
        return out


class SavedTensors:
    """Bytes of the distinct storages autograd saves for backward inside the block (saved-tensor hooks)."""

    def __init__(self):
        self.bytes = 0
        self._seen: set[int] = set()
        self._keep: list[torch.UntypedStorage] = []  # ids stay unique while the storages live
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda tensor: tensor)

    def _pack(self, tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if id(storage) not in self._seen:
            self._seen.add(id(storage))
            self._keep.append(storage)
            self.bytes += storage.nbytes()
        return tensor

    def __enter__(self):
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc):
        self._hooks.__exit__(*exc)
        self._keep.clear()


class ResidentPeak:
    """The process's peak resident set size since `reset()` (Linux: /proc/self/status VmHWM)."""

    STATUS = Path("/proc/self/status")
    CLEAR_REFS = Path("/proc/self/clear_refs")

    @classmethod
    def _field(cls, name: str) -> int:
        for line in cls.STATUS.read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"{cls.STATUS} has no {name} line")

    @classmethod
    def reset(cls) -> int:
        """Start a new peak at the current resident size (returned, bytes)."""
        cls.CLEAR_REFS.write_text("5")
        return cls._field("VmRSS")

    @classmethod
    def peak(cls) -> int:
        return cls._field("VmHWM")
