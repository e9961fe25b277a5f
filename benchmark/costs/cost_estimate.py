"""A rough estimate of a sweep's work, so settings far beyond the preset's are refused before anything runs.

Each value of `--set`/`--config` may be within its range and still make a sweep that never ends on the
machine it was meant for (`data_free.rounds=1000000000`). So before a sweep starts, its work is estimated
in *sample passes* (one sample through a model, forward and backward), from the resolved configs alone:

- a data-free cell: rounds x iterations x synth_batch [synthesis] + kd_rounds x kd_steps x kd_batch [distillation]
  (kd_rounds: the rounds that distil, all but Fast's warm-up);
- a supervised cell (student, KD) and each teacher the sweep trains (once per dataset, architecture, seed):
  epochs x training clips (the synth set: clips per class x classes x its train share; a real dataset: a
  nominal count, the same on both sides of the comparison, so only the epochs count there).

The estimate ignores model width, clip length and evaluation; it is only compared with the same estimate for
the same cells under the unchanged preset, and a sweep beyond `EXPENSIVE_FACTOR` times that is refused unless
`--allow-expensive` is given. (A memory/FLOP planner may later replace `sweep_work`; the refusal keeps this
shape.)
"""
from __future__ import annotations

import dataclasses

from methods import METHODS, method_config
from methods.inversion.loop import DataFreeConfig

from ..config.presets import Preset
from ..core.training import TrainConfig
from ..data.base import DataConfig
from ..execution.grid import SweepSpec, expand_grid

EXPENSIVE_FACTOR = 100.0  # refuse a sweep estimated at more than this many times the preset's own work
SYNTH_CLASSES, SYNTH_TRAIN_SHARE = 10, 0.7  # benchmark/data/synth.py: CLASSES, split_fractions[0]
NOMINAL_TRAIN_CLIPS = 1000  # a real dataset's training clips are not known before it is read


class TooExpensive(ValueError):
    """A sweep estimated far beyond its preset's work; the message gives the estimate and the way out."""


def train_clips(data: DataConfig, dataset: str) -> float:
    if dataset in ("synth", "synth-long"):
        return data.synth_clips_per_class * SYNTH_CLASSES * SYNTH_TRAIN_SHARE
    return NOMINAL_TRAIN_CLIPS


def config_work(config, clips: float) -> float:
    """Sample passes of one cell run with `config` (0 for a config this estimate does not know)."""
    if isinstance(config, DataFreeConfig):
        return (float(config.rounds) * config.iterations * config.synth_batch
                + float(config.kd_rounds) * config.kd_steps * config.kd_batch)
    if isinstance(config, TrainConfig):
        return float(config.epochs) * clips
    return 0.0


def sweep_work(spec: SweepSpec) -> float:
    """Estimated sample passes of every cell of the sweep and of the teachers it trains."""
    preset, total, teachers = spec.preset, 0.0, set()
    for cell in expand_grid(spec):
        clips = train_clips(preset.data, cell.dataset)
        if cell.method == "teacher" or METHODS.get(cell.method).method_cls.uses_teacher:
            teachers.add((cell.dataset, cell.teacher, cell.seed))
        if cell.method != "teacher":  # the teacher cell reads the teacher trained below
            total += config_work(method_config(cell.method, preset), clips)
    teacher_config = method_config("teacher", preset)
    return total + sum(config_work(teacher_config, train_clips(preset.data, dataset)) for dataset, _, _ in teachers)


def refuse_if_expensive(spec: SweepSpec, base: Preset, allow: bool = False) -> float:
    """The ratio of the sweep's estimated work to the same cells under the unchanged `base` preset; raises
    `TooExpensive` above EXPENSIVE_FACTOR unless `allow`."""
    work = sweep_work(spec)
    reference = sweep_work(dataclasses.replace(spec, preset=base))
    ratio = work / max(reference, 1.0)
    if ratio > EXPENSIVE_FACTOR and not allow:
        changes = ", ".join(f"{block}.{key}={value}" for block, fields in spec.preset.overrides.items()
                            for key, value in fields.items()) or "none"
        raise TooExpensive(
            f"this sweep is estimated at {ratio:.3g} times the work of preset {base.name!r} on the same cells "
            f"({work:.3g} vs {reference:.3g} sample passes; changes: {changes}), beyond the {EXPENSIVE_FACTOR:g}x "
            "that starts without asking; lower the changes, or pass --allow-expensive to run it anyway")
    return ratio
