"""Reading whole texts as windows encoded alone (EncoderConfig.window, Surrogate.read_in_windows)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from nasrlm.rlm.model import DecoderConfig, EncoderConfig, RegressionLM, RLMConfig
from nasrlm.rlm.surrogate import Surrogate
from nasrlm.rlm.text_tokenizer import TextTokenizerConfig
from nasrlm.rlm.training import TrainConfig

TINY_DECODER = DecoderConfig(d_model=32, n_layers=1, n_heads=2, d_ff=64)


def _model(window: int | None) -> RegressionLM:
    torch.manual_seed(0)
    encoder = EncoderConfig(d_model=32, n_layers=2, n_heads=2, d_ff=64, max_length=64, window=window)
    return RegressionLM(RLMConfig(("y",), text_vocab_size=50, encoder=encoder, decoder=TINY_DECODER)).eval()


def test_each_window_is_encoded_alone_counted_from_the_end():
    model = _model(window=8)
    plain = _model(window=None)  # same weights (same seed), reading a row at once
    lengths = [5, 8, 13, 24, 30]
    ids = torch.zeros(len(lengths), max(lengths), dtype=torch.long)
    mask = torch.zeros_like(ids, dtype=torch.bool)
    generator = torch.Generator().manual_seed(1)
    for r, n in enumerate(lengths):
        ids[r, :n] = torch.randint(1, 50, (n,), generator=generator)
        mask[r, :n] = True
    with torch.no_grad():
        states = model.encode(ids, mask)
        for r, n in enumerate(lengths):
            # Windows from the end: [n-8, n), [n-16, n-8), ...; the first takes the remaining n % 8.
            cuts = sorted({0, *range(n % 8, n, 8)})
            for start, stop in zip(cuts, [*cuts[1:], n], strict=True):
                alone = plain.encode(ids[r : r + 1, start:stop], mask[r : r + 1, start:stop])[0]
                torch.testing.assert_close(states[r, start:stop], alone, atol=1e-5, rtol=1e-5)
        # A batch no longer than the window is read as before.
        torch.testing.assert_close(model.encode(ids[:2, :8], mask[:2, :8]), plain.encode(ids[:2, :8], mask[:2, :8]))


def test_window_must_fit_the_position_table():
    with pytest.raises(ValueError, match="window must be between 2 and max_length"):
        EncoderConfig(max_length=64, window=128)


def _task(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Long texts (up to ~150 tokens) whose target counts 'Conv' lines spread over all of them."""
    rng = np.random.default_rng(seed)
    texts, counts = [], []
    for _ in range(n):
        convs, pools = int(rng.integers(0, 25)), int(rng.integers(0, 25))
        lines = ["t = Conv (x)"] * convs + ["t = Pool (x)"] * pools
        rng.shuffle(lines)
        texts.append("\n".join(["graph", *lines, "end"]))
        counts.append(convs)
    return texts, np.asarray(counts, dtype=float) + 1.0


def test_a_count_spread_over_a_long_text_is_read_in_windows_and_lost_to_a_tail_cut():
    texts, y = _task(300, seed=0)
    test_texts, test_y = _task(100, seed=1)

    def fitted(window: int | None) -> tuple[Surrogate, float]:
        surrogate = Surrogate.new(
            ("y",),
            texts,
            tokenizer=TextTokenizerConfig(vocab_size=300, max_length=16 if window is None else 256, truncation="tail"),
            encoder=EncoderConfig(d_model=32, n_layers=1, n_heads=2, d_ff=64, max_length=16, window=window),
            decoder=TINY_DECODER,
            seed=0,
        )
        surrogate.fit(texts, {"y": y}, TrainConfig(epochs=30, batch_size=16, lr=3e-3, progress=False))
        point = surrogate.predict(test_texts, num_samples=8, temperature=1.0, seed=0).point["y"]
        return surrogate, float(spearmanr(point, test_y)[0])

    windowed, windowed_rho = fitted(16)
    assert windowed.tokenizer.encode_batch(test_texts)[2] == 0.0  # nothing cut
    _, tail_rho = fitted(None)
    assert windowed_rho > 0.8
    assert windowed_rho > tail_rho + 0.2


def test_read_in_windows_keeps_the_weights_and_is_saved(tmp_path):
    texts, _ = _task(40, seed=0)
    surrogate = Surrogate.new(
        ("y",),
        texts,
        tokenizer=TextTokenizerConfig(vocab_size=300, max_length=32, truncation="tail"),
        encoder=EncoderConfig(d_model=32, n_layers=1, n_heads=2, d_ff=64, max_length=32),
        decoder=TINY_DECODER,
        seed=0,
    )
    whole = surrogate.read_in_windows(max_length=512, window=32)
    assert whole.tokenizer.config.max_length == 512 and whole.model.config.encoder.window == 32
    assert surrogate.tokenizer.config.max_length == 32  # the original is unchanged
    short = [t for t in texts if len(surrogate.tokenizer.encode(t)) + 2 <= 32][:5]
    assert short
    np.testing.assert_array_equal(
        surrogate.predict(short, num_samples=4, seed=0).samples,
        whole.predict(short, num_samples=4, seed=0).samples,
    )
    path = whole.save(tmp_path / "whole")
    assert json.loads((path / "config.json").read_text())["model"]["encoder"]["window"] == 32
    loaded = Surrogate.load(path)
    assert loaded.model.config.encoder.window == 32 and loaded.tokenizer.config.max_length == 512
    with pytest.raises(ValueError, match="fixed when the vocabulary is learned"):
        surrogate.tokenizer.with_config(vocab_size=10)


def test_a_new_vocabulary_keeps_every_weight_and_starts_new_tokens_from_their_old_pieces():
    texts, _ = _task(60, seed=0)
    old = Surrogate.new(
        ("y",),
        texts,
        tokenizer=TextTokenizerConfig(vocab_size=270, max_length=64),
        encoder=EncoderConfig(d_model=32, n_layers=1, n_heads=2, d_ff=64, max_length=64),
        decoder=TINY_DECODER,
        seed=0,
    )
    # Learned on more kinds of text: merges the old vocabulary lacks ("Relu", "Sigmoid" lines).
    wider = [t.replace("Pool", "Relu") for t in texts] + [t.replace("Conv", "Sigmoid") for t in texts] + texts
    learned = Surrogate.new(("y",), wider, tokenizer=TextTokenizerConfig(vocab_size=400, max_length=64)).tokenizer
    new = old.with_tokenizer(learned)
    assert new.tokenizer is learned and new.model.config.text_vocab_size == learned.vocab_size
    before, after = old.model.state_dict(), new.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k != "encoder.embed.weight")
    rows_old, rows_new = before["encoder.embed.weight"], after["encoder.embed.weight"]
    shared = merged = 0
    for token in range(5, learned.vocab_size):
        pieces = old.tokenizer.encode(learned.decode([token]))
        torch.testing.assert_close(rows_new[token], rows_old[pieces].mean(0))
        shared += len(pieces) == 1
        merged += len(pieces) > 1
    assert shared and merged  # both kinds were exercised
    # Carried over to its own vocabulary, a model predicts exactly as before.
    same = old.with_tokenizer(old.tokenizer)
    np.testing.assert_array_equal(
        old.predict(texts[:5], num_samples=4, seed=0).samples, same.predict(texts[:5], num_samples=4, seed=0).samples
    )
