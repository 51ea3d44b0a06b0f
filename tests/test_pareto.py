from __future__ import annotations

import itertools

import numpy as np
import pytest

from nasrlm.search.pareto import hypervolume, hypervolume_improvement, pareto_mask, to_minimization


def brute_mask(points: np.ndarray) -> np.ndarray:
    return np.array(
        [not any(np.all(q <= p) and np.any(q < p) for q in points) for p in points],
    )


@pytest.mark.parametrize("k", [2, 3])
def test_pareto_mask_matches_brute_force(k):
    rng = np.random.default_rng(k)
    points = rng.integers(0, 6, size=(60, k)).astype(float)  # many ties and duplicates
    assert np.array_equal(pareto_mask(points), brute_mask(points))


def inclusion_exclusion_hypervolume(points: np.ndarray, reference: np.ndarray) -> float:
    """The union of the boxes [p, reference] by inclusion-exclusion: slow, obviously exact."""
    boxes = [p for p in points if np.all(p < reference)]
    total = 0.0
    for size in range(1, len(boxes) + 1):
        for subset in itertools.combinations(boxes, size):
            corner = np.max(subset, axis=0)  # the intersection of boxes is the box of their worst corner
            total += (-1) ** (size + 1) * np.prod(reference - corner)
    return total


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_hypervolume_matches_inclusion_exclusion(k):
    rng = np.random.default_rng(10 + k)
    for _ in range(10):
        points = rng.random((9, k)) * 1.1  # some beyond the reference
        reference = np.full(k, 1.05)
        expected = inclusion_exclusion_hypervolume(points, reference)
        assert hypervolume(points, reference) == pytest.approx(expected, abs=1e-12)


def test_hypervolume_ignores_points_beyond_the_reference():
    assert hypervolume(np.array([[2.0, 0.0], [0.0, 2.0]]), [1.0, 1.0]) == 0.0
    assert hypervolume(np.zeros((0, 2)), [1.0, 1.0]) == 0.0
    assert hypervolume(np.array([[0.5, 0.5]]), [1.0, 1.0]) == pytest.approx(0.25)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
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
    gains = hypervolume_improvement(np.array([[0.5, 0.5, 0.5]]), np.zeros((0, 3)), [1.0, 1.0, 1.0])
    assert gains == pytest.approx([0.125])


def test_improvement_is_computed_in_chunks_alike():
    rng = np.random.default_rng(3)
    front, candidates, reference = rng.random((12, 3)), rng.random((500, 3)) * 1.2 - 0.1, np.full(3, 1.1)
    whole = hypervolume_improvement(candidates, front, reference)
    assert np.array_equal(hypervolume_improvement(candidates, front, reference, chunk=7), whole)
    assert (whole > 0).any() and (whole == 0).any()


def test_to_minimization_negates_maximized_objectives():
    assert to_minimization(np.array([[90.0, 5.0]]), [True, False]).tolist() == [[-90.0, 5.0]]
    with pytest.raises(ValueError, match="objectives"):
        to_minimization(np.zeros((2, 3)), [True, False])
