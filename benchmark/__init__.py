"""DFKD audio benchmark harness."""


def load_student(path, device="cpu"):
    """A checkpoint of `run --save-models` ready to classify audio: `benchmark.checkpoints.model_io.load_checkpoint`
    (imported here lazily: `models` imports this package)."""
    from .checkpoints.model_io import load_checkpoint

    return load_checkpoint(path, device)
