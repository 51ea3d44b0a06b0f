"""The one interface of performance predictors: the RLM surrogate and every baseline alike.

A predictor is fitted on architectures and a mapping ``objective name -> values`` and predicts the
same objectives, ``{objective: values}``, for other architectures of the space. Those with
uncertainty (the RLM: samples) also give their spread when asked, ``predict(archs, return_std=True)``,
as :class:`Predictions`. The baselines implement it through :class:`baselines.base.Predictor`, the RLM
through :class:`nasrlm.predictors.rlm.RlmPredictor`; :func:`nasrlm.predictors.registry.make_predictor`
builds any of them by name.

>>> predictor = make_predictor("gin", space="nb201", seed=0)  # doctest: +SKIP
>>> predictor.fit(train_archs, {"acc": train_acc}).predict(test_archs)["acc"]  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, TypeVar, overload, runtime_checkable

import numpy as np

from nasrlm.core.errors import NasrlmError

__all__ = [
    "NotFittedError",
    "Predictions",
    "PredictorProtocol",
]

T = TypeVar("T", bound="PredictorProtocol")


class NotFittedError(NasrlmError, RuntimeError):
    """``predict`` or ``save`` was called before ``fit``."""


@dataclass(frozen=True)
class Predictions:
    """What ``predict(archs, return_std=True)`` returns.

    ``point``: the prediction per objective (one float64 per arch; what ``predict(archs)`` returns).
    ``std``: its standard deviation per objective, None for a predictor without uncertainty.
    ``samples``: per objective ``[n_archs, n_samples]``, for a predictor that samples (the RLM,
    whose point is the median of its samples as decoded, before each is spread over the interval
    its last digit stands for); None otherwise.
    """

    point: dict[str, np.ndarray]
    std: dict[str, np.ndarray] | None = None
    samples: dict[str, np.ndarray] | None = None

    @property
    def has_uncertainty(self) -> bool:
        return self.std is not None or self.samples is not None

    def interval(self, level: float = 0.9) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Central interval holding ``level`` of the predictive distribution, per objective: (low, high).

        From the samples' quantiles where there are samples, else ``point ± z * std`` (a Gaussian).
        """
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level}")
        if self.samples is not None:
            low, high = (1 - level) / 2, (1 + level) / 2
            return {
                name: (np.quantile(values, low, axis=1), np.quantile(values, high, axis=1))
                for name, values in self.samples.items()
            }
        if self.std is not None:
            from scipy.stats import norm

            z = float(norm.ppf((1 + level) / 2))
            return {name: (self.point[name] - z * std, self.point[name] + z * std) for name, std in self.std.items()}
        raise ValueError("these predictions have no uncertainty (neither std nor samples): no interval")


@runtime_checkable
class PredictorProtocol(Protocol):
    """What every predictor provides (``isinstance(x, PredictorProtocol)`` checks the members' presence).

    ``name``: the predictor's registered name (``"rlm"``, ``"gin"``, ...). ``objectives``: what the
    last :meth:`fit` was given (empty before). ``fit_info``: what the last fit reported worth keeping
    (e.g. epochs run, how training stopped); empty when there is nothing to tell.
    """

    name: ClassVar[str]

    @property
    def objectives(self) -> tuple[str, ...]: ...

    @property
    def fit_info(self) -> Mapping[str, Any]: ...

    def fit(self: T, archs: Sequence[Any], targets: Mapping[str, Any]) -> T:
        """Fit on ``archs`` and ``targets`` (objective -> one value per arch), replacing any earlier fit;
        returns ``self``."""
        ...

    @overload
    def predict(self, archs: Sequence[Any], *, return_std: Literal[False] = False) -> dict[str, np.ndarray]: ...

    @overload
    def predict(self, archs: Sequence[Any], *, return_std: Literal[True]) -> Predictions: ...

    def predict(self, archs: Sequence[Any], *, return_std: bool = False) -> dict[str, np.ndarray] | Predictions:
        """``{objective: values}`` (float64, one per arch) for every fitted objective; with ``return_std``,
        :class:`Predictions` (the same values as ``point``, and the spread where there is one)."""
        ...

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the fitted predictor to ``path`` (each kind in its own format)."""
        ...

    @classmethod
    def load(cls: type[T], path: str | os.PathLike[str]) -> T:
        """A predictor saved by :meth:`save`."""
        ...
