"""NAS-Bench-101 search space: cells, networks, ONNX text and the vendored benchmark metrics."""

from __future__ import annotations

from typing import Any

from .arch import INNER_OPS, ArchStringError, Nb101Arch, graph_hash, make_arch, parse_arch
from .costs import count_flops, count_params
from .space import MetricNotMeasuredError, Nb101Space

__all__ = [
    "INNER_OPS",
    "ArchStringError",
    "MetricNotMeasuredError",
    "Nb101Arch",
    "Nb101Cell",
    "Nb101Network",
    "Nb101Space",
    "build_network",
    "count_flops",
    "count_params",
    "graph_hash",
    "make_arch",
    "parse_arch",
]


def __getattr__(name: str) -> Any:
    # The torch model is imported on first use, so metric lookups do not pay for importing torch.
    if name in ("Nb101Cell", "Nb101Network", "build_network"):
        from . import model

        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
