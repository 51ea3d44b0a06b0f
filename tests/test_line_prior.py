"""The costs line's prior mean: a ridge line on the line's values, the decoder writing the residual."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

from nasrlm.core.metrics import kendall_tau
from nasrlm.rlm.line_prior import (
    COSTS,
    CV_MIN_ROWS,
    DECODER_MARGIN,
    MIN_ROWS,
    LineComparison,
    LineFeatures,
    LinePrior,
    compare_with_decoder,
)
from nasrlm.rlm.model import DecoderConfig, EncoderConfig
from nasrlm.rlm.surrogate import Surrogate
from nasrlm.rlm.text_tokenizer import TextTokenizerConfig
from nasrlm.rlm.training import TrainConfig
from nasrlm.text.onnx_text import to_onnx_text


def test_the_line_is_fitted_and_the_residual_round_trips():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(40, 3))
    features[:, 2] = 1.5  # a value every row states alike carries nothing
    encoded = 2.0 + 1.5 * features[:, 0] - 0.5 * features[:, 1] + rng.normal(scale=0.01, size=40)
    prior = LinePrior.fit(encoded, features, ridge=1e-6)
    assert not prior.log  # values of both signs: a line in the values themselves
    np.testing.assert_allclose(prior.weights, [1.5, -0.5, 0.0], atol=0.01)
    written = prior.forward(encoded, features)
    assert written.min() == pytest.approx(1.0) and written.max() == pytest.approx(9.0)  # the digit range
    np.testing.assert_allclose(prior.inverse(written, features), encoded)
    samples = np.stack([written, written + 0.1], axis=1)  # [N, samples]: one prior mean per row
    np.testing.assert_allclose(prior.inverse(samples, features)[:, 0], encoded)
    assert LinePrior.from_dict(prior.to_dict()) == prior
    assert prior.loo_r2 > 0.99
    unrelated = LinePrior.fit(rng.normal(size=40), features)
    assert unrelated.loo_r2 < 0.2  # held-out rows: no better than their mean
    few = LinePrior.fit(encoded[: MIN_ROWS - 1], features[: MIN_ROWS - 1])
    assert few.loo_r2 == -np.inf  # too few rows to tell a line that generalizes from a lucky one


def test_positive_values_follow_a_power_law_in_the_stated_decades():
    rng = np.random.default_rng(1)
    decades = rng.uniform(0, 2, size=(30, 3))
    params = 1e6 * 10 ** decades[:, 1]  # a parameter count, stated on the line in decades from 10^6
    prior = LinePrior.fit(params, decades, ridge=1e-6)
    assert prior.log and prior.loo_r2 > 0.999
    np.testing.assert_allclose(prior.weights, [0.0, math.log(10), 0.0], atol=1e-3)
    np.testing.assert_allclose(prior.mean(decades), params, rtol=1e-3)
    np.testing.assert_allclose(prior.inverse(prior.forward(params, decades), decades), params)


def test_the_ridge_keeps_collinear_values_from_trading_huge_weights():
    macs = np.linspace(0, 2, 16)
    features = np.stack([macs, macs + 1e-6 * np.sin(np.arange(16)), np.zeros(16)], axis=1)
    prior = LinePrior.fit(3.0 * macs, features)
    assert max(abs(w) for w in prior.weights) < 3.0  # shared between the twins, not +-1e6
    with pytest.raises(ValueError, match="one feature row per target"):
        LinePrior.fit(macs, features[:5])


def test_a_line_that_predicts_alone_spreads_its_samples_by_its_held_out_errors_in_the_decoders_order():
    rng = np.random.default_rng(5)
    weights = np.array([1.0, 0.5, 0.0])
    features = rng.normal(size=(60, 3))
    values = 1.0 + features @ weights + rng.normal(scale=0.3, size=60)
    with_residual = LinePrior.fit(values, features)
    alone = dataclasses.replace(with_residual, point_from_line=True)
    assert len(alone.held_out_errors) == 60 and 0.2 < np.std(alone.held_out_errors) < 0.4
    unseen = rng.normal(size=(4000, 3))
    truth = 1.0 + unseen @ weights + rng.normal(scale=0.3, size=4000)
    written = rng.uniform(1, 9, size=(4000, 32))  # what a decoder wrote, 32 samples a row
    samples = alone.inverse(written, unseen)
    # The decoder orders each row's samples; the spread is the line's held-out error: intervals cover
    # as they say (over draws of the 60 rows: one draw's errors cover 90 % +- 4 %).
    np.testing.assert_array_equal(np.argsort(samples, axis=1), np.argsort(written, axis=1))
    covered = []
    for draw in range(10):
        rows = np.random.default_rng(100 + draw).normal(size=(60, 3))
        drawn = 1.0 + rows @ weights + np.random.default_rng(200 + draw).normal(scale=0.3, size=60)
        spread_out = dataclasses.replace(LinePrior.fit(drawn, rows), point_from_line=True).inverse(written, unseen)
        bounds = np.quantile(spread_out, [0.25, 0.75, 0.05, 0.95], axis=1)
        covered.append([np.mean((bounds[k] <= truth) & (truth <= bounds[k + 1])) for k in (0, 2)])
    assert 0.45 < np.mean(covered, axis=0)[0] < 0.55 and 0.86 < np.mean(covered, axis=0)[1] < 0.94
    np.testing.assert_allclose(alone.inverse(written[:, 0], unseen), alone.mean(unseen))  # one sample: the point
    # Saved without its errors (before they were kept): the decoder's spread around the line's point.
    legacy = LinePrior.from_dict({**alone.to_dict(), "held_out_errors": None})
    spread = legacy.inverse(written, unseen)
    np.testing.assert_allclose(np.median(spread, axis=1), alone.mean(unseen))
    decoded = with_residual.inverse(written, unseen)
    np.testing.assert_allclose(spread - spread.mean(1, keepdims=True), decoded - decoded.mean(1, keepdims=True))
    assert LinePrior.from_dict(alone.to_dict()) == alone
    assert not LinePrior.from_dict({**alone.to_dict(), "point_from_line": None}).point_from_line


def test_a_line_on_ranks_is_not_turned_by_a_diverged_run_and_predicts_in_the_targets_units():
    rng = np.random.default_rng(2)
    features = rng.normal(size=(24, 2))
    accuracy = 90.0 + 2.0 * features[:, 0] + rng.normal(scale=0.2, size=24)
    diverged = accuracy.copy()
    diverged[np.argmax(features[:, 0])] = 10.0  # the best arch's training failed: 10 % accuracy
    unseen = rng.normal(size=(500, 2))
    truth = 90.0 + 2.0 * unseen[:, 0]
    on_values, on_ranks = LinePrior.fit(diverged, features), LinePrior.fit(diverged, features, ranks=True)
    # One row of 24 turns the line on the values against the trend; on ranks it is one low rank.
    assert kendall_tau(truth, on_ranks.mean(unseen)) > 0.5 > 0.0 > kendall_tau(truth, on_values.mean(unseen))
    clean = LinePrior.fit(accuracy, features, ranks=True)
    assert clean.ranks and np.corrcoef(truth, clean.mean(unseen))[0, 1] > 0.98
    assert abs(np.mean(clean.mean(unseen)) - 90.0) < 0.5  # mapped onto the targets, not their ranks
    assert LinePrior.from_dict(clean.to_dict()) == clean


def test_line_features_name_the_costs_and_count_ops_on_a_log_scale():
    costs = np.array([[1.0, 2.0, 3.0], [1.5, 2.5, 3.5]])
    features = LineFeatures.from_costs(costs, [{"Conv 3x3": 3, "Relu": 1}, {"Relu": 7}])
    assert features.names == (*COSTS, "ops: Conv 3x3", "ops: Relu")
    np.testing.assert_allclose(features.values[:, 3:], np.log1p([[3, 1], [0, 7]]))
    # A kind these texts never run reads as none of it; a value no text states is an error.
    np.testing.assert_allclose(features.columns(["ops: MaxPool 3x3", "params"]), [[0.0, 2.0], [0.0, 2.5]])
    with pytest.raises(ValueError, match="no line value 'flops'"):
        features.columns(["flops"])
    assert LineFeatures.from_costs(costs[:, 1:]).names == COSTS[1:]  # the last values the model reads
    assert len(features[np.array([1])]) == 1 and features[np.array([1])].names == features.names


def test_select_keeps_the_line_of_highest_held_out_r2_and_reads_its_own_columns():
    rng = np.random.default_rng(3)
    n = 24
    costs = rng.normal(size=(n, 3))
    convs = rng.integers(0, 40, size=n)  # few ties: a rank line on a tied count fits it less well
    census = [{"Conv 3x3": int(c), "Relu": 4, "Add": int(rng.integers(0, 3))} for c in convs]
    features = LineFeatures.from_costs(costs, census)
    # A metric that follows the count of 3x3 convs, which the costs do not state: that count alone.
    follows_convs = 3.0 * np.sqrt(1.0 + convs) * np.exp(rng.normal(scale=0.01, size=n))  # a power law
    prior = LinePrior.select(follows_convs, features)
    assert prior.names == ("ops: Conv 3x3",) and prior.loo_r2 > 0.9  # on ranks: a curve in the count's log
    assert prior.loo_r2 > LinePrior.fit(follows_convs, features, ranks=True).loo_r2  # beats the line on every value
    # Read by name: a table of other texts, with other kinds and another column order, is read right.
    other = LineFeatures.from_costs(costs[:2], [{"MaxPool 3x3": 1}, {"Conv 3x3": 5}])
    np.testing.assert_allclose(prior.mean(other), [3.0, 3.0 * np.sqrt(6.0)], rtol=0.05)  # ridge shrinks a little
    assert LinePrior.from_dict(prior.to_dict()) == prior
    # A metric of the costs keeps the costs line (the first of equals); a constant count is no line.
    follows_costs = costs @ np.array([1.0, -0.5, 0.2]) + rng.normal(scale=0.01, size=n)
    assert LinePrior.select(follows_costs, features).names in (COSTS, features.names)
    assert LinePrior.select(follows_costs, LineFeatures.from_costs(costs)).names == COSTS
    # A prior saved before the census weighs the costs.
    legacy = prior.to_dict()
    del legacy["names"]
    assert LinePrior.from_dict(legacy).names == COSTS


def _net(channels: int) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, channels, 3, padding=1), nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1), nn.Flatten()
    ).eval()


def _surrogate(texts: list[str], value_tokens: bool = True) -> Surrogate:
    surrogate = Surrogate.new(
        ("known",),
        texts,
        tokenizer=TextTokenizerConfig(vocab_size=300, max_length=512, truncation="tail"),
        encoder=EncoderConfig(d_model=32, n_layers=1, n_heads=2, d_ff=64, max_length=64, window=64),
        decoder=DecoderConfig(d_model=32, n_layers=1, n_heads=2, d_ff=64),
        text_form="costed",
    )
    return surrogate.with_value_tokens() if value_tokens else surrogate


def _latency(channels: np.ndarray) -> np.ndarray:
    return 1e-3 * (channels.astype(float) ** 1.6)  # a power of the MACs: a line in decades


def test_a_fit_with_the_prior_ranks_by_the_costs_line_and_keeps_it(tmp_path):
    train, test = np.arange(4, 4 + 2 * MIN_ROWS, 2), np.array([5, 11, 17, 23, 29])
    texts = [to_onnx_text(_net(int(c)), torch.zeros(1, 3, 8, 8)) for c in (*train, *test)]
    train_texts, test_texts = texts[: len(train)], texts[len(train) :]
    config = TrainConfig(epochs=1, batch_size=3, progress=False)
    surrogate = _surrogate(texts)
    surrogate.fit(
        train_texts, {"known": _latency(train)}, config, line_prior_min_r2=0.5, line_prior_folds=0
    )  # a known objective
    log_line = {"latency": _latency(train)}
    surrogate.fit(
        train_texts, log_line, config, line_prior_min_r2=0.5, line_prior_folds=0, target_transform="log_affine"
    )
    assert set(surrogate.line_priors) == {"known", "latency"}
    assert not surrogate.line_priors["latency"].point_from_line  # kept by the bar: the decoder adds its residual
    # One epoch teaches a 1-layer decoder nothing; the prior alone ranks unseen widths, scaled right.
    point = surrogate.predict(test_texts, objectives=["latency"], seed=1).point["latency"]
    assert spearmanr(point, _latency(test))[0] == pytest.approx(1.0)
    np.testing.assert_allclose(point, _latency(test), rtol=0.5)
    # A given value is written as its residual and read back (to the digits the decoder writes).
    given = surrogate.sample(test_texts, num_samples=2, given={"known": _latency(test)}, objectives=["known"])
    np.testing.assert_allclose(given[:, 0, 0], _latency(test), rtol=1e-3)
    # Fitted once and kept: a second fit on other rows keeps it; saving keeps it.
    kept = surrogate.meta["line_priors"]["latency"]
    surrogate.fit(test_texts, {"latency": 2 * _latency(test)}, config, line_prior_min_r2=0.5, line_prior_folds=0)
    assert surrogate.meta["line_priors"]["latency"] == kept
    surrogate.save(tmp_path / "m")
    loaded = Surrogate.load(tmp_path / "m")
    assert loaded.line_priors == surrogate.line_priors
    again = loaded.sample(test_texts, seed=2, precision="float32")
    np.testing.assert_allclose(again, surrogate.sample(test_texts, seed=2, precision="float32"))


def _pooled(channels: int, pools: int) -> nn.Module:
    torch.manual_seed(0)
    layers = [nn.Conv2d(3, channels, 3, padding=1), nn.ReLU()]
    layers += [nn.MaxPool2d(3, stride=1, padding=1) for _ in range(pools)]  # no MACs, no parameters
    return nn.Sequential(*layers, nn.Flatten()).eval()


def test_a_fit_keeps_a_line_on_op_counts_and_prediction_counts_them():
    rng = np.random.default_rng(4)
    pools = np.array([0, 1, 3, 7, 15] * 4)[: MIN_ROWS + 4]  # ranks even in log(1 + pools)
    channels = rng.integers(4, 12, size=len(pools))  # MACs that say nothing of the pools
    texts = [
        to_onnx_text(_pooled(int(c), int(p)), torch.zeros(1, 3, 8, 8)) for c, p in zip(channels, pools, strict=True)
    ]
    config = TrainConfig(epochs=1, batch_size=4, progress=False)
    barred = _surrogate(texts)  # the bar alone weighs the costs line only, which misses the pools
    barred.fit(texts, {"latency": 1.0 + pools}, config, line_prior_min_r2=0.0, line_prior_folds=0)
    assert barred.line_priors == {} or barred.line_priors["latency"].names == COSTS
    surrogate = _surrogate(texts)  # compared with the decoder: any line, here the pool count's
    surrogate.fit(texts, {"latency": 1.0 + pools}, config, line_prior_min_r2=0.5, line_prior_folds=4)
    assert surrogate.line_priors["latency"].names == ("ops: MaxPool 3x3",)
    unseen = [to_onnx_text(_pooled(7, p), torch.zeros(1, 3, 8, 8)) for p in (6, 0, 3)]
    point = surrogate.predict(unseen, objectives=["latency"], seed=0).point["latency"]
    # One epoch teaches the decoder nothing: the line on the pool count ranks them, to scale.
    assert np.argsort(point).tolist() == [1, 2, 0]
    np.testing.assert_allclose(point, [7.0, 1.0, 4.0], rtol=0.5)


def test_no_prior_without_a_costs_line_where_the_line_predicts_little_or_when_not_asked():
    texts = [to_onnx_text(_net(c), torch.zeros(1, 3, 8, 8)) for c in (4, 8, 12)]
    config = TrainConfig(epochs=1, batch_size=3, progress=False)
    plain = _surrogate(texts, value_tokens=False)  # reads the line as text: no values to fit on
    plain.fit(texts, {"latency": _latency(np.array([4, 8, 12]))}, config, line_prior_min_r2=0.5, line_prior_folds=0)
    assert plain.line_priors == {} and "line_priors" not in plain.meta and plain.line_values(texts) is None
    valued = _surrogate(texts)
    valued.fit(texts, {"latency": _latency(np.array([4, 8, 12]))}, config, line_prior_min_r2=math.inf)
    assert valued.line_priors == {}
    stated = valued.line_values(texts)  # MACs, parameters, activations in decades from 10^6, growing with width
    assert stated is not None and stated.shape == (3, 3) and (np.diff(stated, axis=0) > 0).all()
    widths = np.arange(4, 4 + MIN_ROWS + 4)
    many = [to_onnx_text(_net(int(c)), torch.zeros(1, 3, 8, 8)) for c in widths]
    noisy = _surrogate(many)  # a target the line does not predict: no prior, however low the bar
    shuffled = np.random.default_rng(0).permutation(widths.astype(float))
    noisy.fit(many, {"latency": shuffled}, config, line_prior_min_r2=0.3, line_prior_folds=0)
    assert noisy.line_priors == {}
    noisy.fit(many, {"line": _latency(widths)}, config, line_prior_min_r2=0.3, line_prior_folds=0)
    assert set(noisy.line_priors) == {"line"}
    # Decided once: an objective first fitted without a line does not get one later, nor one first
    # fitted on too few rows (a search's first fit), so what its decoder writes keeps its meaning.
    noisy.fit(many, {"latency": _latency(widths)}, config, line_prior_min_r2=0.3, line_prior_folds=0)
    noisy.fit(
        many[: MIN_ROWS - 1],
        {"small": _latency(widths[: MIN_ROWS - 1])},
        config,
        line_prior_min_r2=0.3,
        line_prior_folds=0,
    )
    noisy.fit(many, {"small": _latency(widths)}, config, line_prior_min_r2=0.3, line_prior_folds=0)
    assert set(noisy.line_priors) == {"line"}


def test_the_comparison_ranks_each_side_on_held_out_rows_with_the_standard_error_of_their_difference():
    rng = np.random.default_rng(2)
    features = rng.normal(size=(40, 3))
    values = {"linear": 1.0 + features @ np.array([1.0, -2.0, 0.5]), "curved": np.sin(3 * features[:, 0])}
    calls = []

    def decoder(fit_rows: np.ndarray, held_rows: np.ndarray) -> dict[str, np.ndarray]:
        calls.append((fit_rows, held_rows))
        noise = rng.normal(scale=3.0, size=len(held_rows))
        # A decoder that learned the curve exactly, and the linear target only roughly.
        return {"linear": values["linear"][held_rows] + noise, "curved": values["curved"][held_rows]}

    compared = compare_with_decoder(values, features, decoder, folds=4, seed=0)
    assert {name for name, c in compared.items() if c.decoder_wins} == {"curved"}
    assert compared["curved"].decoder > 0.99 and compared["linear"].line > 0.99
    assert 0.0 < compared["linear"].standard_error < 0.2
    assert len(calls) == 4
    held = np.concatenate([h for _, h in calls])
    assert sorted(held.tolist()) == list(range(40))  # every row held out once
    assert all(not set(f) & set(h) for f, h in calls)  # never fitted on what it is scored on
    calls.clear()
    capped = compare_with_decoder(values, features, decoder, folds=4, seed=0, max_rows=12)
    assert set(capped) == {"linear", "curved"} and sum(len(h) for _, h in calls) == 12
    few = {name: v[:7] for name, v in values.items()}
    assert compare_with_decoder(few, features[:7], decoder, folds=4, seed=0, min_rows=0) == {}  # under 2 a fold
    calls.clear()
    under = {name: v[: CV_MIN_ROWS - 1] for name, v in values.items()}
    assert compare_with_decoder(under, features[: CV_MIN_ROWS - 1], decoder, folds=4, seed=0) == {}
    assert calls == []  # too few rows to trust a comparison: no fold is fitted
    with pytest.raises(ValueError, match="one feature row per target"):
        compare_with_decoder(values, features[:7], decoder, folds=4, seed=0)


def test_the_decoder_must_beat_the_line_by_more_than_the_margin_in_standard_errors():
    assert DECODER_MARGIN > 0.0  # the line, the simpler model, keeps a close call
    gap = 0.2  # the decoder ranks held-out rows this much better
    assert LineComparison(decoder=0.7, line=0.5, standard_error=gap / (2 * DECODER_MARGIN)).decoder_wins
    assert not LineComparison(decoder=0.7, line=0.5, standard_error=gap / (0.5 * DECODER_MARGIN)).decoder_wins
    assert not LineComparison(decoder=0.50, line=0.50, standard_error=0.0).decoder_wins  # a tie keeps the line
    assert LineComparison(0.7, 0.5, 0.1).to_dict() == {"decoder": 0.7, "line": 0.5, "standard_error": 0.1}


def test_a_fit_compares_the_line_with_copies_of_the_decoder_and_leaves_the_model_as_one_fit_left_it():
    widths = np.arange(4, 4 + CV_MIN_ROWS + 4)
    texts = [to_onnx_text(_net(int(c)), torch.zeros(1, 3, 8, 8)) for c in widths]
    config = TrainConfig(epochs=1, batch_size=4, progress=False)
    surrogate = _surrogate(texts)
    before = {k: v.clone() for k, v in surrogate.model.state_dict().items()}
    surrogate.fit(texts, {"latency": _latency(widths)}, config, line_prior_min_r2=0.0, line_prior_folds=4)
    # One epoch teaches a 1-layer decoder nothing: the line ranks held-out widths better, and is kept,
    # as what was compared: its point predicts, the decoder gives the spread around it.
    assert set(surrogate.line_priors) == {"latency"} and surrogate.line_priors["latency"].point_from_line
    compared = surrogate.meta["line_prior_comparisons"]["latency"]  # why it was kept, kept with the model
    assert not LineComparison(**compared).decoder_wins and compared["line"] > 0.9
    assert surrogate.objectives == ("known", "latency") and surrogate.meta["trained_on"] == len(widths)
    reference = _surrogate(texts)  # the same fit with that line, without the comparison: the same weights
    reference.meta["line_priors"] = {"latency": surrogate.line_priors["latency"].to_dict()}
    reference.fit(texts, {"latency": _latency(widths)}, config, line_prior_min_r2=0.0, line_prior_folds=0)
    for name, tensor in reference.model.state_dict().items():
        torch.testing.assert_close(surrogate.model.state_dict()[name], tensor, equal_nan=True)
    assert any(not torch.equal(before[k], v) for k, v in surrogate.model.state_dict().items() if k in before)


def test_few_rows_keep_a_line_below_the_bar_without_a_comparison_and_many_rows_keep_the_bar(monkeypatch):
    widths = np.arange(4, 4 + MIN_ROWS + 4)
    assert len(widths) < CV_MIN_ROWS
    texts = [to_onnx_text(_net(int(c)), torch.zeros(1, 3, 8, 8)) for c in widths]
    noisy = {"latency": _latency(widths) * np.exp(np.random.default_rng(0).normal(size=len(widths)))}
    config = TrainConfig(epochs=1, batch_size=4, progress=False)
    compared = _surrogate(texts)
    compared.fit(texts, noisy, config, line_prior_min_r2=0.5, line_prior_folds=4)
    prior = compared.line_priors["latency"]
    assert 0.0 < prior.loo_r2 < 0.5 and prior.point_from_line  # under the bar, yet kept: better than the mean
    assert compared.meta.get("line_prior_comparisons", {}) == {}  # too few rows to compare with the decoder
    barred = _surrogate(texts)
    monkeypatch.setattr("nasrlm.rlm.surrogate.CV_MAX_ROWS", len(widths) - 1)  # too many rows to compare
    barred.fit(texts, noisy, config, line_prior_min_r2=0.5, line_prior_folds=4)
    assert barred.line_priors == {} and barred.meta["line_priors"] == {"latency": None}
