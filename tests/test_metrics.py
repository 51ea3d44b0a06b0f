"""nasrlm.core.metrics: scipy's numbers, one rule for constant, short and NaN inputs; Predictions' intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from nasrlm.core.metrics import interval_coverage, kendall_tau, spearman_rho, within_fraction
from nasrlm.core.predictor import Predictions

RANKS = [(kendall_tau, stats.kendalltau), (spearman_rho, stats.spearmanr)]


@pytest.mark.parametrize(("ours", "theirs"), RANKS)
@pytest.mark.parametrize("seed", range(5))
def test_rank_correlations_equal_scipy_on_random_data(ours, theirs, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 300))
    truth = rng.normal(size=n)
    predicted = truth + rng.normal(scale=rng.uniform(0.1, 3), size=n)
    assert ours(truth, predicted) == theirs(truth, predicted).statistic  # bit for bit
    ties = np.round(predicted)  # ties on one side (tau-b's correction)
    assert ours(truth, ties) == theirs(truth, ties).statistic
    assert ours(list(truth), list(predicted)) == theirs(truth, predicted).statistic  # any sequence
    assert isinstance(ours(truth, predicted), float)


@pytest.mark.parametrize(("ours", "_"), RANKS)
def test_rank_correlations_follow_the_one_rule(ours, _):
    truth = np.arange(10.0)
    assert ours(truth, truth) == pytest.approx(1.0) and ours(truth, -truth) == pytest.approx(-1.0)
    # Constant: orders nothing, 0.0 (scipy: NaN), on either side.
    assert ours(truth, np.ones(10)) == 0.0 and ours(np.full(10, 3.0), truth) == 0.0
    # Too short: NaN; two pairs are enough.
    assert math.isnan(ours([], [])) and math.isnan(ours([1.0], [2.0]))
    assert ours([1.0, 2.0], [5.0, 3.0]) == pytest.approx(-1.0)
    # NaN anywhere propagates, even with a constant other side.
    with_nan = np.where(truth == 4, np.nan, truth)
    assert math.isnan(ours(with_nan, truth)) and math.isnan(ours(truth, with_nan))
    assert math.isnan(ours(with_nan, np.ones(10)))
    # Infinities are ordered, not missing.
    assert ours(truth, np.where(truth == 9, np.inf, truth)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="1-D arrays of one length"):
        ours(truth, truth[:5])
    with pytest.raises(ValueError, match="1-D arrays of one length"):
        ours(truth.reshape(2, 5), truth.reshape(2, 5))


def test_within_fraction():
    truth = np.array([10.0, 10.0, 10.0, 10.0, -10.0])
    predicted = np.array([10.0, 10.9, 11.0, 12.0, -10.5])
    assert within_fraction(truth, predicted) == pytest.approx(4 / 5)  # 11.0 sits on the bound: inside
    assert within_fraction(truth, predicted, rel=0.25) == 1.0
    assert within_fraction(truth, predicted, rel=0.0) == pytest.approx(1 / 5)
    assert within_fraction(truth, np.full(5, np.nan)) == 0.0  # NaN: a miss
    assert within_fraction([2.0], [2.1]) == 1.0 and math.isnan(within_fraction([], []))
    rng = np.random.default_rng(0)
    truth, predicted = rng.uniform(1, 5, 1000), rng.uniform(1, 5, 1000)
    assert within_fraction(truth, predicted) == np.mean(np.abs(predicted / truth - 1) <= 0.1 + 1e-12)
    with pytest.raises(ValueError, match="non-negative"):
        within_fraction(truth, predicted, rel=-0.1)
    with pytest.raises(ValueError, match="1-D arrays"):
        within_fraction(truth, predicted[:3])


def test_interval_coverage():
    truth = np.array([1.0, 2.0, 3.0, np.nan])
    low, high = np.array([1.0, 2.5, 0.0, 0.0]), np.array([1.0, 3.0, 3.0, 9.0])
    assert interval_coverage(truth, low, high) == pytest.approx(2 / 4)  # bounds inclusive; NaN outside
    assert math.isnan(interval_coverage([], [], []))
    with pytest.raises(ValueError, match="high of shape"):
        interval_coverage(truth, low, high[:2])


def test_prediction_intervals():
    rng = np.random.default_rng(0)
    samples = rng.normal(size=(50, 32))
    with_samples = Predictions(
        {"y": np.median(samples, axis=1)}, std={"y": samples.std(axis=1)}, samples={"y": samples}
    )
    low, high = with_samples.interval(0.9)["y"]
    np.testing.assert_allclose(low, np.quantile(samples, 0.05, axis=1), rtol=1e-12)
    np.testing.assert_allclose(high, np.quantile(samples, 0.95, axis=1), rtol=1e-12)
    gaussian = Predictions({"y": np.zeros(3)}, std={"y": np.ones(3)})
    low, high = gaussian.interval(0.9)["y"]
    np.testing.assert_allclose(high, 1.6448536, atol=1e-6)
    np.testing.assert_allclose(low, -high)
    assert with_samples.has_uncertainty and gaussian.has_uncertainty
    point_only = Predictions({"y": np.zeros(3)})
    assert not point_only.has_uncertainty
    with pytest.raises(ValueError, match="no uncertainty"):
        point_only.interval(0.5)
    with pytest.raises(ValueError, match="level must be in"):
        gaussian.interval(1.0)
