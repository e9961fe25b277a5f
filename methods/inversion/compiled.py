"""torch.compile of a data-free cell's model passes and KD loss (DataFreeConfig.compile), the same math in fewer
kernels.

What is compiled: every model pass a synthesis step makes (each goes through StepMemory.run: the teacher pass with
its BatchNorm-statistics taps and prior, the student pass, FRAMI's chunk pass, the generator methods' teacher pass)
and the KD step's loss (the distiller's forward: teacher and student passes and the loss terms). Their backward
comes with them (AOTAutograd). The optimiser steps, the views and the loss terms formed outside a pass stay eager:
they are a few small kernels on one tensor (Adam on the inputs) or cheap glue.

Why these seams: a pass is a pure function of its inputs (its hooks' statistics are outputs, so StepMemory can
split a step's backward at it), every method's synthesis makes its passes through the one function, and the
passes are where a step's FLOPs and bytes are. In eager mode every BatchNorm, ReLU and statistics tap reads and
writes the whole activation again; compiled, inductor can fuse the tap's reductions and the elementwise ops
around each convolution into fewer passes over memory (the roofline's byte count in benchmark/planning/memory.py is the eager one, so a
compiled step can pass 100% of it).

Rules the harness keeps:
- `fullgraph=True`: a pass that cannot be traced whole is an error naming it, never a silent mix of graph pieces.
- Shapes: a pass is compiled for the shape it first sees; a pass that sees a second shape is compiled once more
  with that dimension symbolic (torch's automatic dynamic shapes), which then serves every later shape. Most passes
  keep one shape for a whole cell; CMI's and FRAMI's local view is a random crop of 25-100% of the time axis, a new
  length at every step, which with shapes held fixed would compile at every step and pass the recompile limit
  within a round (measured: the cpu preset's CMI step did so during its warm-up).
- A recompile-limit hit raises (`fail_on_recompile_limit_hit`) instead of running the rest of the sweep in eager
  mode unnoticed; each cell starts from a clear cache (`fresh_cache`), so a sweep of many cells in one process
  does not pile guards onto the same code objects.
- Block checkpointing (models/checkpointing.py) is off inside compiled passes: its recomputation runs Python hooks
  in backward, which a compiled graph does not; AOTAutograd's partitioner chooses what a compiled pass saves, and
  "passes" still bounds a step to one pass's activations at a time.
- The CPU presets stay eager, as measured (tests/measurements/measure_compiled_synthesis.py; results/README.md,
  "Compiled steps on the CPU": 1.2-1.4x faster steps, but a cpu-preset cell has too few of them to repay its
  compiling); the `gpu` preset compiles; `paper` keeps the reference's eager steps unless asked.
"""
from __future__ import annotations

import contextlib
from typing import Callable

import torch

# "aot_eager" traces as "inductor" does (dynamo and AOTAutograd, whole graphs) but runs eager kernels: for finding
# out in seconds whether a new method's passes trace, before paying for code generation.
COMPILE_MODES = ("off", "inductor", "aot_eager")


def check_mode(mode: str) -> str:
    if mode not in COMPILE_MODES:
        raise ValueError(f"compile {mode!r} is not a mode; valid: {', '.join(COMPILE_MODES)}")
    return mode


def compiling(mode: str) -> bool:
    return check_mode(mode) != "off"


def fresh_cache() -> None:
    """Start a cell with no compiled graphs left from earlier cells of this process, and make a recompile-limit
    hit an error (torch's default is to run on in eager mode with a warning)."""
    torch._dynamo.reset()
    torch._dynamo.config.fail_on_recompile_limit_hit = True


def compile_function(fn: Callable, mode: str) -> Callable:
    """`fn` compiled as whole graphs (static shapes first, a symbolic one at a second shape), or `fn` itself when
    `mode` is "off"."""
    if not compiling(mode):
        return fn
    return torch.compile(fn, backend=mode, fullgraph=True, dynamic=None)


class CompiledPasses:
    """The compiled version of each pass function a synthesizer hands to StepMemory.run, made once and reused
    (a bound method is a new object at every attribute access, so passes are keyed by owner and function)."""

    def __init__(self, mode: str):
        self.mode = check_mode(mode)
        self._compiled: dict[tuple[int, object], tuple[object, Callable]] = {}

    def __call__(self, fn: Callable) -> Callable:
        if self.mode == "off":
            return fn
        owner, function = getattr(fn, "__self__", None), getattr(fn, "__func__", fn)
        key = (id(owner), function)
        entry = self._compiled.get(key)
        if entry is None:  # the owner is kept with its graph, so its id cannot be reused by another object
            entry = (owner, compile_function(fn, self.mode))
            self._compiled[key] = entry
        return entry[1]


@contextlib.contextmanager
def tuned_convolutions(mode: str, device: torch.device, deterministic: bool):
    """cuDNN autotuning for a compiled cell's steps on CUDA (each shape tuned once, then reused), unless
    the run asked for deterministic algorithms; restored after. Yields whether it is on (the record says so)."""
    on = compiling(mode) and device.type == "cuda" and not deterministic
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = on or before
    try:
        yield on
    finally:
        torch.backends.cudnn.benchmark = before
