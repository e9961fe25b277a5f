"""Wide ResNet (Zagoruyko & Komodakis 2016): depth 6n+4, widths 16, 16k, 32k, 64k, pre-activation blocks.

Same topology as the CIFAR WRNs used by DeepInversion/CMI, with one input channel (log-mel).
Strides 1, 2, 2 give a total time stride of 4. Dropout is 0 as in the paper's setting.
"""
from __future__ import annotations

import torch
from torch import nn

from .checkpointing import run_blocks
from .norm import BatchNorm2d


class PreActBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        self.bn1 = BatchNorm2d(in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn2 = BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.relu = nn.ReLU(inplace=False)
        self.shortcut = None
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Conv2d(in_ch, out_ch, 1, stride, 0, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.relu(self.bn1(x))
        out = self.conv2(self.relu(self.bn2(self.conv1(pre))))
        skip = x if self.shortcut is None else self.shortcut(pre)
        return out + skip


class WideResNetTrunk(nn.Module):
    def __init__(self, depth: int, widen: int, base_width: int = 16):
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"WRN depth must be 6n+4, got {depth}")
        n = (depth - 4) // 6
        widths = [base_width, base_width * widen, 2 * base_width * widen, 4 * base_width * widen]
        self.stem = nn.Conv2d(1, widths[0], 3, 1, 1, bias=False)
        layers: list[nn.Module] = []
        in_ch = widths[0]
        for stage, stride in zip(range(3), (1, 2, 2)):
            for i in range(n):
                layers.append(PreActBlock(in_ch, widths[stage + 1], stride if i == 0 else 1))
                in_ch = widths[stage + 1]
        self.blocks = nn.Sequential(*layers)
        self.stage_ends = tuple(n * (stage + 1) - 1 for stage in range(3))  # index of each stage's last block
        self.bn = BatchNorm2d(in_ch)
        self.relu = nn.ReLU(inplace=False)
        self.out_channels = in_ch
        self.time_stride = 4
        self.checkpoint_blocks = False  # models.checkpointing.checkpointed_blocks turns it on
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def stages(self) -> list[nn.Module]:
        """The last block of each of the three groups: their outputs are the group outputs that attention
        transfer (ZSKT) compares."""
        return [self.blocks[i] for i in self.stage_ends]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(run_blocks(self.blocks, self.stem(x), self.checkpoint_blocks)))
