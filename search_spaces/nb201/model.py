"""The NAS-Bench-201 network in PyTorch, with the official macro structure.

Macro skeleton (Dong & Yang, ICLR 2020; ``xautodl`` ``TinyNetwork``): a 3x3 conv + BN stem with
C=16 channels, three stages of N=5 identical cells at 16, 32 and 64 channels, joined by ResNet
basic blocks that halve the resolution, then BN-ReLU, global average pooling and a linear
classifier. Each cell op is ReLU-Conv-BN, 3x3 average pooling, identity or zero.

One deliberate difference from the reference code: a ``none`` edge is left out of its node's sum
instead of adding ``x * 0``. The function is the same, the parameters are the same, and the exported
graph (which the RLM reads) shows only the computation that actually happens. A node whose every
input edge is ``none`` outputs zeros.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .arch import EDGES
from .costs import CELLS_PER_STAGE, STEM_CHANNELS


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
        )


def make_op(op: str, channels: int) -> nn.Module:
    """The module of one non-``none`` cell edge."""
    if op == "skip_connect":
        return nn.Identity()
    if op == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1)
    if op == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1)
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NB201 op {op!r}")


class Nb201Cell(nn.Module):
    """Node j = sum over i < j of op_(j,i)(node i); the cell outputs node 3."""

    def __init__(self, ops: Sequence[str], channels: int) -> None:
        super().__init__()
        self.ops = tuple(ops)
        # Keyed "dst_src"; ``none`` edges get no module at all.
        self.edges = nn.ModuleDict(
            {
                f"{dst}_{src}": make_op(op, channels)
                for (dst, src), op in zip(EDGES, self.ops, strict=True)
                if op != "none"
            }
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for node in range(1, 4):
            terms = [
                self.edges[f"{dst}_{src}"](nodes[src])
                for (dst, src), op in zip(EDGES, self.ops, strict=True)
                if dst == node and op != "none"
            ]
            if not terms:
                nodes.append(nodes[0] * 0.0)
                continue
            total = terms[0]
            for term in terms[1:]:
                total = total + term
            nodes.append(total)
        return nodes[3]


class ResNetBlock(nn.Module):
    """Reduction block between stages: stride-2 ReLU-Conv-BN pair plus an avg-pool + 1x1 conv shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, kernel_size=1, stride=1, padding=0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class Nb201Network(nn.Module):
    """The full NB201 network for one cell; returns logits."""

    def __init__(
        self,
        ops: Sequence[str],
        num_classes: int = 10,
        channels: int = STEM_CHANNELS,
        cells_per_stage: int = CELLS_PER_STAGE,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))
        layers: list[nn.Module] = []
        c = channels
        for stage in range(3):
            if stage > 0:
                layers.append(ResNetBlock(c, 2 * c))
                c *= 2
            layers.extend(Nb201Cell(ops, c) for _ in range(cells_per_stage))
        self.cells = nn.Sequential(*layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU())
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.global_pooling(self.lastact(self.cells(self.stem(x))))
        return self.classifier(torch.flatten(out, 1))


def build_network(ops: Sequence[str], num_classes: int = 10) -> Nb201Network:
    """The NB201 network (C=16, N=5) for a cell given as 6 ops in ``EDGES`` order, in eval mode."""
    return Nb201Network(ops, num_classes=num_classes).eval()
