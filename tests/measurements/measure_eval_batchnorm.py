"""Eval-mode BatchNorm and the BN-prior tap on the CPU (not a test): what models/norm.py and
inversion/hooks.ChannelMoments.backward save, per layer shape, in NCHW and channels-last.

Round-robin over the variants (each once per round), thread CPU time on one thread, min over rounds: a
shared machine's load moves wall time, much less a thread's own CPU time.

    python tests/measurements/measure_eval_batchnorm.py [--rounds 9]
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from models.norm import BatchNorm2d  # noqa: E402
from tests.measurements.measure_synthesis_share import thread_times  # noqa: E402

SHAPES = ((32, 4, 32, 76), (32, 8, 32, 76), (32, 16, 32, 76), (32, 32, 16, 38), (32, 64, 8, 19))


def round_robin(variants: dict, rounds: int) -> dict[str, tuple[float, float]]:
    """(min, median) ms per variant, from measure_synthesis_share's round-robin thread-time timer."""
    return {name: (min(t), statistics.median(t)) for name, t in thread_times(variants, rounds).items()}


def variants_for(shape, channels_last: bool) -> dict:
    x = torch.randn(*shape)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    grad = torch.randn_like(x)
    stock, fused = torch.nn.BatchNorm2d(shape[1]), BatchNorm2d(shape[1])
    for layer in (stock, fused):
        layer.running_mean.normal_()
        layer.running_var.uniform_(0.5, 2.0)
        layer.eval().requires_grad_(False)
    fused.load_state_dict(stock.state_dict())
    a, b = torch.randn(1, shape[1], 1, 1), torch.randn(1, shape[1], 1, 1)

    def run(layer):
        x.grad = None
        layer(x).backward(grad)

    def tap_before():  # a + b * x formed, then added to the incoming gradient
        grad + (a + x * b)

    def tap_after():  # one fused pass, one in-place add on the fresh tensor
        torch.addcmul(grad, x, b).add_(a)

    return {"bn stock": lambda: run(stock), "bn addcmul": lambda: run(fused),
            "tap bwd before": tap_before, "tap bwd after": tap_after}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| shape | layout | variant | min ms | median ms |\n|---|---|---|---|---|")
    for shape in SHAPES:
        for channels_last in (False, True):
            for name, (low, mid) in round_robin(variants_for(shape, channels_last), args.rounds).items():
                layout = "NHWC" if channels_last else "NCHW"
                print(f"| {'x'.join(map(str, shape))} | {layout} | {name} | {low:.2f} | {mid:.2f} |")


if __name__ == "__main__":
    main()
