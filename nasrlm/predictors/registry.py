"""Every predictor a report compares, built one way: the RLM and the baselines, by name.

It sits above both: :mod:`nasrlm.predictors.rlm` and :mod:`baselines` implement
:class:`nasrlm.core.predictor.PredictorProtocol`; this registry only knows how to make each.
"""

from __future__ import annotations

import importlib
from typing import Any

from baselines.registry import UnknownPredictorError
from nasrlm.core.predictor import PredictorProtocol

__all__ = ["UnknownPredictorError", "available_predictors", "make_predictor"]  # the error: baselines'


# --- registry -------------------------------------------------------------------------------------
# Predictors that are not baselines: name -> "module:factory", imported when asked for. A factory is
# called as factory(space, seed=seed, **options); every name of baselines.available_predictors() is
# built by baselines.get_predictor(name, seed=seed, **options) (baselines read the space off the archs).
_FACTORIES: dict[str, str] = {"rlm": "nasrlm.predictors.rlm:RlmPredictor.for_space"}


def available_predictors() -> list[str]:
    """Every predictor :func:`make_predictor` builds: the RLM first, then the baselines (sorted)."""
    from baselines import available_predictors as baselines

    return [*_FACTORIES, *baselines()]


def make_predictor(name: str, *, space: str, seed: int = 0, **options: Any) -> PredictorProtocol:
    """A fresh, unfitted predictor ``name`` for archs of the search space ``space``, seeded by ``seed``.

    ``options`` are the predictor's settings: a baseline's config fields (e.g. ``epochs``), the RLM's
    :class:`~nasrlm.predictors.rlm.RlmSettings` fields (e.g. ``init``, ``samples``); unknown ones are an error.
    """
    if name in _FACTORIES:
        module, _, path = _FACTORIES[name].partition(":")
        factory: Any = importlib.import_module(module)
        for attribute in path.split("."):
            factory = getattr(factory, attribute)
        return factory(space, seed=seed, **options)
    from baselines import available_predictors as baselines
    from baselines import get_predictor

    if not isinstance(name, str) or name not in baselines():
        raise UnknownPredictorError(name, available_predictors())
    return get_predictor(name, seed=seed, **options)
