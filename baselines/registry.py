"""The baselines by name: each predictor's module loads only when asked for (the proxies never import
torch_geometric)."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nasrlm.core.errors import NasrlmError

if TYPE_CHECKING:
    from baselines.base import Predictor

__all__ = ["UnknownPredictorError", "available_predictors", "get_predictor", "predictor_class", "text_predictors"]

# name -> (module, class); modules load lazily so that e.g. the proxies never import torch_geometric.
_REGISTRY: dict[str, tuple[str, str]] = {
    "brp": ("gnn", "BrpPredictor"),
    "flops": ("proxies", "FlopsPredictor"),
    "gbdt": ("gbdt", "GbdtPredictor"),
    "gcn": ("gnn", "GcnPredictor"),
    "gin": ("gnn", "GinPredictor"),
    "mlp": ("mlp", "MlpPredictor"),
    "params": ("proxies", "ParamsPredictor"),
}
# Baselines that read plain text instead of architectures (reports on tables of text, nasrlm report
# --data): built and loaded like the others, but not listed by available_predictors(), whose
# predictors every search space can use.
_TEXT_REGISTRY: dict[str, tuple[str, str]] = {
    "length": ("text_features", "LengthPredictor"),
    "token_gbdt": ("text_features", "TokenGbdtPredictor"),
}


class UnknownPredictorError(NasrlmError, KeyError):
    def __init__(self, name: object, valid: Sequence[str] | None = None) -> None:
        valid = available_predictors() if valid is None else valid
        self.message = f"unknown predictor {name!r}; valid predictors: {', '.join(valid)}"
        super().__init__(self.message)
        self.name = name

    def __str__(self) -> str:
        return self.message


def available_predictors() -> list[str]:
    return sorted(_REGISTRY)


def text_predictors() -> list[str]:
    """The baselines that read text (for tables of text, not architectures)."""
    return sorted(_TEXT_REGISTRY)


def predictor_class(name: str) -> type[Predictor]:
    """The class registered as ``name`` (an architecture or a text baseline)."""
    if not isinstance(name, str) or name not in {**_REGISTRY, **_TEXT_REGISTRY}:
        raise UnknownPredictorError(name)
    module, cls = {**_REGISTRY, **_TEXT_REGISTRY}[name]
    return getattr(importlib.import_module(f"baselines.{module}"), cls)


def get_predictor(name: str, **config: Any) -> Predictor:
    """A fresh predictor ``name`` whose config dataclass gets ``config`` (unknown fields are an error)."""
    cls = predictor_class(name)
    fields = {field.name for field in dataclasses.fields(cls.config_type)}
    unknown = sorted(set(config) - fields)
    if unknown:
        raise TypeError(
            f"unknown config field(s) {', '.join(unknown)} for predictor {name!r}; "
            f"valid fields: {', '.join(sorted(fields))}"
        )
    return cls(cls.config_type(**config))
