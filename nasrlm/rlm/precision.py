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

__all__ = ["PRECISIONS", "Precision", "native_bfloat16", "prediction_batch", "prediction_precision", "uses_bfloat16"]

Precision = Literal["auto", "float32", "bfloat16"]
PRECISIONS: tuple[str, ...] = ("auto", "float32", "bfloat16")


def native_bfloat16() -> bool:
    """Whether this CPU has native bfloat16 matrix products (oneDNN's check)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch built without oneDNN
        return False


def uses_bfloat16(precision: str) -> bool:
    """Whether prediction at ``precision`` runs in bfloat16 here; an unknown precision is a ValueError."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    return precision == "bfloat16" or (precision == "auto" and native_bfloat16())


def prediction_precision(precision: str) -> contextlib.AbstractContextManager[object]:
    """A context in which the model predicts at ``precision`` (on the CPU)."""
    if not uses_bfloat16(precision):
        return contextlib.nullcontext()
    return torch.autocast("cpu", dtype=torch.bfloat16)


def prediction_batch(precision: str) -> int:
    """Architectures decoded together at ``precision``.

    Each decoding step is a few dozen small tensor ops over (architectures x samples) rows, so a
    larger batch spends less of the time per op, until its tensors outgrow the caches, which
    happens sooner in float32. v12 with two members, 32 samples, 3 objectives, on a 2-core Xeon
    with AMX (experiments/bench_predict_speed.py; experiments/results/bench_predict_speed.txt): at
    batches of 64 / 128 / 256 / 512, 194 / 226 / 235 / 214 archs/s in bfloat16 and 170 / 172 /
    150 / 131 in float32.
    """
    return 256 if uses_bfloat16(precision) else 128
