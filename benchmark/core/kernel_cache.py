"""Room in oneDNN's kernel cache for every convolution a sweep process runs, so that one kind of step does not
evict the compiled kernels of another and then pay to compile them again.

On a CPU, torch runs convolutions through oneDNN, which compiles (JIT) a kernel, a "primitive", for each layer,
input shape and pass (forward, backward to the input, backward to the weights), and keeps the last
ONEDNN_PRIMITIVE_CACHE_CAPACITY of them, 1024 by default, evicting the least recently used. A cpu-preset cell's
length-bucketed batches come in 18 padded lengths, and CMI's and FRAMI's synthesis crops the time axis to any of
dozens of lengths, so one process needs thousands. Counted with ONEDNN_VERBOSE=2 on the cpu preset's synth set
(WRN-40-2 -> WRN-16-2 tiny): at the default size, an epoch of KD's steps compiled 652 kernels again, and the
student's epoch after an epoch of the teacher's compiled 663 again; at 16384, none. What that costs is timing, not
results: a calibration visits every kind of step in turn, and at the default size priced the student's step at
41.7 and 41.1 ms against 34.9 and 33.3 at 16384 (two calibrations each, alternated), where its cells recorded
32-37 ms; a student's epoch right after the teacher's took 42-45 ms a step against 30-34 for its next epochs
(tests/measurements/measure_kernel_cache.py). A cell that runs one kind of step for minutes barely notices: the
same KD, ADI, FRAMI, kd-noise and student cells took 194 and 199 s at the default size and 204 and 200 s at
16384, alternated, with the same accuracies.

A cached kernel is the one oneDNN would compile again for that shape, so the floats do not change; only the
compiling is saved. The variable is read when oneDNN builds its cache, at the first convolution, so `enlarge()`
runs when the `benchmark` package is imported (benchmark/__init__.py), as the kernel pin does (cpu_isa.py). A
value already in the environment is kept.
"""
from __future__ import annotations

import os

CAPACITY_VARIABLE = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"
CAPACITY = 16384  # kernels; the default is 1024


def enlarge() -> None:
    """Let oneDNN keep CAPACITY compiled kernels, unless the environment already sets how many."""
    os.environ.setdefault(CAPACITY_VARIABLE, str(CAPACITY))
