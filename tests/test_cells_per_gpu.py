"""Several cells on one GPU (`--cells-per-gpu N|auto`): the memory arithmetic, the placement of N worker processes
per GPU with the share their records state, and the refusal, before any work, of N cells that do not fit."""
from __future__ import annotations

import pytest

from benchmark.cli import main
from benchmark.config.presets import PRESETS
from benchmark.execution.grid import SweepSpec
from benchmark.execution.placement import (ALLOCATOR_MARGIN, CUDA_CONTEXT_GB, PlacementError, cells_per_gpu,
                                           local_gpu_slots, packed_jobs)
from benchmark.planning.fit import largest_cell_gb
from benchmark.planning.plan import Device, plan_cell


def test_auto_packs_as_many_of_the_largest_cell_as_fit():
    need = 8.0 * ALLOCATOR_MARGIN + CUDA_CONTEXT_GB  # 8.6 GB a cell
    packing = cells_per_gpu("auto", 8.0, 80.0)
    assert packing.cells_per_gpu == int(80.0 // need) == 9 and packing.cell_gb == pytest.approx(need)
    assert cells_per_gpu("2", 8.0, 80.0).cells_per_gpu == 2


def test_n_cells_that_do_not_fit_are_refused_with_the_numbers_and_the_fix():
    with pytest.raises(PlacementError, match=r"--cells-per-gpu 10: 10 cells need 86.00 GB .* use --cells-per-gpu 9"):
        cells_per_gpu("10", 8.0, 80.0)
    with pytest.raises(PlacementError, match="largest cell needs 80.60 GB, more than the GPU's 80.0 GB"):
        cells_per_gpu("auto", 80.0, 80.0)
    with pytest.raises(PlacementError, match="whole number >= 1 or auto, got 'two'"):
        cells_per_gpu("two", 1.0, 80.0)


def test_n_workers_per_gpu_each_with_its_share_as_records_state_it():
    jobs, packing = packed_jobs("2", "local", "cuda", 1, 8.0, 80.0, gpu_count=4)
    assert jobs == 8 and packing.cells_per_gpu == 2
    slots = local_gpu_slots(jobs, ["0", "1", "2", "3"])
    assert [s.visible_device for s in slots] == ["0", "1", "2", "3"] * 2
    assert all(s.share == 0.5 and s.shared for s in slots)  # records: gpus_per_cell 0.5, gpu_shared true


@pytest.mark.parametrize("executor, device, jobs, needle", [
    ("ray", "cuda", 1, "needs --executor local and CUDA"), ("local", "cpu", 1, "needs --executor local and CUDA"),
    ("local", "cuda", 3, "drop --jobs 3")])
def test_cells_per_gpu_is_refused_where_it_means_nothing(executor, device, jobs, needle):
    with pytest.raises(PlacementError, match=needle):
        packed_jobs("2", executor, device, jobs, 1.0, 80.0, 1)


def test_the_largest_cell_is_the_plans_own_count():
    preset = PRESETS.get("micro")
    spec = SweepSpec(preset, ("synth",), (("wrn16_2_tiny", "wrn10_2_tiny"),), ("kd", "adi"), (0,))
    counted = [plan_cell(preset, "synth", "wrn16_2_tiny", "wrn10_2_tiny", m, 1, Device(), flops=False).peak_memory_gb
               for m in ("kd", "adi")]
    assert largest_cell_gb(spec) == max(counted) > 0


def test_the_command_line_refuses_cells_per_gpu_without_a_gpu(tmp_path, capsys):
    assert main(["run", "--preset", "micro", "--methods", "kd", "--seeds", "1", "--cells-per-gpu", "2",
                 "--device", "cpu", "--out", str(tmp_path)]) == 2
    assert "--cells-per-gpu packs cells onto this machine's GPUs" in capsys.readouterr().err
