"""Fused Triton kernels for NB201 candidate ops, and an executor that runs a whole network with them.

At inference an NB201 network is dozens of tiny ops (ReLU, conv, batch norm, pooling, adds) on
feature maps of at most 16x32x32 per image: eager PyTorch spends more time launching kernels
than computing. The fusions here cut the launches and the round trips to memory:

* ``relu_conv_bn``: ReLU -> Conv -> BatchNorm as one implicit GEMM. The ReLU is applied while the
  input patch is loaded, BN is folded into the weights and a bias, and the epilogue can add a
  residual in place: that is how a node sums the outputs of its conv edges, without an add kernel.
  With ``pool_input`` it averages 2x2 input windows on the fly (the reduction block's shortcut,
  AvgPool2d(2) -> 1x1 conv, in one kernel).
* ``node_sum``: the sum of a node's identity and 3x3-average-pool edges (up to three), in one pass;
  ``avg_pool3x3`` is its one-pool case. Conv edges are then added by the conv epilogues.
* ``bn_relu_pool_linear``: the classifier head (BN, ReLU, global average pool, linear) per image.

:class:`TritonNb201` runs a :class:`~search_spaces.nb201.model.Nb201Network` with these kernels only.
Needs the optional ``triton`` extra. On the CPU, ``TRITON_INTERPRET=1`` (set before this module is
imported) runs the kernels in Triton's interpreter: for checking correctness, not for speed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
import triton
import triton.language as tl
from torch import nn

from .model import Nb201Cell, Nb201Network, ReLUConvBN, ResNetBlock, build_network
from .onnx_builder import cell_edges

__all__ = [
    "IDENTITY",
    "POOL",
    "FoldedConv",
    "TritonNb201",
    "avg_pool3x3",
    "bn_relu_pool_linear",
    "fold_bn",
    "node_sum",
    "relu_conv_bn",
]

# How node_sum reads each input.
ABSENT, IDENTITY, POOL = 0, 1, 2


# --- kernels -------------------------------------------------------------------------------------
@triton.jit
def _conv_kernel(
    x_ptr,
    w_ptr,
    bias_ptr,
    res_ptr,
    out_ptr,
    N,
    C_in,
    H,
    W,
    C_out,
    H_out,
    W_out,
    STRIDE: tl.constexpr,
    KS: tl.constexpr,
    RELU: tl.constexpr,
    POOL2: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    HAS_RES: tl.constexpr,
    PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    # GEMM view: rows = output pixels (n, oh, ow), columns = output channels, reduction = (ci, kh, kw),
    # in the order of the flattened [C_out, C_in, KS, KS] weight. Tensors are contiguous NCHW.
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    hw_out = H_out * W_out
    m_mask = offs_m < N * hw_out
    n_mask = offs_n < C_out
    image = offs_m // hw_out
    pixel = offs_m % hw_out
    oh = pixel // W_out
    ow = pixel % W_out
    k_total = C_in * KS * KS
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, k_total, BLOCK_K):
        offs_k = k0 + tl.arange(0, BLOCK_K)
        k_mask = offs_k < k_total
        ci = offs_k // (KS * KS)
        kh = (offs_k % (KS * KS)) // KS
        kw = offs_k % KS
        plane = (image[:, None] * C_in + ci[None, :]) * H
        if POOL2:
            # 1x1 conv on the 2x2-average-pooled input: average the window while loading it.
            valid = m_mask[:, None] & k_mask[None, :]
            top = x_ptr + (plane + 2 * oh[:, None]) * W + 2 * ow[:, None]
            a = tl.load(top, mask=valid, other=0.0) + tl.load(top + 1, mask=valid, other=0.0)
            a += tl.load(top + W, mask=valid, other=0.0) + tl.load(top + W + 1, mask=valid, other=0.0)
            a = a * 0.25
        else:
            ih = oh[:, None] * STRIDE - KS // 2 + kh[None, :]
            iw = ow[:, None] * STRIDE - KS // 2 + kw[None, :]
            valid = m_mask[:, None] & k_mask[None, :] & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
            a = tl.load(x_ptr + (plane + ih) * W + iw, mask=valid, other=0.0)
        if RELU:
            a = tl.maximum(a, 0.0)  # relu(0) = 0, so the zero padding stays zero
        b = tl.load(
            w_ptr + offs_n[None, :] * k_total + offs_k[:, None], mask=k_mask[:, None] & n_mask[None, :], other=0.0
        )
        acc += tl.dot(a, b, input_precision=PRECISION)
    if HAS_BIAS:
        acc += tl.load(bias_ptr + offs_n, mask=n_mask, other=0.0)[None, :]
    out_offsets = (image[:, None] * C_out + offs_n[None, :]) * hw_out + pixel[:, None]
    out_mask = m_mask[:, None] & n_mask[None, :]
    if HAS_RES:
        # res may be out itself: each element is read and then written by this program alone.
        acc += tl.load(res_ptr + out_offsets, mask=out_mask, other=0.0)
    tl.store(out_ptr + out_offsets, acc, mask=out_mask)


@triton.jit
def _term(ptr, offs, mask, H, W, MODE: tl.constexpr, BLOCK: tl.constexpr):
    """One input of a node sum at flat NCHW positions ``offs``: absent, as is, or 3x3-average-pooled."""
    if MODE == 1:
        total = tl.load(ptr + offs, mask=mask, other=0.0)
    elif MODE == 2:
        h = (offs // W) % H
        w = offs % W
        total = tl.zeros((BLOCK,), dtype=tl.float32)
        count = tl.zeros((BLOCK,), dtype=tl.float32)
        for dh in tl.static_range(-1, 2):
            for dw in tl.static_range(-1, 2):
                inside = mask & (h + dh >= 0) & (h + dh < H) & (w + dw >= 0) & (w + dw < W)
                total += tl.load(ptr + offs + dh * W + dw, mask=inside, other=0.0)
                count += inside.to(tl.float32)
        total = total / tl.maximum(count, 1.0)  # count_include_pad=False: border windows average fewer
    else:
        total = tl.zeros((BLOCK,), dtype=tl.float32)
    return total


@triton.jit
def _node_sum_kernel(
    a_ptr,
    b_ptr,
    c_ptr,
    out_ptr,
    numel,
    H,
    W,
    MODE_A: tl.constexpr,
    MODE_B: tl.constexpr,
    MODE_C: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < numel
    total = _term(a_ptr, offs, mask, H, W, MODE_A, BLOCK)
    total += _term(b_ptr, offs, mask, H, W, MODE_B, BLOCK)
    total += _term(c_ptr, offs, mask, H, W, MODE_C, BLOCK)
    tl.store(out_ptr + offs, total, mask=mask)


@triton.jit
def _head_kernel(
    x_ptr,
    scale_ptr,
    shift_ptr,
    w_ptr,
    bias_ptr,
    out_ptr,
    C,
    HW,
    CLASSES,
    BLOCK_C: tl.constexpr,
    BLOCK_HW: tl.constexpr,
    BLOCK_CLS: tl.constexpr,
):
    # One program per image: mean over pixels of relu(BN(x)), then the linear layer.
    image = tl.program_id(0)
    offs_c = tl.arange(0, BLOCK_C)
    c_mask = offs_c < C
    scale = tl.load(scale_ptr + offs_c, mask=c_mask, other=0.0)
    shift = tl.load(shift_ptr + offs_c, mask=c_mask, other=0.0)
    pooled = tl.zeros((BLOCK_C,), dtype=tl.float32)
    for p0 in range(0, HW, BLOCK_HW):
        offs_p = p0 + tl.arange(0, BLOCK_HW)
        mask = c_mask[:, None] & (offs_p[None, :] < HW)
        x = tl.load(x_ptr + (image * C + offs_c[:, None]) * HW + offs_p[None, :], mask=mask, other=0.0)
        y = tl.maximum(x * scale[:, None] + shift[:, None], 0.0)
        pooled += tl.sum(tl.where(mask, y, 0.0), axis=1)
    pooled = pooled / HW
    offs_k = tl.arange(0, BLOCK_CLS)
    k_mask = offs_k < CLASSES
    w = tl.load(w_ptr + offs_k[:, None] * C + offs_c[None, :], mask=k_mask[:, None] & c_mask[None, :], other=0.0)
    logits = tl.sum(w * pooled[None, :], axis=1) + tl.load(bias_ptr + offs_k, mask=k_mask, other=0.0)
    tl.store(out_ptr + image * CLASSES + offs_k, logits, mask=k_mask)


# --- launchers -----------------------------------------------------------------------------------
def _conv_blocks(m: int, n: int, k: int, programs: int = 128) -> tuple[int, int, int]:
    """GEMM tile sizes: as large as possible while there are still about ``programs`` tiles.

    A batch-1 NB201 conv has only 64-1024 output pixels: large tiles would leave most of a GPU's
    multiprocessors idle while a few programs loop over the whole reduction.
    """
    block_m, block_n = 64, 32 if n > 16 else 16
    while block_m > 16 and triton.cdiv(m, block_m) * triton.cdiv(n, block_n) < programs:
        block_m //= 2
    if block_n > 16 and triton.cdiv(m, block_m) * triton.cdiv(n, block_n) < programs:
        block_n = 16
    return block_m, block_n, 32 if k >= 32 else 16


def relu_conv_bn(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    stride: int = 1,
    relu: bool = True,
    residual: torch.Tensor | None = None,
    pool_input: bool = False,
    precision: str = "ieee",
) -> torch.Tensor:
    """``conv(relu(x), weight, stride, padding=k//2) + bias (+ residual)``, in one kernel.

    ``weight`` is [C_out, C_in, k, k] with BN already folded in (see :func:`fold_bn`). With
    ``residual`` the result is written into ``residual`` (in place) and returned. With
    ``pool_input`` (1x1 kernels, stride 1) ``x`` is 2x2-average-pooled first.
    """
    x = x.contiguous()
    n, c_in, h, w = x.shape
    c_out, c_in_w, k, k2 = weight.shape
    if c_in_w != c_in or k != k2:
        raise ValueError(f"weight {tuple(weight.shape)} does not fit input {tuple(x.shape)}")
    if pool_input and (k != 1 or stride != 1):
        raise ValueError("pool_input is for 1x1, stride-1 convs (the reduction block's shortcut)")
    if pool_input:
        h_out, w_out = h // 2, w // 2
    else:
        h_out, w_out = (h + 2 * (k // 2) - k) // stride + 1, (w + 2 * (k // 2) - k) // stride + 1
    if residual is not None:
        if residual.shape != (n, c_out, h_out, w_out) or not residual.is_contiguous():
            raise ValueError(f"residual must be a contiguous {(n, c_out, h_out, w_out)} tensor")
        out = residual
    else:
        out = torch.empty((n, c_out, h_out, w_out), device=x.device, dtype=torch.float32)
    weight = weight.reshape(c_out, -1).contiguous()
    block_m, block_n, block_k = _conv_blocks(n * h_out * w_out, c_out, c_in * k * k)
    grid = (triton.cdiv(n * h_out * w_out, block_m), triton.cdiv(c_out, block_n))
    bias_arg = bias if bias is not None else weight  # never read without HAS_BIAS
    sizes = (n, c_in, h, w, c_out, h_out, w_out)
    flags = {"RELU": relu, "POOL2": pool_input, "HAS_BIAS": bias is not None, "HAS_RES": residual is not None}
    _conv_kernel[grid](
        x, weight, bias_arg, out, out, *sizes, STRIDE=stride, KS=k, PRECISION=precision, **flags,
        BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_K=block_k, num_warps=4 if block_m * block_n >= 2048 else 2,
    )  # fmt: skip
    return out


def node_sum(terms: Sequence[tuple[torch.Tensor, int]]) -> torch.Tensor:
    """Sum of 1 to 3 same-shaped NCHW tensors, each taken as is (IDENTITY) or 3x3-average-pooled (POOL)."""
    if not 1 <= len(terms) <= 3:
        raise ValueError(f"node_sum takes 1 to 3 terms (an NB201 node has at most 3 inputs), got {len(terms)}")
    tensors = [t.contiguous() for t, _ in terms]
    modes = [mode for _, mode in terms]
    if any(mode not in (IDENTITY, POOL) for mode in modes):
        raise ValueError(f"term modes must be IDENTITY ({IDENTITY}) or POOL ({POOL}), got {modes}")
    if any(t.shape != tensors[0].shape for t in tensors):
        raise ValueError(f"node_sum terms differ in shape: {[tuple(t.shape) for t in tensors]}")
    first = tensors[0]
    out = torch.empty_like(first, dtype=torch.float32)
    padded = tensors + [first] * (3 - len(tensors))
    modes += [ABSENT] * (3 - len(modes))
    block = 1024
    modes_arg = {"MODE_A": modes[0], "MODE_B": modes[1], "MODE_C": modes[2]}
    grid = (triton.cdiv(first.numel(), block),)
    _node_sum_kernel[grid](*padded, out, first.numel(), first.shape[2], first.shape[3], **modes_arg, BLOCK=block)
    return out


def avg_pool3x3(x: torch.Tensor) -> torch.Tensor:
    """``AvgPool2d(3, stride=1, padding=1, count_include_pad=False)``."""
    return node_sum([(x, POOL)])


def bn_relu_pool_linear(
    x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor
) -> torch.Tensor:
    """``linear(mean_hw(relu(x * scale + shift)))`` with per-channel ``scale``/``shift`` (a folded BN)."""
    x = x.contiguous()
    n, c, h, w = x.shape
    classes = weight.shape[0]
    out = torch.empty((n, classes), device=x.device, dtype=torch.float32)
    blocks = {"BLOCK_C": triton.next_power_of_2(c), "BLOCK_CLS": triton.next_power_of_2(classes)}
    _head_kernel[(n,)](
        x, scale, shift, weight.contiguous(), bias, out, c, h * w, classes,
        BLOCK_HW=min(64, triton.next_power_of_2(h * w)), **blocks,
    )  # fmt: skip
    return out


# --- folding a trained module --------------------------------------------------------------------
def fold_bn(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (scale, shift) equal to ``bn`` in eval mode."""
    mean, var = bn.running_mean, bn.running_var
    if mean is None or var is None:
        raise ValueError("a BatchNorm without running statistics cannot be folded")
    scale = bn.weight.detach() / torch.sqrt(var + bn.eps)
    return scale.float().contiguous(), (bn.bias.detach() - mean * scale).float().contiguous()


@dataclass(frozen=True, eq=False)
class FoldedConv:
    """A conv with its BN folded in; calling it launches :func:`relu_conv_bn`."""

    weight: torch.Tensor
    bias: torch.Tensor | None
    stride: int = 1
    relu: bool = True
    pool_input: bool = False
    precision: str = "ieee"

    @classmethod
    def of(
        cls, conv: nn.Module, bn: nn.Module | None, *, relu: bool, pool_input: bool = False, precision: str
    ) -> FoldedConv:
        """``conv`` (an ``nn.Conv2d``) then ``bn`` (an ``nn.BatchNorm2d``, or None), folded into one op."""
        conv = cast(nn.Conv2d, conv)
        weight = conv.weight.detach().float()
        bias = None
        if bn is not None:
            scale, bias = fold_bn(cast(nn.BatchNorm2d, bn))
            weight = weight * scale[:, None, None, None]
        return cls(weight.contiguous(), bias, conv.stride[0], relu, pool_input, precision)

    def __call__(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        return relu_conv_bn(
            x,
            self.weight,
            self.bias,
            stride=self.stride,
            relu=self.relu,
            residual=residual,
            pool_input=self.pool_input,
            precision=self.precision,
        )


def _relu_conv_bn(module: ReLUConvBN | nn.Module, precision: str) -> FoldedConv:
    _, conv, bn = cast(nn.Sequential, module)
    return FoldedConv.of(conv, bn, relu=True, precision=precision)


# A node's plan: its identity/pool inputs (node, mode), then its conv inputs (node, conv).
_NodePlan = tuple[int, list[tuple[int, int]], list[tuple[int, FoldedConv]]]


class TritonNb201:
    """Runs an NB201 network (eval mode: BN uses running statistics) with the fused kernels only.

    ``precision`` is the matrix-multiply precision of the convs: ``"ieee"`` (exact fp32, the default)
    or ``"tf32"`` (faster on tensor-core GPUs, about 1e-3 relative error).
    """

    def __init__(self, network: Nb201Network, *, precision: str = "ieee") -> None:
        if precision not in ("ieee", "tf32"):
            raise ValueError(f"precision must be 'ieee' or 'tf32', got {precision!r}")
        stem_conv, stem_bn = network.stem
        self.stem = FoldedConv.of(stem_conv, stem_bn, relu=False, precision=precision)
        self.layers: list[tuple[str, Any]] = []
        for layer in network.cells:
            if isinstance(layer, ResNetBlock):
                _pool, conv = layer.downsample  # the 2x2 pool is fused into the 1x1 conv
                blocks = (
                    _relu_conv_bn(layer.conv_a, precision),
                    _relu_conv_bn(layer.conv_b, precision),
                    FoldedConv.of(conv, None, relu=False, pool_input=True, precision=precision),
                )
                self.layers.append(("reduction", blocks))
            elif isinstance(layer, Nb201Cell):
                self.layers.append(("cell", self._cell_plan(layer, precision)))
            else:
                raise TypeError(f"unexpected layer {type(layer).__name__} in the network")
        classifier = network.classifier
        head = (*fold_bn(cast(nn.BatchNorm2d, network.lastact[0])), classifier.weight, classifier.bias)
        self.head = tuple(t.detach().float().contiguous() for t in head)

    @classmethod
    def from_arch(cls, ops: Sequence[str], *, device: str = "cuda", precision: str = "ieee") -> TritonNb201:
        """The network of a cell (6 ops in ``EDGES`` order) with its initial weights, on ``device``."""
        return cls(build_network(ops).to(device), precision=precision)

    @staticmethod
    def _cell_plan(cell: Nb201Cell, precision: str) -> list[_NodePlan]:
        live = cell_edges(cell.ops, keep_dead=False)  # edges that never reach the output are not computed
        needed = {3} | {src for _, src, _ in live}
        plan: list[_NodePlan] = []
        for node in (1, 2, 3):
            if node not in needed:
                continue
            simple, convs = [], []
            for dst, src, op in live:
                if dst != node:
                    continue
                if op in ("skip_connect", "avg_pool_3x3"):
                    simple.append((src, IDENTITY if op == "skip_connect" else POOL))
                else:
                    convs.append((src, _relu_conv_bn(cell.edges[f"{dst}_{src}"], precision)))
            plan.append((node, simple, convs))
        return plan

    @staticmethod
    def _run_cell(plan: list[_NodePlan], x: torch.Tensor) -> torch.Tensor:
        nodes = {0: x}
        for node, simple, convs in plan:
            out = node_sum([(nodes[src], mode) for src, mode in simple]) if simple else None
            for src, conv in convs:
                out = conv(nodes[src], residual=out)  # the first conv allocates, the others add in place
            nodes[node] = out if out is not None else torch.zeros_like(x)  # a node whose edges are all none
        return nodes[3]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x.float())
        for kind, layer in self.layers:
            if kind == "reduction":
                conv_a, conv_b, shortcut = layer
                h = conv_b(conv_a(h), residual=shortcut(h))
            else:
                h = self._run_cell(layer, h)
        return bn_relu_pool_linear(h, *self.head)
