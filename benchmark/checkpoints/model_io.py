"""Model checkpoints a user can pass around: a trained teacher or distilled student with everything needed to
classify audio with it, in a file that cannot run code when loaded.

A checkpoint is a `torch.save` of a dict holding only tensors and plain values (str, int, float, list, dict), read
back with `torch.load(weights_only=True)`: a file carrying any other object (whose unpickling could run code) is
refused, naming the file, and nothing in it runs. Layout (FORMAT, version FORMAT_VERSION):

    format, format_version, arch, num_classes, class_names, embedding_dim,
    frontend (FrontEndConfig fields), normaliser {mean, std} (per-mel-bin tensors of the training split),
    state_dict, val_accuracy, test_accuracy (%, on the data it was made with), identity (dataset, pair, method,
    seed, preset, config_hash, data_key, teacher_checkpoint)

`load_checkpoint(path)` (also `benchmark.load_student`) gives the model in eval mode with its front end, normaliser
and class names; `LoadedModel.classify(wave, sample_rate)` turns raw audio into class probabilities.
"""
from __future__ import annotations

import hashlib
import math
import os
import pickle
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models import MODELS, AudioClassifier, create_model

from ..core.features import FrontEndConfig, LogMel, Normaliser
from ..store.disk import remove_quietly, temp_path

FORMAT = "dfkd-audio-bench/model"
FORMAT_VERSION = 1


class InvalidCheckpoint(ValueError):
    """A file that is not a model checkpoint of this format; the message names the file and why."""


@dataclass
class ModelCheckpoint:
    """What a checkpoint file holds, typed."""

    arch: str
    class_names: list[str]
    embedding_dim: int
    frontend: FrontEndConfig
    normaliser: Normaliser
    state_dict: dict[str, torch.Tensor]
    val_accuracy: float | None = None
    test_accuracy: float | None = None
    identity: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to_blob(self) -> dict[str, Any]:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "arch": self.arch,
                "num_classes": self.num_classes, "class_names": list(self.class_names),
                "embedding_dim": self.embedding_dim, "frontend": asdict(self.frontend),
                "normaliser": {"mean": self.normaliser.mean.detach().cpu(), "std": self.normaliser.std.detach().cpu()},
                "state_dict": {k: v.detach().cpu().contiguous() for k, v in self.state_dict.items()},
                "val_accuracy": self.val_accuracy, "test_accuracy": self.test_accuracy,
                "identity": dict(self.identity)}

    def build_model(self) -> AudioClassifier:
        model = create_model(self.arch, self.num_classes, self.embedding_dim)
        model.load_state_dict(self.state_dict)
        return model.eval()


def save_checkpoint(path: Path, checkpoint: ModelCheckpoint) -> None:
    """Write the whole file or nothing (a temp file named by pid and host, then an atomic rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        torch.save(checkpoint.to_blob(), tmp)
        os.replace(tmp, path)
    finally:
        remove_quietly(tmp)


def file_sha256(path: Path) -> str:
    """The content hash of a file (what identifies a teacher checkpoint in records and config hashes)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def weights_sha256(model: torch.nn.Module) -> str:
    """The content hash of a model's weights and buffers: every state-dict entry's name, dtype, shape and bytes, in
    name order. Two models that compute the same function from the same numbers hash alike wherever they were
    trained or loaded (a file's hash would also change with its format), so records name their teacher by it."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        flat = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name}|{flat.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def read_checkpoint(path: Path) -> ModelCheckpoint:
    """The checkpoint in `path`, checked field by field; InvalidCheckpoint naming the path otherwise."""
    path = Path(path)
    if not path.is_file():
        raise InvalidCheckpoint(f"{path}: no such checkpoint file")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        lines = [line.strip() for line in str(exc).splitlines()]
        objects = [line for line in lines if any(w in line.lower() for w in ("global", "reduce", "unsupported class"))]
        if not objects:  # not a pickle of objects at all (torch reads garbage as an unsupported opcode)
            raise InvalidCheckpoint(f"{path} is not a valid model checkpoint: torch cannot read it "
                                    f"({next((x for x in lines if x), type(exc).__name__)[:200]})") from None
        # an object beyond tensors and plain values: never unpickled; name it (torch's whole message also says how
        # to load the file unsafely, which is not advice to repeat for a file anyone may have written)
        raise InvalidCheckpoint(f"{path} is not a valid model checkpoint: it holds objects beyond tensors and plain "
                                f"values, so it was refused without unpickling ({objects[0][:200]})") from None
    except Exception as exc:  # not a torch file, truncated, ...
        raise InvalidCheckpoint(f"{path} is not a valid model checkpoint: torch cannot read it "
                                f"({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''})") from None
    return _from_blob(path, blob)


def _from_blob(path: Path, blob: Any) -> ModelCheckpoint:
    def bad(why: str) -> InvalidCheckpoint:
        return InvalidCheckpoint(f"{path} is not a valid model checkpoint: {why} (write one with "
                                 "`python -m benchmark run --save-models DIR`)")

    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise bad(f"expected a dict with format {FORMAT!r}, found "
                  + (f"format {blob.get('format')!r}" if isinstance(blob, dict) else type(blob).__name__))
    if blob.get("format_version") != FORMAT_VERSION:
        raise bad(f"format_version {blob.get('format_version')!r}, this code reads {FORMAT_VERSION}")
    arch, names, dim = blob.get("arch"), blob.get("class_names"), blob.get("embedding_dim")
    if arch not in MODELS.names():
        raise bad(f"architecture {arch!r} is not a registered model ({', '.join(MODELS.names())})")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise bad("class_names must be a non-empty list of strings")
    if blob.get("num_classes") != len(names):
        raise bad(f"num_classes {blob.get('num_classes')!r} differs from its {len(names)} class names")
    if not isinstance(dim, int) or dim < 1:
        raise bad(f"embedding_dim must be a positive integer, got {dim!r}")
    try:
        frontend = FrontEndConfig(**blob["frontend"])
        norm = blob["normaliser"]
        normaliser = Normaliser(norm["mean"], norm["std"])
    except (KeyError, TypeError) as exc:
        raise bad(f"frontend/normaliser unreadable ({exc})") from None
    if not all(isinstance(t, torch.Tensor) and t.shape == (frontend.n_mels, 1) for t in (normaliser.mean, normaliser.std)):
        raise bad(f"normaliser mean and std must be tensors of shape ({frontend.n_mels}, 1)")
    state = blob.get("state_dict")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise bad("state_dict must map names to tensors")
    accuracies = {k: blob.get(k) for k in ("val_accuracy", "test_accuracy")}
    for name, value in accuracies.items():
        if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and 0 <= value <= 100):
            raise bad(f"{name} {value!r} is not a percentage")
    checkpoint = ModelCheckpoint(arch, names, dim, frontend, normaliser, state, **accuracies,
                                 identity=dict(blob.get("identity") or {}))
    try:
        checkpoint.build_model()
    except RuntimeError as exc:  # weights of another shape or layout than the named architecture
        raise bad(f"its weights do not fit {arch} with {len(names)} classes ({str(exc).splitlines()[0][:200]})") from None
    return checkpoint


@dataclass
class LoadedModel:
    """A checkpoint made ready to classify: the model in eval mode and what turns audio into its input."""

    model: AudioClassifier
    frontend: FrontEndConfig
    normaliser: Normaliser
    class_names: list[str]
    checkpoint: ModelCheckpoint

    def features(self, wave: np.ndarray | torch.Tensor, sample_rate: int) -> torch.Tensor:
        """Mono audio (samples,) at `sample_rate` -> the normalised log-mel (1, 1, n_mels, T) the model reads."""
        wave = torch.as_tensor(np.asarray(wave, dtype=np.float32))
        if wave.ndim != 1:
            raise ValueError(f"classify takes mono audio of shape (samples,), got shape {tuple(wave.shape)}; "
                             "average the channels first")
        if sample_rate != self.frontend.sample_rate:
            import torchaudio.functional as AF
            wave = AF.resample(wave, sample_rate, self.frontend.sample_rate)
        if wave.shape[0] < self.frontend.window_samples:
            raise ValueError(f"a clip of {wave.shape[0]} samples is shorter than one analysis window "
                             f"({self.frontend.window_samples} samples at {self.frontend.sample_rate} Hz)")
        with torch.no_grad():
            logmel = LogMel(self.frontend)(wave)
        return self.normaliser(logmel)[None, None]

    @torch.no_grad()
    def classify(self, wave: np.ndarray | torch.Tensor, sample_rate: int) -> dict[str, float]:
        """Class name -> probability for one clip of mono audio."""
        device = next(self.model.parameters()).device
        probs = self.model(self.features(wave, sample_rate).to(device)).softmax(-1)[0].cpu()
        return {name: float(p) for name, p in zip(self.class_names, probs)}


def load_checkpoint(path: Path | str, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a checkpoint written by `run --save-models` (weights only: nothing in the file can run):
    the model in eval mode on `device`, its front end, normaliser and class names."""
    checkpoint = read_checkpoint(Path(path))
    model = checkpoint.build_model().to(device).requires_grad_(False)
    return LoadedModel(model, checkpoint.frontend, checkpoint.normaliser, checkpoint.class_names, checkpoint)

