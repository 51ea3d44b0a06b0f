"""NAS-Bench-201 search space: cell architectures, networks, ONNX text and benchmark metrics."""

from __future__ import annotations

from typing import Any

from .arch import EDGES, NUM_ARCHS, OPS, ArchStringError, Nb201Arch, all_archs
from .benchmark import Nb201Benchmark
from .costs import count_flops, count_params
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


def __getattr__(name: str) -> Any:
    # The torch model is imported on first use, so metric lookups do not pay for importing torch.
    if name in ("Nb201Network", "build_network"):
        from . import model

        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
