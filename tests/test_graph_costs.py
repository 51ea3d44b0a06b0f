"""Static costs of an ONNX graph, and the costed text form that states them after the text."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nasrlm.rlm.model import DecoderConfig, EncoderConfig
from nasrlm.rlm.surrogate import Surrogate
from nasrlm.rlm.text_tokenizer import TextTokenizerConfig
from nasrlm.rlm.training import TrainConfig
from nasrlm.text.graph_costs import VALUE_TOKENS, costed_text, graph_costs, is_costed_text, op_census, value_token
from nasrlm.text.onnx_text import parse_text, to_onnx_text
from nasrlm.text.reading_text import reading_text


class Block(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, groups=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x)) + x


def _net(channels: int = 8, stride: int = 2) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, channels, 3, stride=stride, padding=1),  # 16x16 in, 8x8 out at stride 2
        Block(channels),
        Block(channels),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(channels, 5),
    ).eval()


def _text(module: nn.Module, functions=()) -> str:
    return to_onnx_text(module, torch.zeros(1, 3, 16, 16), functions=functions)


def _expected_macs(channels: int, stride: int) -> int:
    side = 16 // stride
    stem = channels * side * side * 3 * 3 * 3
    block = channels * side * side * (channels // 2) * 3 * 3  # groups=2: half the channels per output
    return stem + 2 * block + channels * 5


@pytest.mark.parametrize("functions", [(), (Block,)])
def test_macs_and_params_are_those_of_the_network(functions):
    for channels, stride in ((8, 2), (16, 1)):
        net = _net(channels, stride)
        costs = graph_costs(parse_text(_text(net, functions)))
        assert costs.macs == _expected_macs(channels, stride)  # a folded function counts at each call
        assert costs.params == sum(p.numel() for p in net.parameters())
        assert costs.activations > 0


@pytest.mark.parametrize("functions", [(), (Block,)])
def test_the_op_census_counts_each_kind_at_each_call(functions):
    census = op_census(_text(_net(), functions))
    # The stem; two grouped 3x3 convs, one per block (a folded function counts at each call).
    assert census["Conv 3x3"] == 1 and census["Conv 3x3 grouped"] == 2
    assert census["Relu"] == 2 and census["Add"] == 2 and census["Gemm"] == 1
    assert op_census(costed_text(_text(_net(), functions))) == census  # the costs line is no node
    assert op_census("def f(x):\n    return x") == {}  # not a network: nothing to count


def test_costed_text_is_the_text_then_one_line_of_costs():
    text = _text(_net())
    costed = costed_text(text)
    rest, _, last = costed.rpartition("\n")
    assert rest == text.rstrip() and is_costed_text(costed) and costed_text(costed) == costed
    assert not is_costed_text(text)
    macs = _expected_macs(8, 2)
    assert last.startswith(f"costs: macs {value_token(macs)}, params ")
    assert costed_text(_text(_net(channels=16))) != costed  # a wider network states more
    with pytest.raises(ValueError, match="canonical ONNX text"):
        costed_text(reading_text(text))


def test_numbers_are_powers_of_ten_on_a_grid_of_fifty_per_decade():
    assert value_token(52_680_912) == "10^7.72"
    assert value_token(10**5) == "10^5.00" and value_token(1.049e5) == "10^5.02"
    assert value_token(0) == value_token(1) == "10^0.00" == VALUE_TOKENS[0]
    assert value_token(1e15) == VALUE_TOKENS[-1] == "10^11.98"  # the grid ends; larger values clamp
    assert len(set(VALUE_TOKENS)) == len(VALUE_TOKENS) == 600


def test_a_costed_surrogate_reads_the_costs_line(tmp_path):
    texts = [_text(_net(channels=c)) for c in (4, 8, 12, 16)]
    surrogate = Surrogate.new(
        ("width",),
        texts,
        tokenizer=TextTokenizerConfig(vocab_size=400, max_length=64, truncation="head"),
        encoder=EncoderConfig(d_model=32, n_layers=1, n_heads=2, d_ff=64, max_length=64),
        decoder=DecoderConfig(d_model=32, n_layers=1, n_heads=2, d_ff=64),
        text_form="costed",
    )
    read = surrogate.texts(texts)
    assert all(is_costed_text(t) for t in read) and surrogate.texts(["plain text"]) == ["plain text"]
    # The tail of each text the model reads is the costs line, and the lines differ with the width.
    tails = {tuple(surrogate.tokenizer.encode(t.rpartition("\n")[2])) for t in read}
    assert len(tails) == len(texts)
    surrogate.save(tmp_path / "m")
    assert Surrogate.load(tmp_path / "m").text_form == "costed"
    assert surrogate.with_text_form("onnx").texts(texts) == texts


def test_value_tokens_are_one_token_each_embedded_on_a_line(tmp_path):
    texts = [_text(_net(channels=c)) for c in (4, 8, 12, 16)]
    surrogate = Surrogate.new(
        ("width",),
        texts,
        tokenizer=TextTokenizerConfig(vocab_size=400, max_length=64, truncation="tail"),
        encoder=EncoderConfig(d_model=32, n_layers=1, n_heads=2, d_ff=64, max_length=64),
        decoder=DecoderConfig(d_model=32, n_layers=1, n_heads=2, d_ff=64),
        text_form="costed",
    ).with_value_tokens()
    tokenizer = surrogate.tokenizer
    line = surrogate.texts(texts[:1])[0].rpartition("\n")[2]
    pieces = [tokenizer.decode([i]) for i in tokenizer.encode(line)]
    assert sum(piece in VALUE_TOKENS for piece in pieces) == 3  # macs, params, activations: one token each
    assert tokenizer.decode(tokenizer.encode(texts[0])) == texts[0]  # the rest reads as before
    encoder = surrogate.model.encoder
    ids = torch.tensor([[tokenizer.token_id(t) for t in ("10^2.00", "10^4.00", "10^6.00")]])
    low, mid, high = encoder.embed_tokens(ids)[0]
    torch.testing.assert_close(mid - low, high - mid)  # equal steps in value, equal steps in embedding
    surrogate.fit(texts, {"width": np.array([4.0, 8, 12, 16])}, TrainConfig(epochs=1, batch_size=4))
    surrogate.save(tmp_path / "m")
    loaded = Surrogate.load(tmp_path / "m")
    assert loaded.model.config.encoder.value_tokens and loaded.tokenizer.vocab_size == tokenizer.vocab_size
    torch.testing.assert_close(loaded.model.encoder.embed_tokens(ids), encoder.embed_tokens(ids))


def test_the_lines_values_reach_every_encoder_state():
    texts = [_text(_net(channels=c)) for c in (4, 8, 12, 16)]
    plain = Surrogate.new(
        ("width",),
        texts,
        tokenizer=TextTokenizerConfig(vocab_size=400, max_length=512, truncation="tail"),
        encoder=EncoderConfig(d_model=32, n_layers=1, n_heads=2, d_ff=64, max_length=64, window=64),
        decoder=DecoderConfig(d_model=32, n_layers=1, n_heads=2, d_ff=64),
        text_form="costed",
    )
    surrogate = plain.with_value_tokens()
    encoder, tokenizer = surrogate.model.encoder, surrogate.tokenizer
    ids, mask, _ = tokenizer.encode_batch(surrogate.texts(texts))
    ids_t, mask_t = torch.from_numpy(ids), torch.from_numpy(mask)
    values = encoder.text_values(ids_t)  # macs, params, activations of each text, in order, decades from 10^6
    for row, text in zip(values, surrogate.texts(texts), strict=True):
        stated = [float(word.rstrip(",")[3:]) for word in text.rpartition("\n")[2].split() if word.startswith("10^")]
        torch.testing.assert_close(row + 6, torch.tensor(stated), atol=1e-4, rtol=0)
    no_line = torch.from_numpy(tokenizer.encode_batch(texts)[0])
    assert (encoder.text_values(no_line) == 0).all()  # a text that states no values reads zeros
    # The projection starts at zero: the states are the value-token model's; then gradient reaches it.
    states = surrogate.model.encode(ids_t, mask_t)
    encoder.value_states = 0  # the same weights without the added values
    torch.testing.assert_close(states, surrogate.model.encode(ids_t, mask_t))
    encoder.value_states = 3
    states.sum().backward()
    assert encoder.value_proj.weight.grad is not None and encoder.value_proj.weight.grad.abs().sum() > 0


def test_a_frozen_encoder_still_trains_its_value_projection():
    # The cached text states stay valid: predictions from a state cache filled before the fit equal
    # fresh ones after it, though the projection changed.
    texts = [_text(_net(channels=c)) for c in (4, 8, 12, 16, 20, 24)]
    surrogate = Surrogate.new(
        ("width",),
        texts,
        tokenizer=TextTokenizerConfig(vocab_size=400, max_length=512, truncation="tail"),
        encoder=EncoderConfig(d_model=32, n_layers=1, n_heads=2, d_ff=64, max_length=64, window=64),
        decoder=DecoderConfig(d_model=32, n_layers=1, n_heads=2, d_ff=64),
        text_form="costed",
    ).with_value_tokens()
    model = surrogate.model
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    cache: dict[str, torch.Tensor] = {}
    surrogate.sample(texts, num_samples=2, state_cache=cache)
    config = TrainConfig(epochs=3, batch_size=3, freeze_encoder=True, value_lr_scale=10.0, progress=False)
    surrogate.fit(texts, {"width": np.array([4.0, 8, 12, 16, 20, 24])}, config, state_cache=cache)
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert {"encoder.value_proj.weight", "encoder.value_proj.bias"} <= moved
    assert not {n for n in moved if n.startswith(("encoder.", "bridge.")) and "value_proj" not in n}
    ids, mask, _ = surrogate.tokenizer.encode_batch(surrogate.texts(texts))
    ids_t, mask_t = torch.from_numpy(ids), torch.from_numpy(mask)
    torch.testing.assert_close(model.with_values(model.text_states(ids_t, mask_t), ids_t), model.encode(ids_t, mask_t))
    cached = surrogate.sample(texts, num_samples=4, seed=3, state_cache=cache, precision="float32")
    fresh = surrogate.sample(texts, num_samples=4, seed=3, precision="float32")
    np.testing.assert_allclose(cached, fresh)
