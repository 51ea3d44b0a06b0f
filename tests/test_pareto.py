from __future__ import annotations

import numpy as np
import pytest
from optuna._hypervolume import compute_hypervolume

from nasrlm.pareto import hypervolume, hypervolume_improvement, pareto_mask, to_minimization


def brute_mask(points: np.ndarray) -> np.ndarray:
    return np.array(
        [not any(np.all(q <= p) and np.any(q < p) for q in points) for p in points],
    )


@pytest.mark.parametrize("k", [2, 3])
def test_pareto_mask_matches_brute_force(k):
    rng = np.random.default_rng(k)
    points = rng.integers(0, 6, size=(60, k)).astype(float)  # many ties and duplicates
    assert np.array_equal(pareto_mask(points), brute_mask(points))


@pytest.mark.parametrize("k", [1, 2, 3])
def test_hypervolume_matches_optuna_wfg(k):
    rng = np.random.default_rng(10 + k)
    for _ in range(10):
        points = rng.random((25, k))
        reference = np.full(k, 1.05)
        expected = compute_hypervolume(points[pareto_mask(points)], reference) if k > 1 else 1.05 - points.min()
        assert hypervolume(points, reference) == pytest.approx(expected, abs=1e-12)


def test_hypervolume_ignores_points_beyond_the_reference():
    assert hypervolume(np.array([[2.0, 0.0], [0.0, 2.0]]), [1.0, 1.0]) == 0.0
    assert hypervolume(np.zeros((0, 2)), [1.0, 1.0]) == 0.0
    assert hypervolume(np.array([[0.5, 0.5]]), [1.0, 1.0]) == pytest.approx(0.25)


@pytest.mark.parametrize("k", [2, 3])
def test_improvement_equals_hypervolume_difference(k):
    rng = np.random.default_rng(20 + k)
    front = rng.random((15, k))
    reference = np.full(k, 1.1)
    candidates = rng.random((4, 6, k)) * 1.3 - 0.1  # some beyond the reference, some dominating all
    gains = hypervolume_improvement(candidates, front, reference)
    assert gains.shape == (4, 6)
    base = hypervolume(front, reference)
    for i in range(4):
        for j in range(6):
            expected = hypervolume(np.vstack([front, candidates[i, j]]), reference) - base
            assert gains[i, j] == pytest.approx(expected, abs=1e-10)


def test_improvement_over_an_empty_front_is_the_box():
    gains = hypervolume_improvement(np.array([[0.5, 0.5], [2.0, 0.0]]), np.zeros((0, 2)), [1.0, 1.0])
    assert gains == pytest.approx([0.25, 0.0])


def test_to_minimization_negates_maximized_objectives():
    assert to_minimization(np.array([[90.0, 5.0]]), [True, False]).tolist() == [[-90.0, 5.0]]
    with pytest.raises(ValueError, match="objectives"):
        to_minimization(np.zeros((2, 3)), [True, False])
