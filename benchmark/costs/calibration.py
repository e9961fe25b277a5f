"""A plan priced from measured steps: time one steady-state step of each kind a grid holds on this device, through
the code the cells run, at the cells' own batch and length, then price every cell from its step counts.

What is timed, per (dataset, pair) and method: a data-free method's synthesis step and KD step; a supervised
method's training step; and, per architecture, the forward of one clip (the validation and test evaluations);
per dataset, the front end of one clip (data preparation). The teacher's weights do not change a step's time,
so calibration times an untrained teacher and trains none. A cell's predicted seconds are its step counts times
these times:

- data-free: rounds x iterations synthesis steps, kd_rounds x kd_steps KD steps, a validation pass after every
  `eval_every` rounds and after the last, the teacher's view of each synthesized batch, the pool diagnostics at
  the end (four teacher passes over the pool: its view and the BN-statistics losses of pool, real and noise batches;
  one student pass), plus the two test passes (the selected and the end-of-budget student);
- supervised: epochs x ceil(train / batch) training steps and a validation pass per epoch (early stopping
  can end it sooner: the prediction is the full budget), plus the test passes; the teacher's own cell loads the
  teacher its sweep trained first, and that training is priced once per (dataset, arch, seed) as the teacher phase.

Calibrations are stored under the cache folder, keyed by the device (as records name it, with its thread count),
the code the steps run and the code that times them (a hash of methods/, models/, benchmark/core/ and
benchmark/costs/) and the cells' configs, and reused until one of them changes.

A step's time is the mean of its calls, taken in passes that visit every step kind in turn (see CALIBRATION_PASSES);
a synthesis step is called in the states of the cell's rounds in turn (a CMI bank as each round finds it), a KD
step at each KD round's batch (the pool is smaller than a KD batch in a cell's first rounds), a supervised step
cycles through an epoch's batches and an evaluation through the test split's, so each costs what its cell's
average batch costs. Methods whose steps do the same work (DataFreeMethod.synthesis_step_key and kd_step_key) share
one price for that step, the mean of all their calls (pooled_steps)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch

from methods import METHODS, method_config
from methods.inversion.loop import DataFreeMethod
from methods.kd import KnowledgeDistillation
from methods.supervised import TeacherMethod

from ..config.cells import Cell, cell_config, config_hash
from ..config.presets import Preset
from ..execution.environment import device_model
from ..store.disk import cache_dir, write_atomic
from .throughput import (measure_distill_step, measure_evaluate, measure_features, measure_synthesis_step,
                         measure_train_step, step_keys)
from .workbench import Workbench

CALIBRATION_VERSION = 3  # 3: steps of equal work pooled; 2: means over interleaved passes; 1: one block's median
CODE_FOLDERS = ("methods", "models", "benchmark/core", "benchmark/costs")  # the steps, and how they are timed
ROOT = Path(__file__).resolve().parents[2]


def code_key(root: Path = ROOT) -> str:
    """A hash of the code a step runs and of the code that times it: every Python file of methods/, models/,
    benchmark/core/ and benchmark/costs/."""
    digest = hashlib.sha1()
    for folder in CODE_FOLDERS:
        for path in sorted((root / folder).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cell_key(preset: Preset, dataset: str, teacher: str, student: str, method: str) -> str:
    """Everything that sets a cell's steps: its identity at seed 0 (method config, data, front end, models) and how
    its steps run, which the identity leaves out because the math is the same (`checkpointing`, `compile`) but
    which changes a step's time."""
    identity = cell_config(Cell(dataset, teacher, student, method, 0), preset)
    how = asdict(method_config(method, preset))  # every field, the unhashed ones included
    return f"{dataset}|{teacher}:{student}|{method}|{config_hash({**identity, 'method_settings': how})}"


@dataclass(frozen=True)
class CellTimes:
    """Measured seconds per step of one cell kind, and the sizes its step counts need."""

    step_seconds: dict[str, float]  # synthesis, distill, train (per step); evaluate (per clip); features (per clip)
    train_clips: int
    val_clips: int
    test_clips: int
    teacher_step_seconds: float | None = None  # the teacher's training step (priced once per teacher)
    teacher_evaluate_seconds: float | None = None  # per clip
    source: str = "calibration"  # where the times come from: measured here, or scaled from a reference run
    # each pass's own times (step_seconds' keys, plus "teacher" and "teacher-evaluate"); step_seconds are their means
    pass_seconds: list[dict[str, float]] = field(default_factory=list)
    # per step kind (synthesis, distill), the methods whose times of that step were pooled with this one's
    pooled_with: dict[str, list[str]] = field(default_factory=dict)

    def at_pass(self, index: int) -> CellTimes:
        """These times as pass `index` alone measured them."""
        own = dict(self.pass_seconds[index])
        return dataclasses.replace(self, step_seconds={k: v for k, v in own.items() if k in self.step_seconds},
                                   teacher_step_seconds=own.get("teacher", self.teacher_step_seconds),
                                   teacher_evaluate_seconds=own.get("teacher-evaluate", self.teacher_evaluate_seconds),
                                   pass_seconds=[])


@dataclass
class Calibration:
    device: str
    threads: int
    code: str
    cells: dict[str, CellTimes] = field(default_factory=dict)
    commit: str | None = None

    @property
    def key(self) -> str:
        blob = json.dumps([self.device, self.threads, self.code, CALIBRATION_VERSION])
        return hashlib.sha1(blob.encode()).hexdigest()[:20]

    def path(self) -> Path:
        return cache_dir() / "calibrations" / f"{self.key}.json"

    def save(self) -> Path:
        write_atomic(self.path(), json.dumps(asdict(self), indent=1, sort_keys=True))
        return self.path()

    def times(self, preset: Preset, dataset: str, teacher: str, student: str, method: str) -> CellTimes | None:
        return self.cells.get(cell_key(preset, dataset, teacher, student, method))

    @classmethod
    def load(cls, device: str, threads: int, code: str | None = None) -> "Calibration":
        """The stored calibration of this device, thread count and code (empty if none)."""
        empty = cls(device, threads, code or code_key())
        try:
            stored = json.loads(empty.path().read_text())
            cells = {k: CellTimes(**v) for k, v in stored.get("cells", {}).items()}
        except (OSError, ValueError, TypeError):
            return empty  # none yet, or of another layout: calibrate again
        return cls(device, threads, empty.code, cells, stored.get("commit"))


def this_device(device: torch.device, threads: int | None = None) -> tuple[str, int]:
    """(the device as a calibration names it, the torch threads its steps run with)."""
    return device_model(device), threads or torch.get_num_threads()


# A cell repeats its steps hundreds of times, so a step's price is the mean of its steady-state calls (a mean, not a
# median: the sum of a cell's steps is its count times their mean, and steps whose work varies, such as CMI's and
# FRAMI's random crops, are skewed). A shared 2-core VM's speed drifts by tens of percent over minutes (kd-noise's KD
# step at the cpu preset: 98-112 ms a step in one quick start's cells, 108-143 ms in calibrations an hour apart), so
# one block of calls per step kind priced some kinds in a slow minute and others in a fast one: the same KD step
# came out at 98 to 141 ms for the seven data-free methods of one calibration. The calls are therefore taken in
# passes, each pass visiting every step kind once, so every kind samples the same stretch of the machine's time.
CALIBRATION_PASSES, CALIBRATION_WARMUP, CALIBRATION_REPEATS = 3, 5, 8  # per pass: warm-up calls, timed calls


def step_timers(bench: Workbench, methods) -> dict[tuple[str, str], Callable[[], float]]:
    """Per (method or "-", what), a function that times that step once (warm-up, then timed calls) and returns its
    mean seconds: a step for synthesis, distill and train, a clip for evaluate and features. `teacher` prices the
    teacher's training step and `teacher-evaluate` its forward of a clip."""
    def per_step(measure) -> Callable[[], float]:
        return lambda: measure().ms_per_step_mean / 1000

    def per_clip(measure) -> Callable[[], float]:
        return lambda: (m := measure()).ms_per_step_mean / m.batch / 1000

    timers = {("-", "evaluate"): per_clip(lambda: measure_evaluate(bench, bench.student_arch)),
              ("-", "features"): per_clip(lambda: measure_features(bench)),
              ("-", "teacher-evaluate"): per_clip(lambda: measure_evaluate(bench, bench.teacher_arch)),
              ("-", "teacher"): per_step(lambda: measure_train_step(teacher_method(), bench))}
    for method in methods:
        cls = METHODS.get(method).method_cls
        if issubclass(cls, DataFreeMethod):
            # every round's state in turn (CMI's bank fills over a cell's first rounds), not only the steady one
            timers[method, "synthesis"] = per_step(
                lambda m=method: measure_synthesis_step(m, bench, rounds=bench.config(m).rounds))
            # every KD round's batch in turn (the pool is smaller than a KD batch in a cell's first rounds)
            timers[method, "distill"] = per_step(
                lambda m=method: measure_distill_step(m, bench, rounds=bench.config(m).rounds))
        elif not issubclass(cls, TeacherMethod):  # the teacher's cell is priced by the teacher's own step
            timers[method, "train"] = per_step(lambda m=method: measure_train_step(m, bench))
    return timers


def timed_in_passes(timers: dict, passes: int) -> dict:
    """Run every timer once per pass, pass after pass; returns each timer's values, one a pass."""
    samples: dict = {key: [] for key in timers}
    for _ in range(passes):
        for key, timer in timers.items():
            samples[key].append(timer())
    return samples


def calibrate(preset: Preset, datasets, pairs, methods, device: torch.device, calibration: Calibration,
              data_root: Path | None = None, warmup: int = CALIBRATION_WARMUP,
              repeats: int = CALIBRATION_REPEATS, passes: int = CALIBRATION_PASSES) -> Calibration:
    """Time the steps of every (dataset, pair, method) the calibration does not hold yet; returns it, filled."""
    if passes < 1:
        raise ValueError(f"a calibration needs at least one pass over its steps, got passes={passes}")
    for dataset in datasets:
        for teacher, student in pairs:
            missing = [m for m in methods if cell_key(preset, dataset, teacher, student, m) not in calibration.cells]
            if not missing:
                continue
            bench = Workbench(preset, dataset, f"{teacher}:{student}", device, warmup, repeats, data_root=data_root,
                              trained_teacher=False, count_work=False)
            samples = timed_in_passes(step_timers(bench, missing), passes)
            samples, partners = pooled_steps(samples, work_keys(bench, missing))
            sizes = dict(train_clips=len(bench.data.train), val_clips=len(bench.data.val),
                         test_clips=len(bench.data.test))
            for method in missing:
                calibration.cells[cell_key(preset, dataset, teacher, student, method)] = cell_times(
                    method, {what: values for (name, what), values in samples.items() if name in ("-", method)},
                    passes, sizes, partners.get(method, {}))
    return calibration


def work_keys(bench: Workbench, methods) -> dict[str, dict[str, tuple | None]]:
    """Each data-free method's synthesis and KD step keys (throughput.step_keys); the other methods have neither
    step."""
    return {m: step_keys(m, bench) for m in methods if issubclass(METHODS.get(m).method_cls, DataFreeMethod)}


# Methods whose steps do the same work take the same time, but each timed alone they were priced apart by the
# machine's noise: at the cpu preset, one calibration priced the one logit-KD step of five methods (the same
# distiller, clip length, augmentation, optimizer and batch in every KD round) at 100.3 to 117.3 ms, three passes of
# 8 calls each, while their cells recorded 93 to 110 ms; and FRAMI's synthesis step at 296 ms beside 257 ms for
# the same step of FRAMI without its reused-backend KD (cells: 246-255 and 240-270 ms). Pooling a pass's times of a
# group prices each member from all of them (five methods: a standard error of the mean a root of five smaller).
def pooled_steps(samples: dict, keys: dict[str, dict[str, tuple | None]]) -> tuple[dict, dict[str, dict]]:
    """`samples` (timed_in_passes) with each step kind's times of methods of equal keys for it replaced, pass by
    pass, by the mean of the group's times in that pass; and, per method and step kind, the others it was pooled
    with. A None key (a generator method's KD step draws fresh samples of its own generator) pools with nothing."""
    groups: dict[tuple, list[str]] = {}
    for method, by_step in keys.items():
        for what, key in by_step.items():
            if key is not None and (method, what) in samples:
                groups.setdefault((what, key), []).append(method)
    pooled, partners = dict(samples), {}
    for (what, _), members in groups.items():
        if len(members) < 2:
            continue
        passes = len(samples[members[0], what])
        per_pass = [statistics.fmean(samples[m, what][i] for m in members) for i in range(passes)]
        for method in members:
            pooled[method, what] = per_pass
            partners.setdefault(method, {})[what] = [m for m in members if m != method]
    return pooled, partners


def cell_times(method: str, samples: dict[str, list[float]], passes: int, sizes: dict,
               pooled_with: dict[str, list[str]] | None = None) -> CellTimes:
    """A cell kind's times from its steps' values per pass (its own steps and the shared ones): their means, and
    each pass's own, as the cell's steps name them (a teacher cell trains and evaluates with the teacher's);
    `pooled_with` names, per step kind, the methods whose values were pooled with these (pooled_steps)."""
    def as_cell_steps(values: dict[str, float]) -> dict[str, float]:
        steps = {"evaluate": values["evaluate"], "features": values["features"]}
        if issubclass(METHODS.get(method).method_cls, TeacherMethod):
            steps.update(train=values["teacher"], evaluate=values["teacher-evaluate"])
        else:
            steps.update({k: values[k] for k in ("synthesis", "distill", "train") if k in values})
        return steps | {k: values[k] for k in ("teacher", "teacher-evaluate")}

    per_pass = [as_cell_steps({what: values[i] for what, values in samples.items()}) for i in range(passes)]
    means = {k: statistics.fmean(p[k] for p in per_pass) for k in per_pass[0]}
    return CellTimes({k: v for k, v in means.items() if k not in ("teacher", "teacher-evaluate")},
                     teacher_step_seconds=means["teacher"], teacher_evaluate_seconds=means["teacher-evaluate"],
                     pass_seconds=per_pass, pooled_with=pooled_with or {}, **sizes)


def teacher_method() -> str:
    return next(name for name in METHODS.names() if issubclass(METHODS.get(name).method_cls, TeacherMethod))


@dataclass(frozen=True)
class CellPrice:
    """A cell's predicted seconds by phase; `from_` says whether they come from measured steps or a FLOP bound."""

    phases: dict[str, float]
    predicted_from: str  # "calibration" or "flop-bound"
    spread: float = 0.0  # (dearest - cheapest) / mean of the cell priced at each calibration pass's own times

    @property
    def seconds(self) -> float:
        return sum(self.phases.values())


def supervised_steps(config, times: CellTimes) -> int:
    """Training steps of a supervised run at its full budget of epochs."""
    return config.epochs * math.ceil(times.train_clips / config.batch_size)


def price_cell(preset: Preset, dataset: str, teacher: str, student: str, method: str, times: CellTimes) -> CellPrice:
    """The cell's price from the mean times, with how far it moves when priced at each pass's times instead."""
    price = price_at(preset, method, times)
    if len(times.pass_seconds) < 2:
        return price
    seconds = [price_at(preset, method, times.at_pass(i)).seconds for i in range(len(times.pass_seconds))]
    return dataclasses.replace(price, spread=(max(seconds) - min(seconds)) / statistics.fmean(seconds))


def price_at(preset: Preset, method: str, times: CellTimes) -> CellPrice:
    config = method_config(method, preset)
    s = times.step_seconds
    tests = 2 * times.test_clips * s["evaluate"]  # the selected student and the end-of-budget one
    cls = METHODS.get(method).method_cls
    if issubclass(cls, DataFreeMethod):
        evaluations = config.rounds // config.eval_every + (config.rounds % config.eval_every != 0)
        pool = min(config.pool_size, config.rounds * config.synth_batch)
        teacher_clip = times.teacher_evaluate_seconds or s["evaluate"]
        passes = (evaluations * times.val_clips * s["evaluate"]  # validation
                  + config.rounds * config.synth_batch * teacher_clip  # the teacher's view of each batch
                  + pool * (4 * teacher_clip + s["evaluate"]))  # the pool diagnostics
        return CellPrice({"synthesis": config.rounds * config.iterations * s["synthesis"],
                          "distill": config.kd_rounds * config.kd_steps * s["distill"],
                          "validation": passes, "evaluate": tests}, times.source)
    if issubclass(cls, TeacherMethod):  # the sweep's teacher phase trained it: the cell loads it and scores it
        return CellPrice({"evaluate": times.test_clips * s["evaluate"]}, times.source)
    steps = supervised_steps(config, times)
    return CellPrice({"distill" if issubclass(cls, KnowledgeDistillation) else "train": steps * s["train"],
                      "validation": config.epochs * times.val_clips * s["evaluate"], "evaluate": tests},
                     times.source)


def price_teacher(preset: Preset, times: CellTimes) -> float:
    """Training one teacher (the sweep's teacher phase), at its full budget of epochs."""
    config = method_config(teacher_method(), preset)
    return supervised_steps(config, times) * times.teacher_step_seconds + config.epochs * times.val_clips * times.teacher_evaluate_seconds


def price_data(times: CellTimes) -> float:
    """Featurising a dataset once (every split), as a sweep prepares it before its first cell."""
    return (times.train_clips + times.val_clips + times.test_clips) * times.step_seconds["features"]


@dataclass(frozen=True)
class SweepPrice:
    """Predicted seconds of a sweep by phase (data, teacher, synthesis, distill, train, evaluate), from a
    calibration; cells it holds no times for are listed, not guessed."""

    phases: dict[str, float]
    cells: dict[tuple[str, str, str], CellPrice]  # (dataset, pair, method) -> one seed's price
    uncalibrated: list[tuple[str, str, str]]
    teachers: dict[tuple[str, str], float] = field(default_factory=dict)  # (dataset, teacher arch) -> one training

    @property
    def seconds(self) -> float:
        return sum(self.phases.values())


def price_sweep(preset: Preset, datasets, pairs, methods, seeds: int, times_of) -> SweepPrice:
    """`times_of(preset, dataset, teacher, student, method)`: the cell's step times, or None where not known (a
    Calibration's `times`, or reference_steps.ReferenceSteps.times)."""
    phases: dict[str, float] = {}
    cells, missing, teachers = {}, [], {}
    for dataset in datasets:
        data_priced = False
        for teacher, student in pairs:
            needs_teacher = False
            for method in methods:
                times = times_of(preset, dataset, teacher, student, method)
                if times is None:
                    missing.append((dataset, f"{teacher}:{student}", method))
                    continue
                price = price_cell(preset, dataset, teacher, student, method, times)
                cells[dataset, f"{teacher}:{student}", method] = price
                for phase, seconds in price.phases.items():
                    phases[phase] = phases.get(phase, 0.0) + seeds * seconds
                needs_teacher |= METHODS.get(method).method_cls.uses_teacher
                if not data_priced:
                    phases["data"] = phases.get("data", 0.0) + price_data(times)
                    data_priced = True
                teacher_times = times
            if needs_teacher:
                teachers[dataset, teacher] = price_teacher(preset, teacher_times)
                phases["teacher"] = phases.get("teacher", 0.0) + seeds * teachers[dataset, teacher]
    return SweepPrice(phases, cells, missing, teachers)


def actual_phases(records) -> dict[str, float]:
    """What the records say each phase took, summed over cells: the named phases as recorded (the teacher phase
    as the teacher cells report its training), and a cell's time outside them (its validation passes, the
    teacher's views, diagnostics, loading) as `validation`."""
    out: dict[str, float] = {}
    for r in records:
        named = 0.0
        for phase, stats in r.phases.items():
            seconds = float(stats.get("seconds") or 0.0)
            key = "evaluate" if phase.startswith("evaluate") else phase
            out[key] = out.get(key, 0.0) + seconds
            named += seconds if phase != "teacher" else 0.0
        out["validation"] = out.get("validation", 0.0) + max(0.0, (r.wall_seconds or 0.0) - named)
    return out


def forecast(spec, device: torch.device, threads: int | None) -> tuple[SweepPrice, Calibration]:
    """The sweep's price from the stored calibration of this device, thread count and code (no measuring)."""
    calibration = Calibration.load(*this_device(device, threads))
    return (price_sweep(spec.preset, spec.datasets, spec.pairs, spec.methods, len(spec.seeds), calibration.times),
            calibration)


def forecast_line(priced: SweepPrice, calibration: Calibration) -> str:
    where = f"{calibration.device} at {calibration.threads} threads"
    if not priced.cells:
        return (f"predicted: no calibration of {where} for these cells at this code (`python -m benchmark plan "
                "--calibrate` with this run's grid measures one step of each kind, then runs print their price)")
    missing = f"; {len(priced.uncalibrated)} cell kind(s) not calibrated, not in it" if priced.uncalibrated else ""
    return (f"predicted: {priced.seconds / 60:.1f} min of work for the whole grid, from steps measured on {where}"
            f"{missing}")


def comparison_lines(priced: SweepPrice, records, wall_seconds: float) -> list[str]:
    """Predicted against recorded seconds per phase, for the cells this run wrote (its records)."""
    if not priced.cells:
        return []
    predicted: dict[str, float] = {}
    for r in records:
        price = priced.cells.get((r.dataset, r.pair, r.method))
        for phase, seconds in (price.phases.items() if price else ()):
            predicted[phase] = predicted.get(phase, 0.0) + seconds
        if issubclass(METHODS.get(r.method).method_cls, TeacherMethod):  # its record reports the teacher's training
            predicted["teacher"] = predicted.get("teacher", 0.0) + priced.teachers.get((r.dataset, r.teacher), 0.0)
    actual = actual_phases(records)
    lines = ["predicted vs recorded seconds per phase (cells of this run)"]
    for phase in sorted(set(predicted) | set(actual)):
        p, a = predicted.get(phase, 0.0), actual.get(phase, 0.0)
        ratio = f"{p / a:.2f}" if a > 0 else "-"
        lines.append(f"  {phase:<11} predicted {p:8.1f}  recorded {a:8.1f}  predicted/recorded {ratio}")
    total_p = sum(predicted.values()) + priced.phases.get("data", 0.0)
    lines.append(f"  the sweep: predicted {total_p:.1f} s (its data, teachers and {len(records)} cells), wall clock "
                 f"{wall_seconds:.1f} s, predicted/wall {total_p / wall_seconds:.2f}")
    return lines
