"""The macro network in PyTorch: TransNAS-Bench-101's encoder with a scene-classification head.

The encoder is ``MacroNet`` of ``yawen-d/TransNASBench`` (``lib/models/net_infer/net_macro.py``,
``cell_micro.ResNetBasicblock``, ``net_ops/cell_ops.ReLUConvBN``), module for module: a stem
(3x3 conv stride 2 to 32 channels + BN, then ReLU-conv-BN stride 2 to 64 channels), then per module
two ResNet basic blocks (ReLU-conv3x3-BN twice; a 1x1 conv + BN shortcut where the block changes
channels or resolution), the first carrying the module's stride and channel change. The head is
TransNAS-Bench-101's classification decoder (``FFDecoder``: global average pooling, linear layer),
here with the 47 scene classes. Two deliberate differences, neither changing the function:
``torch.flatten`` instead of ``x.view(x.size(0), -1)`` (which exports as a Shape/Gather/Reshape
chain), and the encoder and head in one module.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .costs import BASE_CHANNELS, NUM_CLASSES, STEM_CHANNELS, blocks, final_channels, has_projection

INIT_SEED = 0


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
        )


class BasicBlock(nn.Module):
    """TransNAS-Bench-101's ``ResNetBasicblock``: residual + conv_b(conv_a(x))."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1)
        self.downsample: nn.Module | None = None
        if has_projection(c_in, c_out, stride):
            self.downsample = nn.Sequential(
                nn.Conv2d(c_in, c_out, kernel_size=1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feature = self.conv_b(self.conv_a(x))
        residual = x if self.downsample is None else self.downsample(x)
        return residual + feature


class TransnasMacroNetwork(nn.Module):
    """Stem, the searched chain of modules (``layers.i`` = module i, two blocks), pooling, linear head."""

    def __init__(self, modules: Sequence[int], num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, STEM_CHANNELS, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(STEM_CHANNELS),
            ReLUConvBN(STEM_CHANNELS, BASE_CHANNELS, 3, 2),
        )
        specs = list(blocks(modules))
        per_module = len(specs) // len(modules)
        self.layers = nn.Sequential(
            *(
                nn.Sequential(*(BasicBlock(*spec) for spec in specs[i * per_module : (i + 1) * per_module]))
                for i in range(len(modules))
            )
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(final_channels(modules), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.stem(x))
        return self.head(torch.flatten(self.avgpool(x), 1))


def build_network(modules: Sequence[int], num_classes: int = NUM_CLASSES) -> TransnasMacroNetwork:
    """The network in eval mode, initialized as TransNAS-Bench-101 does (Kaiming-normal convs, BN 1/0)
    from a fixed seed, without touching the global random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(INIT_SEED)
        net = TransnasMacroNetwork(modules, num_classes)
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
    return net.eval()
