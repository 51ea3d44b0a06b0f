"""Converters: what users hold, as the text the RLM reads. The surrogate itself maps text to numbers.

A converter is any callable ``inputs -> list[str]``. Three kinds exist:

- a search space's own, :meth:`search_spaces.base.SearchSpace.to_texts`: its architectures (objects,
  strings, tabular indices) and everything :class:`OnnxConverter` accepts;
- :class:`OnnxConverter`: ONNX text (kept as is), the path of an ``.onnx`` file, an
  ``onnx.ModelProto``, a ``(torch.nn.Module, example_input)`` pair, or a bare module when the
  converter was given an example input;
- :class:`TextConverter`: any text as is (source code, kernels: code-to-metric).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from nasrlm.text.compact_text import is_compact_text
from nasrlm.text.reading_text import is_reading_text

__all__ = ["Converter", "OnnxConverter", "TextConverter", "looks_like_onnx_text"]


class Converter(Protocol):
    def __call__(self, inputs: Iterable[Any]) -> list[str]: ...


def looks_like_onnx_text(text: str) -> bool:
    """ONNX text, or a network already in its reading or compact form (``nasrlm.text.reading_text``,
    ``nasrlm.text.compact_text``)."""
    head = text.lstrip()[:200]
    return (head.startswith("<") and "ir_version" in head) or is_reading_text(head) or is_compact_text(head)


class TextConverter:
    """Texts as they are, checked to be strings (source code, kernels, ONNX text)."""

    def __call__(self, inputs: Iterable[Any]) -> list[str]:
        items = list(inputs)
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise TypeError(f"input {i} has type {type(item).__name__}; this converter reads text only")
        return items


class OnnxConverter:
    """Networks in any exportable form, as canonical ONNX text (:mod:`nasrlm.text.onnx_text`).

    ``example_input`` (a tensor, or a ``batch_size -> tensor`` function) lets bare modules be exported;
    ``functions`` are module classes kept as ONNX local functions.
    """

    def __init__(
        self,
        example_input: Any = None,
        functions: Sequence[type] = (),
    ) -> None:
        self.example_input = example_input
        self.functions = tuple(functions)

    def _example(self) -> Any:
        return self.example_input() if callable(self.example_input) else self.example_input

    def one(self, item: Any, index: int = 0) -> str:
        import onnx

        from nasrlm.text.onnx_text import to_onnx_text

        if isinstance(item, str):
            if looks_like_onnx_text(item):
                return item
            if item.endswith(".onnx"):
                return to_onnx_text(item)
            raise ValueError(
                f"input {index} ({item[:60]!r}) is neither ONNX text nor an .onnx path; convert architecture "
                "strings with their search space's to_texts"
            )
        if isinstance(item, os.PathLike):
            return to_onnx_text(Path(item))
        if isinstance(item, onnx.ModelProto):
            return to_onnx_text(item)
        import torch

        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], torch.nn.Module):
            return to_onnx_text(item[0], item[1], functions=self.functions)
        if isinstance(item, torch.nn.Module):
            if self.example_input is None:
                raise ValueError(
                    f"input {index} is a torch.nn.Module: pass (module, example_input) so it can be exported"
                )
            return to_onnx_text(item, self._example(), functions=self.functions)
        raise TypeError(
            f"input {index} has type {type(item).__name__}; expected ONNX text, an .onnx path, an architecture "
            "of the search space (or its string form), an onnx.ModelProto, or a (torch.nn.Module, example_input) "
            "pair"
        )

    def __call__(self, inputs: Iterable[Any], *, positions: Sequence[int] | None = None) -> list[str]:
        items = list(inputs)
        where: Callable[[int], int] = (lambda i: positions[i]) if positions is not None else (lambda i: i)
        return [self.one(item, where(i)) for i, item in enumerate(items)]
