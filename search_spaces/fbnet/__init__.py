"""FBNet search space (HW-NAS-Bench's CIFAR-100 setting): architectures, networks, ONNX text, HELP latencies."""

from __future__ import annotations

from typing import Any

from .arch import LAYERS, NUM_LAYERS, OPS, ArchStringError, FbnetArch
from .costs import count_flops, count_params
from .space import FbnetSpace

__all__ = [
    "LAYERS",
    "NUM_LAYERS",
    "OPS",
    "ArchStringError",
    "FbnetArch",
    "FbnetNetwork",
    "FbnetSpace",
    "build_network",
    "count_flops",
    "count_params",
]


def __getattr__(name: str) -> Any:
    # The torch model is imported on first use, so metric lookups do not pay for importing torch.
    if name in ("FbnetNetwork", "build_network"):
        from . import model

        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
