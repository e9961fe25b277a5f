"""One set of CPU kernels on every x86 host, so that a seed trains the same floats wherever it runs.

torch picks its CPU kernels by the widest vector instruction set the CPU has: ATen's vectorised operators
(ATEN_CPU_CAPABILITY) and oneDNN's convolutions (ONEDNN_MAX_CPU_ISA) run AVX-512 code where the CPU has it and
AVX2 code where it does not, and the two round differently. Two cloud hosts that both call themselves "AMD EPYC"
(Zen 4 with AVX-512, Zen 2/3 without) then train different teachers from one seed: the long-clip study's seed-5
teacher reached val 65.8 on one and 76.7 on the next. With both capped at AVX2, an AVX-512 host trains the AVX2
host's teachers bit for bit (measured: that study's seeds 3, 4, 5 at val 80.0, 73.3, 65.8, as first recorded).
MKL's own switch (MKL_ENABLE_INSTRUCTIONS) changed nothing measured here, so it is left alone.

Both libraries read their variable once, at their first kernel, so `pin()` runs when the `benchmark` package is
imported (benchmark/__init__.py), before any tensor work; `--jobs` workers inherit the environment, and Ray
workers import the package before a job runs. A value already in the environment is kept;
DFKD_NATIVE_CPU_ISA=1 keeps each CPU's widest kernels (a few percent faster; floats then depend on the host).
"""
from __future__ import annotations

import os
import platform

PORTABLE = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
NATIVE_ENV = "DFKD_NATIVE_CPU_ISA"


def pin() -> None:
    """Cap torch's CPU kernels at AVX2 where the CPU has AVX2 (never above what it has; not on other
    architectures, and not with DFKD_NATIVE_CPU_ISA=1)."""
    if os.environ.get(NATIVE_ENV) == "1" or platform.machine().lower() not in ("x86_64", "amd64"):
        return
    try:
        import torch

        if not torch.cpu._is_avx2_supported():  # cpuinfo's answer; does not fix ATen's choice yet
            return
    except (ImportError, AttributeError):  # a torch without the query: leave torch's own choice
        return
    for name, value in PORTABLE.items():
        os.environ.setdefault(name, value)


def capability() -> str:
    """The CPU kernels this process computes with, e.g. 'AVX2, oneDNN <= AVX2' (recorded with every result)."""
    import torch

    return f"{torch.backends.cpu.get_cpu_capability()}, oneDNN <= {os.environ.get('ONEDNN_MAX_CPU_ISA', 'native')}"


def kernels(device_type: str) -> str:
    """What besides the seed sets a model's floats on this device: on a CPU the kernels and the thread count (a
    reduction splits by threads), on a GPU the device kind. Keys the teacher cache, so a teacher trained under
    other kernels is never handed to a cell that asked for this run's."""
    if device_type != "cpu":
        return device_type
    import torch

    return f"cpu {capability()} x{torch.get_num_threads()} threads"
