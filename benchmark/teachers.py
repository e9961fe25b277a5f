"""Teachers are trained once per (dataset, data/front-end config, architecture, seed,
training config) and cached on disk under a hash of exactly those, so every method of a
sweep (and every later sweep) reuses the same teacher."""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

import torch

from models import AudioClassifier, create_model

from .prepared import PreparedData
from .training import TrainConfig, train_supervised

log = logging.getLogger("benchmark.teachers")
TEACHER_CODE_VERSION = 1  # bump when model or training code changes what a teacher is


def teacher_key(data: PreparedData, data_config: dict, arch: str, seed: int, train: TrainConfig,
                embedding_dim: int) -> str:
    blob = json.dumps({"dataset": data.name, "data": data_config, "frontend": asdict(data.frontend), "arch": arch,
                       "seed": seed, "train": asdict(train), "embedding_dim": embedding_dim,
                       "version": TEACHER_CODE_VERSION}, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


class TeacherCache:
    def __init__(self, root: Path):
        self.root = Path(root)
        self._memory: dict[str, tuple[AudioClassifier, dict]] = {}

    def get(self, key: str, data: PreparedData, arch: str, seed: int, train: TrainConfig, embedding_dim: int,
            device: torch.device) -> tuple[AudioClassifier, dict]:
        if key in self._memory:
            model, info = self._memory[key]
            return model, {**info, "cached": True}
        path = self.root / f"{key}.pt"
        model = create_model(arch, data.num_classes, embedding_dim)
        if path.exists():
            blob = torch.load(path, map_location="cpu", weights_only=False)
            model.load_state_dict(blob["state_dict"])
            info = {**blob["info"], "cached": True}
            log.info("teacher cache hit: %s", path)
        else:
            torch.manual_seed(seed)
            model = create_model(arch, data.num_classes, embedding_dim)
            val_acc, stats = train_supervised(model, data.train, data.val, train, device, seed,
                                              label=f"teacher {arch}")
            info = {"val_accuracy": val_acc, "train": stats.as_dict(), "key": key, "cached": False}
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            torch.save({"state_dict": model.state_dict(), "info": info}, tmp)
            os.replace(tmp, path)
        model.to(device).eval().requires_grad_(False)
        self._memory[key] = (model, info)
        return model, info
