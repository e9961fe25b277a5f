"""Audio classifiers behind one registry: `create_model(name, num_classes)`."""
from __future__ import annotations

from functools import partial
from typing import Callable

from torch import nn

from benchmark.core.registry import Registry

from .classifier import AudioClassifier, ModelOutput
from .resnet import resnet_trunk
from .wrn import WideResNetTrunk

TrunkFactory = Callable[[], nn.Module]
MODELS: Registry[TrunkFactory] = Registry("model")

MODELS.add("resnet34", partial(resnet_trunk, 34), "timm ResNet-34 trunk (paper teacher)")
MODELS.add("resnet18", partial(resnet_trunk, 18), "timm ResNet-18 trunk (paper student)")
MODELS.add("wrn40_2", partial(WideResNetTrunk, 40, 2), "WRN-40-2 (paper teacher)")
MODELS.add("wrn16_2", partial(WideResNetTrunk, 16, 2), "WRN-16-2 (paper student)")
# Narrow variants with the same depths, for CPU presets: stage widths 16..128 (ResNet), base 4 (WRN).
MODELS.add("resnet34_tiny", partial(resnet_trunk, 34, 16), "ResNet-34 depth, widths 16-128 (CPU teacher)")
MODELS.add("resnet18_tiny", partial(resnet_trunk, 18, 8), "ResNet-18 depth, widths 8-64 (CPU student)")
MODELS.add("wrn16_2_tiny", partial(WideResNetTrunk, 16, 2, 8), "WRN-16-2 with base width 8 (CPU teacher)")
MODELS.add("wrn10_2_tiny", partial(WideResNetTrunk, 10, 2, 4), "WRN-10-2 with base width 4 (CPU student)")


def create_model(name: str, num_classes: int, embedding_dim: int = 128) -> AudioClassifier:
    trunk = MODELS.get(name)()
    return AudioClassifier(trunk, trunk.out_channels, trunk.time_stride, num_classes, embedding_dim)


__all__ = ["MODELS", "create_model", "AudioClassifier", "ModelOutput"]
