"""Baseline performance predictors (GNNs and classic models) compared against the RLM surrogate.

>>> from baselines import get_predictor
>>> predictor = get_predictor("gin", epochs=300, seed=0)  # config fields as keywords
>>> predictor.fit(train_archs, {"acc": train_acc}).predict(test_archs)["acc"]  # doctest: +SKIP

Every predictor implements :class:`baselines.base.Predictor`; see :func:`available_predictors`.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from .base import NotFittedError, Predictor, PredictorConfig, PredictorFileError
from .splits import random_split

__all__ = [
    "NotFittedError",
    "Predictor",
    "PredictorConfig",
    "PredictorFileError",
    "UnknownPredictorError",
    "available_predictors",
    "get_predictor",
    "predictor_class",
    "random_split",
]

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


class UnknownPredictorError(KeyError):
    def __init__(self, name: object) -> None:
        super().__init__(name)
        self.message = f"unknown predictor {name!r}; valid predictors: {', '.join(available_predictors())}"

    def __str__(self) -> str:
        return self.message


def available_predictors() -> list[str]:
    return sorted(_REGISTRY)


def predictor_class(name: str) -> type[Predictor]:
    """The class registered as ``name``."""
    if not isinstance(name, str) or name not in _REGISTRY:
        raise UnknownPredictorError(name)
    module, cls = _REGISTRY[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


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
