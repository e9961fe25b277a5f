"""Supervised training with model selection on the validation split, and test evaluation.

The same loop trains teachers and students from scratch and distils with KD on real data:
only the per-batch loss differs. The test split is never looked at here except by
`evaluate`, which the cell runner calls once on the selected model.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .batching import Batch, bucketed_batches
from .features import FeatureSet
from .progress import Progress
from .ranges import NON_NEGATIVE, POSITIVE, at_least

BatchLoss = Callable[[nn.Module, Batch], torch.Tensor]


class DivergedError(RuntimeError):
    """A loss became NaN/inf: the cell ends with status 'diverged', the sweep goes on."""


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 60
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    min_epochs_before_stop: int = 10
    patience: int = 15  # early stopping on validation accuracy
    # Valid ranges (benchmark/core/ranges.py), checked before anything runs. BatchNorm needs two samples a batch.
    RANGES: ClassVar[dict[str, Any]] = {"epochs": at_least(1), "batch_size": at_least(2), "lr": POSITIVE,
                                        "weight_decay": NON_NEGATIVE, "min_epochs_before_stop": at_least(0),
                                        "patience": at_least(0)}


@dataclass
class PhaseStats:
    """Wall time and work of one phase; throughput is derived, never typed in."""

    seconds: float = 0.0
    samples: int = 0
    steps: int = 0
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        out = {"seconds": round(self.seconds, 4), "samples": self.samples, "steps": self.steps,
               "samples_per_s": self.samples / self.seconds if self.seconds > 0 else None,
               "ms_per_step": 1000 * self.seconds / self.steps if self.steps else None}
        out.update(self.extra)
        return out


@dataclass
class EndOfBudget:
    """The model after its last step, beside the one that selection on validation kept, so a report can show
    what the selection adds (the reference code bases report a best epoch; this harness reports both)."""

    state: dict[str, torch.Tensor]  # weights and buffers after the last step (a copy)
    val_accuracy: float

    @classmethod
    def of(cls, model: nn.Module, val_accuracy: float) -> "EndOfBudget":
        return cls(copy.deepcopy(model.state_dict()), val_accuracy)


def check_finite(loss: torch.Tensor, where: str) -> None:
    if not torch.isfinite(loss).all():
        raise DivergedError(f"non-finite loss ({loss.item()}) in {where}")


def cross_entropy_loss(model: nn.Module, batch: Batch) -> torch.Tensor:
    return F.cross_entropy(model(batch.x, batch.lengths), batch.labels)


@torch.no_grad()
def predict(model: nn.Module, data: FeatureSet, device: torch.device, batch_size: int = 64) -> torch.Tensor:
    """Predicted class per clip, in FeatureSet order."""
    model.eval()
    preds = torch.empty(len(data), dtype=torch.long)
    for batch in bucketed_batches(data, batch_size):
        b = batch.to(device)
        preds[batch.index] = model(b.x, b.lengths).argmax(dim=1).cpu()
    return preds


def accuracy(model: nn.Module, data: FeatureSet, device: torch.device) -> float:
    return 100.0 * (predict(model, data, device) == data.labels).float().mean().item()


def train_supervised(model: nn.Module, train: FeatureSet, val: FeatureSet, cfg: TrainConfig, device: torch.device,
                     seed: int, loss_fn: BatchLoss = cross_entropy_loss, label: str = "train",
                     log: Callable[[dict], None] = lambda metrics: None) -> tuple[float, PhaseStats, EndOfBudget]:
    """Train with AdamW + cosine schedule; keep the weights of the best validation epoch.

    Returns (best validation accuracy, phase stats, the model after its last epoch). The model is left holding
    the best weights.
    """
    generator = torch.Generator().manual_seed(seed)
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = max(1, math.ceil(len(train) / cfg.batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch + 1,
                                                pct_start=0.1)
    best_acc, best_state, since_best = -1.0, None, 0
    stats = PhaseStats()
    with Progress(f"{label}", total=cfg.epochs) as progress:
        for epoch in range(cfg.epochs):
            model.train()
            start = time.perf_counter()
            loss_sum, batches = 0.0, 0
            for batch in bucketed_batches(train, cfg.batch_size, generator):
                if len(batch.labels) < 2:  # BatchNorm needs two samples
                    continue
                b = batch.to(device)
                loss = loss_fn(model, b)
                check_finite(loss, f"{label} epoch {epoch}")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                loss_sum, batches = loss_sum + loss.detach(), batches + 1  # summed on the device; read once an epoch
                stats.samples += len(b.labels)
                stats.steps += 1
            stats.seconds += time.perf_counter() - start
            val_acc = accuracy(model, val, device)
            log({"epoch": epoch, "train_loss": float(loss_sum) / max(batches, 1), "val_accuracy": val_acc})
            if val_acc > best_acc:
                best_acc, best_state, since_best = val_acc, copy.deepcopy(model.state_dict()), 0
            else:
                since_best += 1
            progress.advance(f"val {val_acc:.1f}% (best {best_acc:.1f}%)")
            if epoch + 1 >= cfg.min_epochs_before_stop and since_best >= cfg.patience:
                break
    end = EndOfBudget.of(model, val_acc)
    model.load_state_dict(best_state)
    stats.extra["epochs_run"] = epoch + 1
    return best_acc, stats, end
