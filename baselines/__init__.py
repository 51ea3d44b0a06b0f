"""Baseline performance predictors (GNNs and classic models) compared against the RLM surrogate.

>>> from baselines import get_predictor
>>> predictor = get_predictor("gin", epochs=300, seed=0)  # config fields as keywords
>>> predictor.fit(train_archs, {"acc": train_acc}).predict(test_archs)["acc"]  # doctest: +SKIP

Every predictor implements :class:`baselines.base.Predictor`; see :func:`available_predictors`. That base
class implements :class:`nasrlm.core.predictor.PredictorProtocol`, which the RLM shares
(:class:`nasrlm.predictors.rlm.RlmPredictor`); :func:`nasrlm.predictors.registry.make_predictor` builds either by name.
"""

from __future__ import annotations

from .base import NotFittedError, Predictor, PredictorConfig, PredictorFileError
from .registry import UnknownPredictorError, available_predictors, get_predictor, predictor_class
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
