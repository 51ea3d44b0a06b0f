from __future__ import annotations

import onnx
import pytest
import torch

from nasrlm.text.convert import looks_like_onnx_text, to_texts
from nasrlm.text.onnx_text import export_module, to_onnx_text
from search_spaces import get_space

ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"


@pytest.fixture(scope="module")
def space():
    return get_space("nb201")


def test_architectures_of_a_space(space):
    expected = space.onnx_text(ARCH)
    arch = space.parse(ARCH)
    assert to_texts([ARCH, arch, arch.index], space) == [expected] * 3
    # A network of the space, as a module, gets the same text (cells folded into functions).
    assert to_texts([space.build_model(arch)], space) == [expected]


def test_onnx_inputs(tmp_path):
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
    x = torch.randn(1, 3, 8, 8)
    text = to_onnx_text(net, x)
    proto = export_module(net, x)
    path = tmp_path / "net.onnx"
    onnx.save(proto, str(path))
    assert looks_like_onnx_text(text) and not looks_like_onnx_text("def f(): pass")
    assert to_texts([text, str(path), path, proto, (net, x)]) == [text] * 5


def test_raw_text_and_errors():
    assert to_texts(["def f(): pass"], raw_text=True) == ["def f(): pass"]
    with pytest.raises(TypeError, match="raw_text inputs must be strings"):
        to_texts([1], raw_text=True)
    with pytest.raises(ValueError, match="no search space"):
        to_texts(["not onnx"])
    with pytest.raises(ValueError, match=r"pass \(module, example_input\)"):
        to_texts([torch.nn.ReLU()])
    with pytest.raises(TypeError, match="has type float"):
        to_texts([1.5])
