"""Pareto fronts and hypervolumes, in a minimization frame.

Objectives to maximize are negated first (:func:`to_minimization`), so everything here minimizes.
Two objectives (the common accuracy/latency case) get exact vectorized code: the hypervolume
improvement of tens of thousands of surrogate samples over the current front costs milliseconds,
which is what lets the RLM sampler score a whole candidate pool by expected improvement. More
objectives fall back on Optuna's exact WFG algorithm.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "hypervolume",
    "hypervolume_improvement",
    "pareto_mask",
    "to_minimization",
]


def to_minimization(values: np.ndarray, maximize: Sequence[bool]) -> np.ndarray:
    """``values`` [..., K] with the maximized objectives negated."""
    values = np.asarray(values, dtype=np.float64)
    if values.shape[-1] != len(maximize):
        raise ValueError(f"values have {values.shape[-1]} objectives, directions {len(maximize)}")
    signs = np.where(np.asarray(maximize, dtype=bool), -1.0, 1.0)
    return values * signs


def pareto_mask(points: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``points`` [N, K] (minimization; duplicates all kept)."""
    points = np.asarray(points, dtype=np.float64)
    n = len(points)
    mask = np.ones(n, dtype=bool)
    for i in range(n):
        if not mask[i]:
            continue
        dominated = np.all(points[i] <= points, axis=1) & np.any(points[i] < points, axis=1)
        mask &= ~dominated
    return mask


def _hv_2d(points: np.ndarray, reference: np.ndarray) -> float:
    inside = points[np.all(points < reference, axis=1)]
    if len(inside) == 0:
        return 0.0
    inside = inside[np.lexsort((inside[:, 1], inside[:, 0]))]
    # Sweep by the first objective; each point adds the strip below the best second objective so far.
    best_y = np.minimum.accumulate(inside[:, 1])
    x_next = np.append(inside[1:, 0], reference[0])
    return float(np.sum((x_next - inside[:, 0]) * (reference[1] - best_y)))


def hypervolume(points: np.ndarray, reference: Sequence[float]) -> float:
    """Volume dominated by ``points`` [N, K] and bounded by ``reference`` (minimization)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, len(reference))
    reference = np.asarray(reference, dtype=np.float64)
    if points.shape[1] == 1:
        return float(max(0.0, reference[0] - points[:, 0].min())) if len(points) else 0.0
    if points.shape[1] == 2:
        return _hv_2d(points, reference)
    inside = points[np.all(points < reference, axis=1)]
    if len(inside) == 0:
        return 0.0
    from optuna._hypervolume import compute_hypervolume  # exact WFG; no public equivalent in Optuna

    return float(compute_hypervolume(inside[pareto_mask(inside)], reference, assume_pareto=True))


def hypervolume_improvement(candidates: np.ndarray, front: np.ndarray, reference: Sequence[float]) -> np.ndarray:
    """How much each candidate point [..., K] would add to the hypervolume of ``front`` [F, K]."""
    candidates = np.asarray(candidates, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    k = len(reference)
    flat = candidates.reshape(-1, k)
    front = np.asarray(front, dtype=np.float64).reshape(-1, k)
    front = front[np.all(front < reference, axis=1)]
    if k != 2:
        base = hypervolume(front, reference)
        out = np.array([hypervolume(np.vstack([front, p]), reference) - base for p in flat])
        return out.reshape(candidates.shape[:-1])
    # Exact 2-D: the candidate's box [p, ref] minus the part of it the front already dominates.
    # Clipping the front into the box keeps it a staircase, whose area is a sorted sweep.
    box = np.prod(np.clip(reference - flat, 0.0, None), axis=1)
    if len(front) == 0:
        return box.reshape(candidates.shape[:-1])
    front = front[pareto_mask(front)]
    front = front[np.argsort(front[:, 0])]  # x ascending, so y descending on a front
    clipped_x = np.clip(np.maximum(front[None, :, 0], flat[:, None, 0]), None, reference[0])
    clipped_y = np.clip(np.maximum(front[None, :, 1], flat[:, None, 1]), None, reference[1])
    x_next = np.concatenate([clipped_x[:, 1:], np.full((len(flat), 1), reference[0])], axis=1)
    covered = np.sum((x_next - clipped_x) * (reference[1] - clipped_y), axis=1)
    return np.clip(box - covered, 0.0, None).reshape(candidates.shape[:-1])
