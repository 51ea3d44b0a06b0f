"""Recipe knobs of the RLM on tiny models: target transforms, objective dropout and marginal decoding,
layer-wise learning rates, weight decay on matrices only, and the user's RNG left alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from nasrlm.rlm.model import DecoderConfig, EncoderConfig
from nasrlm.rlm.surrogate import Surrogate
from nasrlm.rlm.targets import TargetTransform
from nasrlm.rlm.text_tokenizer import TextTokenizerConfig
from nasrlm.rlm.training import TrainConfig, _drop_objectives, _optimizer

TINY_ENCODER = EncoderConfig(d_model=32, n_layers=2, n_heads=2, d_ff=64, max_length=64)
TINY_DECODER = DecoderConfig(d_model=32, n_layers=1, n_heads=2, d_ff=64)


def _texts(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    convs = rng.integers(0, 9, n)
    texts = ["\n".join(["graph", *(["t = Conv (x)"] * int(c)), "end"]) for c in convs]
    return texts, convs.astype(float)


def _surrogate(texts: list[str], objectives: tuple[str, ...]) -> Surrogate:
    return Surrogate.new(
        objectives,
        texts,
        tokenizer=TextTokenizerConfig(vocab_size=300, max_length=64),
        encoder=TINY_ENCODER,
        decoder=TINY_DECODER,
        seed=0,
    )


@pytest.mark.parametrize("kind", ["affine", "log_affine", "quantile"])
def test_target_transform_round_trips_and_spans_one_exponent(kind):
    values = np.array([0.3, 1.0, 7.5, 40.0, 212.0])
    transform = TargetTransform.fit(values, kind)
    forward = transform.forward(values)
    assert forward.min() == pytest.approx(1.0) and forward.max() == pytest.approx(9.0)
    np.testing.assert_allclose(transform.inverse(forward), values, rtol=1e-12)
    assert TargetTransform.from_dict(transform.to_dict()) == transform


def test_quantile_transform_spreads_crowded_values_over_the_digits():
    rng = np.random.default_rng(1)
    accuracy = 94 - np.exp(rng.normal(1.0, 0.8, 400))  # most within a few points of the best
    quantile, affine = TargetTransform.fit(accuracy, "quantile"), TargetTransform.fit(accuracy, "affine")
    first_digit = lambda t: np.floor(t.forward(accuracy)).clip(1, 8)  # noqa: E731
    assert np.bincount(first_digit(quantile).astype(int)).max() <= 0.15 * len(accuracy)  # about 1/8 each
    assert np.bincount(first_digit(affine).astype(int)).max() >= 0.5 * len(accuracy)  # crowded in one
    outside = np.array([accuracy.min() - 10, accuracy.max() + 1])  # beyond the knots: linear, invertible
    np.testing.assert_allclose(quantile.inverse(quantile.forward(outside)), outside)
    assert quantile.forward(outside)[0] < 1 and quantile.forward(outside)[1] > 9
    assert np.all(np.diff(quantile.forward(np.linspace(0, 100, 1001))) > 0)  # strictly increasing


def test_auto_transform_logs_right_skewed_positive_values_only():
    rng = np.random.default_rng(0)
    latency = np.exp(rng.normal(1.0, 0.8, 500))  # log-normal: right-skewed
    accuracy = 94 - np.exp(rng.normal(1.0, 0.8, 500))  # left-skewed; a log would skew it further
    assert TargetTransform.fit(latency, "auto").kind == "log_affine"
    assert TargetTransform.fit(accuracy, "auto").kind == "affine"
    assert TargetTransform.fit(accuracy - 100, "auto").kind == "affine"  # not all positive
    assert TargetTransform.fit(np.full(5, 3.0), "affine").forward(np.array([3.0]))[0] == pytest.approx(5.0)
    with pytest.raises(ValueError, match="valid: identity, affine, log_affine, quantile, auto"):
        TargetTransform.fit(latency, "rank")


def test_auto_transform_spreads_values_that_a_few_outliers_would_crowd_into_one_digit():
    # jacob_cov's shape: most networks score -8.2 to -8.0, a few degenerate ones -7e5.
    rng = np.random.default_rng(0)
    scores = np.concatenate([-8.0 - rng.exponential(0.05, 980), -rng.uniform(1e5, 7e5, 20)])
    transform = TargetTransform.fit(scores, "auto")
    assert transform.kind == "quantile"
    bulk = transform.forward(np.sort(scores)[20:])
    assert bulk.max() - bulk.min() > 6  # the bulk spans most digits, not a sliver of the last one
    assert TargetTransform.fit(scores[:980], "auto").kind == "affine"  # without the outliers: not crowded
    counts = np.concatenate([np.zeros(900), rng.integers(1, 9, 100)])  # mostly 0: exact under affine
    assert TargetTransform.fit(counts, "auto").kind == "affine"


def test_transformed_objective_is_predicted_in_its_own_units_and_kept_on_reload(tmp_path):
    texts, convs = _texts(200, seed=0)
    latency = 1e-4 * (1 + convs)  # tiny values: without a transform they would sit in a few exponents
    surrogate = _surrogate(texts, ("y",))
    config = TrainConfig(epochs=20, batch_size=16, lr=3e-3, progress=False)
    surrogate.fit(texts, {"latency": latency}, config, target_transform="log_affine")
    assert surrogate.target_transforms["latency"].kind == "log_affine"
    assert surrogate.target_transforms["y"].kind == "identity"  # never trained: untouched
    test_texts, test_convs = _texts(60, seed=1)
    # Temperature 1: this is about what the model learned and in which units. With the recipe's wide
    # sampling, 8 samples' median ranks these 60 texts at .30-.97 depending on the seed alone.
    point = surrogate.predict(test_texts, num_samples=8, objectives=["latency"], temperature=1.0).point["latency"]
    assert spearmanr(point, test_convs)[0] > 0.8
    assert np.median(np.abs(point / (1e-4 * (1 + test_convs)) - 1)) < 0.3  # in the metric's units
    # A second fit keeps the transform fitted first, even on values outside its range.
    surrogate.fit(texts[:40], {"latency": latency[:40] * 3}, TrainConfig(epochs=1, progress=False))
    assert surrogate.target_transforms["latency"].high == pytest.approx(np.log(latency.max()))
    loaded = Surrogate.load(surrogate.save(tmp_path / "m"))
    assert loaded.target_transforms == surrogate.target_transforms


def test_objective_dropout_keeps_one_present_objective_per_row():
    present = torch.tensor([[True, True, True], [True, False, False], [False, False, False]] * 50)
    kept = _drop_objectives(present, 0.9, torch.Generator().manual_seed(0))
    assert not (kept & ~present).any()  # never adds an objective a row lacks
    assert kept[present.any(1)].any(1).all()  # every row with objectives keeps one
    assert not kept[~present.any(1)].any()
    assert 0 < kept[0::3].sum() < present[0::3].sum()  # but hides many


def test_later_objective_predicted_from_sampled_or_no_context():
    """b = 2a exactly: a joint model may learn to copy a. Trained with objective dropout, it also
    predicts b well when a is sampled (joint) and from the input alone (marginal)."""
    texts, convs = _texts(240, seed=2)
    a = 10.0 + convs
    surrogate = _surrogate(texts, ("a", "b"))
    config = TrainConfig(epochs=25, batch_size=16, lr=3e-3, objective_dropout=0.5, progress=False)
    surrogate.fit(texts, {"a": a, "b": 2 * a}, config)
    test_texts, test_convs = _texts(60, seed=3)
    for joint in (True, False):
        # Temperature 1 (not the recipe's wider sampling): this is about what the model learned.
        samples = surrogate.sample(test_texts, num_samples=8, objectives=["b"], joint=joint, temperature=1.0)
        assert spearmanr(np.median(samples[:, :, 0], axis=1), test_convs)[0] > 0.85, joint
    # Marginal decoding of b alone equals b's column when both are decoded marginally: the same draws,
    # though tied draws may come back in another order (dequantization spreads ties within a row).
    alone = surrogate.sample(test_texts[:5], num_samples=4, objectives=["b"], joint=False, seed=1)
    both = surrogate.sample(test_texts[:5], num_samples=4, objectives=["b", "a"], joint=False, seed=1)
    np.testing.assert_array_equal(np.sort(alone[..., 0], axis=1), np.sort(both[..., 0], axis=1))


def test_layerwise_rates_and_decay_on_matrices_only():
    texts, _ = _texts(10, seed=0)
    model = _surrogate(texts, ("y",)).model
    config = TrainConfig(lr=1e-3, encoder_lr_scale=0.5, layer_lr_decay=0.5, weight_decay=0.1)
    optimizer = _optimizer(model, config)
    rate_of = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    decay_of = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    encoder = dict(model.encoder.named_parameters())
    # Two layers: the top layer at 0.5 x lr x 0.5, the bottom one at 0.5 x lr x 0.25, embeddings x 0.125.
    assert rate_of[id(encoder["layers.layers.1.linear1.weight"])] == pytest.approx(2.5e-4)
    assert rate_of[id(encoder["layers.layers.0.linear1.weight"])] == pytest.approx(1.25e-4)
    assert rate_of[id(encoder["embed.weight"])] == pytest.approx(6.25e-5)
    assert rate_of[id(model.head.weight)] == pytest.approx(1e-3)
    assert decay_of[id(model.head.weight)] == 0.1 and decay_of[id(model.head.bias)] == 0.0
    assert decay_of[id(model.final_norm.weight)] == 0.0
    frozen = _optimizer(model, TrainConfig(freeze_encoder=True))
    assert not {id(p) for p in model.encoder.parameters()} & {id(p) for g in frozen.param_groups for p in g["params"]}


def test_decoder_layers_learn_at_their_own_rate():
    texts, _ = _texts(10, seed=0)
    model = _surrogate(texts, ("y",)).model
    optimizer = _optimizer(model, TrainConfig(lr=1e-3, decoder_lr_scale=0.1, freeze_encoder=True))
    rate_of = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    assert rate_of[id(model.layers[0].ff[0].weight)] == pytest.approx(1e-4)
    assert rate_of[id(model.objective_embed.weight)] == pytest.approx(1e-3)  # a new objective learns at full rate
    assert rate_of[id(model.head.weight)] == pytest.approx(1e-3)


def test_anchor_decay_keeps_a_fit_near_its_start_and_dropout_is_restored():
    texts, convs = _texts(60, seed=0)
    moved = {}
    for strength in (0.0, 500.0):
        surrogate = _surrogate(texts, ("y",))
        start = {n: p.detach().clone() for n, p in surrogate.model.named_parameters()}
        config = TrainConfig(epochs=8, lr=3e-3, anchor_decay=strength, dropout=0.2, progress=False)
        surrogate.fit(texts, {"y": convs}, config)
        moved[strength] = sum(float((p - start[n]).norm()) for n, p in surrogate.model.named_parameters())
        assert all(m.p == 0.0 for m in surrogate.model.modules() if isinstance(m, torch.nn.Dropout))
    # lr * 500 = 1.5 per step would overshoot; the pull is capped at the distance (alpha <= 1 below).
    assert moved[500.0] < 0.2 * moved[0.0]
    with pytest.raises(ValueError, match="dropout"):
        TrainConfig(dropout=1.0)


def test_fitting_leaves_the_global_torch_rng_alone():
    texts, convs = _texts(30, seed=0)
    surrogate = _surrogate(texts, ("y",))
    torch.manual_seed(1234)
    expected = torch.rand(3)
    torch.manual_seed(1234)
    surrogate.fit(texts, {"y": convs}, TrainConfig(epochs=1, progress=False, seed=7))
    torch.testing.assert_close(torch.rand(3), expected)


def test_objectives_declared_at_creation_get_their_transform_when_first_trained():
    texts, convs = _texts(40, seed=5)
    surrogate = _surrogate(texts, ("y", "z"))
    config = TrainConfig(epochs=1, progress=False)
    surrogate.fit(texts, {"y": 100 + convs}, config, target_transform="affine")
    assert surrogate.target_transforms["y"] == TargetTransform("affine", 100.0, 100.0 + convs.max())
    assert "z" not in surrogate.meta["target_transforms"]  # not trained yet: nothing recorded
    surrogate.fit(texts, {"z": 1 + convs}, config, target_transform="log_affine")
    assert surrogate.target_transforms["z"].kind == "log_affine"
    assert surrogate.target_transforms["y"].kind == "affine"  # kept


def test_missing_values_train_the_other_objectives():
    texts, convs = _texts(40, seed=6)
    surrogate = _surrogate(texts, ("y", "z"))
    z = np.where(np.arange(40) % 2 == 0, convs, np.nan)
    config = TrainConfig(epochs=1, progress=False)
    surrogate.fit(texts, {"y": convs, "z": z}, config, allow_missing=True, target_transform="affine")
    assert surrogate.target_transforms["z"].high == pytest.approx(np.nanmax(z))
    with pytest.raises(ValueError, match="NaN"):
        surrogate.fit(texts, {"y": convs, "z": z}, TrainConfig(epochs=1, progress=False))


def test_new_objective_starts_as_the_known_objective_that_ranks_it_best():
    texts, convs = _texts(200, seed=7)
    surrogate = _surrogate(texts, ("convs", "noise"))
    noise = np.random.default_rng(0).random(200)
    config = TrainConfig(epochs=20, batch_size=16, lr=3e-3, objective_dropout=0.3, progress=False)
    surrogate.fit(texts, {"convs": convs, "noise": noise}, config, target_transform="identity")
    # A new objective that ranks like the conv count: before any training, it already ranks like it.
    target = 3.0 * convs + 1.0
    untrained = TrainConfig(epochs=1, lr=1e-9, progress=False)
    surrogate.fit(texts[:60], {"new": target[:60]}, untrained, init_like=True)
    assert surrogate.meta["initialized_like"]["new"] == "convs"
    test_texts, test_convs = _texts(60, seed=8)
    # Temperature 1 (not the recipe's wider sampling): what the model starts as. Enough samples for
    # a stable median: with 4, the Spearman of these 9 distinct texts ranged .55-.91 over seeds.
    point = surrogate.predict(test_texts, num_samples=256, objectives=["new"], joint=False, temperature=1.0).point[
        "new"
    ]
    assert spearmanr(point, test_convs)[0] > 0.75
    # Nothing alike (a constant target): the mean of the others, as before.
    surrogate.fit(texts[:60], {"flat": np.full(60, 2.0)}, untrained, init_like=True)
    assert surrogate.meta["initialized_like"]["flat"] is None


def test_length_buckets_batch_like_with_like_and_see_every_row_once():
    from nasrlm.rlm.training import _bucketed

    rng = np.random.default_rng(0)
    lengths = rng.integers(10, 500, 1000)
    order = rng.permutation(1000)
    bucketed = _bucketed(order, lengths, 16, np.random.default_rng(1))
    assert sorted(bucketed.tolist()) == list(range(1000))
    spread = [np.ptp(lengths[bucketed[i : i + 16]]) for i in range(0, 992, 16)]
    random_spread = [np.ptp(lengths[order[i : i + 16]]) for i in range(0, 992, 16)]
    assert np.mean(spread) < 0.2 * np.mean(random_spread)
    # Batches still come in a random order, not shortest first.
    firsts = lengths[bucketed[:992:16]]
    assert not (np.diff(firsts) >= 0).all()


def test_fit_with_a_state_cache_trains_as_without_one():
    texts, convs = _texts(40, seed=0)
    config = TrainConfig(epochs=3, lr=3e-3, freeze_encoder=True, val_fraction=0.0, progress=False)
    plain, cached = _surrogate(texts, ("y",)), _surrogate(texts, ("y",))
    plain.fit(texts, {"y": convs}, config)
    cache: dict = {}
    cached.fit(texts, {"y": convs}, config, state_cache=cache)
    assert set(cache) == set(texts)  # filled, so the next fit (or a prediction) encodes nothing again
    for (name, p), q in zip(plain.model.named_parameters(), cached.model.parameters(), strict=True):
        torch.testing.assert_close(p, q, msg=name)
    cached.fit(texts, {"y": convs}, config, state_cache=cache)  # served from the cache this time
    assert set(cache) == set(texts)


def test_auto_transform_keeps_every_nb201_metric_off_the_quantile_map():
    # The crowding rule is meant for labels like jacob_cov; no benchmark metric should trip it.
    from search_spaces import get_space

    space = get_space("nb201")
    for name in space.metrics:
        values = np.asarray(space.values(name), dtype=float)
        assert TargetTransform.fit(values[np.isfinite(values)], "auto").kind != "quantile", name


def test_value_projection_learns_at_its_own_rate():
    import dataclasses

    texts, _ = _texts(10, seed=0)
    surrogate = _surrogate(texts, ("y",))
    encoder = dataclasses.replace(surrogate.model.config.encoder, value_tokens=True, value_states=3)
    model = type(surrogate.model)(dataclasses.replace(surrogate.model.config, encoder=encoder))
    config = TrainConfig(lr=1e-3, encoder_lr_scale=0.5, layer_lr_decay=0.5, value_lr_scale=30.0)
    rate_of = {id(p): g["lr"] for g in _optimizer(model, config).param_groups for p in g["params"]}
    # Neither the encoder's scale nor its layer decay: the projection starts at zero and must grow.
    assert rate_of[id(model.encoder.value_proj.weight)] == pytest.approx(3e-2)
    assert rate_of[id(model.encoder.value_base)] == pytest.approx(6.25e-5)  # value-token embeddings: as embeddings
    with pytest.raises(ValueError, match="value_lr_scale"):
        TrainConfig(value_lr_scale=0.0)


def test_recipe_settings_from_the_command_line():
    from nasrlm.rlm.recipe import DEFAULT_RECIPE

    changed = DEFAULT_RECIPE.with_settings(["init_like=true", "epochs=60", "dropout=none", "value_lr_scale=30"])
    assert (changed.init_like, changed.epochs, changed.dropout, changed.value_lr_scale) == (True, 60, None, 30.0)
    assert changed.lr == DEFAULT_RECIPE.lr and DEFAULT_RECIPE.epochs == 30  # the shipped one unchanged
    for bad, says in (("epoch=3", "KEY one of"), ("epochs=a", "like 30"), ("init_like=maybe", "like False")):
        with pytest.raises(ValueError, match=says):
            DEFAULT_RECIPE.with_settings([bad])
