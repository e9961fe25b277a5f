"""Every data-free method end to end under bf16 autocast, reproduced on the CPU.

The paper preset runs the data-free loop under bf16 autocast on CUDA (`methods.inversion.loop.autocast`). The
first GPU check (results/gpu/sweep) found that CMI, FRAMI and every generator method failed there: a generator's
bf16 pool reached the teacher outside autocast (the diagnostics' teacher pass) and met fp32 weights. CPU autocast
has the same dtype rules, so this test puts the loop under CPU bf16 autocast and runs every data-free method at
the micro preset: no GPU needed to catch the class of fault."""
from __future__ import annotations

import pytest
import torch

import methods.inversion.loop as loop
from benchmark.cli import main
from benchmark.store.records import RunStore
from benchmark.planning.steps import is_data_free
from methods import METHODS

DATA_FREE = [name for name in METHODS.names() if is_data_free(name)]


@pytest.fixture
def cpu_bf16_autocast(monkeypatch):
    monkeypatch.setattr(loop, "autocast", lambda ctx: torch.autocast("cpu", dtype=torch.bfloat16))


def test_every_data_free_method_runs_under_bf16_autocast(cpu_bf16_autocast, tmp_path):
    code = main(["run", "--preset", "micro", "--methods", ",".join(DATA_FREE), "--seeds", "1",
                 "--out", str(tmp_path), "--no-tables"])
    records = {r["method"]: r for r in RunStore(tmp_path).read()}
    assert set(DATA_FREE) <= set(records)
    assert {m: r.get("error") for m, r in records.items() if r["status"] != "ok"} == {}
    assert code == 0
