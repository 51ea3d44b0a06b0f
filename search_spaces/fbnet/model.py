"""The FBNet network in PyTorch, as HW-NAS-Bench defines it (``FBNet_Infer``, CIFAR-100 setting).

Module for module the reference (``hw_nas_bench_api/fbnet_models/model_infer.py``): the same
layers, channels, strides, paddings, groups, channel shuffle, residuals and initialisation, and the
same module names (``stem``, ``cells.<i>``, ``header``, ``fc``), hence the same state-dict keys.
Two changes that compute the same function: ReLUs and the residual add are not in place, and
``cells`` is an ``nn.Sequential`` (the reference loops over an ``nn.ModuleList``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .arch import HEAD_CHANNELS, LAYERS, NUM_CLASSES, STEM_CHANNELS, block_spec

__all__ = ["ChannelShuffle", "ConvBlock", "ConvNorm", "FbnetNetwork", "Skip", "build_network", "padding_of"]


def padding_of(kernel: int, stride: int) -> int:
    """The reference's padding rule, ``ceil((kernel - stride) / 2)``: output size = input size / stride."""
    return (kernel - stride + 1) // 2


class ChannelShuffle(nn.Module):
    """[N, C, H, W] -> [N, g, C/g, H, W] -> [N, C/g, g, H, W] -> [N, C, H, W] (ShuffleNet)."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.size()
        g = self.groups
        return x.view(n, g, int(c / g), h, w).permute(0, 2, 1, 3, 4).contiguous().view(n, c, h, w)


class ConvNorm(nn.Module):
    """Conv -> BN -> ReLU (the stem and the head)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int | None = None) -> None:
        super().__init__()
        pad = padding_of(kernel, stride) if padding is None else padding
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=pad, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class ConvBlock(nn.Module):
    """Inverted residual: 1x1 expand (grouped for ``_g2``, then a channel shuffle) -> kxk depthwise
    (carries the stride) -> 1x1 project (grouped for ``_g2``), BN after each, ReLU after the first two;
    plus the input where shapes match."""

    def __init__(self, c_in: int, c_out: int, kernel: int, expansion: int, stride: int, groups: int) -> None:
        super().__init__()
        mid = c_in * expansion
        self.residual = c_in == c_out and stride == 1
        self.groups = groups
        if groups > 1:
            self.shuffle = ChannelShuffle(groups)
        self.conv1 = nn.Conv2d(c_in, mid, 1, groups=groups, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        pad = padding_of(kernel, stride)
        self.conv2 = nn.Conv2d(mid, mid, kernel, stride=stride, padding=pad, groups=mid, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, c_out, 1, groups=groups, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.nl = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.nl(self.bn1(self.conv1(x)))
        if self.groups > 1:
            out = self.shuffle(out)
        out = self.nl(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return out + x if self.residual else out


class Skip(nn.Module):
    """Identity, or 1x1 conv -> BN -> ReLU where the layer changes channels or stride."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.project = stride != 1 or c_in != c_out
        if self.project:
            self.conv = nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)
            self.bn = nn.BatchNorm2d(c_out)
            self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.project:
            return x
        return self.relu(self.bn(self.conv(x)))


def make_block(op: str, c_in: int, c_out: int, stride: int) -> nn.Module:
    spec = block_spec(op)
    if spec is None:
        return Skip(c_in, c_out, stride)
    return ConvBlock(c_in, c_out, spec.kernel, spec.expansion, stride, spec.groups)


class FbnetNetwork(nn.Module):
    """Stem, the 22 searchable layers, 1x1 head, global average pooling, linear classifier."""

    def __init__(self, ops: Sequence[str], num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        if len(ops) != len(LAYERS):
            raise ValueError(f"an FBNet network has {len(LAYERS)} layers, got {len(ops)} ops")
        self.stem = ConvNorm(3, STEM_CHANNELS, 3, stride=1, padding=1)
        # A Sequential (the reference loops over a ModuleList: same parameters and names) makes the
        # exporter scope each layer's nodes under /cells/cells.<i>/, which function_scopes expects
        # should blocks ever be folded into ONNX local functions (see onnx_builder's docstring).
        self.cells = nn.Sequential(
            *(make_block(op, layer.c_in, layer.c_out, layer.stride) for op, layer in zip(ops, LAYERS, strict=True))
        )
        self.header = ConvNorm(LAYERS[-1].c_out, HEAD_CHANNELS, 1)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(HEAD_CHANNELS, num_classes)
        self._init_params()

    def _init_params(self) -> None:
        """The reference's initialisation (weights never reach the text; it keeps outputs in range)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.001)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.avgpool(self.header(self.cells(self.stem(x))))
        return self.fc(out.view(out.size(0), -1))


def build_network(ops: Sequence[str], num_classes: int = NUM_CLASSES, seed: int = 0) -> FbnetNetwork:
    """The network for 22 ops (layer 1 first), deterministically initialised from ``seed``, in eval mode."""
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        network = FbnetNetwork(ops, num_classes)
    finally:
        torch.random.set_rng_state(generator_state)
    return network.eval()
