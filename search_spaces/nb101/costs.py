"""The NB101 network's shape: vertex channels, and exact parameter and FLOP counts without torch.

The network (``nasbench/lib/model_builder.py``): a 3x3 conv-BN-ReLU stem to 128 channels, 3 stacks
of 3 cells, a 2x2 max-pool (stride 2) and twice the channels before stacks 2 and 3, a global average
pool and a dense layer to 10 classes. Inside a cell the output vertex concatenates the vertices that
feed it, whose channels split the cell's channels (:func:`vertex_channels`); the cell input reaches
each vertex that reads it through its own 1x1 conv-BN-ReLU projection.

Checked in the tests against the built module (parameters), ``torch.utils.flop_counter`` (FLOPs), the
30 NB101 records' ``trainable_parameters`` and the vendored table's params and flops columns.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .arch import Nb101Arch

__all__ = [
    "CELLS_PER_STACK",
    "INPUT_SHAPE",
    "NUM_CLASSES",
    "NUM_STACKS",
    "STEM_CHANNELS",
    "Conv",
    "count_flops",
    "count_params",
    "naslib_flops",
    "network_convs",
    "vertex_channels",
]

STEM_CHANNELS = 128
NUM_STACKS = 3
CELLS_PER_STACK = 3
NUM_CLASSES = 10
INPUT_SHAPE = (3, 32, 32)  # CIFAR-10

_KERNEL = {"conv3x3-bn-relu": 3, "conv1x1-bn-relu": 1}


def vertex_channels(in_channels: int, out_channels: int, matrix: np.ndarray) -> list[int]:
    """Output channels of every vertex (``model_builder.compute_vertex_channels``).

    The vertices feeding the output share its channels (the first ones get one more when they do
    not divide evenly); any other vertex gets the largest channel count among its successors.
    """
    n = matrix.shape[0]
    channels = [0] * n
    channels[0], channels[n - 1] = in_channels, out_channels
    if n == 2:
        return channels
    in_degree = matrix[1:].sum(axis=0)  # the input's projections do not count
    interior, correction = divmod(out_channels, int(in_degree[n - 1]))
    for v in range(1, n - 1):
        if matrix[v, n - 1]:
            channels[v] = interior
            if correction:  # the remainder goes one channel each to the first vertices
                channels[v] += 1
                correction -= 1
    for v in range(n - 3, 0, -1):
        if not matrix[v, n - 1]:
            for dst in range(v + 1, n - 1):
                if matrix[v, dst]:
                    channels[v] = max(channels[v], channels[dst])
    return channels


@dataclass(frozen=True)
class Conv:
    """One conv-BN-ReLU of the network (no conv bias; BN has 2 trainable parameters per channel)."""

    c_in: int
    c_out: int
    kernel: int
    resolution: int  # of its (square) output


def network_convs(arch: Nb101Arch, resolution: int = INPUT_SHAPE[1]) -> Iterator[Conv]:
    """Every conv-BN-ReLU of the network (stem, projections, vertex convs), in no particular order."""
    matrix = arch.adjacency()
    n = arch.num_vertices
    c = STEM_CHANNELS
    yield Conv(INPUT_SHAPE[0], c, 3, resolution)
    c_in = c
    for stack in range(NUM_STACKS):
        if stack > 0:
            resolution //= 2
            c *= 2
        for _ in range(CELLS_PER_STACK):
            channels = vertex_channels(c_in, c, matrix)
            for v in range(1, n):
                if matrix[0, v]:  # a projection of the cell input
                    yield Conv(c_in, channels[v] if v < n - 1 else c, 1, resolution)
                if v < n - 1 and arch.ops[v] in _KERNEL:
                    yield Conv(channels[v], channels[v], _KERNEL[arch.ops[v]], resolution)
            c_in = c


def count_params(arch: Nb101Arch, num_classes: int = NUM_CLASSES) -> int:
    """Trainable parameters: conv weights, BN scale and shift, the dense layer (NB101's count)."""
    convs = sum(conv.c_in * conv.c_out * conv.kernel**2 + 2 * conv.c_out for conv in network_convs(arch))
    final = STEM_CHANNELS * 2 ** (NUM_STACKS - 1)
    return convs + final * num_classes + num_classes


def count_flops(arch: Nb101Arch, num_classes: int = NUM_CLASSES) -> int:
    """FLOPs of one forward pass of one 32x32 image, counted as ``torch.utils.flop_counter`` does:
    2 per multiply-accumulate of convs and the dense layer (BN folds into the conv; pools, adds and
    concatenations are not counted)."""
    macs = sum(conv.c_in * conv.c_out * conv.kernel**2 * conv.resolution**2 for conv in network_convs(arch))
    final = STEM_CHANNELS * 2 ** (NUM_STACKS - 1)
    return 2 * (macs + final * num_classes)


def naslib_flops(arch: Nb101Arch, num_classes: int = NUM_CLASSES) -> int:
    """The count in the vendored table's ``flops`` column (NASLib's, ptflops-style), to check against it.

    Multiply-accumulates of convs and the dense layer, plus 3 per conv-BN-ReLU output element (BN
    scale and shift, ReLU) and one per max-pool window element (9 per output element of a cell's 3x3
    pool, 4 per output element of a 2x2 pool between stacks); the dense bias, adds and the global
    pool are not counted. Found by matching the column, which it reproduces exactly (see the tests).
    """
    total = 0
    for conv in network_convs(arch):
        outputs = conv.c_out * conv.resolution**2
        total += conv.c_in * conv.kernel**2 * outputs + 3 * outputs
    final = STEM_CHANNELS * 2 ** (NUM_STACKS - 1)
    return total + _pool_inputs(arch) + final * num_classes


def _pool_inputs(arch: Nb101Arch, resolution: int = INPUT_SHAPE[1]) -> int:
    """Window elements of every max-pool: the cells' 3x3 pools and the 2x2 pools between stacks."""
    matrix = arch.adjacency()
    total = 0
    c, c_in = STEM_CHANNELS, STEM_CHANNELS
    for stack in range(NUM_STACKS):
        if stack > 0:
            total += c * resolution**2  # 4 per output element of the 2x2 pool = its input's size
            resolution //= 2
            c *= 2
        for _ in range(CELLS_PER_STACK):
            channels = vertex_channels(c_in, c, matrix)
            total += sum(9 * channels[v] * resolution**2 for v, op in enumerate(arch.ops) if op == "maxpool3x3")
            c_in = c
    return total
