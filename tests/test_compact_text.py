"""The compact form of ONNX text: every node in a few tokens, and nothing that changes the network lost."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from nasrlm.rlm.model import DecoderConfig, EncoderConfig
from nasrlm.rlm.surrogate import Surrogate
from nasrlm.rlm.text_tokenizer import TextTokenizerConfig
from nasrlm.text.compact_text import compact_text, is_compact_text
from nasrlm.text.convert import looks_like_onnx_text
from nasrlm.text.onnx_text import parse_text, to_onnx_text
from nasrlm.text.reading_text import reading_text


class Block(nn.Module):
    def __init__(self, channels: int, stride: int, bias: bool = True, padding: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=stride, padding=padding, groups=2, bias=bias)
        self.pool = nn.MaxPool2d(3, stride, padding=padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x)) + self.pool(x)


def _net(channels: int = 8, stride: int = 2, bias: bool = True, padding: int = 1) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, channels, 3, padding=1),
        Block(channels, stride, bias, padding),
        Block(channels, 1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(channels, 5),
    ).eval()


def _text(module: nn.Module, functions=()) -> str:
    return to_onnx_text(module, torch.zeros(1, 3, 16, 16), functions=functions)


def test_one_line_per_node_with_inputs_by_position():
    onnx_text = _text(_net())
    model = parse_text(onnx_text)
    text = compact_text(onnx_text)
    assert is_compact_text(text) and looks_like_onnx_text(text)
    assert text.startswith("net x[1,3,16,16] -> [1,5]")
    lines = text.splitlines()[1:]
    assert [line.split()[0] for line in lines] == [n.op_type for n in model.graph.node]
    assert lines[0] == "Conv k3 x [8,3,3,3] +b"  # the input named, the bias its weight implies as +b
    assert "Conv g2 k3 s2 [8,4,3,3] +b" in lines  # a grouped, strided conv; "same" padding implied
    assert any(line.startswith("Add @") for line in lines)  # a branch joins by relative position
    assert len(text) < 0.6 * len(reading_text(onnx_text))


def test_a_function_of_the_network_and_nothing_else():
    assert compact_text(_text(_net())) == compact_text(_text(_net()))
    variants = [_net(), _net(channels=16), _net(stride=1), _net(bias=False), _net(padding=0)]
    texts = [compact_text(_text(net)) for net in variants]
    assert len(set(texts)) == len(texts)  # width, stride, a bias and padding all show
    assert texts[3].splitlines()[2] == "Conv g2 k3 s2 [8,4,3,3]"  # no bias: no +b
    assert "Conv g2 k3 p0 s2 [8,4,3,3] +b" in texts[4].splitlines()  # padding that is not "same" shows
    assert compact_text(texts[0]) == texts[0]  # already compact: unchanged
    assert not is_compact_text("net x = 3  # not a network")


def test_folded_functions_stay_folded():
    text = compact_text(_text(_net(stride=1), functions=(Block,)))
    lines = text.splitlines()
    assert sum(line.startswith("Block ") for line in lines) == 2
    assert any(line.startswith("def Block(x0") for line in lines)


def test_networks_of_every_space_keep_their_identity_in_fewer_characters():
    from search_spaces import get_space

    for name, step in (("nb201", 97), ("fbnet", 50), ("nb101", 5)):
        space = get_space(name)
        archs = [space.arch(i) for i in range(0, min(space.size, 100 * step), step)]
        onnx_texts = space.to_texts(archs)
        compact = [compact_text(t) for t in onnx_texts]
        assert len(set(compact)) == len(set(onnx_texts)), name
        assert np.median([len(c) for c in compact]) < 0.45 * np.median([len(t) for t in onnx_texts]), name


def test_a_compact_surrogate_reads_onnx_text_in_its_form(tmp_path):
    texts = [_text(_net(channels=c)) for c in (4, 8, 12, 16)]
    surrogate = Surrogate.new(
        ("width",),
        texts,
        tokenizer=TextTokenizerConfig(vocab_size=400, max_length=256, truncation="head"),
        encoder=EncoderConfig(d_model=32, n_layers=1, n_heads=2, d_ff=64, max_length=256),
        decoder=DecoderConfig(d_model=32, n_layers=1, n_heads=2, d_ff=64),
        text_form="compact",
    )
    read = surrogate.texts(texts)
    assert all(is_compact_text(t) for t in read) and surrogate.texts(["plain text"]) == ["plain text"]
    assert surrogate.tokenizer.token_lengths(read).max() < 256
    surrogate.save(tmp_path / "m")
    assert Surrogate.load(tmp_path / "m").text_form == "compact"
