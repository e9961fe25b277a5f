"""The one interface every method implements, and the context a sweep cell hands it."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from benchmark.core.prepared import PreparedData
from benchmark.core.ranges import hashed_fields
from benchmark.core.training import EndOfBudget, PhaseStats
from models import AudioClassifier, create_model

MetricLogger = Callable[[dict[str, Any]], None]


@dataclass
class CellContext:
    """Everything a method may use: data, architectures, seed, device, the (cached) teacher."""

    data: PreparedData
    teacher_arch: str
    student_arch: str
    seed: int
    device: torch.device
    embedding_dim: int
    load_teacher: Callable[[], tuple[AudioClassifier, dict]]  # -> (frozen teacher, teacher info)
    log: MetricLogger = lambda metrics: None
    amp: bool = False  # bf16 autocast on CUDA

    def new_student(self) -> AudioClassifier:
        torch.manual_seed(self.seed)
        return create_model(self.student_arch, self.data.num_classes, self.embedding_dim).to(self.device)

    def teacher(self) -> tuple[AudioClassifier, dict]:
        return self.load_teacher()


def result_fields(config) -> dict:
    """A method config as a cell's identity hashes it (benchmark.core.ranges.hashed_fields)."""
    return hashed_fields(config)


@dataclass
class SynthesizedSamples:
    """A few synthesized inputs and the teacher's view of them, for looking and listening (W&B, Fig. 3)."""

    inputs: torch.Tensor  # (N, 1, n_mels, T), normalised log-mels as the models see them
    teacher_probs: torch.Tensor  # (N, classes)


@dataclass
class MethodResult:
    model: nn.Module  # what the cell evaluates on the test split
    val_accuracy: float
    phases: dict[str, PhaseStats] = field(default_factory=dict)
    extras: dict = field(default_factory=dict)
    samples: SynthesizedSamples | None = None  # data-free methods only; not written to the record
    # the student after its last step (None where the method selects nothing: the teacher)
    end_of_budget: EndOfBudget | None = None


class Method(ABC):
    """A registered method: a typed config plus `run(ctx) -> MethodResult`."""

    name: str = ""
    uses_teacher: bool = True

    def __init__(self, config: Any):
        self.config = config

    def check_settings(self) -> None:
        """Raise ValueError naming a setting that cannot work together with another, once the preset's blocks and
        the command line's changes are all applied (`run` asks every method of its grid before any work).
        Rules within one field belong in the config's RANGES."""

    @abstractmethod
    def run(self, ctx: CellContext) -> MethodResult: ...
