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

__all__ = ["UnknownPredictorError", "available_predictors", "get_predictor", "predictor_class"]

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


def predictor_class(name: str) -> type[Predictor]:
    """The class registered as ``name``."""
    if not isinstance(name, str) or name not in _REGISTRY:
        raise UnknownPredictorError(name)
    module, cls = _REGISTRY[name]
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
