"""Per-objective target transforms: what the decoder writes instead of the raw metric.

The number tokenizer writes ``sign exponent d1 d2 d3 d4``. On raw metrics the first tokens carry
little (accuracy is always ``<+> <E1> <8|9>``) and objectives differ in scale: a new objective's
embedding starts where the others were, so its first predictions carry their scale (a phone's
latency under-predicted by half). A transform maps each objective's training range onto [1, 9]:
the exponent is then always ``<E0>``, the first digit is a decile of the range, and every later
digit refines it, whatever the metric's unit. Latencies, FLOPs and other right-skewed positive
metrics are mapped on a log scale, so that their many small values are not crammed into one digit.

The transform is fitted once, when an objective is first trained, and kept with the model, so a
model fine-tuned again (a search refitting after every few trials) keeps reading its own numbers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from scipy.stats import skew

__all__ = ["TRANSFORM_KINDS", "TargetTransform"]

TRANSFORM_KINDS = ("identity", "affine", "log_affine", "quantile", "auto")
_QUANTILE_KNOTS = 65  # knots of the piecewise-linear quantile map: 64 segments, each an eighth of a digit
_LOW, _HIGH = 1.0, 9.0  # the training range lands here: exponent 0, with room up to 10 to extrapolate
# auto picks quantile when the middle 90 % of the values would share under 0.4 of one leading digit.
_CROWDED_SHARE = 0.05


def _crowded(scaled: np.ndarray) -> bool:
    """Whether a few far-out values would squash the rest into one digit under an affine map: the
    middle 90 % of the values spans under :data:`_CROWDED_SHARE` of the whole range. jacob_cov is
    the case: a handful of degenerate networks score -7e5, the rest -8.2 to -8.0, and the decoder
    would have to write the 4th digit to tell any two of those apart."""
    if len(scaled) < 20:
        return False
    low, high = float(scaled.min()), float(scaled.max())
    middle = float(np.quantile(scaled, 0.95) - np.quantile(scaled, 0.05))
    # A middle of zero width is a label with few values (a count mostly 0): affine keeps it exact.
    return 0.0 < middle < _CROWDED_SHARE * (high - low)


@dataclass(frozen=True)
class TargetTransform:
    """``quantile`` maps the training values' empirical quantiles evenly onto [1, 9] (piecewise
    linear through ``knots``, linear beyond them): on a metric crowded into a small part of its
    range (accuracy: most networks within a few points of the best) the first digit then splits
    the networks into ninths by rank instead of leaving them all on one digit."""

    kind: Literal["identity", "affine", "log_affine", "quantile"] = "identity"
    low: float = 0.0  # the training range, after the log for ``log_affine``
    high: float = 1.0
    knots: tuple[float, ...] = ()  # quantile only: values at evenly spaced quantiles, increasing

    @classmethod
    def fit(cls, values: np.ndarray, kind: str = "auto") -> TargetTransform:
        """The transform of ``kind`` for these training values; ``auto`` picks log or not by skewness,
        and quantile where a few far-out values would crowd the rest into one digit."""
        if kind not in TRANSFORM_KINDS:
            raise ValueError(f"unknown target transform {kind!r}; valid: {', '.join(TRANSFORM_KINDS)}")
        values = np.asarray(values, dtype=np.float64)
        if kind == "identity" or len(values) == 0:
            return cls()
        positive = bool((values > 0).all())
        if kind == "auto":
            # Log where it makes the distribution more symmetric (latency, FLOPs), not otherwise
            # (accuracy is skewed left: a log would skew it further).
            symmetric_in_log = positive and len(values) > 2 and abs(skew(np.log(values))) < abs(skew(values))
            kind = "log_affine" if symmetric_in_log else "affine"
            if _crowded(np.log(values) if kind == "log_affine" else values):
                kind = "quantile"
        if kind == "quantile":
            knots = np.unique(np.quantile(values, np.linspace(0, 1, _QUANTILE_KNOTS)))
            if len(knots) < 2:
                knots = np.array([knots[0] - 0.5, knots[0] + 0.5])
            return cls("quantile", float(knots[0]), float(knots[-1]), tuple(float(k) for k in knots))
        if kind == "log_affine" and not positive:
            raise ValueError("a log_affine target transform needs positive values; use affine")
        scaled = np.log(values) if kind == "log_affine" else values
        low, high = float(scaled.min()), float(scaled.max())
        if high - low < 1e-12 * max(1.0, abs(low)):  # a constant: any width maps it to the middle
            low, high = low - 0.5, high + 0.5
        return cls(kind, low, high)  # type: ignore[arg-type]

    def _levels(self) -> np.ndarray:
        return np.linspace(_LOW, _HIGH, len(self.knots))

    def forward(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        if self.kind == "identity":
            return values
        if self.kind == "quantile":
            knots, slope = np.array(self.knots), (_HIGH - _LOW) / (self.high - self.low)
            inside = np.interp(values, knots, self._levels())
            return np.where(values < knots[0], _LOW + (values - knots[0]) * slope, inside) + np.where(
                values > knots[-1], (values - knots[-1]) * slope, 0.0
            )
        scaled = np.log(np.maximum(values, 1e-300)) if self.kind == "log_affine" else values
        return _LOW + (_HIGH - _LOW) * (scaled - self.low) / (self.high - self.low)

    def inverse(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        if self.kind == "identity":
            return values
        if self.kind == "quantile":
            knots, slope = np.array(self.knots), (self.high - self.low) / (_HIGH - _LOW)
            inside = np.interp(values, self._levels(), knots)
            return np.where(values < _LOW, knots[0] + (values - _LOW) * slope, inside) + np.where(
                values > _HIGH, (values - _HIGH) * slope, 0.0
            )
        scaled = self.low + (values - _LOW) * (self.high - self.low) / (_HIGH - _LOW)
        # exp of a far-out sample overflows; clip to a range no metric reaches instead of inf.
        return np.exp(np.clip(scaled, -700, 700)) if self.kind == "log_affine" else scaled

    def to_dict(self) -> dict[str, float | str | list[float]]:
        data = asdict(self)
        data["knots"] = list(self.knots)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> TargetTransform:
        knots = tuple(float(k) for k in data.get("knots", ()))
        return cls(data["kind"], float(data["low"]), float(data["high"]), knots)
