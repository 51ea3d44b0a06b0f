"""Arithmetic precision of prediction: float32, or bfloat16 where the CPU multiplies it natively.

Sampling is dominated by the decoder's small matrix products (architectures x samples rows, one
token per step). On CPUs with native bfloat16 dot products (AVX512-BF16 or AMX: recent Xeon and
EPYC) those run about twice as fast in bfloat16 (a third faster end to end, where attention and
sampling stay as they were); elsewhere bfloat16 is emulated and slower, so
``auto`` takes it only where it is native. Training always runs in float32, and the logits a token
is drawn from are float32 in every mode.
"""

from __future__ import annotations

import contextlib
from typing import Literal

import torch

__all__ = ["PRECISIONS", "Precision", "native_bfloat16", "prediction_precision"]

Precision = Literal["auto", "float32", "bfloat16"]
PRECISIONS: tuple[str, ...] = ("auto", "float32", "bfloat16")


def native_bfloat16() -> bool:
    """Whether this CPU has native bfloat16 matrix products (oneDNN's check)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch built without oneDNN
        return False


def prediction_precision(precision: str) -> contextlib.AbstractContextManager[object]:
    """A context in which the model predicts at ``precision`` (on the CPU)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    use_bfloat16 = precision == "bfloat16" or (precision == "auto" and native_bfloat16())
    if not use_bfloat16:
        return contextlib.nullcontext()
    return torch.autocast("cpu", dtype=torch.bfloat16)
