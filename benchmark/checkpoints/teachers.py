"""Teachers are trained once per (dataset content, data/front-end config, architecture, seed,
training config) and cached on disk under a hash of exactly those, so every method of a
sweep (and every later sweep) reuses the same teacher. The dataset content is the feature
cache's key (PreparedData.features_key): other audio under the same names is another teacher.

A cached teacher is loaded with torch.load(weights_only=True): tensors and plain values only, so
a file that carries any other object (whose unpickling could run code: the cache may sit on
shared storage that others can write) is refused, named in a warning, deleted and retrained,
and nothing in it runs. A cached teacher that does not load is logged as corrupt, deleted and
retrained; a trained teacher that cannot be saved (full or read-only disk) is kept for this
process with a warning naming the path and the fix, never lost.

On shared storage (several processes or hosts, one cache): a per-key lock (KEY.lock, benchmark.store.disk)
is held while a teacher is looked up, trained and saved, so a second process asking for the same key waits
and loads the first's teacher instead of training another; temp files carry pid and host. A sweep's cells
load teachers only (`loading_only`): the sweep's teacher phase trained them, and a cell that finds none
fails naming the cache, never trains its own (on another GPU or node it would be another teacher)."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
from dataclasses import asdict
from pathlib import Path

import torch

from models import AudioClassifier, create_model

from ..core.prepared import PreparedData
from ..core.training import TrainConfig, accuracy, train_supervised
from ..store.disk import CACHE_ENV, cache_write_error, discard_corrupt, key_lock, remove_quietly, temp_path
from .model_io import weights_sha256

log = logging.getLogger(__name__)
TEACHER_CODE_VERSION = 1  # bump when model or training code changes what a teacher is


def teacher_key(data: PreparedData, data_config: dict, arch: str, seed: int, train: TrainConfig,
                embedding_dim: int, kernels: str) -> str:
    """Everything that sets a teacher's floats: data, front end, architecture, seed, training config and the
    kernels it trains with (core.cpu_isa.kernels: CPU kernels and threads), so a cache never hands a cell a
    teacher trained under other settings than this run's."""
    blob = json.dumps({"dataset": data.name, "data": data_config, "frontend": asdict(data.frontend), "arch": arch,
                       "seed": seed, "train": asdict(train), "embedding_dim": embedding_dim,
                       "features": data.features_key, "kernels": kernels, "version": TEACHER_CODE_VERSION},
                      sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


class TeacherNotCached(RuntimeError):
    """A cell asked for a teacher that its sweep's teacher phase should have put in the cache."""


class TeacherCache:
    def __init__(self, root: Path, train_missing: bool = True):
        self.root = Path(root)
        self.train_missing = train_missing  # False: a missing teacher is an error, never trained here
        self._memory: dict[str, tuple[AudioClassifier, dict]] = {}

    def loading_only(self) -> TeacherCache:
        """This cache (same memory), but one that never trains: what a sweep's cells use."""
        view = TeacherCache(self.root, train_missing=False)
        view._memory = self._memory
        return view

    def get(self, key: str, data: PreparedData, arch: str, seed: int, train: TrainConfig, embedding_dim: int,
            device: torch.device) -> tuple[AudioClassifier, dict]:
        if key in self._memory:
            model, info = self._memory[key]
            return model, {**info, "cached": True}
        path = self.root / f"{key}.pt"
        # one process per key looks up, trains and saves; the others wait here, then load its teacher
        with key_lock(self.root / f"{key}.lock", f"teacher {key} ({data.name} {arch} seed={seed})", log):
            loaded = self._load(path, arch, data.num_classes, embedding_dim) if path.exists() else None
            if loaded is not None:
                model, info = loaded
            elif not self.train_missing:
                raise TeacherNotCached(
                    f"no cached teacher {key} ({data.name} {arch} seed={seed}) at {path}: a sweep's cells load the "
                    f"teacher its teacher phase trained and never train their own (on another GPU or node it "
                    f"would be another teacher). Point {CACHE_ENV} at a folder every worker shares and can write "
                    f"(teachers now at {self.root}), then rerun the same command: its teacher phase trains it")
            else:
                torch.manual_seed(seed)
                model = create_model(arch, data.num_classes, embedding_dim)
                val_acc, stats, _ = train_supervised(model, data.train, data.val, train, device, seed,
                                                  label=f"teacher {arch}")
                # the test split is scored once, for reports only (Table 2's Teacher column beside data-free rows)
                info = {"val_accuracy": val_acc, "test_accuracy": accuracy(model, data.test, device),
                        "train": stats.as_dict(), "key": key, "cached": False}
                self._save(path, model, info)
        model.to(device).eval().requires_grad_(False)
        if info.get("test_accuracy") is None:  # an entry cached before teachers carried it
            info = {**info, "test_accuracy": accuracy(model, data.test, device)}
        info = {**info, "weights_sha256": weights_sha256(model)}  # what records name the teacher by
        self._memory[key] = (model, info)
        return model, info

    @staticmethod
    def _load(path: Path, arch: str, num_classes: int, embedding_dim: int) -> tuple[AudioClassifier, dict] | None:
        """The cached teacher, or None (after deleting the file) where it does not load: it is retrained."""
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:  # an object beyond tensors and plain values: never unpickled
            log.warning("refused teacher cache entry %s: it holds objects beyond tensors and plain values, so it "
                        "was not unpickled (%s); deleting it and retraining the teacher", path, _unpickler_reason(exc))
            remove_quietly(path)
            return None
        except Exception as exc:  # truncated or half-written file (torch raises RuntimeError, EOFError, ...)
            discard_corrupt([path], exc, log)
            return None
        try:
            if not isinstance(blob, dict) or not isinstance(blob.get("info"), dict):
                raise ValueError(f"expected a dict with 'state_dict' and 'info', found {type(blob).__name__}")
            model = create_model(arch, num_classes, embedding_dim)
            model.load_state_dict(blob["state_dict"])
            info = {**blob["info"], "cached": True}
        except Exception as exc:  # a file of another layout or architecture
            discard_corrupt([path], exc, log)
            return None
        log.info("teacher cache hit: %s", path)
        return model, info

    def _save(self, path: Path, model: AudioClassifier, info: dict) -> None:
        """Store a trained teacher; where that fails it stays in memory for this process (warned), not lost."""
        tmp = temp_path(path)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            torch.save({"state_dict": model.state_dict(), "info": info}, tmp)
            os.replace(tmp, path)
        except (OSError, RuntimeError) as exc:  # a full disk surfaces as PytorchStreamWriter's RuntimeError
            log.warning("%s The trained teacher is kept in memory for this process only; later runs retrain it.",
                        cache_write_error(path, exc, "teacher cache"))
        finally:
            remove_quietly(tmp)


def _unpickler_reason(exc: BaseException) -> str:
    """The line of torch's weights-only refusal that names the object (torch's full message also explains how
    to load the file unsafely, which is not advice to repeat for a cache anyone may have written)."""
    lines = [line.strip() for line in str(exc).splitlines()
             if "Unsupported" in line or "WeightsUnpickler" in line or "unsupported GLOBAL" in line]
    return (lines[0].split(". ")[0] if lines else type(exc).__name__)[:200]
