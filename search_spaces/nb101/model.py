"""The NB101 network in PyTorch, as ``nasbench/lib/model_builder.py`` builds it (see :mod:`.costs`).

Written here from the official TensorFlow builder (no dependency on a port): conv-BN-ReLU layers
with bias-free convs, the channel split of :func:`~.costs.vertex_channels`, 1x1 projections of the
cell input, channel truncation (a slice) where a vertex feeds one with fewer channels, the output
vertex concatenating its inputs and adding the input's projection where the input feeds it.
"""

from __future__ import annotations

import torch
from torch import nn

from .arch import Nb101Arch
from .costs import CELLS_PER_STACK, NUM_CLASSES, NUM_STACKS, STEM_CHANNELS, vertex_channels

__all__ = ["ConvBnRelu", "Nb101Cell", "Nb101Network", "build_network"]

_KERNEL = {"conv3x3-bn-relu": 3, "conv1x1-bn-relu": 1}
SEED = 0  # weights are initialized from this seed: the same arch always gives the same module


class ConvBnRelu(nn.Module):
    """``base_ops.conv_bn_relu``: a same-padded conv without bias, batch norm, ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False)
        # NB101's batch norm: decay 0.997, epsilon 1e-5.
        self.bn = nn.BatchNorm2d(c_out, eps=1e-5, momentum=0.003)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class Nb101Cell(nn.Module):
    """One NB101 module (``model_builder.build_module``) of a pruned cell."""

    def __init__(self, arch: Nb101Arch, c_in: int, c_out: int) -> None:
        super().__init__()
        matrix = arch.adjacency()
        n = arch.num_vertices
        self.matrix = matrix.tolist()
        self.num_vertices = n
        self.channels = vertex_channels(c_in, c_out, matrix)
        # projections[k] projects the cell input for the k-th vertex (in vertex order) that reads it.
        self.projected = [v for v in range(1, n) if matrix[0, v]]
        self.projections = nn.ModuleList(
            ConvBnRelu(c_in, self.channels[v] if v < n - 1 else c_out, 1) for v in self.projected
        )
        self.vertex_ops = nn.ModuleList(
            ConvBnRelu(self.channels[v], self.channels[v], _KERNEL[op])
            if op in _KERNEL
            else nn.MaxPool2d(3, stride=1, padding=1)
            for v, op in enumerate(arch.ops[1:-1], start=1)
        )

    def _project(self, x: torch.Tensor, vertex: int) -> torch.Tensor:
        return self.projections[self.projected.index(vertex)](x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, matrix, channels = self.num_vertices, self.matrix, self.channels
        values: list[torch.Tensor] = [x]
        concat: list[torch.Tensor] = []
        for t in range(1, n - 1):
            # Inner inputs first, truncated to this vertex's channels, then the input's projection.
            terms = [_truncate(values[src], channels[t]) for src in range(1, t) if matrix[src][t]]
            if matrix[0][t]:
                terms.append(self._project(x, t))
            total = terms[0]
            for term in terms[1:]:
                total = total + term
            values.append(self.vertex_ops[t - 1](total))
            if matrix[t][n - 1]:
                concat.append(values[t])
        if not concat:  # input straight to output
            return self._project(x, n - 1)
        out = concat[0] if len(concat) == 1 else torch.cat(concat, dim=1)
        if matrix[0][n - 1]:
            out = out + self._project(x, n - 1)
        return out


def _truncate(x: torch.Tensor, channels: int) -> torch.Tensor:
    """``model_builder.truncate``: the first ``channels`` channels (at most one fewer, by the split)."""
    return x if x.shape[1] == channels else x[:, :channels]


class Nb101Network(nn.Module):
    """Stem, 3 stacks of 3 cells (2x2 max-pool and twice the channels between stacks), pool, dense."""

    def __init__(self, arch: Nb101Arch, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.stem = ConvBnRelu(3, STEM_CHANNELS, 3)
        layers: list[nn.Module] = []
        c_in = c = STEM_CHANNELS
        for stack in range(NUM_STACKS):
            if stack > 0:
                layers.append(nn.MaxPool2d(2, stride=2))
                c *= 2
            for _ in range(CELLS_PER_STACK):
                layers.append(Nb101Cell(arch, c_in, c))
                c_in = c
        # Called as one Sequential, so the exporter scopes each cell's nodes ``/cells/cells.<k>/``,
        # which folds them into ONNX local functions (``function_scopes``).
        self.cells = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.mean(self.cells(self.stem(x)), dim=(2, 3)))


def build_network(arch: Nb101Arch, num_classes: int = NUM_CLASSES) -> Nb101Network:
    """The network of ``arch``, in eval mode, weights drawn from a fixed seed."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        return Nb101Network(arch, num_classes).eval()
