"""The reading form of ONNX text: compact, whole, and faithful to what the network computes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nasrlm.rlm.model import DecoderConfig, EncoderConfig
from nasrlm.rlm.surrogate import Surrogate, SurrogateLoadError
from nasrlm.rlm.text_tokenizer import TextTokenizerConfig
from nasrlm.rlm.training import TrainConfig
from nasrlm.text.onnx_text import parse_text, to_onnx_text
from nasrlm.text.reading_text import is_reading_text, reading_text


class Block(nn.Module):
    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=stride, padding=1, groups=2)
        self.pool = nn.MaxPool2d(3, stride, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x)) + self.pool(x)


def _net(channels: int = 8, stride: int = 2) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, channels, 3, padding=1),
        Block(channels, stride),
        Block(channels, 1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(channels, 5),
    ).eval()


def _text(module: nn.Module, functions=()) -> str:
    return to_onnx_text(module, torch.zeros(1, 3, 16, 16), functions=functions)


def test_every_node_kept_with_weight_shapes_and_no_weight_names():
    onnx_text = _text(_net())
    model = parse_text(onnx_text)
    text = reading_text(onnx_text)
    assert is_reading_text(text) and text.startswith("net(x[1,3,16,16]) -> y[1,5]")
    lines = text.splitlines()[1:]
    assert len(lines) == len(model.graph.node)
    assert [line.split(" = ")[1].split("(")[0].split("<")[0] for line in lines] == [n.op_type for n in model.graph.node]
    assert "[8,4,3,3]" in text  # a grouped conv's weight, by its shape
    assert not any(f"w{i}" in text.replace("[", " ").split() for i in range(20))
    assert "float[" not in text


def test_defaults_dropped_and_what_differs_from_them_kept():
    text = reading_text(_text(_net(stride=2)))
    assert "dilations" not in text and "group=1" not in text
    assert "strides=[2,2]" in text and "group=2" in text and "pads=[1,1,1,1]" in text
    same = reading_text(_text(_net(stride=1)))
    assert "strides" not in same  # stride 1 is ONNX's default: nothing to say


def test_a_function_of_the_network_and_nothing_else():
    assert reading_text(_text(_net())) == reading_text(_text(_net()))
    assert reading_text(_text(_net(channels=8))) != reading_text(_text(_net(channels=16)))
    assert reading_text(_text(_net(stride=1))) != reading_text(_text(_net(stride=2)))
    text = reading_text(_text(_net()))
    assert reading_text(text) == text  # already read: unchanged


def test_folded_functions_stay_folded():
    text = reading_text(_text(_net(stride=1), functions=(Block,)))
    lines = text.splitlines()
    calls = [line for line in lines if " = Block(" in line]
    assert len(calls) == 2 and any(line.startswith("Block(x0") for line in lines)


def test_nb201_networks_keep_their_identity():
    from search_spaces import get_space

    space = get_space("nb201")
    archs = [space.arch(i) for i in range(0, 15625, 97)]
    onnx_texts = space.onnx_texts(archs)
    read = [reading_text(t) for t in onnx_texts]
    # Distinct networks stay distinct, equal ones stay equal.
    assert len(set(read)) == len(set(onnx_texts))
    assert np.median([len(r) for r in read]) < 0.5 * np.median([len(t) for t in onnx_texts])


def _task(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    widths = rng.choice([4, 8, 12, 16], n)
    return [_text(_net(channels=int(c))) for c in widths], widths.astype(float)


@pytest.fixture(scope="module")
def reader() -> Surrogate:
    texts, _ = _task(8, 0)
    return Surrogate.new(
        ("width",),
        texts,
        tokenizer=TextTokenizerConfig(vocab_size=400, max_length=512, truncation="head"),
        encoder=EncoderConfig(d_model=32, n_layers=1, n_heads=2, d_ff=64, max_length=512),
        decoder=DecoderConfig(d_model=32, n_layers=1, n_heads=2, d_ff=64),
        text_form="reading",
    )


def test_a_reading_surrogate_reads_onnx_text_in_its_form(reader):
    texts, widths = _task(24, 1)
    read = reader.texts(texts)
    assert all(is_reading_text(t) for t in read)
    assert reader.tokenizer.token_lengths(read).max() < reader.tokenizer.config.max_length  # whole
    assert reader.texts(["not a network, just text"]) == ["not a network, just text"]
    reader.fit(texts, {"width": widths}, TrainConfig(epochs=2, batch_size=8, progress=False))
    assert reader.predict(texts[:3], num_samples=2).point["width"].shape == (3,)


def test_the_text_form_is_saved_and_old_models_read_onnx(reader, tmp_path):
    reader.save(tmp_path / "m")
    assert Surrogate.load(tmp_path / "m").text_form == "reading"
    import json

    config = json.loads((tmp_path / "m" / "config.json").read_text())
    del config["text_form"]  # a model saved before text forms existed
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    assert Surrogate.load(tmp_path / "m").text_form == "onnx"
    config["text_form"] = "pictures"
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    with pytest.raises(SurrogateLoadError, match="text form 'pictures'"):
        Surrogate.load(tmp_path / "m")
