"""OFA-MobileNetV3 subnets in PyTorch: the network ``get_active_subnet`` of the width-1.2 supernet returns.

Structure (once-for-all ``OFAMobileNetV3``): a 3x3 stride-2 conv (BN, h-swish) to 24 channels; a
fixed MBConv block (depthwise 3x3, BN, ReLU, 1x1 projection, BN, identity shortcut); 5 searchable
stages of MBConv layers (1x1 expansion, depthwise kxk, optional squeeze-excite, 1x1 projection;
identity shortcut where stride 1 and channels match) at 32, 48, 96, 136 and 192 channels with
strides 2, 2, 2, 1, 2, ReLU in the first two and h-swish in the last three, SE in stages 1, 3, 4;
a 1x1 final expand to 1152 (BN, h-swish), global average pooling, a 1x1 feature-mix conv to 1536
(no bias, no BN, h-swish) and a linear classifier over the 1000 ImageNet classes.

Written with torch's own modules where OFA has hand-written equivalents, which compute the same
function and export to fewer ONNX nodes: ``nn.Hardswish`` / ``nn.Hardsigmoid`` for OFA's
``x * relu6(x + 3) / 6`` and ``relu6(x + 3) / 6``, ``AdaptiveAvgPool2d(1)`` for
``x.mean(3, keepdim=True).mean(2, keepdim=True)``, ``flatten`` for ``view``. The classifier's
dropout (a no-op at inference) is left out. Parameters are the subnet's, one for one.
"""

from __future__ import annotations

import torch
from torch import nn

from .arch import OfaMbv3Arch
from .costs import (
    FEATURE_MIX_CHANNELS,
    FINAL_EXPAND_CHANNELS,
    FIRST_CHANNELS,
    NUM_CLASSES,
    STAGES,
    mid_channels,
    se_channels,
)

__all__ = ["MBConvBlock", "OfaMbv3Network", "SqueezeExcite", "build_network"]


def _activation(name: str) -> nn.Module:
    return nn.Hardswish() if name == "h_swish" else nn.ReLU()


class ConvBnAct(nn.Sequential):
    """Conv (no bias), BN and an optional activation (``groups=channels``: depthwise)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, act: str | None = None, groups: int = 1):
        layers: list[nn.Module] = [
            nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(c_out),
        ]
        if act is not None:
            layers.append(_activation(act))
        super().__init__(*layers)


class SqueezeExcite(nn.Module):
    """OFA's ``SEModule``: channel weights from pooled features (reduce 4x, ReLU, expand, h-sigmoid)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        mid = se_channels(channels)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, mid, 1)
        self.relu = nn.ReLU()
        self.expand = nn.Conv2d(mid, channels, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.expand(self.relu(self.reduce(self.pool(x)))))


class MBConvBlock(nn.Module):
    """One MBConv layer with its shortcut (OFA's ``ResidualBlock(MBConvLayer, IdentityLayer | None)``).

    ``expand == 1`` (the fixed first block only) has no 1x1 expansion.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, expand: int, stride: int, act: str, se: bool) -> None:
        super().__init__()
        mid = c_in if expand == 1 else mid_channels(c_in, expand)
        self.expand = ConvBnAct(c_in, mid, 1, act=act) if expand != 1 else None
        self.depthwise = ConvBnAct(mid, mid, kernel, stride, act=act, groups=mid)
        self.se = SqueezeExcite(mid) if se else None
        self.project = ConvBnAct(mid, c_out, 1)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(x) if self.expand is not None else x
        y = self.depthwise(y)
        if self.se is not None:
            y = self.se(y)
        y = self.project(y)
        return y + x if self.residual else y


class OfaMbv3Network(nn.Module):
    """The subnet of one architecture (see the module doc); input ``[batch, 3, r, r]``, any ``r``."""

    def __init__(self, arch: OfaMbv3Arch, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.arch = arch
        c = FIRST_CHANNELS
        self.first_conv = ConvBnAct(3, c, 3, 2, act="h_swish")
        blocks = [MBConvBlock(c, c, 3, 1, 1, "relu", False)]
        for s, stage in enumerate(STAGES):
            for layer, (kernel, expand) in enumerate(arch.stage_layers(s)):
                stride = stage.stride if layer == 0 else 1
                blocks.append(MBConvBlock(c, stage.channels, kernel, expand, stride, stage.act, stage.se))
                c = stage.channels
        self.blocks = nn.Sequential(*blocks)
        self.final_expand = ConvBnAct(c, FINAL_EXPAND_CHANNELS, 1, act="h_swish")
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.feature_mix = nn.Sequential(
            nn.Conv2d(FINAL_EXPAND_CHANNELS, FEATURE_MIX_CHANNELS, 1, bias=False), nn.Hardswish()
        )
        self.classifier = nn.Linear(FEATURE_MIX_CHANNELS, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.first_conv(x))
        x = self.feature_mix(self.pool(self.final_expand(x)))
        return self.classifier(torch.flatten(x, 1))


def build_network(arch: OfaMbv3Arch, num_classes: int = NUM_CLASSES, seed: int = 0) -> OfaMbv3Network:
    """The network in eval mode, initialized from ``seed`` (the global RNG is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = OfaMbv3Network(arch, num_classes)
    return network.eval()
