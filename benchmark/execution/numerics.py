"""How floats are computed on the device: TF32 and deterministic algorithms, set in one place and read
back for every record.

`Numerics` is the setting (`--tf32`, `--deterministic`); `apply_numerics` puts it into torch and into
this process's environment, in every process that runs a job (the driver, each `--jobs N` worker, each
Ray task); `numerics_state` reads back what torch actually has, which is what a record stores.

- TF32 is one switch for both cuBLAS matmuls and cuDNN convolutions (torch's defaults disagree: matmuls
  off, convolutions on), off unless `--tf32`: fp32 means fp32, and the statistics the design keeps in
  fp32 under bf16 autocast (cosine-similarity matrices, BN moments) stay exact. The throughput command's
  matmul peak is measured in the mode the work runs in (`tf32_in_effect`).
- `--deterministic` turns on `torch.use_deterministic_algorithms` (an operator without a deterministic
  kernel raises, naming itself, so the cell fails visibly instead of varying), cuDNN's deterministic mode,
  and cuBLAS's fixed workspace (`CUBLAS_WORKSPACE_CONFIG`, read when cuBLAS starts, so it is also handed
  to Ray tasks' environments before their process starts: `Numerics.env`).

Neither changes a cell's config identity (`config_hash`): they choose how the device rounds the same
computation, like the number of CPU threads (also recorded, also outside the hash), so a sweep may be
resumed with or without them; records carry the flags (`numerics`) and reports can tell them apart.
"""
from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Iterator

import torch

from ..core.cpu_isa import capability

log = logging.getLogger(__name__)
CUBLAS_WORKSPACE_ENV = "CUBLAS_WORKSPACE_CONFIG"
DETERMINISTIC_CUBLAS_WORKSPACE = ":4096:8"  # one of the two values cuBLAS documents as reproducible
_DETERMINISTIC_WORKSPACES = (":4096:8", ":16:8")


@dataclass(frozen=True)
class Numerics:
    """The float settings a sweep or measurement runs with."""

    tf32: bool = False  # TF32 for fp32 matmuls and convolutions on CUDA (no effect on CPU)
    deterministic: bool = False  # deterministic algorithms only (CUDA), fixed cuBLAS workspace

    def env(self) -> dict[str, str]:
        """Environment variables a process needs before CUDA starts in it."""
        return {CUBLAS_WORKSPACE_ENV: DETERMINISTIC_CUBLAS_WORKSPACE} if self.deterministic else {}


@dataclass(frozen=True)
class NumericsState:
    """What torch has now: the float-changing flags a record stores."""

    tf32_matmul: bool
    tf32_cudnn: bool
    bf16_reduced_precision_reduction: bool  # cuBLAS bf16 matmuls may reduce in bf16 (torch default True)
    deterministic_algorithms: bool
    deterministic_warn_only: bool
    cudnn_deterministic: bool
    cudnn_benchmark: bool
    cublas_workspace_config: str | None
    cpu_kernels: str = ""  # the CPU kernels in use (core/cpu_isa.py); "" in records made before it was kept

    def as_dict(self) -> dict:
        return asdict(self)


def apply_numerics(numerics: Numerics) -> None:
    """Set TF32 and determinism in torch and this process's environment (an earlier CUBLAS_WORKSPACE_CONFIG
    that is itself deterministic is kept)."""
    torch.backends.cuda.matmul.allow_tf32 = numerics.tf32
    torch.backends.cudnn.allow_tf32 = numerics.tf32
    torch.use_deterministic_algorithms(numerics.deterministic)
    torch.backends.cudnn.deterministic = numerics.deterministic
    torch.backends.cudnn.benchmark = False  # autotuning picks kernels by timing: not reproducible, and
    # length-bucketed batches have many shapes, each tuned anew
    if numerics.deterministic and os.environ.get(CUBLAS_WORKSPACE_ENV) not in _DETERMINISTIC_WORKSPACES:
        if torch.cuda.is_initialized():
            log.warning("%s is set after CUDA started in this process (pid %d); cuBLAS may not be deterministic "
                        "here. Set %s=%s before starting Python to be sure.", CUBLAS_WORKSPACE_ENV, os.getpid(),
                        CUBLAS_WORKSPACE_ENV, DETERMINISTIC_CUBLAS_WORKSPACE)
        os.environ.update(numerics.env())


def numerics_state() -> NumericsState:
    return NumericsState(
        tf32_matmul=bool(torch.backends.cuda.matmul.allow_tf32),
        tf32_cudnn=bool(torch.backends.cudnn.allow_tf32),
        bf16_reduced_precision_reduction=bool(torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction),
        deterministic_algorithms=torch.are_deterministic_algorithms_enabled(),
        deterministic_warn_only=torch.is_deterministic_algorithms_warn_only_enabled(),
        cudnn_deterministic=bool(torch.backends.cudnn.deterministic),
        cudnn_benchmark=bool(torch.backends.cudnn.benchmark),
        cublas_workspace_config=os.environ.get(CUBLAS_WORKSPACE_ENV),
        cpu_kernels=capability(),
    )


def tf32_in_effect() -> bool:
    """Whether fp32 work in this process may run in TF32: convolutions or matmuls allowed it. A matmul peak
    that stands for this work is measured in this mode, so the work cannot beat its own ceiling."""
    return bool(torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32)


@contextmanager
def matmul_tf32(enabled: bool) -> Iterator[None]:
    """cuBLAS fp32 matmuls in TF32 (or not) for the body only; the previous mode is restored."""
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before
