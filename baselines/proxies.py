"""Zero-training proxies: predict every objective as the arch's FLOPs (or parameter count).

The prediction is the proxy value itself, with no sign flip, for every objective: rank correlations
are computed with it as is. For NB201 accuracy the correlation is positive (bigger cells are more
accurate); for latency it is positive too (bigger cells are slower), so "higher predicted" means
"higher value", never "better".
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from search_spaces import get_tabular_space

from .base import Predictor, PredictorConfig
from .encoding import dag_spec_for

__all__ = ["FlopsPredictor", "ParamsPredictor"]


class _ProxyPredictor(Predictor):
    metric: ClassVar[str]
    config_type = PredictorConfig

    def _values(self, archs: list[Any]) -> np.ndarray:
        space = get_tabular_space(dag_spec_for(archs).space, f"the {self.name} proxy")
        return np.asarray(space.query_many(archs, self.metric), dtype=np.float64)

    def _fit(self, archs: list[Any], targets: dict[str, np.ndarray]) -> None:
        dag_spec_for(archs)  # nothing to learn, but the archs must be of a space the proxy can query

    def _predict(self, archs: list[Any]) -> dict[str, np.ndarray]:
        values = self._values(archs)
        return {name: values.copy() for name in self.objectives}

    def _state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        return {}, {}

    def _restore(self, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        pass


class FlopsPredictor(_ProxyPredictor):
    """Predicts the arch's FLOPs (millions) for every objective."""

    name = "flops"
    metric = "flops"


class ParamsPredictor(_ProxyPredictor):
    """Predicts the arch's trainable parameter count (millions) for every objective."""

    name = "params"
    metric = "params"
