"""Target scaling shared by the predictors: optional log, then z-score, fitted on the training values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["TargetScaler", "check_targets"]


@dataclass(frozen=True)
class TargetScaler:
    """``z = (f(y) - mean) / std`` with ``f`` = log or identity.

    Latency spans orders of magnitude and its errors are relative, so it is modelled in log space;
    z-scoring puts every objective on the scale that the default learning rate and init expect.
    """

    log: bool
    mean: float
    std: float

    @classmethod
    def fit(cls, values: np.ndarray, *, log: bool, name: str = "target") -> TargetScaler:
        values = np.asarray(values, dtype=np.float64)
        if log and np.any(values <= 0):
            raise ValueError(
                f"objective {name!r} is modelled in log space but has non-positive values "
                f"(min {values.min():g}); drop it from log_prefixes or shift it"
            )
        transformed = np.log(values) if log else values
        std = float(transformed.std())
        # A constant target (possible on tiny splits) would divide by zero; any scale then works.
        return cls(log=log, mean=float(transformed.mean()), std=std if std > 1e-12 else 1.0)

    def transform(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        return ((np.log(values) if self.log else values) - self.mean) / self.std

    def inverse(self, z: np.ndarray) -> np.ndarray:
        values = np.asarray(z, dtype=np.float64) * self.std + self.mean
        return np.exp(values) if self.log else values

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TargetScaler:
        return cls(log=bool(data["log"]), mean=float(data["mean"]), std=float(data["std"]))


def check_targets(archs: Sequence[Any], targets: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """``targets`` as float64 arrays, after checking they fit ``archs``; raises ValueError/TypeError."""
    if not isinstance(targets, Mapping):
        raise TypeError(f"targets must map objective names to arrays, got {type(targets).__name__}")
    if not targets:
        raise ValueError("targets is empty; give at least one objective, e.g. {'acc': values}")
    if len(archs) < 2:
        raise ValueError(f"need at least 2 training architectures, got {len(archs)}")
    checked: dict[str, np.ndarray] = {}
    for name, raw in targets.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"objective names must be non-empty strings, got {name!r}")
        values = np.asarray(raw, dtype=np.float64)
        if values.shape != (len(archs),):
            raise ValueError(
                f"objective {name!r} has shape {values.shape}, expected ({len(archs)},): one value per arch"
            )
        if not np.all(np.isfinite(values)):
            raise ValueError(f"objective {name!r} has {int(np.sum(~np.isfinite(values)))} non-finite values")
        checked[name] = values
    return checked
