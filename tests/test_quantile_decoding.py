"""Quantiles decoded at once (RegressionLM.quantile_tokens) and the medians predictions take from them."""

from __future__ import annotations

import itertools

import numpy as np
import torch

from nasrlm.rlm.surrogate import Surrogate
from nasrlm.rlm.training import encode_states
from tests.test_rlm import trained  # noqa: F401  (the fixture)


def _states(surrogate: Surrogate, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    ids, mask, _ = surrogate._encode_inputs(surrogate.texts(texts))
    with torch.no_grad():
        return surrogate.model.with_values(encode_states(surrogate.model, ids, mask), ids), mask


def _values(surrogate: Surrogate, tokens: torch.Tensor, fraction: torch.Tensor) -> np.ndarray:
    numbers = surrogate.model.numbers
    values = numbers.decode_batch(tokens[:, None].numpy())[:, 0]
    return values + (fraction.numpy() - 0.5) * numbers.bin_width_batch(tokens[:, None].numpy())[:, 0]


def test_the_decoded_median_splits_many_samples_in_half(trained):  # noqa: F811
    surrogate, texts, _, _ = trained
    states, mask = _states(surrogate, texts[:6])
    with torch.no_grad():
        tokens, fraction = surrogate.model.quantile_tokens(states, mask, ["y1"], 0.5, temperature=2.0)
        samples = surrogate.model.sample_tokens(
            states, mask, ["y1"], 4000, temperature=2.0, generator=torch.Generator().manual_seed(0)
        )
    median = _values(surrogate, tokens, fraction)[:, 0]
    numbers = surrogate.model.numbers
    drawn = numbers.decode_batch(samples.numpy())[:, :, 0]  # [6, 4000]
    widths = numbers.bin_width_batch(samples.numpy())[:, :, 0]
    spread = drawn + (np.random.default_rng(0).random(drawn.shape) - 0.5) * widths  # the histogram's density
    below = (spread < median[:, None]).mean(axis=1)
    np.testing.assert_allclose(below, 0.5, atol=0.04)  # 4000 draws: a standard error of .008


def test_quantiles_rise_with_q_and_greedy_decoding_is_temperature_zero(trained):  # noqa: F811
    surrogate, texts, _, _ = trained
    states, mask = _states(surrogate, texts[:20])
    with torch.no_grad():
        levels = [
            _values(surrogate, *surrogate.model.quantile_tokens(states, mask, ["y1", "y2"], q, temperature=1.5))
            for q in (0.05, 0.25, 0.5, 0.75, 0.95)
        ]
        greedy, _ = surrogate.model.quantile_tokens(states, mask, ["y1", "y2"], 0.5, temperature=0)
        argmax = surrogate.model.sample_tokens(states, mask, ["y1", "y2"], 1, temperature=0)[:, 0]
    # y1's levels rise; y2 is decoded conditioned on y1's level, so only y1 is compared.
    for low, high in itertools.pairwise(levels):
        assert (low[:, 0] <= high[:, 0]).all()
    assert (levels[-1][:, 0] > levels[0][:, 0]).any()
    torch.testing.assert_close(greedy, argmax)


def test_negative_numbers_are_ordered_by_value(trained):  # noqa: F811
    """Under <->, larger exponents and digits are smaller values: the quantiles still rise with q."""
    surrogate, texts, _, _ = trained
    states, mask = _states(surrogate, texts[:10])
    t = surrogate.model.numbers.tokens_per_number
    given = torch.full((10, 1, t), -1, dtype=torch.long)
    given[:, 0, 0] = 1  # the sign <->: every number negative
    with torch.no_grad():
        levels = [
            _values(surrogate, *surrogate.model.quantile_tokens(states, mask, ["y1"], q, temperature=2.0, given=given))
            for q in (0.1, 0.5, 0.9)
        ]
    assert (levels[0] < 0).all() and (levels[2] < 0).all()
    assert (levels[0] <= levels[1]).all() and (levels[1] <= levels[2]).all()
    assert (levels[2] > levels[0]).any()


def test_predictions_take_the_decoded_median_as_their_point(trained):  # noqa: F811
    surrogate, texts, _, _ = trained
    prediction = surrogate.predict(texts[:15], num_samples=8)
    assert prediction.medians is not None and prediction.medians.shape == (15, 2)
    np.testing.assert_array_equal(prediction.point["y1"], prediction.medians[:, 0])
    sampled = np.median(prediction.decoded[:, :, 0], axis=1)
    # The decoded median and the samples' median agree to within the samples' spread.
    assert np.all(np.abs(sampled - prediction.point["y1"]) <= prediction.samples[:, :, 0].std(axis=1) * 3 + 1e-9)
    assert surrogate.predict(texts[:15], num_samples=8, point="mean").medians is None
    again = surrogate.predict(texts[:15], num_samples=8, seed=5)
    np.testing.assert_array_equal(again.point["y1"], prediction.point["y1"])  # no chance in it
