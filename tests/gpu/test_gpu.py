"""GPU tests (marked `gpu`): skipped where no CUDA device is visible; run with `python -m pytest -m gpu tests/gpu`."""
from __future__ import annotations

import pytest
import torch

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def test_a_frami_step_on_cuda_has_no_host_sync_and_fits_its_plan():
    import dataclasses
    from types import SimpleNamespace

    from benchmark.config.presets import PRESETS
    from benchmark.planning.steps import synthesis_step
    from methods import build_method, method_config
    from methods.inversion.loop import autocast
    from models import create_model
    device = torch.device("cuda")
    cfg = dataclasses.replace(method_config("frami", PRESETS.get("paper")), synth_batch=16, iterations=2)
    teacher = create_model("wrn40_2", 50, 128).to(device).eval().requires_grad_(False)
    student = create_model("wrn16_2", 50, 128).to(device)
    ctx = SimpleNamespace(data=SimpleNamespace(num_classes=50, n_mels=64), device=device, seed=0, amp=True)
    synthesizer = build_method("frami", cfg).make_synthesizer(ctx, teacher, student.eval(), 1002)
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    torch.cuda.set_sync_debug_mode("error")  # any host sync inside the round raises
    try:
        with autocast(ctx):
            synthesizer.synthesize()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    measured = torch.cuda.max_memory_allocated() - base
    planned = synthesis_step("frami", cfg, "wrn40_2", "wrn16_2", 50, 64, 1002, 128, flops=False).peak_bytes
    assert measured <= 1.15 * planned  # fp32 counts bound a bf16-autocast step
