"""NAS-Bench-201 search space: cell architectures, networks, ONNX text and benchmark metrics."""

from __future__ import annotations

from .arch import EDGES, NUM_ARCHS, OPS, ArchStringError, Nb201Arch, all_archs
from .benchmark import Nb201Benchmark
from .model import Nb201Network, build_network, count_flops, count_params
from .space import Nb201Space

__all__ = [
    "EDGES",
    "NUM_ARCHS",
    "OPS",
    "ArchStringError",
    "Nb201Arch",
    "Nb201Benchmark",
    "Nb201Network",
    "Nb201Space",
    "all_archs",
    "build_network",
    "count_flops",
    "count_params",
]
