"""`run --teacher-checkpoint FILE`: one given teacher for every cell instead of teachers trained here.

The file is a model checkpoint (benchmark.checkpoints.model_io, weights only). Its content hash (SHA-256) goes into
every cell's config (so its config hash, and the setting reports group by) and every record, so results with and
without it, or with two different teachers, never mix. Before any work the run checks that the teacher fits
the sweep: its architecture is every pair's teacher, its front end is the preset's and its class count is each
dataset's (both values named when they differ). Each process loads the file once, checks its hash again (a file
replaced during the sweep is another teacher) and scores it on the data it teaches on (validation and test
accuracy, for the records and Table 2's Teacher column).
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..core.prepared import PreparedData
from ..core.training import accuracy
from ..data import DATASETS
from ..data.base import sweep_data_config
from .model_io import ModelCheckpoint, file_sha256, read_checkpoint, weights_sha256

log = logging.getLogger(__name__)


class TeacherMismatch(ValueError):
    """A teacher checkpoint that does not fit the sweep (architecture, front end or classes)."""


@dataclass(frozen=True)
class TeacherCheckpoint:
    """What a sweep needs to know of a given teacher (small and picklable: it travels to workers)."""

    path: str
    sha256: str
    arch: str
    class_names: tuple[str, ...]
    frontend: tuple[tuple[str, object], ...]  # FrontEndConfig fields, sorted
    embedding_dim: int

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def short_hash(self) -> str:
        return self.sha256[:12]


def open_teacher_checkpoint(path: Path) -> TeacherCheckpoint:
    """Read and check the file (InvalidCheckpoint naming the path if it is not a valid checkpoint)."""
    checkpoint = read_checkpoint(Path(path))
    return TeacherCheckpoint(str(Path(path).resolve()), file_sha256(path), checkpoint.arch,
                             tuple(checkpoint.class_names), tuple(sorted(asdict(checkpoint.frontend).items())),
                             checkpoint.embedding_dim)


def teacher_pairs(ref: TeacherCheckpoint, pairs: tuple[tuple[str, str], ...], given: bool) -> tuple[tuple[str, str], ...]:
    """The pairs a sweep with this teacher runs: `--pairs` as given, each with the checkpoint's architecture as
    its teacher; without --pairs the preset's pairs whose teacher it is."""
    if given:
        wrong = [f"{t}:{s}" for t, s in pairs if t != ref.arch]
        if wrong:
            raise TeacherMismatch(f"--teacher-checkpoint {ref.path} holds a {ref.arch} teacher but --pairs names "
                                  f"teacher(s) {', '.join(wrong)}; use --pairs {ref.arch}:STUDENT")
        return pairs
    kept = tuple((t, s) for t, s in pairs if t == ref.arch)
    if not kept:
        raise TeacherMismatch(f"--teacher-checkpoint {ref.path} holds a {ref.arch} teacher but the preset's pairs "
                              f"({', '.join(f'{t}:{s}' for t, s in pairs)}) have other teachers; give "
                              f"--pairs {ref.arch}:STUDENT")
    return kept


def check_teacher_fits(ref: TeacherCheckpoint, spec) -> None:
    """Front end and class count of every dataset of the sweep against the checkpoint's, before any work
    (a dataset's classes come from its listing; nothing is featurised or trained)."""

    ours = dict(ref.frontend)
    wanted = asdict(spec.preset.frontend)
    differing = [f"{k} {ours.get(k)!r} vs {v!r}" for k, v in wanted.items() if ours.get(k) != v]
    if differing:
        raise TeacherMismatch(f"--teacher-checkpoint {ref.path}: its front end differs from the preset's "
                              f"{spec.preset.name!r} (checkpoint vs preset: {'; '.join(differing)}); run with the "
                              f"preset it was made with or --set frontend.FIELD=VALUE to match it")
    if ref.embedding_dim != spec.preset.embedding_dim:
        log.info("teacher checkpoint embedding_dim %d, the preset's students %d", ref.embedding_dim,
                 spec.preset.embedding_dim)
    for name in spec.datasets:
        classes = DATASETS.get(name)(sweep_data_config(spec.preset.data, spec.preset.frontend.sample_rate,
                                                       spec.data_root)).class_names
        if len(classes) != ref.num_classes:
            raise TeacherMismatch(f"--teacher-checkpoint {ref.path} has {ref.num_classes} classes but dataset "
                                  f"{name!r} has {len(classes)}: a teacher classifies the dataset's own classes")
        if list(classes) != list(ref.class_names):
            log.warning("teacher checkpoint class names %s differ from dataset %s's %s; class i of the teacher is "
                        "taken as class i of the data", list(ref.class_names)[:5], name, list(classes)[:5])


_LOADED: dict[tuple[str, str | None, str], tuple[torch.nn.Module, dict]] = {}


def load_given_teacher(ref: TeacherCheckpoint, data: PreparedData, device: torch.device) -> tuple[torch.nn.Module, dict]:
    """The checkpoint's teacher, frozen on `device`, with its accuracy on this data (once per process)."""
    key = (ref.sha256, data.features_key, str(device))
    if key not in _LOADED:
        now = file_sha256(ref.path)
        if now != ref.sha256:
            raise TeacherMismatch(f"--teacher-checkpoint {ref.path} changed during the sweep (SHA-256 {now[:12]}, "
                                  f"was {ref.short_hash}); rerun with the file you mean")
        checkpoint: ModelCheckpoint = read_checkpoint(Path(ref.path))
        model = checkpoint.build_model().to(device).requires_grad_(False)
        info = {"val_accuracy": accuracy(model, data.val, device), "test_accuracy": accuracy(model, data.test, device),
                "train": {"seconds": 0.0, "samples": 0, "steps": 0}, "key": f"checkpoint:{ref.short_hash}",
                "checkpoint": ref.sha256, "weights_sha256": weights_sha256(model), "cached": True}
        model.eval()
        _LOADED[key] = (model, info)
        log.info("teacher from %s (sha256 %s): val %.1f%%, test %.1f%%", ref.path, ref.short_hash,
                 info["val_accuracy"], info["test_accuracy"])
    model, info = _LOADED[key]
    return model, dict(info)
