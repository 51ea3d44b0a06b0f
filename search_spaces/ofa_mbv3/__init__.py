"""OFA-MobileNetV3 search space: Once-for-All subnets, their networks, ONNX text and HELP's GPU latencies."""

from __future__ import annotations

from typing import Any

from .arch import DEPTHS, EXPANDS, KERNELS, RESOLUTIONS, ArchStringError, OfaMbv3Arch
from .costs import count_flops, count_params
from .space import OfaMbv3Space

__all__ = [
    "DEPTHS",
    "EXPANDS",
    "KERNELS",
    "RESOLUTIONS",
    "ArchStringError",
    "OfaMbv3Arch",
    "OfaMbv3Network",
    "OfaMbv3Space",
    "build_network",
    "count_flops",
    "count_params",
]


def __getattr__(name: str) -> Any:
    # The torch model is imported on first use, so metric lookups do not pay for importing torch.
    if name in ("OfaMbv3Network", "build_network"):
        from . import model

        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
