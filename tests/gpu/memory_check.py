"""Planner vs CUDA: one synthesis step and one KD step of every data-free method at the paper batch, both paper
pairs, 5 s ESC-50-length clips (FRAMI at twice), bf16 autocast as the paper preset runs them;
torch.cuda.max_memory_allocated above the models against the planner's count (fp32: an upper bound). The KD step
is measured beside the synthesizer, as the loop keeps it (its generator, head and memory bank stay on the device),
and the baseline is read after a garbage collection, so nothing of the previous method is freed inside a count."""
from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import sys
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def main() -> int:
    import torch

    from benchmark.config.presets import PRESETS
    from benchmark.planning.steps import (kd_step as planned_kd_step, resident_synthesizer,
                                          synthesis_step as planned_synthesis_step)
    from methods import build_method, method_config
    from methods.inversion.loop import autocast, kd_step, make_optimizer
    from methods.inversion.pool import TensorPool
    from models import create_model
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--methods", default="adi,cmi,frami,frami-no-finv,kd-noise")
    args = p.parse_args()
    device = torch.device("cuda")
    preset = PRESETS.get("paper")
    rows = []
    for teacher_arch, student_arch in (("wrn40_2", "wrn16_2"), ("resnet34", "resnet18")):
        for method in args.methods.split(","):
            cfg = method_config(method, preset)
            cfg = dataclasses.replace(cfg, iterations=1, views=dataclasses.replace(cfg.views, local_min_fraction=1.0))
            frames = max(8, round(cfg.length_factor * 501))
            torch.manual_seed(0)
            teacher = create_model(teacher_arch, 50, 128).to(device).eval().requires_grad_(False)
            student = create_model(student_arch, 50, 128).to(device)
            ctx = SimpleNamespace(data=SimpleNamespace(num_classes=50, n_mels=64), device=device, seed=0, amp=True)
            built = build_method(method, cfg)
            gc.collect()  # the previous method's cycles (hooks, optimizers) freed before the baseline, not inside
            torch.cuda.synchronize()
            base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            # generator, head and a full bank, as the planner counts them (bank values do not change a peak)
            synthesizer = resident_synthesizer(built, ctx, teacher, student.eval(), frames)
            with autocast(ctx):
                synthesizer.synthesize()
            synth_peak = torch.cuda.max_memory_allocated() - base
            torch.cuda.reset_peak_memory_stats()
            distiller = built.make_distiller(ctx, teacher, student).to(device)
            opt = make_optimizer(cfg, list(student.parameters()) + list(distiller.parameters()))
            pool = TensorPool(cfg.kd_batch)
            pool.add(torch.randn(cfg.kd_batch, 1, 64, frames, device=device))
            student.train()
            kd_step(ctx, cfg, pool, None, distiller, opt)
            torch.cuda.synchronize()
            kd_peak = torch.cuda.max_memory_allocated() - base  # with the synthesizer resident, as in the loop
            synthesizer.close()
            planned = (planned_synthesis_step(method, cfg, teacher_arch, student_arch, 50, 64, frames, 128, False),
                       planned_kd_step(method, cfg, teacher_arch, student_arch, 50, 64, frames, 128, False))
            rows.append({"pair": f"{teacher_arch}:{student_arch}", "method": method, "batch": cfg.synth_batch,
                         "frames": frames, "measured_synthesis_gib": synth_peak / 2**30,
                         "planned_synthesis_gib": planned[0].peak_bytes / 2**30,
                         "measured_kd_gib": kd_peak / 2**30, "planned_kd_gib": planned[1].peak_bytes / 2**30})
            print(json.dumps(rows[-1]), flush=True)
            del teacher, student, distiller, opt, pool, synthesizer, built
            gc.collect()
            torch.cuda.empty_cache()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "memory_check.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
