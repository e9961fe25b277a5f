"""BatchNorm2d whose eval-mode forward on the CPU is one fused multiply-add.

In eval mode a BatchNorm layer is the per-channel affine map x * s + b with s = w / sqrt(var + eps) and
b = bias - mean * s: the same math as `F.batch_norm`, equal to it within float rounding (tests/test_eval_batchnorm.py:
forward and gradients against the stock layer). On the CPU, aten's eval-mode batch-norm backward is slow
for channels-last inputs with few channels: a frozen student's synthesis pass (WRN-10-2 tiny, 4-32
channels, batch 32 x 32 mels x 76 frames) spent 22% of its time in `native_batch_norm_backward`, and
one layer of 4 channels took 8.6 ms for forward+backward against 1.2 ms for `addcmul` (one thread,
tests/measurements/measure_eval_batchnorm.py). Training mode, and every other device (cuDNN's kernels are
fused already, and bf16 activations must stay bf16 there), use the stock layer.
"""
from __future__ import annotations

import torch
from torch import nn


class BatchNorm2d(nn.BatchNorm2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or x.device.type != "cpu" or self.running_var is None or self.weight is None:
            return super().forward(x)
        scale = self.weight * torch.rsqrt(self.running_var + self.eps)
        shift = self.bias - self.running_mean * scale
        return torch.addcmul(shift.view(1, -1, 1, 1), x, scale.view(1, -1, 1, 1))
