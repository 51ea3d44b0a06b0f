"""Fused Triton NB201 ops against PyTorch: compiled on a CUDA machine, else in Triton's interpreter.

The interpreter runs every kernel program in NumPy, so shapes are tiny. It must be on before
``triton.language`` is first imported (its own helpers, such as ``tl.zeros``, are decorated then).
Some torch modules import triton themselves (``torch.utils.flop_counter`` does), so when an earlier
test module got there first, these tests run in a fresh Python process instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

pytest.importorskip("triton", reason="triton is not installed (pip install 'nasrlm[triton]')")

import triton.language as tl
from torch import nn
from torch.nn import functional as F

from search_spaces.nb201 import triton_ops as T
from search_spaces.nb201.model import Nb201Network, ReLUConvBN

# On the CPU with triton.language imported before the interpreter was switched on: kernels cannot run here.
NEEDS_FRESH_PROCESS = not torch.cuda.is_available() and type(tl.zeros).__name__ != "InterpretedFunction"
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
TOL = {"atol": 1e-4, "rtol": 1e-4}


def _randn(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, device=DEVICE)


def _randomize_bn(module: nn.Module) -> nn.Module:
    """Non-trivial BN statistics, so that folding them is actually tested."""
    for bn in module.modules():
        if isinstance(bn, nn.BatchNorm2d):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.uniform_(-0.5, 0.5)
    return module.eval()


@pytest.fixture(autouse=True)
def _seed_and_exact_reference(request, monkeypatch):
    if NEEDS_FRESH_PROCESS and request.node.name != "test_kernels_in_a_fresh_process":
        pytest.skip("triton was imported before TRITON_INTERPRET=1; test_kernels_in_a_fresh_process runs this")
    torch.manual_seed(0)
    # On a GPU, PyTorch's convs use TF32 by default: the reference must be full fp32 like the kernels.
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)


@pytest.mark.parametrize(("c_in", "c_out", "kernel", "stride"), [(16, 16, 3, 1), (16, 16, 1, 1), (8, 32, 3, 2)])
def test_relu_conv_bn_matches_torch(c_in, c_out, kernel, stride):
    module = _randomize_bn(ReLUConvBN(c_in, c_out, kernel, stride)).to(DEVICE)
    x = _randn(2, c_in, 6, 6)
    folded = T.FoldedConv.of(module[1], module[2], relu=True, precision="ieee")
    with torch.no_grad():
        torch.testing.assert_close(folded(x), module(x), **TOL)


def test_conv_epilogue_adds_the_residual_in_place():
    x, w, b, res = _randn(1, 16, 5, 5), _randn(16, 16, 3, 3), _randn(16), _randn(1, 16, 5, 5)
    expected = F.conv2d(x.relu(), w, b, padding=1) + res
    out = T.relu_conv_bn(x, w, b, residual=res)
    assert out.data_ptr() == res.data_ptr()  # the node sum needs no extra buffer or kernel
    torch.testing.assert_close(out, expected, **TOL)


def test_stem_conv_without_relu_and_three_input_channels():
    x, w, b = _randn(2, 3, 6, 6), _randn(16, 3, 3, 3), _randn(16)
    torch.testing.assert_close(T.relu_conv_bn(x, w, b, relu=False), F.conv2d(x, w, b, padding=1), **TOL)


def test_pooled_shortcut_is_one_kernel():
    x, w = _randn(2, 16, 6, 6), _randn(32, 16, 1, 1)
    expected = F.conv2d(F.avg_pool2d(x, 2), w)
    torch.testing.assert_close(T.relu_conv_bn(x, w, relu=False, pool_input=True), expected, **TOL)


def test_avg_pool_matches_torch_at_borders():
    x = _randn(2, 4, 5, 7)  # odd sizes: every border and corner window is partial
    pool = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    torch.testing.assert_close(T.avg_pool3x3(x), pool(x), **TOL)


@pytest.mark.parametrize("modes", [(T.IDENTITY,), (T.POOL, T.IDENTITY), (T.IDENTITY, T.POOL, T.POOL)])
def test_node_sum(modes):
    pool = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    inputs = [_randn(2, 8, 4, 4) for _ in modes]
    expected = sum(pool(x) if mode == T.POOL else x for x, mode in zip(inputs, modes, strict=True))
    torch.testing.assert_close(T.node_sum(list(zip(inputs, modes, strict=True))), expected, **TOL)


def test_node_sum_refuses_bad_terms():
    with pytest.raises(ValueError, match="1 to 3 terms"):
        T.node_sum([])
    with pytest.raises(ValueError, match="differ in shape"):
        T.node_sum([(_randn(1, 2, 3, 3), T.IDENTITY), (_randn(1, 2, 4, 4), T.IDENTITY)])


def test_head():
    bn, linear = _randomize_bn(nn.BatchNorm2d(64)).to(DEVICE), nn.Linear(64, 10).to(DEVICE)
    x = _randn(3, 64, 4, 4)
    with torch.no_grad():
        expected = linear(F.relu(bn(x)).mean((2, 3)))
    scale, shift = T.fold_bn(bn)
    torch.testing.assert_close(T.bn_relu_pool_linear(x, scale, shift, linear.weight, linear.bias), expected, **TOL)


CELLS = [
    ("nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3", "skip_connect", "nor_conv_3x3", "avg_pool_3x3"),
    ("none",) * 6,  # every node is zero
    ("avg_pool_3x3", "none", "none", "none", "none", "skip_connect"),  # node 1 dead: not computed
    ("skip_connect", "nor_conv_3x3", "none", "none", "nor_conv_1x1", "none"),  # node 3 from node 1 only
    ("nor_conv_3x3",) * 6,
]


@pytest.mark.parametrize("ops", CELLS, ids=lambda ops: "-".join(op.split("_")[-1] for op in ops))
def test_whole_network_matches_torch(ops):
    # One cell per stage and 8x8 inputs keep the interpreter fast; the structure is the real one.
    network = _randomize_bn(Nb201Network(ops, cells_per_stage=1)).to(DEVICE)
    x = _randn(2, 3, 8, 8)
    with torch.no_grad():
        expected = network(x)
    torch.testing.assert_close(T.TritonNb201(network)(x), expected, **TOL)


def test_tf32_executor_is_close():
    network = _randomize_bn(Nb201Network(CELLS[0], cells_per_stage=1)).to(DEVICE)
    x = _randn(1, 3, 8, 8)
    with torch.no_grad():
        expected = network(x)
    torch.testing.assert_close(T.TritonNb201(network, precision="tf32")(x), expected, atol=1e-2, rtol=1e-2)
    with pytest.raises(ValueError, match="'ieee' or 'tf32'"):
        T.TritonNb201(network, precision="fp16")


@pytest.mark.skipif(not NEEDS_FRESH_PROCESS, reason="the kernel tests ran in this process")
def test_kernels_in_a_fresh_process():
    root = Path(__file__).resolve().parents[1]
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(Path(__file__).resolve())]
    result = subprocess.run(
        command, cwd=root, env={**os.environ, "TRITON_INTERPRET": "1"}, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    # The kernels really ran: only this test itself is skipped there.
    assert " passed, 1 skipped" in result.stdout, result.stdout[-2000:]
