"""Grid expansion, resume/retry selection, and failures recorded as statuses (not exceptions)."""
import dataclasses
from types import SimpleNamespace

import pytest
import torch

import benchmark.execution.cell as cell_module
from benchmark.config.cells import Cell, cell_config, config_hash
from benchmark.config.presets import PRESETS
from benchmark.core.features import FeatureSet
from benchmark.core.training import DivergedError
from benchmark.execution.cell import run_cell
from benchmark.execution.grid import SweepSpec, expand_grid, pending_cells
from benchmark.store.record_schema import RunRecord
from benchmark.store.records import RunStore
from methods.base import Method

SMOKE = PRESETS.get("smoke")
SPEC = SweepSpec(SMOKE, ("synth", "esc50"), (("a", "b"), ("c", "d")), ("teacher", "kd", "frami"), (0, 1))


def test_grid_is_the_full_product_in_dataset_pair_seed_method_order():
    grid = expand_grid(SPEC)
    assert len(grid) == 2 * 2 * 2 * 3 and len(set(grid)) == len(grid)
    assert grid[0] == Cell("synth", "a", "b", "teacher", 0)
    assert grid[1] == Cell("synth", "a", "b", "kd", 0)  # a seed's teacher cell comes before its users
    assert grid[3] == Cell("synth", "a", "b", "teacher", 1)
    assert grid[-1] == Cell("esc50", "c", "d", "frami", 1)


def _record(cell: Cell, status: str) -> RunRecord:
    return RunRecord(**dataclasses.asdict(cell), pair=cell.pair, preset=SMOKE.name, status=status,
                     accuracy=50.0 if status == "ok" else None, config_hash=config_hash(cell_config(cell, SMOKE)))


def test_pending_skips_finished_and_failed_unless_retrying(tmp_path):
    store = RunStore(tmp_path)
    grid = expand_grid(SPEC)
    store.append(_record(grid[0], "ok"))
    store.append(_record(grid[1], "failed"))
    store.append(_record(grid[2], "diverged"))
    store.append(dataclasses.replace(_record(grid[3], "ok"), config_hash="stale"))  # another config: not this cell
    assert pending_cells(SPEC, store) == grid[3:]
    assert pending_cells(dataclasses.replace(SPEC, retry_failed=True), store) == grid[1:]


class _Raises(Method):
    def __init__(self, exc):
        super().__init__(None)
        self.exc = exc

    def run(self, ctx):
        raise self.exc


@pytest.mark.parametrize("exc,status,needle,accuracy", [
    (DivergedError("non-finite loss (nan) in kd epoch 3"), "diverged", "non-finite loss (nan) in kd epoch 3", 25.0),
    (RuntimeError("boom"), "failed", "RuntimeError: boom", None),
])
def test_a_failing_cell_becomes_a_record(monkeypatch, exc, status, needle, accuracy):
    """A diverged cell is scored as the constant predictor (class 0 for every clip: 1 of these 4 test clips); a
    failed one holds no accuracy (stats.claims.RUN_RULE)."""
    monkeypatch.setattr(cell_module, "build_method", lambda name, config: _Raises(exc))
    test = FeatureSet([torch.zeros(2, 3)] * 4, torch.tensor([0, 1, 2, 3]), ["a", "b", "c", "d"])
    data = SimpleNamespace(description={}, features_key=None, test=test)
    record = run_cell(Cell("synth", "wrn16_2_tiny", "wrn10_2_tiny", "kd", 0), SMOKE, data, None,
                      torch.device("cpu"), "test")
    assert record.status == status and needle in record.error and record.accuracy == accuracy
    assert record.counted == (status == "diverged")
    if status == "diverged":
        assert record.test_predictions == [0, 0, 0, 0] and record.test_ids == ["a", "b", "c", "d"]
    assert record.wall_seconds >= 0 and record.config_hash == config_hash(record.config)
