"""DFKD audio benchmark harness."""
from .core.cpu_isa import pin as _pin_cpu_kernels
from .core.kernel_cache import enlarge as _enlarge_kernel_cache

_pin_cpu_kernels()  # before any tensor work: the same CPU kernels on every x86 host (benchmark/core/cpu_isa.py)
_enlarge_kernel_cache()  # before the first convolution: no kernel compiled twice (benchmark/core/kernel_cache.py)


def load_student(path, device="cpu"):
    """A checkpoint of `run --save-models` ready to classify audio: `benchmark.checkpoints.model_io.load_checkpoint`
    (imported here lazily: `models` imports this package)."""
    from .checkpoints.model_io import load_checkpoint

    return load_checkpoint(path, device)
