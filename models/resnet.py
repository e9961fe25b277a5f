"""ResNet trunks from timm with one input channel (log-mel), classifier and global pool removed."""
from __future__ import annotations

import timm
import torch
from timm.models.resnet import BasicBlock, ResNet
from torch import nn

from .checkpointing import run_blocks
from .norm import BatchNorm2d

RESNET_DEPTHS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}


class TimmTrunk(nn.Module):
    """Adapter that exposes a timm ResNet's final feature map (B, C, F/32, T/32)."""

    def __init__(self, net: ResNet):
        super().__init__()
        self.net = net
        self.out_channels = net.num_features
        self.time_stride = 32
        self.checkpoint_blocks = False  # models.checkpointing.checkpointed_blocks turns it on

    def stages(self) -> list[nn.Module]:
        """The last block of each residual stage (layer1..layer4): its output is the stage's, which attention
        transfer compares (a block, not the stage, so a hook fires with block checkpointing on too)."""
        return [self.net.layer1[-1], self.net.layer2[-1], self.net.layer3[-1], self.net.layer4[-1]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.checkpoint_blocks:
            return self.net.forward_features(x)
        net = self.net  # timm's forward_features, with each residual block checkpointed on its own
        x = net.maxpool(net.act1(net.bn1(net.conv1(x))))
        blocks = [block for layer in (net.layer1, net.layer2, net.layer3, net.layer4) for block in layer]
        return run_blocks(blocks, x, True)


def resnet_trunk(depth: int, width: int | None = None) -> TimmTrunk:
    """Standard timm ResNet-depth, or a narrow variant whose stage widths are width * (1, 2, 4, 8)."""
    if width is None:
        net = timm.create_model(f"resnet{depth}", pretrained=False, in_chans=1, num_classes=0, global_pool="",
                                norm_layer=BatchNorm2d)
    else:
        net = ResNet(
            BasicBlock,
            RESNET_DEPTHS[depth],
            in_chans=1,
            num_classes=0,
            global_pool="",
            stem_width=width,
            channels=(width, 2 * width, 4 * width, 8 * width),
            norm_layer=BatchNorm2d,
        )
    return TimmTrunk(net)
