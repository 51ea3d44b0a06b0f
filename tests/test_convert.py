"""Converters: a space's to_texts, OnnxConverter, TextConverter; the surrogate reads text only."""

from __future__ import annotations

import onnx
import pytest
import torch

from nasrlm.text.convert import OnnxConverter, TextConverter, looks_like_onnx_text
from nasrlm.text.onnx_text import export_module, to_onnx_text
from search_spaces import get_space

ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"


@pytest.fixture(scope="module")
def space():
    return get_space("nb201")


def test_architectures_of_a_space(space):
    expected = space.onnx_text(ARCH)
    arch = space.parse(ARCH)
    assert space.to_texts([ARCH, arch, arch.index]) == [expected] * 3
    # A network of the space, as a module, is exported by torch (cells folded into functions): the
    # exporter's graph, dead edges dropped and identical ops merged, not the text as run.
    assert space.to_texts([space.build_model(arch)]) == [space.onnx_text_exported(arch)]
    # Mixed inputs keep their order.
    other = space.onnx_text(5)
    assert space.to_texts([5, expected, ARCH]) == [other, expected, expected]


def test_onnx_inputs(tmp_path):
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
    x = torch.randn(1, 3, 8, 8)
    text = to_onnx_text(net, x)
    proto = export_module(net, x)
    path = tmp_path / "net.onnx"
    onnx.save(proto, str(path))
    assert looks_like_onnx_text(text) and not looks_like_onnx_text("def f(): pass")
    assert OnnxConverter()([text, str(path), path, proto, (net, x)]) == [text] * 5
    assert OnnxConverter(example_input=x)([net]) == [text]


def test_text_converter_and_errors(space):
    assert TextConverter()(["def f(): pass"]) == ["def f(): pass"]
    with pytest.raises(TypeError, match="reads text only"):
        TextConverter()([1])
    with pytest.raises(ValueError, match="neither ONNX text nor an .onnx path"):
        OnnxConverter()(["not onnx"])
    with pytest.raises(ValueError, match=r"pass \(module, example_input\)"):
        OnnxConverter()([torch.nn.ReLU()])
    with pytest.raises(TypeError, match="has type float"):
        OnnxConverter()([1.5])
    with pytest.raises(ValueError, match="input 1"):
        space.to_texts([ARCH, "|nope~0|"])
    with pytest.raises(IndexError, match="out of range"):
        space.to_texts([15625])


def test_the_surrogate_reads_text_only():
    from nasrlm.rlm.surrogate import Surrogate

    surrogate = Surrogate.pretrained()
    with pytest.raises(TypeError, match=r"convert it first .*to_texts"):
        surrogate.predict([get_space("nb201").parse(ARCH)])
