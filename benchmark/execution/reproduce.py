"""Rerun one stored record from its own config and say whether the result is the same.

The record names its preset, its command-line changes and the data config it ran with; they are rebuilt from
today's code and the config hash must come out as the record's (otherwise today's code would run another cell,
and that is said instead of a misleading 'differs'). By default everything is rebuilt in a fresh cache folder
(embedded audio, features, the teacher), so a teacher that does not reproduce shows up as a different teacher;
`shared` reuses the cache the sweeps use. The rerun's record goes to OUT/reproduce/runs.jsonl, never into the
results it checks."""
from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Iterator

from methods import METHODS

from ..checkpoints.teacher_source import open_teacher_checkpoint
from ..config.cells import Cell, cell_config, config_hash
from ..config.customize import customized
from ..config.presets import PRESETS
from ..data.base import DataConfig
from ..store.disk import CACHE_ENV
from ..store.record_schema import RunRecord
from ..store.records import RunStore
from .grid import SweepSpec
from .jobs import Runtime, TeacherJob, run_cell_job, run_teacher_job

CACHES = ("fresh", "shared")


class CannotReproduce(ValueError):
    """The record cannot be rerun as it was made; the message says why and what to do."""


def parse_cell(text: str) -> tuple[str, str, str, int]:
    """DATASET/TEACHER:STUDENT/METHOD/SEED (a folder:PATH dataset may hold slashes: split from the right)."""
    parts = text.rsplit("/", 3)
    if len(parts) != 4 or ":" not in parts[1] or not parts[3].isdigit():
        raise ValueError(f"--cell takes DATASET/TEACHER:STUDENT/METHOD/SEED (e.g. synth/wrn16_2_tiny:wrn10_2_tiny/"
                         f"adi/0), got {text!r}")
    return parts[0], parts[1], parts[2], int(parts[3])


def find_record(store: RunStore, cell_text: str, config_hash_prefix: str | None = None) -> RunRecord:
    """The latest record of the cell; where the folder holds the cell under several configs, the one whose hash
    starts with `config_hash_prefix` (an error lists the choices when none is given)."""
    dataset, pair, method, seed = parse_cell(cell_text)
    matches = [r for r in store.latest_by_cell().values()
               if (r.dataset, r.pair, r.method, r.seed) == (dataset, pair, method, seed)
               and (config_hash_prefix is None or r.config_hash.startswith(config_hash_prefix))]
    if not matches:
        held = sorted({f"{r.dataset}/{r.pair}/{r.method}/{r.seed}" for r in store.latest_by_cell().values()})
        raise CannotReproduce(f"{store.path} holds no record of {cell_text}"
                              + (f" with a config hash starting {config_hash_prefix!r}" if config_hash_prefix else "")
                              + f"; it holds {len(held)} cells, e.g. {', '.join(held[:4]) or 'none'}")
    if len(matches) > 1:
        choices = ", ".join(f"{r.config_hash} ({r.preset}, {r.started_at})" for r in matches)
        raise CannotReproduce(f"{cell_text} has {len(matches)} records under different configs: {choices}; pick one "
                              "with --config-hash")
    return matches[0]


def data_config_of(record: RunRecord, preset_data: DataConfig) -> DataConfig:
    """The data config the record ran with (its stored, hashed form over the preset's), as a DataConfig."""
    names = {f.name for f in fields(DataConfig)}
    stored = {k: tuple(v) if isinstance(v, list) else v for k, v in record.config.get("data", {}).items()
              if k in names and k != "data_root"}
    return replace(preset_data, **stored)


def spec_of(record: RunRecord, data_root: Path | None, teacher_checkpoint: Path | None) -> SweepSpec:
    """The one-cell sweep that made the record, rebuilt from today's presets; CannotReproduce where its config
    hash does not come out as the record's."""
    if record.preset not in PRESETS:
        raise CannotReproduce(f"the record's preset {record.preset!r} is not one of today's: "
                              f"{', '.join(PRESETS.names())}")
    preset = customized(PRESETS.get(record.preset), record.config.get("overrides") or {})
    preset = replace(preset, data=data_config_of(record, preset.data))
    reference = None
    wanted = record.config.get("teacher_checkpoint")
    if wanted:
        if teacher_checkpoint is None:
            raise CannotReproduce(f"the record distilled from a --teacher-checkpoint (SHA-256 {wanted[:12]}); pass "
                                  "the same file with --teacher-checkpoint FILE")
        reference = open_teacher_checkpoint(teacher_checkpoint)
        if reference.sha256 != wanted:
            raise CannotReproduce(f"--teacher-checkpoint {teacher_checkpoint} has SHA-256 {reference.sha256[:12]}, "
                                  f"the record's teacher {wanted[:12]}: pass the file the record used")
    cell = Cell(record.dataset, record.teacher, record.student, record.method, record.seed)
    rebuilt = cell_config(cell, preset, wanted)
    if config_hash(rebuilt) != record.config_hash:
        differ = sorted(k for k in set(rebuilt) | set(record.config) if rebuilt.get(k) != record.config.get(k))
        raise CannotReproduce(f"today's code gives this cell config hash {config_hash(rebuilt)}, the record "
                              f"{record.config_hash} (made by code {(record.git_commit or '?')[:12]}): they differ "
                              f"in {', '.join(differ)}. Today's code would run another cell; check out the "
                              "record's commit to rerun it")
    return SweepSpec(preset, (record.dataset,), ((record.teacher, record.student),), (record.method,),
                     (record.seed,), data_root=data_root, teacher_checkpoint=reference)


@contextlib.contextmanager
def cache_folder(mode: str) -> Iterator[str]:
    """`fresh`: a new, empty cache folder for the rerun (removed after); `shared`: the sweeps' cache."""
    if mode not in CACHES:
        raise ValueError(f"--cache takes {' or '.join(CACHES)}, got {mode!r}")
    if mode == "shared":
        yield os.environ.get(CACHE_ENV, "the default cache")
        return
    before = os.environ.get(CACHE_ENV)
    with tempfile.TemporaryDirectory(prefix="dfkd-reproduce-") as folder:
        os.environ[CACHE_ENV] = folder
        try:
            yield folder
        finally:
            if before is None:
                os.environ.pop(CACHE_ENV, None)
            else:
                os.environ[CACHE_ENV] = before


@dataclass(frozen=True)
class Reproduction:
    """A stored record beside its rerun."""

    original: RunRecord
    rerun: RunRecord

    def changed_predictions(self) -> tuple[int, int] | None:
        """(clips predicted differently, clips compared), over the clips both records hold."""
        before = dict(zip(self.original.test_ids, self.original.test_predictions))
        after = dict(zip(self.rerun.test_ids, self.rerun.test_predictions))
        shared = [clip for clip in before if clip in after]
        if not shared:
            return None
        return sum(before[c] != after[c] for c in shared), len(shared)

    def teacher_same(self) -> bool | None:
        a, b = self.original, self.rerun
        if a.teacher_sha256 and b.teacher_sha256:
            return a.teacher_sha256 == b.teacher_sha256
        if a.teacher_val_accuracy is not None and b.teacher_val_accuracy is not None:
            return a.teacher_val_accuracy == b.teacher_val_accuracy and a.teacher_accuracy == b.teacher_accuracy
        return None

    def differences(self) -> list[str]:
        a, b = self.original, self.rerun
        out = []
        if a.status != b.status:
            out.append(f"status {a.status} -> {b.status}" + (f" ({b.error})" if b.error else ""))
        for name in ("accuracy", "val_accuracy", "final_accuracy"):
            before, after = getattr(a, name), getattr(b, name)
            if before is not None and after is not None and before != after:
                out.append(f"{name} {before:.2f} -> {after:.2f} ({after - before:+.2f} pp)")
        changed = self.changed_predictions()
        if changed and changed[0]:
            out.append(f"{changed[0]} of {changed[1]} test predictions changed")
        if self.teacher_same() is False:
            out.append("a different teacher (" + (f"sha256 {a.teacher_sha256[:12]} -> {b.teacher_sha256[:12]}"
                       if a.teacher_sha256 and b.teacher_sha256 else
                       f"val {a.teacher_val_accuracy:.2f} -> {b.teacher_val_accuracy:.2f}") + ")")
        return out

    @property
    def identical(self) -> bool:
        return not self.differences()

    def report(self, cache: str) -> str:
        a, b = self.original, self.rerun
        changed = self.changed_predictions()
        teacher = {True: "same", False: "different", None: "not comparable (no teacher or not recorded)"}
        lines = [
            f"reproduce {a.dataset} {a.pair} {a.method} seed={a.seed} (config {a.config_hash}, preset {a.preset})",
            f"  recorded: code {(a.git_commit or '?')[:12]}, {a.device}, {a.torch_threads} threads, {a.started_at}",
            f"  rerun:    code {(b.git_commit or '?')[:12]}, {b.device}, {b.torch_threads} threads, cache {cache}",
            f"  status:         {a.status} -> {b.status}",
            *(f"  {name + ':':<16}{_value(getattr(a, name))} -> {_value(getattr(b, name))}"
              for name in ("accuracy", "val_accuracy", "final_accuracy")),
            "  predictions:    " + (f"{changed[0]} of {changed[1]} clips changed" if changed else "none to compare"),
            f"  teacher:        {teacher[self.teacher_same()]} (val {_value(a.teacher_val_accuracy)} -> "
            f"{_value(b.teacher_val_accuracy)}; sha256 {(a.teacher_sha256 or 'not recorded')[:12]} -> "
            f"{(b.teacher_sha256 or 'not recorded')[:12]})",
            "verdict: " + ("identical" if self.identical else "differs: " + "; ".join(self.differences())),
        ]
        return "\n".join(lines)


def _value(value) -> str:
    return "—" if value is None else f"{value:.2f}"


def reproduce(record: RunRecord, spec: SweepSpec, device: str, threads: int | None, command: str) -> RunRecord:
    """Run the record's cell again in this process (its teacher first, where the method uses one)."""
    runtime = Runtime(spec, device, command, threads or record.torch_threads, executor="local")
    if METHODS.get(record.method).method_cls.uses_teacher:
        run_teacher_job(TeacherJob(record.dataset, record.teacher, record.seed), runtime)
    return run_cell_job(Cell(record.dataset, record.teacher, record.student, record.method, record.seed), runtime)
