"""Measure what the faithfulness fixes are about, on one preset's real teacher (not a test).

1. The generator's gradient through the contrastive term at round 1 (empty memory bank),
   for `cmi` and `frami` on the same seed: the ratio says whether T_finv saturates FRAMI's
   softmax (as first reported: a contrastive loss of 0.013 against CMI's 2.71, a ~70x smaller gradient; what
   this script measured is in methods/README.md, "Methods and how they are adapted to spectrograms", item
   "Eq. 2 as the paper writes it").
2. ADI's target agreement: the share of one synthesized batch whose teacher argmax is the
   intended label, with the preset's budget.

    python tests/measurements/measure_synthesis.py --preset cpu --seed 0 [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmark.checkpoints.teachers import TeacherCache  # noqa: E402
from benchmark.config.cells import Cell  # noqa: E402
from benchmark.config.presets import PRESETS  # noqa: E402
from benchmark.execution.cell import make_context  # noqa: E402
from benchmark.execution.grid import SweepSpec  # noqa: E402
from benchmark.execution.loading import DataProvider  # noqa: E402
from benchmark.store.disk import cache_dir  # noqa: E402
from methods import build_method, method_config  # noqa: E402


def context(preset, method: str, seed: int):
    pair = preset.pairs[0].split(":")
    spec = SweepSpec(preset, preset.datasets[:1], (tuple(pair),), (method,), (seed,))
    data = DataProvider(spec).get(preset.datasets[0])
    cell = Cell(preset.datasets[0], pair[0], pair[1], method, seed)
    return make_context(cell, preset, data, TeacherCache(cache_dir() / "teachers"), torch.device("cpu"))


def synthesizer_for(preset, method: str, seed: int):
    ctx = context(preset, method, seed)
    m = build_method(method, resolved(preset, method))
    teacher, _ = ctx.teacher()
    student = ctx.new_student().eval()
    return m.make_synthesizer(ctx, teacher, student, m.synthesized_frames(ctx)), ctx


def resolved(preset, method):
    try:
        return method_config(method, preset)
    except (TypeError, AttributeError):  # older signature
        return method_config(method, preset.overrides, preset.per_method)


def contrastive_gradient(preset, method: str, seed: int, detach_bonus: bool = False) -> dict:
    """Norm of d(cr_weight * L_cr)/d(generator) at round 1; `detach_bonus` keeps only the path
    through the view similarities (T_finv's own path through the chunk embeddings cut)."""
    synth, ctx = synthesizer_for(preset, method, seed)
    if detach_bonus:
        finv = synth.t_finv
        synth.t_finv = lambda x: finv(x).detach()
    cfg = synth.cfg
    torch.manual_seed(seed)
    synth.generator.reset()
    z = torch.randn(cfg.synth_batch, cfg.nz, generator=synth.rng).requires_grad_()
    y = torch.randint(0, ctx.data.num_classes, (cfg.synth_batch,), generator=synth.rng)
    with synth.bn.active():
        terms, _, _ = synth.step_terms(z, y)
    params = list(synth.generator.parameters())
    grads = torch.autograd.grad(cfg.cr_weight * terms["cr"], params, allow_unused=True)
    norm = torch.sqrt(sum((g ** 2).sum() for g in grads if g is not None)).item()
    synth.close()
    return {"cr_loss": terms["cr"].item(), "t_finv": terms.get("t_finv", torch.tensor(float("nan"))).item(),
            "generator_grad_norm_cr": norm}


def adi_agreement(preset, seed: int) -> dict:
    synth, _ = synthesizer_for(preset, "adi", seed)
    batch = synth.synthesize()
    with torch.no_grad():
        pred = synth.teacher(batch).argmax(1)
    synth.close()
    agree = (pred == synth.last_targets).float().mean().item()
    return {"target_agreement": agree, "classes_predicted": int(pred.unique().numel()),
            "final_losses": synth.last_losses}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--preset", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path)
    p.add_argument("--skip-adi", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(2)
    preset = PRESETS.get(args.preset)
    out = {"preset": args.preset, "seed": args.seed}
    for method in ("cmi", "frami"):
        out[method] = contrastive_gradient(preset, method, args.seed)
    out["frami_similarity_path"] = contrastive_gradient(preset, "frami", args.seed, detach_bonus=True)
    cmi_norm = out["cmi"]["generator_grad_norm_cr"]
    out["frami_over_cmi_grad"] = out["frami"]["generator_grad_norm_cr"] / cmi_norm
    out["frami_similarity_path_over_cmi_grad"] = out["frami_similarity_path"]["generator_grad_norm_cr"] / cmi_norm
    if not args.skip_adi:
        out["adi"] = adi_agreement(preset, args.seed)
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
