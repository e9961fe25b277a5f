"""How far each synthesis step could get towards the target of 85% of the input-grad ceiling set for CPU synthesis
steps if everything but its network passes took no time (not a test; results/README.md, "Cost of one synthesis
step on the CPU").

A step's share of the ceiling is (its FLOPs/s) / (the teacher's bare forward+backward to its input at the synthesis
batch). Besides the teacher's pass at the synthesized length, a step also runs networks that are less efficient
than that pass on this CPU: the student (4-32 channels) for the competition/adversarial term, CMI's generator, the
teacher on CMI's local view (a crop of 25-100% of the length) and on FRAMI's K chunks (a quarter of the length at K
times the batch). Each of those passes is timed bare here (frozen weights, no hooks, no losses; the generator
with its weights training, as in a step), round-robin with the methods' whole steps, by thread CPU time, one thread,
min over rounds (as measure_synthesis_share.py). The bound of a method is its whole step's FLOPs over the summed
time of its network passes, as a share of the ceiling: the share its step would reach with BN-prior, losses,
augmentation, optimizers and Python all free. It counts the contrastive head's FLOPs with no time, so it is an
upper bound. Which passes a step runs is read from the method's config (the cpu-preset structure of ADI, CMI and
FRAMI; another method is refused).

    python tests/measurements/measure_network_bound.py --methods adi,cmi,frami [--preset cpu] [--rounds 7]
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmark.costs.throughput import data_free_method  # noqa: E402
from benchmark.costs.workbench import Workbench, count_flops  # noqa: E402
from methods.inversion.contrastive import split_chunks  # noqa: E402
from methods.inversion.generator import SpectrogramGenerator  # noqa: E402
from methods.inversion.hooks import frozen  # noqa: E402
from methods.inversion.loop import synthesis_layout  # noqa: E402
from tests.measurements.measure_synthesis_share import (one_thread_models, parse_arguments,  # noqa: E402
                                                        steady_synthesis_steps, thread_times)

CROPS = 8  # local-view lengths at the midpoints of 8 equal-probability bins of U(local_min_fraction, 1)


def input_grad(model, x: torch.Tensor, output=lambda model, x: model(x)):
    """A bare forward+backward of `model` to `x` (frozen weights)."""
    def step():
        x.grad = None
        with frozen(model):
            output(model, x).float().logsumexp(1).sum().backward()
    return step


def network_passes(bench: Workbench, teacher, student, frames: int) -> dict[str, tuple]:
    """name -> (step, calls per synthesis step) of every network pass the cpu-preset methods run."""
    cmi = data_free_method("cmi", bench).config
    batch, mels = cmi.synth_batch, bench.data.n_mels
    full = torch.randn(batch, 1, mels, frames, requires_grad=True)
    low = cmi.views.local_min_fraction
    crops = [torch.randn(batch, 1, mels, max(1, int(frames * (low + (1 - low) * (i + 0.5) / CROPS))),
                         requires_grad=True) for i in range(CROPS)]
    crop_steps = [input_grad(teacher, c) for c in crops]
    generator = SpectrogramGenerator(cmi.nz, mels, frames, cmi.generator_width)
    z = torch.randn(batch, cmi.nz, requires_grad=True)

    def generator_step():
        generator.zero_grad(set_to_none=True)
        z.grad = None
        generator(z).square().mean().backward()

    frami = data_free_method("frami", bench).config
    chunks = split_chunks(torch.randn(batch, 1, mels, frames), frami.num_chunks).requires_grad_()
    return {
        "teacher@full": (input_grad(teacher, full), 1),
        "teacher@local-view": (lambda: [s() for s in crop_steps], 1 / CROPS),
        "teacher@chunks": (input_grad(teacher, chunks, lambda m, x: m.forward_hidden(x).utterance), 1),
        "student@full": (input_grad(student, full), 1),
        "generator": (generator_step, 1),
    }


def passes_of(name: str, config) -> list[str]:
    """The network passes one synthesis step of `name` runs (adi.py, cmi.py, frami.py)."""
    if name == "adi":
        return ["teacher@full"] + (["student@full"] if config.competition_weight > 0 else [])
    if name in ("cmi", "frami", "frami-no-finv", "frami-no-reused", "frami-no-finv-no-reused"):
        passes = ["generator", "teacher@full", "teacher@local-view"] + (["student@full"] if config.adv_weight > 0
                                                                        else [])
        return passes + (["teacher@chunks"] if getattr(config, "feature_invariance", False) else [])
    raise SystemExit(f"no pass structure known for {name!r}; known: adi, cmi and the FRAMI variants")


def main() -> None:
    args = parse_arguments(__doc__.splitlines()[0])
    bench, teacher, student = one_thread_models(args.preset)
    methods = {name: (step, passes_of(name, method.config), frames)
               for name, (method, frames, step) in steady_synthesis_steps(bench, teacher, student,
                                                                          args.methods).items()}
    if len({frames for _, _, frames in methods.values()}) != 1:
        raise SystemExit("the methods synthesize at different lengths; measure them one length at a time")
    frames = next(iter(methods.values()))[2]
    passes = network_passes(bench, teacher, student, frames)
    steps = {name: step for name, (step, _, _) in methods.items()} | {name: s for name, (s, _) in passes.items()}
    with synthesis_layout(student, bench.device):
        flops = {name: count_flops(step) for name, step in steps.items()}
        times = {name: min(t) for name, t in thread_times(steps, args.rounds).items()}
    per_call = {name: (flops[name] * calls, times[name] * calls) for name, (_, calls) in passes.items()}
    ceiling = flops["teacher@full"] / times["teacher@full"]
    print(f"preset {args.preset}, batch {bench.config('cmi').synth_batch}, {frames} frames, one thread, thread CPU "
          f"time, min over {args.rounds} rounds\n")
    print("| network pass | GFLOP | ms | rate / ceiling |\n|---|---|---|---|")
    for name, (f, t) in per_call.items():
        print(f"| {name} | {f / 1e9:.2f} | {t:.1f} | {f / t / ceiling:.3f} |")
    print("\n| step | GFLOP | ms | share of the ceiling | its network passes | their ms | bound: share with only "
          "them |\n|---|---|---|---|---|---|---|")
    for name, (_, used, _) in methods.items():
        network_ms = sum(per_call[p][1] for p in used)
        print(f"| {name} | {flops[name] / 1e9:.2f} | {times[name]:.1f} | {flops[name] / times[name] / ceiling:.3f} "
              f"| {' + '.join(used)} | {network_ms:.1f} | {flops[name] / network_ms / ceiling:.3f} |")


if __name__ == "__main__":
    main()
