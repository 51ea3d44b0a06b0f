"""The RLM end to end on a tiny synthetic text-to-number task (model, training, surrogate API)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from nasrlm.rlm.model import DecoderConfig, EncoderConfig, RegressionLM, RLMConfig
from nasrlm.rlm.surrogate import Surrogate, SurrogateLoadError
from nasrlm.rlm.text_tokenizer import TextTokenizerConfig
from nasrlm.rlm.training import TrainConfig

TINY_ENCODER = EncoderConfig(d_model=32, n_layers=1, n_heads=2, d_ff=64, max_length=64)
TINY_DECODER = DecoderConfig(d_model=32, n_layers=1, n_heads=2, d_ff=64)


def _task(n: int, seed: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Text = a random mix of 'conv' and 'pool' lines; y1 = 10 x convs + 3, y2 = 0.5 x pools (+ noise)."""
    rng = np.random.default_rng(seed)
    convs, pools = rng.integers(0, 8, n), rng.integers(0, 8, n)
    texts = []
    for c, p in zip(convs, pools, strict=True):
        lines = ["t = Conv (x)"] * int(c) + ["t = Pool (x)"] * int(p)
        rng.shuffle(lines)
        texts.append("\n".join(["graph", *lines, "end"]))
    return texts, 10.0 * convs + 3.0, 0.5 * pools + 0.01 * rng.random(n)


def _surrogate(texts: list[str]) -> Surrogate:
    return Surrogate.new(
        ("y1", "y2"),
        texts,
        tokenizer=TextTokenizerConfig(vocab_size=300, max_length=64),
        encoder=TINY_ENCODER,
        decoder=TINY_DECODER,
        seed=0,
    )


@pytest.fixture(scope="module")
def trained() -> tuple[Surrogate, list[str], np.ndarray, np.ndarray]:
    texts, y1, y2 = _task(240, seed=0)
    surrogate = _surrogate(texts)
    # One model (the recipe fits two): these tests are about what one model decodes; tests/test_ensemble.py
    # covers ensembles.
    config = TrainConfig(epochs=25, batch_size=16, lr=3e-3, progress=False)
    surrogate.fit(texts, {"y1": y1, "y2": y2}, config, members=1)
    return surrogate, *_task(80, seed=1)


def test_learns_a_text_to_number_mapping(trained):
    surrogate, texts, y1, y2 = trained
    # Temperature 1 (not the recipe's wider sampling): this is about what the model learned.
    prediction = surrogate.predict(texts, num_samples=8, temperature=1.0)
    assert spearmanr(prediction.point["y1"], y1)[0] > 0.8
    assert spearmanr(prediction.point["y2"], y2)[0] > 0.8
    low, high = prediction.interval(0.9)["y1"]
    assert (low <= high).all()


def test_constrained_sampling_always_gives_numbers():
    # An untrained model, sampling at a high temperature, still writes only valid numbers.
    config = RLMConfig(objectives=("a", "b"), text_vocab_size=20, encoder=TINY_ENCODER, decoder=TINY_DECODER)
    model = RegressionLM(config).eval()
    ids = torch.randint(5, 20, (3, 10))
    mask = torch.ones_like(ids, dtype=torch.bool)
    tokens = model.sample_tokens(model.encode(ids, mask), mask, ["a", "b"], samples=50, temperature=3.0)
    assert tokens.shape == (3, 50, 2, model.numbers.tokens_per_number)
    allowed = model.numbers.allowed_masks()
    for position in range(model.numbers.tokens_per_number):
        assert allowed[position][tokens[..., position].numpy()].all()
    assert np.isfinite(model.numbers.decode_batch(tokens.numpy())).all()


def test_an_architectures_samples_do_not_depend_on_its_batch():
    # Samples share their prefix while every row of the batch agrees; an architecture's distribution
    # must be the same alone as beside others (whose samples may part earlier or later).
    config = RLMConfig(objectives=("a", "b"), text_vocab_size=20, encoder=TINY_ENCODER, decoder=TINY_DECODER)
    torch.manual_seed(3)
    model = RegressionLM(config).eval()
    ids = torch.randint(5, 20, (3, 9))
    mask = torch.ones_like(ids, dtype=torch.bool)
    states = model.encode(ids, mask)
    generator = torch.Generator().manual_seed(0)
    batch = model.sample_tokens(states, mask, ["a", "b"], samples=3000, temperature=1.5, generator=generator)
    alone = model.sample_tokens(states[:1], mask[:1], ["a", "b"], samples=3000, temperature=1.5, generator=generator)
    vocab = model.numbers.vocab_size
    for objective in range(2):
        for position in range(model.numbers.tokens_per_number):
            together = np.bincount(batch[0, :, objective, position].numpy(), minlength=vocab) / 3000
            apart = np.bincount(alone[0, :, objective, position].numpy(), minlength=vocab) / 3000
            assert 0.5 * np.abs(together - apart).sum() < 0.06, (objective, position)


def test_a_rows_loss_does_not_depend_on_the_objectives_it_lacks():
    # Segments no row of a batch has are left out of the sequence; the loss must be what it was.
    config = RLMConfig(objectives=("a", "b", "c", "d"), text_vocab_size=20, encoder=TINY_ENCODER, decoder=TINY_DECODER)
    model = RegressionLM(config).eval()
    ids = torch.randint(5, 20, (2, 7))
    mask = torch.ones_like(ids, dtype=torch.bool)
    states = model.encode(ids, mask)
    values = np.array([1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5])
    targets = torch.from_numpy(model.numbers.encode_batch(values).reshape(2, 4, -1))
    present = torch.tensor([[True, False, True, False], [True, True, True, True]])
    per_row = [model.loss(states[i : i + 1], mask[i : i + 1], targets[i : i + 1], present[i : i + 1]) for i in (0, 1)]
    tokens = present.sum(1) * model.numbers.tokens_per_number  # predicted tokens per row
    expected = (per_row[0] * tokens[0] + per_row[1] * tokens[1]) / tokens.sum()
    torch.testing.assert_close(model.loss(states, mask, targets, present), expected)
    other = targets.clone()
    other[0, 1] = other[0, 3] = targets[1, 1]  # what row 0 lacks does not matter
    torch.testing.assert_close(model.loss(states[:1], mask[:1], other[:1], present[:1]), per_row[0])


def test_sampling_shares_memory_across_samples():
    # A batch of 2 archs x 4 samples must equal each arch decoded alone (greedy decoding).
    config = RLMConfig(objectives=("a",), text_vocab_size=20, encoder=TINY_ENCODER, decoder=TINY_DECODER)
    model = RegressionLM(config).eval()
    ids = torch.randint(5, 20, (2, 7))
    mask = torch.ones_like(ids, dtype=torch.bool)
    mask[1, 5:] = False
    states = model.encode(ids, mask)
    both = model.sample_tokens(states, mask, ["a"], samples=4, temperature=0)
    for i in range(2):
        alone = model.sample_tokens(
            states[i : i + 1, : int(mask[i].sum())],
            mask[i : i + 1, : int(mask[i].sum())],
            ["a"],
            samples=1,
            temperature=0,
        )
        assert torch.equal(both[i, 0], alone[0, 0]) and (both[i] == both[i, :1]).all()


def test_save_load_identical_predictions(trained, tmp_path):
    surrogate, texts, _, _ = trained
    path = surrogate.save(tmp_path / "model")
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors", "tokenizer"]
    loaded = Surrogate.load(path)
    a = surrogate.predict(texts[:10], num_samples=4, seed=3).samples
    b = loaded.predict(texts[:10], num_samples=4, seed=3).samples
    np.testing.assert_array_equal(a, b)
    config = json.loads((path / "config.json").read_text())
    assert config["meta"]["data_fingerprint"] and config["nasrlm_version"]
    surrogate.save(path)  # overwriting an existing save works and leaves no temporary folders
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_identical_inputs_get_identical_predictions(trained):
    surrogate, texts, _, _ = trained
    repeated = [texts[0], texts[1], texts[0], texts[2], texts[1]]
    samples = surrogate.sample(repeated, num_samples=6, seed=1)
    assert samples.shape == (5, 6, 2)
    np.testing.assert_array_equal(samples[0], samples[2])
    np.testing.assert_array_equal(samples[1], samples[4])
    # The same draws as sampling the distinct texts alone, in order of first appearance.
    distinct = surrogate.sample(texts[:3], num_samples=6, seed=1)
    np.testing.assert_array_equal(samples[[0, 1, 3]], distinct)
    assert surrogate.sample([], num_samples=6).shape == (0, 6, 2)


def test_load_errors(trained, tmp_path):
    surrogate, _, _, _ = trained
    with pytest.raises(SurrogateLoadError, match="missing"):
        Surrogate.load(tmp_path / "nothing")
    path = surrogate.save(tmp_path / "m")
    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(SurrogateLoadError, match="corrupted"):
        Surrogate.load(path)
    path = surrogate.save(tmp_path / "m2")
    config = json.loads((path / "config.json").read_text())
    config["format_version"] = 99
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(SurrogateLoadError, match="format version"):
        Surrogate.load(path)


def test_bad_targets(tmp_path):
    texts, y1, _ = _task(30, seed=2)
    surrogate = _surrogate(texts)
    bad = y1.copy()
    bad[7] = np.nan
    with pytest.raises(ValueError, match="7"):
        surrogate.fit(texts, {"y1": bad}, TrainConfig(epochs=1, progress=False))
    with pytest.raises(ValueError, match="29 values for 30 inputs"):
        surrogate.fit(texts, {"y1": y1[:-1]}, TrainConfig(epochs=1, progress=False))
    with pytest.raises(KeyError, match="unknown objective"):
        surrogate.predict(texts[:2], objectives=["nope"])


def test_subset_and_new_objective():
    texts, y1, y2 = _task(60, seed=3)
    surrogate = _surrogate(texts)
    config = TrainConfig(epochs=2, progress=False)
    surrogate.fit(texts, {"y2": y2}, config)  # a subset of the objectives
    surrogate.fit(texts, {"y3": y1 * 2}, config)  # a new objective, e.g. a new device
    assert surrogate.objectives == ("y1", "y2", "y3")
    assert surrogate.predict(texts[:3], num_samples=2).samples.shape == (3, 2, 3)


def test_resume_gives_the_same_model(tmp_path):
    texts, y1, _ = _task(60, seed=4)
    full = _surrogate(texts)
    full.fit(texts, {"y1": y1}, TrainConfig(epochs=4, progress=False, seed=1))
    # Interrupted after its first step (a time budget of 0), then resumed from its checkpoint.
    checkpoint = str(tmp_path / "ckpt")
    short = TrainConfig(epochs=4, progress=False, seed=1, checkpoint_dir=checkpoint, max_minutes=0.0)
    first = _surrogate(texts).fit(texts, {"y1": y1}, short)
    assert first.stopped == "time_budget" and first.steps == 1 and first.epochs == 0
    again = _surrogate(texts)
    again.fit(texts, {"y1": y1}, TrainConfig(epochs=4, progress=False, seed=1, checkpoint_dir=checkpoint))
    for (name, a), b in zip(full.model.state_dict().items(), again.model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=name)


def test_training_device_is_checked_and_a_checkpoint_resumes_on_another(tmp_path):
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        TrainConfig(device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="sees no CUDA GPU"):
            TrainConfig(device="cuda").torch_device()
    texts, y1, _ = _task(60, seed=4)
    full = _surrogate(texts)
    full.fit(texts, {"y1": y1}, TrainConfig(epochs=4, progress=False, seed=1))
    # Started with "auto" (a GPU where there is one), interrupted, resumed on the CPU: the device is
    # not part of a run's identity, and the model comes back on the CPU either way.
    checkpoint = str(tmp_path / "ckpt")
    short = TrainConfig(epochs=4, progress=False, seed=1, checkpoint_dir=checkpoint, max_minutes=0.0, device="auto")
    first = _surrogate(texts)
    first.fit(texts, {"y1": y1}, short)
    assert all(p.device.type == "cpu" for p in first.model.parameters())
    again = _surrogate(texts)
    again.fit(texts, {"y1": y1}, TrainConfig(epochs=4, progress=False, seed=1, checkpoint_dir=checkpoint))
    if not torch.cuda.is_available():  # on one device the resumed run is the uninterrupted one
        for (name, a), b in zip(full.model.state_dict().items(), again.model.state_dict().values(), strict=True):
            torch.testing.assert_close(a, b, msg=name)


def test_shipped_default_reads_nb201():
    # The pretrained default decodes the free labels it was trained on, e.g. FLOPs, closely. (These
    # cells have no dead edges: the ONNX graph drops dead convs, which the FLOPs label still counts.)
    from search_spaces import get_space

    surrogate = Surrogate.pretrained()
    assert surrogate.objectives[:2] == ("flops", "params")
    archs = [0, 1, 6111]
    prediction = surrogate.predict(
        get_space("nb201").to_texts(archs), num_samples=1, objectives=["flops"], temperature=0
    )
    truth = get_space("nb201").values("flops")[archs]
    np.testing.assert_allclose(prediction.point["flops"], truth, rtol=0.05)


def test_a_subset_of_objectives_is_decoded_in_its_training_context():
    # Asked for alone, a later objective is still decoded after those it was trained behind: the
    # same seed gives the same samples as decoding everything and keeping its column.
    from search_spaces import get_space

    surrogate = Surrogate.pretrained()
    texts = get_space("nb201").to_texts([6111, 9])
    alone = surrogate.sample(texts, num_samples=8, objectives=["ort_latency_ms"], seed=3)
    everything = surrogate.sample(texts, num_samples=8, seed=3)
    np.testing.assert_array_equal(alone[..., 0], everything[..., surrogate.objectives.index("ort_latency_ms")])
    assert surrogate.objectives_to_decode(["flops"]) == ["flops"]  # nothing follows the last one asked for


def test_save_refuses_targets_it_did_not_write(trained, tmp_path):
    from nasrlm.rlm.surrogate import SurrogateSaveError

    surrogate = trained[0]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "table.csv").write_text("a,b\n")
    (tmp_path / "file").write_text("x")
    for target in (tmp_path / "data", tmp_path / "file"):
        with pytest.raises(SurrogateSaveError):
            surrogate.save(target)
    assert (tmp_path / "data" / "table.csv").read_text() == "a,b\n" and (tmp_path / "file").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "file"]  # no staging folder left behind
    (tmp_path / "empty").mkdir()
    assert Surrogate.load(surrogate.save(tmp_path / "empty")).objectives == surrogate.objectives


def test_given_values_condition_the_objectives_after_them():
    # y1 is noise the text does not carry and y2 = 2 x y1: y2 can only be predicted from y1, so it
    # ranks well when the true y1 is given and not when y1 is sampled.
    rng = np.random.default_rng(0)
    texts, _, _ = _task(240, seed=0)
    y1 = rng.uniform(1.0, 9.0, len(texts))
    surrogate = _surrogate(texts)
    surrogate.fit(texts, {"y1": y1, "y2": 2.0 * y1}, TrainConfig(epochs=25, batch_size=16, lr=3e-3, progress=False))
    test_texts, _, _ = _task(60, seed=1)
    test_y1 = rng.uniform(1.0, 9.0, len(test_texts))
    # Temperature 1 (not the recipe's wider sampling): this is about what the model learned.
    given = surrogate.predict(test_texts, num_samples=8, given={"y1": test_y1}, temperature=1.0)
    sampled = surrogate.predict(test_texts, num_samples=8, temperature=1.0)
    assert spearmanr(given.point["y2"], 2.0 * test_y1)[0] > 0.8
    assert abs(spearmanr(sampled.point["y2"], 2.0 * test_y1)[0]) < 0.5
    np.testing.assert_allclose(given.point["y1"], test_y1, rtol=1e-3)  # given values come back as given
    # NaN: not known for that input, sampled as usual; identical texts with different values stay apart.
    partly = np.where(np.arange(len(test_texts)) % 2 == 0, test_y1, np.nan)
    mixed = surrogate.sample(test_texts, num_samples=4, given={"y1": partly})
    np.testing.assert_allclose(mixed[::2, :, 0], np.repeat(test_y1[::2, None], 4, axis=1), rtol=1e-3)
    twice = surrogate.sample([test_texts[0]] * 2, num_samples=4, given={"y1": [2.0, 8.0]})
    assert np.median(twice[0, :, 1]) < np.median(twice[1, :, 1])
    with pytest.raises(ValueError, match="values for"):
        surrogate.sample(test_texts, given={"y1": [1.0]})
    with pytest.raises(ValueError, match="joint"):
        surrogate.sample(test_texts, given={"y1": test_y1}, joint=False)


def test_digit_targets_are_ordinal_and_sharpen_to_one_hot():
    from nasrlm.rlm.model import digit_targets

    digits = torch.tensor([[5, 9, 0, 0], [1, 0, 0, 0]])
    soft = digit_targets(digits, 0.75)
    assert soft.shape == (2, 4, 10)
    torch.testing.assert_close(soft.sum(-1), torch.ones(2, 4))
    first = soft[0, 0]  # 5.9: the mass leans to 6 more than to 4
    assert first.argmax() == 5 and first[6] > first[4] > first[2]
    sharp = digit_targets(digits, 1e-5)  # far below the last digit's resolution (1e-3 of the first)
    torch.testing.assert_close(sharp, torch.nn.functional.one_hot(digits, 10).float(), atol=1e-4, rtol=0)


def test_digit_smoothing_trains_and_ranks():
    texts, y1, y2 = _task(240, seed=0)
    surrogate = _surrogate(texts)
    config = TrainConfig(epochs=25, batch_size=16, lr=3e-3, digit_smoothing=0.75, progress=False)
    result = surrogate.fit(texts, {"y1": y1, "y2": y2}, config)
    assert all(np.isfinite(epoch["val_loss"]) for epoch in result.history)
    test_texts, test_y1, _ = _task(80, seed=1)
    prediction = surrogate.predict(test_texts, num_samples=8, temperature=1.0)
    assert spearmanr(prediction.point["y1"], test_y1)[0] > 0.8


def test_rows_of_separate_domains_are_decoded_as_they_were_trained(trained):
    # Rows that each have one objective (programs with memory, networks with latency) train
    # sequences of one objective; a prediction of y2 must not first decode a y1 those rows never had.
    texts, y1, y2 = _task(60, seed=2)
    half = np.arange(60) < 30
    surrogate = _surrogate(texts)
    columns = {"y1": np.where(half, y1, np.nan), "y2": np.where(half, np.nan, y2)}
    surrogate.fit(texts, columns, TrainConfig(epochs=1, batch_size=16, progress=False), allow_missing=True)
    assert surrogate.meta["objective_sets"] == [["y1"], ["y2"]]
    assert surrogate.objectives_to_decode(["y2"]) == ["y2"] and surrogate.objectives_to_decode(["y1"]) == ["y1"]
    assert surrogate.objectives_to_decode(["y1", "y2"]) == ["y1", "y2"]  # no trained set holds both: the fit's
    complete = trained[0]  # every row had both: y2 is decoded after y1, as trained
    assert complete.meta["objective_sets"] == [["y1", "y2"]]
    assert complete.objectives_to_decode(["y2"]) == ["y1", "y2"]


def test_samples_spread_over_the_interval_their_digits_stand_for(trained):
    # At temperature 0 every sample of an input is the same token sequence. Read as a density, that
    # sequence stands for the interval its last digit rounds: the samples spread over it, so an
    # interval of theirs has the width of a digit and holds a truth the digits round to.
    surrogate, texts, _, _ = trained
    exact = surrogate.sample(texts[:10], num_samples=64, temperature=0.0, dequantize=False)
    spread = surrogate.sample(texts[:10], num_samples=64, temperature=0.0)
    assert (exact == exact[:, :1]).all()
    # The interval is the digits' (in the objective's transformed units, where the model writes numbers).
    transform = surrogate.target_transforms["y1"]
    written = transform.forward(exact[:, 0, 0])
    numbers = surrogate.model.numbers
    width = numbers.bin_width_batch(numbers.encode_batch(written))
    low, high = transform.inverse(written - width / 2), transform.inverse(written + width / 2)
    samples = spread[:, :, 0]
    assert (samples >= low[:, None] - 1e-9).all() and (samples <= high[:, None] + 1e-9).all()
    assert (np.ptp(samples, axis=1) > 0.8 * (high - low)).all()  # spread over most of it, not one point
    again = surrogate.sample(texts[:10], num_samples=64, temperature=0.0)
    np.testing.assert_array_equal(spread, again)  # seeded: the same call gives the same samples
    # The point estimate is the median of what the model wrote: equal values stay equal.
    prediction = surrogate.predict(texts[:10], num_samples=64, temperature=0.0)
    np.testing.assert_array_equal(prediction.point["y1"], exact[:, 0, 0])
    np.testing.assert_array_equal(prediction.samples, spread)
