"""Importing `benchmark` gives oneDNN room for every kernel a sweep process compiles (benchmark/core/kernel_cache.py),
so a process that runs convolutions of more shapes than oneDNN's default cache holds (1024 kernels) compiles each
only once. Counted by oneDNN itself (ONEDNN_VERBOSE=2 prints a line per kernel it compiles), in fresh processes,
because the library reads the size once, at its first convolution."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.core.kernel_cache import CAPACITY, CAPACITY_VARIABLE

ROOT = Path(__file__).resolve().parents[1]
SHAPES = 1100  # more than the default cache's 1024 kernels, and far fewer than CAPACITY
PROBE = """
import sys
sys.path.insert(0, {root!r})
import benchmark, torch
torch.set_num_threads(1)
conv = torch.nn.Conv2d(2, 2, 3, padding=1)
with torch.no_grad():
    for _ in range({passes}):
        for width in range(8, 8 + {shapes}):  # one forward kernel a width
            conv(torch.zeros(2, 2, 4, width))
"""


def without_a_given_size() -> dict[str, str]:
    """This environment without the cache size, so a child process gets whatever importing benchmark sets."""
    return {k: v for k, v in os.environ.items() if k != CAPACITY_VARIABLE}


def kernels_compiled(passes: int, **env: str) -> int:
    code = PROBE.format(root=str(ROOT), passes=passes, shapes=SHAPES)
    environment = without_a_given_size() | {"ONEDNN_VERBOSE": "2"} | env
    out = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True)
    return sum("create:cache_miss" in line for line in out.stdout.splitlines())


@pytest.fixture(scope="module")
def one_pass() -> int:
    compiled = kernels_compiled(passes=1)
    if compiled < SHAPES:
        pytest.skip(f"this torch build ran {SHAPES} convolution shapes without oneDNN compiling a kernel for each "
                    f"({compiled} counted)")
    return compiled


def test_importing_benchmark_sets_the_cache_size_and_keeps_a_given_one():
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); import benchmark, os; print(os.environ[{CAPACITY_VARIABLE!r}])"
    environment = without_a_given_size()
    assert subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True,
                          check=True).stdout.split() == [str(CAPACITY)]
    kept = subprocess.run([sys.executable, "-c", code], env=environment | {CAPACITY_VARIABLE: "2048"},
                          capture_output=True, text=True, check=True).stdout.split()
    assert kept == ["2048"]


def test_a_second_pass_over_more_shapes_than_the_default_cache_compiles_nothing(one_pass):
    assert kernels_compiled(passes=2) == one_pass


def test_at_the_default_size_the_second_pass_compiles_every_kernel_again(one_pass):
    """The control: what the harness's setting prevents (the least recently used kernel is always the next one
    needed, so a cache smaller than the shapes keeps none of them)."""
    assert kernels_compiled(passes=2, **{CAPACITY_VARIABLE: "1024"}) >= one_pass + SHAPES
