"""Running one sweep cell: (dataset, teacher->student pair, method, seed) under a preset -> one `RunRecord`.
The cell's identity and config hash are benchmark/config/cells.py."""
from __future__ import annotations

import copy
import resource
import time
import traceback
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Callable

import torch

from methods import CellContext, SynthesizedSamples, build_method, method_config

from ..checkpoints.teacher_source import TeacherCheckpoint, load_given_teacher
from ..checkpoints.teachers import TeacherCache, teacher_key
from ..config.cells import Cell, cell_config, config_hash
from ..config.presets import Preset
from ..core.cpu_isa import kernels
from ..core.prepared import PreparedData
from ..core.training import DivergedError, EndOfBudget, PhaseStats, predict
from ..data.base import hashed_data_config
from ..reporting.rendering import label_samples
from ..store.record_schema import RunRecord
from .environment import cuda_facts, device_description, git_commit, package_versions
from .numerics import numerics_state
from .tracking import CellTracker

# keep(record, trained model, (teacher, teacher info) or None): what run --save-models hands an ok cell's models to
KeepModels = Callable[..., None]


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB; process-wide peak


def accuracy_by_kind(targets: torch.Tensor, preds: torch.Tensor, kinds: list[str] | None) -> dict[str, float]:
    if not kinds:
        return {}
    out = {}
    for kind in sorted(set(kinds)):
        members = torch.tensor([kinds[int(t)] == kind for t in targets])
        if members.any():
            out[kind] = 100.0 * (preds[members] == targets[members]).float().mean().item()
    return out


def train_or_load_teacher(preset: Preset, data: PreparedData, arch: str, seed: int, teachers: TeacherCache,
                          device: torch.device, checkpoint: TeacherCheckpoint | None = None
                          ) -> tuple[torch.nn.Module, dict]:
    """The teacher of (dataset, arch, seed) under a preset: the given checkpoint's (for every seed), else from the
    cache, or trained now and cached."""
    if checkpoint is not None:
        return load_given_teacher(checkpoint, data, device)
    train_cfg = method_config("teacher", preset)
    data_cfg = hashed_data_config(preset.data)
    key = teacher_key(data, data_cfg, arch, seed, train_cfg, preset.embedding_dim, kernels(device.type))
    return teachers.get(key, data, arch, seed, train_cfg, preset.embedding_dim, device)


def make_context(cell: Cell, preset: Preset, data: PreparedData, teachers: TeacherCache, device: torch.device,
                 log=lambda metrics: None, checkpoint: TeacherCheckpoint | None = None,
                 used: dict | None = None) -> CellContext:
    """The context a method runs in; the teacher is loaded (or trained) on first use only. Sweeps train
    teachers before their cells, and the teacher cell reports the training cost (methods/supervised.py).
    `used` receives the teacher and its info when the method asks for it (for the record and --save-models)."""

    def load_teacher():
        model, info = train_or_load_teacher(preset, data, cell.teacher, cell.seed, teachers, device, checkpoint)
        if used is not None:
            used.update(model=model, info=info)
        return model, info

    return CellContext(data, cell.teacher, cell.student, cell.seed, device, preset.embedding_dim, load_teacher, log,
                       amp=preset.amp)


def end_of_budget_outcome(selected: torch.nn.Module, end: EndOfBudget, data: PreparedData, device: torch.device,
                          phases: dict[str, PhaseStats]) -> dict:
    """The test accuracy of the student after its last step, beside the selected one's (timed as its own phase)."""
    start = time.perf_counter()
    final = copy.deepcopy(selected)
    final.load_state_dict(end.state)
    preds = predict(final, data.test, device)
    phases["evaluate_end_of_budget"] = PhaseStats(time.perf_counter() - start, len(data.test), 1)
    return dict(final_accuracy=100.0 * (preds == data.test.labels).float().mean().item(),
                final_val_accuracy=end.val_accuracy)


def constant_predictor_outcome(data: PreparedData) -> dict:
    """How a diverged run is scored (stats.claims.RUN_RULE): argmax over non-finite outputs picks class 0 for
    every clip, so the run counts as that constant predictor on the test split."""
    targets = data.test.labels
    return dict(accuracy=100.0 * (targets == 0).float().mean().item(), test_ids=data.test.ids,
                test_targets=targets.tolist(), test_predictions=[0] * len(targets),
                extras={"scored_as": "constant predictor (class 0 for every clip): the cell diverged"})


def report_samples(tracker, samples: SynthesizedSamples | None, data: PreparedData) -> None:
    """Hand a few synthesized clips and the teacher's labels to the tracker (W&B image + audio)."""
    if samples is not None:
        labelled = label_samples(samples, data)
        tracker.log_samples(labelled.log_mels, labelled.titles(), data.frontend)


def run_cell(cell: Cell, preset: Preset, data: PreparedData, teachers: TeacherCache, device: torch.device,
             command: str, tracker=None, checkpoint: TeacherCheckpoint | None = None,
             keep: KeepModels | None = None) -> RunRecord:
    """Run a cell and return its record; failures become records, never exceptions. `checkpoint`: the teacher
    of every cell (run --teacher-checkpoint); `keep(record, model, teacher)` receives an ok cell's trained model
    and the teacher it used ((model, info) or None), e.g. to save them (run --save-models)."""
    tracker = tracker or CellTracker()  # no-op unless a tracked sweep hands one in
    config = cell_config(cell, preset, checkpoint.sha256 if checkpoint else None)
    teacher: dict = {}
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    ctx = make_context(cell, preset, data, teachers, device, tracker.log, checkpoint, teacher)
    model = None
    start = time.perf_counter()
    try:
        method = build_method(cell.method, method_config(cell.method, preset))
        result = method.run(ctx)
        model = result.model
        report_samples(tracker, result.samples, data)
        eval_start = time.perf_counter()
        preds = predict(result.model, data.test, device)
        eval_phase = PhaseStats(time.perf_counter() - eval_start, len(data.test), 1)
        targets = data.test.labels
        outcome = dict(
            status="ok",
            accuracy=100.0 * (preds == targets).float().mean().item(),
            val_accuracy=result.val_accuracy,
            accuracy_by_kind=accuracy_by_kind(targets, preds, data.class_kinds),
            test_ids=data.test.ids,
            test_targets=targets.tolist(),
            test_predictions=preds.tolist(),
            extras=result.extras,
        )
        phases = {**result.phases, "evaluate": eval_phase}
        if result.end_of_budget is not None:
            outcome.update(end_of_budget_outcome(result.model, result.end_of_budget, data, device, phases))
        outcome["phases"] = {name: stats.as_dict() for name, stats in phases.items() if stats.seconds}
    except DivergedError as exc:
        outcome = dict(status="diverged", error=str(exc), **constant_predictor_outcome(data))
    except Exception as exc:  # a failed cell is recorded and the sweep goes on
        outcome = dict(status="failed", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
    info = teacher.get("info") or {}
    record = RunRecord(
        **asdict(cell), pair=cell.pair, preset=preset.name, config=config, config_hash=config_hash(config),
        git_commit=git_commit(), packages=package_versions(), device=device_description(device),
        cuda=cuda_facts(device).as_dict(), numerics=numerics_state().as_dict(), command=command,
        dataset_description=data.description, data_key=data.features_key, started_at=started_at, **outcome,
        wall_seconds=time.perf_counter() - start, peak_memory_mb=peak_memory_mb(device),
        finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        teacher_checkpoint=checkpoint.sha256 if checkpoint else None,
        teacher_val_accuracy=info.get("val_accuracy"), teacher_accuracy=info.get("test_accuracy"),
        teacher_sha256=info.get("weights_sha256"))
    if keep is not None and record.ok and model is not None:
        keep(record, model, (teacher["model"], info) if teacher else None)
    return record
