"""What the scripts that score `run --save-models` checkpoints share: the prepared data and the checkpoints."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import torch

from benchmark.checkpoints.model_io import load_checkpoint
from benchmark.config.presets import PRESETS
from benchmark.core.prepared import PreparedData
from benchmark.execution.grid import SweepSpec
from benchmark.execution.loading import DataProvider


def prepared_data(preset_name: str, dataset: str) -> PreparedData:
    """The dataset as the preset's cells saw it (same front end, splits and normaliser)."""
    preset = PRESETS.get(preset_name)
    spec = SweepSpec(preset=preset, datasets=(dataset,), pairs=tuple(tuple(x.split(":")) for x in preset.pairs),
                     methods=("kd-noise",), seeds=(0,))
    return DataProvider(spec).get(dataset)


def saved_models(models: Path, dataset: str) -> Iterator[tuple[str, torch.nn.Module]]:
    """(pair/method-seedK, model in eval mode) for every checkpoint of `dataset` under a --save-models folder."""
    paths = sorted(models.glob(f"{dataset}/*/*.pt"))
    if not paths:
        raise SystemExit(f"error: no checkpoints under {models}/{dataset}/*/ (make them with run --save-models)")
    for path in paths:
        yield f"{path.parent.name}/{path.stem}", load_checkpoint(path).model.eval()


def write_rows(path: Path | None, rows: list[dict]) -> None:
    if path is not None:
        path.write_text(json.dumps(rows, indent=1))


@torch.no_grad()
def accuracy_and_classes(model: torch.nn.Module, features: list[torch.Tensor], labels: torch.Tensor):
    """Test accuracy % and how many distinct classes the model predicts (a collapsed student predicts one or two);
    clip by clip, since lengths may differ, so nothing is padded."""
    predictions = torch.cat([model(f[None, None]).argmax(1) for f in features])
    return 100.0 * float((predictions == labels).float().mean()), int(predictions.unique().numel())
