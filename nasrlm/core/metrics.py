"""The scores that compare predictions with the truth, defined once for the whole project.

Rank correlations (higher = the predictor orders archs better) and error shares, used by the report,
``nasrlm verify``, the baselines' tests and the benchmarks in ``experiments/``. Every function takes
``(truth, predicted)``, two 1-D arrays of one length (anything else is a ``ValueError``), and
returns a Python float.

One rule for inputs on which a score is not informative:

* **NaN anywhere** (in either array): the rank correlations are NaN (propagated, never silently
  dropped: a NaN prediction is a bug to see, not a pair to skip). The shares count a pair with a NaN
  on either side as a miss (a NaN prediction is not within 10 % of anything, nor inside an interval).
* **Too short**: a rank correlation of fewer than 2 pairs (nothing to order) is NaN; a share of no
  pairs at all is NaN (a share of one pair is that pair's hit or miss).
* **Constant**: when either side of a rank correlation has one value only (a predictor that predicts
  the same number for every arch, or a test set of equal truths), it orders nothing: the score is
  0.0, as for a random ordering (scipy would give NaN and a warning).

Otherwise the rank correlations are scipy's own numbers (``kendalltau``: tau-b, ties handled;
``spearmanr``), to the last bit.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["interval_coverage", "kendall_tau", "spearman_rho", "within_fraction"]

WITHIN = 0.10  # "within ±10 %": |predicted - true| <= 0.10 * |true|


def _pair(truth: Any, predicted: Any, names: tuple[str, str] = ("truth", "predicted")) -> tuple[np.ndarray, np.ndarray]:
    truth, predicted = np.asarray(truth, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    if truth.shape != predicted.shape or truth.ndim != 1:
        raise ValueError(
            f"need two 1-D arrays of one length, got {names[0]} of shape {truth.shape} "
            f"and {names[1]} of shape {predicted.shape}"
        )
    return truth, predicted


def _rank_input(truth: Any, predicted: Any) -> tuple[np.ndarray, np.ndarray] | float:
    """The checked pair, or the score the rule gives without computing (NaN or 0.0)."""
    truth, predicted = _pair(truth, predicted)
    if len(truth) < 2 or np.isnan(truth).any() or np.isnan(predicted).any():
        return math.nan
    if np.all(truth == truth[0]) or np.all(predicted == predicted[0]):
        return 0.0
    return truth, predicted


def kendall_tau(truth: Any, predicted: Any) -> float:
    """Kendall's tau-b (ties handled), as scipy computes it; 0.0 when a side is constant, NaN when a
    side holds NaN or there are fewer than 2 pairs (see the module's rule)."""
    pair = _rank_input(truth, predicted)
    if isinstance(pair, float):
        return pair
    return float(stats.kendalltau(*pair).statistic)


def spearman_rho(truth: Any, predicted: Any) -> float:
    """Spearman's rank correlation, as scipy computes it; 0.0 when a side is constant, NaN when a side
    holds NaN or there are fewer than 2 pairs (see the module's rule)."""
    pair = _rank_input(truth, predicted)
    if isinstance(pair, float):
        return pair
    return float(stats.spearmanr(*pair).statistic)


def within_fraction(truth: Any, predicted: Any, rel: float = WITHIN) -> float:
    """Share of predictions within ``rel`` (relative) of the truth: ``|predicted - truth| <= rel * |truth|``.

    NaN on either side of a pair counts as a miss; no pairs at all give NaN.
    """
    truth, predicted = _pair(truth, predicted)
    if not rel >= 0:
        raise ValueError(f"rel must be a non-negative tolerance, got {rel!r}")
    if len(truth) == 0:
        return math.nan
    return float(np.mean(np.abs(predicted - truth) <= rel * np.abs(truth)))


def interval_coverage(truth: Any, low: Any, high: Any) -> float:
    """Share of true values inside their interval ``[low, high]`` (bounds included), e.g. the central
    90 % of a predictor's samples; calibrated intervals cover their level.

    A NaN truth or bound counts as outside; no values at all give NaN.
    """
    truth, low = _pair(truth, low, ("truth", "low"))
    _, high = _pair(truth, high, ("truth", "high"))
    if len(truth) == 0:
        return math.nan
    return float(np.mean((low <= truth) & (truth <= high)))
