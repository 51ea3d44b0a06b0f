"""Turning what users hold into the text the RLM reads.

Accepted: ONNX text (kept as is), the path of an ``.onnx`` file, an architecture string of a known
search space, an ``onnx.ModelProto``, a ``(torch.nn.Module, example_input)`` pair, or a bare module
when the search space says what its input looks like. Any other text (source code, a kernel) is
read as is by the generic ``fit``/``predict`` path, which passes ``raw_text=True``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from nasrlm.text.reading_text import is_reading_text

__all__ = ["looks_like_onnx_text", "to_texts"]


def looks_like_onnx_text(text: str) -> bool:
    """ONNX text, or a network already in its reading form (``nasrlm.text.reading_text``)."""
    head = text.lstrip()[:200]
    return (head.startswith("<") and "ir_version" in head) or is_reading_text(head)


def _one(item: Any, space: Any, index: int) -> str:
    import onnx

    from nasrlm.text.onnx_text import to_onnx_text

    if isinstance(item, str):
        if looks_like_onnx_text(item):
            return item
        if item.endswith(".onnx"):
            return to_onnx_text(item)
        if space is not None:
            return space.onnx_text(space.parse(item))
        raise ValueError(
            f"input {index} ({item[:60]!r}) is neither ONNX text nor an .onnx path, and no search space "
            "was given to parse it as an architecture string"
        )
    if isinstance(item, os.PathLike):
        return to_onnx_text(Path(item))
    if isinstance(item, onnx.ModelProto):
        return to_onnx_text(item)
    if space is not None and hasattr(space, "onnx_text") and type(item).__name__.endswith("Arch"):
        return space.onnx_text(item)
    if isinstance(item, int) and space is not None:
        return space.onnx_text(item)
    import torch

    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], torch.nn.Module):
        return to_onnx_text(item[0], item[1])
    if isinstance(item, torch.nn.Module):
        if space is None:
            raise ValueError(f"input {index} is a torch.nn.Module: pass (module, example_input) so it can be exported")
        return to_onnx_text(item, space.example_input(), functions=getattr(space, "function_modules", ()))
    raise TypeError(
        f"input {index} has type {type(item).__name__}; expected ONNX text, an .onnx path, an architecture "
        "string or object of the search space, an onnx.ModelProto, or a (torch.nn.Module, example_input) pair"
    )


def to_texts(inputs: Iterable[Any], space: Any = None, *, raw_text: bool = False) -> list[str]:
    """ONNX text for each input (or the inputs themselves with ``raw_text``)."""
    items: Sequence[Any] = list(inputs)
    if raw_text:
        bad = [i for i, item in enumerate(items) if not isinstance(item, str)]
        if bad:
            raise TypeError(f"raw_text inputs must be strings; input {bad[0]} is {type(items[bad[0]]).__name__}")
        return list(items)
    if space is not None and hasattr(space, "onnx_texts"):
        # Architectures of the space (strings, objects, indices) go through its cached batch path.
        def is_arch(item: Any) -> bool:
            if isinstance(item, str):
                return not looks_like_onnx_text(item) and not item.endswith(".onnx")
            return type(item).__name__.endswith("Arch") or (isinstance(item, int) and not isinstance(item, bool))

        if items and all(is_arch(item) for item in items):
            return space.onnx_texts([space.parse(i) if isinstance(i, str) else i for i in items])
    return [_one(item, space, i) for i, item in enumerate(items)]
