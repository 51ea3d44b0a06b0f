from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from onnx import numpy_helper
from torch.utils.flop_counter import FlopCounterMode

from nasrlm.text.onnx_text import export_module
from search_spaces.nb201.arch import Nb201Arch, sample_arch
from search_spaces.nb201.costs import count_flops, count_params
from search_spaces.nb201.model import build_network

TEST_ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"


def _archs(n: int, seed: int = 0) -> list[Nb201Arch]:
    rng = np.random.default_rng(seed)
    special = [
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|",
        TEST_ARCH,
    ]
    return [Nb201Arch.from_str(s) for s in special] + [sample_arch(rng) for _ in range(n)]


def test_official_parameter_count():
    # 587,386 is what the official xautodl TinyNetwork reports for this cell.
    net = build_network(Nb201Arch.from_str(TEST_ARCH).ops)
    assert sum(p.numel() for p in net.parameters()) == 587_386
    assert count_params(Nb201Arch.from_str(TEST_ARCH).ops) == 587_386


@pytest.mark.parametrize("num_classes", [10, 100])
def test_count_params_matches_module(num_classes):
    for arch in _archs(20):
        net = build_network(arch.ops, num_classes=num_classes)
        assert count_params(arch.ops, num_classes=num_classes) == sum(p.numel() for p in net.parameters())


def test_count_flops_matches_torch_flop_counter():
    x = torch.randn(1, 3, 32, 32)
    for arch in _archs(8, seed=1):
        with FlopCounterMode(display=False) as counter:
            build_network(arch.ops)(x)
        assert count_flops(arch.ops) == counter.get_total_flops(), arch


def test_forward_shapes_and_zero_cell():
    x = torch.randn(2, 3, 32, 32)
    for arch in _archs(3):
        assert build_network(arch.ops)(x).shape == (2, 10)
    # An all-none cell cuts the input off: every image gets the same logits.
    out = build_network(("none",) * 6)(x)
    torch.testing.assert_close(out[0], out[1])


def test_onnxruntime_agrees_with_torch():
    x = torch.randn(2, 3, 32, 32)
    for arch in _archs(3, seed=2):
        net = build_network(arch.ops)
        with torch.no_grad():  # non-trivial BN statistics, so the folding is exercised
            for module in net.modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.running_mean.uniform_(-0.5, 0.5)
                    module.running_var.uniform_(0.5, 2.0)
            expected = net(x).numpy()
        model = export_module(net, x)
        assert {t.name for t in model.graph.initializer}  # weights were exported
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        (got,) = session.run(None, {model.graph.input[0].name: x.numpy()})
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
        assert all(numpy_helper.to_array(t).size for t in model.graph.initializer)
