from __future__ import annotations

from collections.abc import Collection

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import numpy_helper, printer
from torch import nn

from nasrlm.text.onnx_text import (
    canonicalize_with_weight_map,
    export_module,
    function_scopes,
    parse_text,
    to_onnx_text,
)


class Block(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.relu(self.bn(self.conv(x)))


class Net(nn.Module):
    def __init__(self, blocks: int = 3) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.blocks = nn.Sequential(*(Block(8) for _ in range(blocks)))
        self.head = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))


def _randomize(module: nn.Module, seed: int) -> nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            if tensor.dtype.is_floating_point:
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
    return module.eval()


def _run_canonical(
    model: onnx.ModelProto, scopes: dict[str, str], x: torch.Tensor, parameter_names: Collection[str] = ()
) -> np.ndarray:
    """Canonical text -> parsed model -> onnxruntime, fed the original weights."""
    canonical, weight_map = canonicalize_with_weight_map(model, scopes, parameter_names=parameter_names)
    parsed = parse_text(printer.to_text(canonical))
    initializers = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    feeds = {"x": x.numpy(), **{w: initializers[src] for w, src in weight_map.items()}}
    session = ort.InferenceSession(parsed.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


x = torch.randn(2, 3, 8, 8)


def test_text_parses_and_passes_checker():
    text = to_onnx_text(Net(), x)
    model = parse_text(text)  # runs onnx.checker with full_check
    assert next(i.name for i in model.graph.input) == "x"
    assert model.graph.output[0].name == "y"


def test_no_weight_values_and_stable_names():
    net = _randomize(Net(), 0)
    text = to_onnx_text(net, x)
    value = f"{net.stem.weight.flatten()[0].item():.6g}"
    assert value not in text
    assert "onnx::" not in text and "/stem" not in text  # exporter names are gone
    assert "float[8,3,3,3] w0" in text  # shapes stay visible


def test_identical_networks_give_identical_text():
    assert to_onnx_text(_randomize(Net(), 1), x) == to_onnx_text(_randomize(Net(), 2), x)
    assert to_onnx_text(Net(blocks=2), x) != to_onnx_text(Net(blocks=3), x)


def test_equal_weight_values_do_not_change_the_text():
    # Exporters deduplicate initializers with equal values; untying makes that invisible.
    tied = Net()
    with torch.no_grad():
        for block in tied.blocks:
            block.conv.bias.zero_()
    assert to_onnx_text(tied, x) == to_onnx_text(_randomize(Net(), 3), x)


def test_model_proto_bytes_and_file_inputs_agree(tmp_path):
    net = Net()
    proto = export_module(net, x)
    path = tmp_path / "net.onnx"
    onnx.save(proto, str(path))
    expected = to_onnx_text(proto)
    assert to_onnx_text(proto.SerializeToString()) == expected
    assert to_onnx_text(path) == expected
    assert to_onnx_text(str(path)) == expected


def test_functions_fold_repeated_blocks():
    text = to_onnx_text(Net(blocks=3), x, functions={Block})
    assert text.count("local.Block (") == 3
    assert text.count("\nBlock (") == 1  # one definition
    parse_text(text)
    assert len(text) < len(to_onnx_text(Net(blocks=3), x))


def test_canonical_graph_computes_the_network():
    net = _randomize(Net(), 4)
    model = export_module(net, x)
    with torch.no_grad():
        expected = net(x).numpy()
    for scopes in ({}, function_scopes(net, {Block})):
        np.testing.assert_allclose(_run_canonical(model, scopes, x), expected, rtol=1e-4, atol=1e-4)


def test_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.onnx"):
        to_onnx_text(tmp_path / "missing.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="bad.onnx"):
        to_onnx_text(bad)
    with pytest.raises(TypeError, match="example_input is required"):
        to_onnx_text(Net())
    with pytest.raises(TypeError, match="expected a torch.nn.Module"):
        to_onnx_text(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="only when source is a torch.nn.Module"):
        to_onnx_text(export_module(Net(), x), x)


class Scaled(nn.Module):
    """A one-output head with a learned rank-0 temperature and a constant the code wrote."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(8, 1)
        self.temperature = nn.Parameter(torch.tensor(2.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x) * self.temperature + 0.5


def test_one_element_weights_are_inputs_not_values():
    features = torch.randn(2, 8)
    first, second = _randomize(nn.Linear(8, 1), 5), _randomize(nn.Linear(8, 1), 6)
    text = to_onnx_text(first, features)
    assert text == to_onnx_text(second, features)  # same architecture, new weights: same text
    assert "float[1] w1" in text and "Constant" not in text
    assert f"{first.bias.item():.6g}"[:6] not in text and "bias" not in text


def test_rank_0_parameters_are_weights_and_written_scalars_are_architecture():
    features = torch.randn(2, 8)
    texts = {to_onnx_text(_randomize(Scaled(), seed), features) for seed in (7, 8)}
    assert len(texts) == 1
    (text,) = texts
    assert "float w2" in text  # the temperature, an input without a shape
    assert "{0.5}" in text  # the 0.5 in forward is part of the network
    np.testing.assert_allclose(
        _run_canonical(export_module(_randomize(Scaled(), 9), features), {}, features, {"temperature"}),
        _randomize(Scaled(), 9)(features).detach().numpy(),
        rtol=1e-5,
    )
