"""Rank correlations used to compare predictors (higher = the predictor orders archs better)."""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["kendall_tau", "spearman_rho"]


def _pair(truth: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    truth, predicted = np.asarray(truth, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    if truth.shape != predicted.shape or truth.ndim != 1 or len(truth) < 2:
        raise ValueError(f"need two 1-D arrays of one length >= 2, got shapes {truth.shape} and {predicted.shape}")
    return truth, predicted


def kendall_tau(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Kendall's tau-b (ties handled); 0.0 when either side is constant (no ordering at all)."""
    truth, predicted = _pair(truth, predicted)
    tau = stats.kendalltau(truth, predicted).statistic
    return 0.0 if np.isnan(tau) else float(tau)


def spearman_rho(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Spearman's rank correlation; 0.0 when either side is constant."""
    truth, predicted = _pair(truth, predicted)
    rho = stats.spearmanr(truth, predicted).statistic
    return 0.0 if np.isnan(rho) else float(rho)
