"""Train/test splits shared by every predictor, so that all of them are compared on identical data."""

from __future__ import annotations

import operator

import numpy as np

__all__ = ["random_split"]


def random_split(n_total: int, n_train: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n_train`` indices drawn uniformly without replacement from ``range(n_total)``, and the rest.

    Both arrays are sorted, so the split depends on ``(n_total, n_train, seed)`` only and not on
    any later processing order; the same three numbers give the same split on every machine (numpy's
    ``default_rng`` stream is stable across platforms and versions).
    """
    n_total, n_train, seed = operator.index(n_total), operator.index(n_train), operator.index(seed)
    if n_total < 1:
        raise ValueError(f"n_total must be positive, got {n_total}")
    if not 0 < n_train < n_total:
        raise ValueError(f"n_train must be between 1 and n_total - 1 = {n_total - 1}, got {n_train}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    chosen = np.zeros(n_total, dtype=bool)
    chosen[np.random.default_rng(seed).choice(n_total, size=n_train, replace=False)] = True
    return np.flatnonzero(chosen), np.flatnonzero(~chosen)
