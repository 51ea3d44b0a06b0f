"""The templates of the sweep: for each kernel variant, its tuning grid, problem shapes, inputs, launch and reference.

A :class:`Variant` is one ``@triton.jit`` function (from :mod:`.kernels`, or the project's fused NB201
ops in :mod:`search_spaces.nb201.triton_ops`, imported rather than copied) with

* ``forms``: the problem shapes it is measured on, each with the op's fixed constexpr flags (an NB201
  conv with or without ReLU, residual, pooled input...; most variants have one form, no flags);
* ``tuning``: the grid of block sizes, ``num_warps`` and ``num_stages`` that the sweep samples from;
* ``setup``: builds the inputs of a :class:`~.generate.Spec` on a device and returns a :class:`Case`,
  which launches the kernel and computes the PyTorch reference.

Importing this module imports triton: set ``TRITON_INTERPRET=1`` first on a machine without a GPU.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import triton
from torch.nn import functional as F

from search_spaces.nb201 import triton_ops as nb201

from . import kernels as K

Params = Mapping[str, Any]
Shape = Mapping[str, int]

DTYPES = {"float16": torch.float16, "float32": torch.float32}


@dataclass
class Case:
    """One spec's tensors on a device: ``run()`` launches the kernel once and returns its output."""

    run: Callable[[], torch.Tensor]
    reference: Callable[[], torch.Tensor]
    prepare: Callable[[], object] = lambda: None  # called before a correctness run (zero an accumulator)


@dataclass(frozen=True)
class Variant:
    name: str  # the kernel function's name
    template: str
    kernel: Any  # the @triton.jit function
    setup: Callable[[Any, torch.device], Case]
    grid: Callable[[Shape, Params], tuple[int, ...]]
    forms: tuple[tuple[Params, tuple[Shape, ...]], ...]  # (fixed constexpr flags, shapes)
    tuning: Mapping[str, tuple[Any, ...]]  # constexpr tuning params and num_warps, num_stages
    dtypes: tuple[str, ...] = ("float16", "float32")
    configs: int = 12  # configs sampled per dtype and form
    helpers: tuple[Any, ...] = ()  # other @triton.jit functions the kernel calls: their source joins the text
    config_ok: Callable[[Params], bool] = lambda p: True
    shape_ok: Callable[[Shape, Params], bool] = lambda s, p: True
    derive: Callable[[Shape, Params], dict[str, Any]] = lambda s, p: {}  # shape-dependent constexprs
    small_shape: Callable[[Shape, Params], dict[str, int]] = lambda s, p: dict(s)  # for the interpreter
    # Largest allowed max|out - ref| / max(1, max|ref|), given the dtype, the params and whether on a GPU.
    tolerance: Callable[[str, Params, bool], float] = lambda dtype, p, gpu: 2e-2 if dtype == "float16" else 1e-4


def _gen(spec: Any, device: torch.device) -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed(int(spec.kernel_id[:8], 16))
    return gen


def _randn(gen: torch.Generator, *shape: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, device=device, dtype=torch.float32).to(dtype)


def _launch_kwargs(spec: Any) -> dict[str, Any]:
    return {**dict(spec.params), "num_warps": spec.num_warps, "num_stages": spec.num_stages}


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


# --- matmul --------------------------------------------------------------------------------------
def _matmul_grid(s: Shape, p: Params) -> tuple[int, ...]:
    return (_cdiv(s["M"], p["BLOCK_M"]) * _cdiv(s["N"], p["BLOCK_N"]),)


def _matmul_setup(spec: Any, device: torch.device) -> Case:
    s, dtype, gen = dict(spec.shape), DTYPES[spec.dtype], _gen(spec, device)
    a = _randn(gen, s["M"], s["K"], dtype=dtype, device=device)
    b = _randn(gen, s["K"], s["N"], dtype=dtype, device=device)
    c = torch.empty(s["M"], s["N"], dtype=dtype, device=device)
    fused = spec.variant == "matmul_bias_relu"
    bias = _randn(gen, s["N"], dtype=dtype, device=device) if fused else None
    kernel, kw = VARIANTS[spec.variant].kernel[_matmul_grid(s, dict(spec.params))], _launch_kwargs(spec)
    strides = (a.stride(0), a.stride(1), b.stride(0), b.stride(1), c.stride(0), c.stride(1))

    def run() -> torch.Tensor:
        if bias is not None:
            kernel(a, b, bias, c, s["M"], s["N"], s["K"], *strides, **kw)
        else:
            kernel(a, b, c, s["M"], s["N"], s["K"], *strides, **kw)
        return c

    def reference() -> torch.Tensor:
        out = a.double() @ b.double()
        return torch.relu(out + bias.double()) if bias is not None else out

    return Case(run, reference)


_MATMUL_TUNING = {
    "BLOCK_M": (32, 64, 128),
    "BLOCK_N": (32, 64, 128),
    "BLOCK_K": (32, 64),
    "num_warps": (4, 8),
    "num_stages": (2, 3, 4),
}
_MATMUL_SHAPES: tuple[Shape, ...] = tuple(
    {"M": m, "N": n, "K": k}
    for m, n, k in [(512, 512, 512), (1024, 1024, 1024), (2048, 2048, 2048), (4096, 1024, 1024), (1000, 1000, 1000)]
)


def _divisible(s: Shape, p: Params) -> bool:
    return s["M"] % p["BLOCK_M"] == 0 and s["N"] % p["BLOCK_N"] == 0 and s["K"] % p["BLOCK_K"] == 0


def _matmul_tol(dtype: str, p: Params, gpu: bool) -> float:
    # float32 dots use TF32 on a GPU; the interpreter multiplies in float32.
    return 2e-2 if dtype == "float16" or gpu else 1e-4


def _matmul_variant(name: str, grouped: bool, masked: bool) -> Variant:
    tuning = dict(_MATMUL_TUNING)
    if grouped:
        tuning["GROUP_M"] = (4, 8)

    def small(s: Shape, p: Params) -> dict[str, int]:
        cut = (5, 3, 7) if masked else (0, 0, 0)
        return {
            "M": 2 * p["BLOCK_M"] - cut[0],
            "N": 2 * p["BLOCK_N"] - cut[1],
            "K": 2 * p["BLOCK_K"] - cut[2],
        }

    return Variant(
        name=name,
        template="matmul",
        kernel=getattr(K, name),
        setup=_matmul_setup,
        grid=_matmul_grid,
        forms=(({}, _MATMUL_SHAPES),),
        tuning=tuning,
        configs=24 if name != "matmul_bias_relu" else 12,
        shape_ok=(lambda s, p: True) if masked else _divisible,
        small_shape=small,
        tolerance=_matmul_tol,
    )


# --- softmax -------------------------------------------------------------------------------------
def _rows_grid(s: Shape, p: Params) -> tuple[int, ...]:
    return (_cdiv(s["R"], p.get("ROWS", 1)),)


def _softmax_setup(spec: Any, device: torch.device) -> Case:
    s, dtype, gen = dict(spec.shape), DTYPES[spec.dtype], _gen(spec, device)
    x = _randn(gen, s["R"], s["C"], dtype=dtype, device=device)
    y = torch.empty_like(x)
    kernel = VARIANTS[spec.variant].kernel[_rows_grid(s, dict(spec.params))]
    kw = _launch_kwargs(spec)

    def run() -> torch.Tensor:
        if spec.variant == "softmax_multirow":
            kernel(x, y, s["R"], s["C"], x.stride(0), y.stride(0), **kw)
        else:
            kernel(x, y, s["C"], x.stride(0), y.stride(0), **kw)
        return y

    return Case(run, lambda: torch.softmax(x.double(), dim=-1))


_ROW_SHAPES: tuple[Shape, ...] = tuple(
    {"R": r, "C": c} for r, c in [(8192, 128), (4096, 512), (4096, 1000), (2048, 2048), (1024, 4096), (512, 8192)]
)


_SHORT_ROWS: tuple[Shape, ...] = tuple(
    {"R": r, "C": c} for r, c in [(16384, 64), (8192, 128), (8192, 256), (4096, 1000)]
)


def _whole_row(s: Shape, p: Params) -> dict[str, Any]:
    return {"BLOCK": triton.next_power_of_2(s["C"])}


# --- layer norm ----------------------------------------------------------------------------------
def _norm_setup(spec: Any, device: torch.device) -> Case:
    s, dtype, gen = dict(spec.shape), DTYPES[spec.dtype], _gen(spec, device)
    x = _randn(gen, s["R"], s["C"], dtype=dtype, device=device) * 2 + 0.5
    w = _randn(gen, s["C"], dtype=dtype, device=device)
    b = _randn(gen, s["C"], dtype=dtype, device=device)
    y = torch.empty_like(x)
    kernel, kw, eps = VARIANTS[spec.variant].kernel[(s["R"],)], _launch_kwargs(spec), 1e-5
    rms = spec.variant == "rms_norm_onepass"

    def run() -> torch.Tensor:
        if rms:
            kernel(x, w, y, s["C"], x.stride(0), eps, **kw)
        else:
            kernel(x, w, b, y, s["C"], x.stride(0), eps, **kw)
        return y

    def reference() -> torch.Tensor:
        xd = x.double()
        if rms:
            return xd * torch.rsqrt(xd.pow(2).mean(-1, keepdim=True) + eps) * w.double()
        return F.layer_norm(xd, (s["C"],), w.double(), b.double(), eps)

    return Case(run, reference)


# --- reductions ----------------------------------------------------------------------------------
def _reduce_grid(s: Shape, p: Params) -> tuple[int, ...]:
    return (_cdiv(s["R"], p["BLOCK_M"]),)  # rows


def _reduce_cols_grid(s: Shape, p: Params) -> tuple[int, ...]:
    return (_cdiv(s["C"], p["BLOCK_N"]),)


def _reduce_all_grid(s: Shape, p: Params) -> tuple[int, ...]:
    return (_cdiv(s["R"] * s["C"], p["BLOCK"]),)


def _reduce_setup(spec: Any, device: torch.device) -> Case:
    s, dtype, gen = dict(spec.shape), DTYPES[spec.dtype], _gen(spec, device)
    variant = VARIANTS[spec.variant]
    x = _randn(gen, s["R"], s["C"], dtype=dtype, device=device)
    kernel, kw = variant.kernel[variant.grid(s, dict(spec.params))], _launch_kwargs(spec)
    if spec.variant == "reduce_all_atomic_sum":
        out = torch.zeros(1, dtype=torch.float32, device=device)

        def run() -> torch.Tensor:
            kernel(x, out, x.numel(), **kw)
            return out

        return Case(run, lambda: x.double().sum().reshape(1), prepare=out.zero_)
    axis = 0 if spec.variant == "reduce_cols_sum" else 1
    out = torch.empty(s["C"] if axis == 0 else s["R"], dtype=dtype, device=device)

    def run_rows() -> torch.Tensor:
        kernel(x, out, s["R"], s["C"], x.stride(0), **kw)
        return out

    def reference() -> torch.Tensor:
        return x.double().amax(dim=1) if spec.variant == "reduce_rows_max" else x.double().sum(dim=axis)

    return Case(run_rows, reference)


def _sum_tol(dtype: str, p: Params, gpu: bool) -> float:
    return 2e-2 if dtype == "float16" else 1e-3  # sums of thousands of terms, in another order


_REDUCE_SHAPES: tuple[Shape, ...] = tuple(
    {"R": r, "C": c} for r, c in [(8192, 256), (4096, 1000), (2048, 4096), (512, 16384), (64, 65536)]
)


# --- elementwise ---------------------------------------------------------------------------------
_PROGRAMS = 1056  # add_grid_stride's grid: 8 programs per SM of a 132-SM GPU


def _elementwise_grid(s: Shape, p: Params) -> tuple[int, ...]:
    return (_cdiv(s["numel"], p["BLOCK"]),)


def _grid_stride_grid(s: Shape, p: Params) -> tuple[int, ...]:
    return (min(_cdiv(s["numel"], p["BLOCK"]), _PROGRAMS),)


def _elementwise_setup(spec: Any, device: torch.device) -> Case:
    s, dtype, gen = dict(spec.shape), DTYPES[spec.dtype], _gen(spec, device)
    variant = VARIANTS[spec.variant]
    x = _randn(gen, s["numel"], dtype=dtype, device=device)
    y = _randn(gen, s["numel"], dtype=dtype, device=device)
    out = torch.empty_like(x)
    kernel, kw = variant.kernel[variant.grid(s, dict(spec.params))], _launch_kwargs(spec)
    unary = spec.variant == "gelu_tanh"

    def run() -> torch.Tensor:
        if unary:
            kernel(x, out, s["numel"], **kw)
        else:
            kernel(x, y, out, s["numel"], **kw)
        return out

    def reference() -> torch.Tensor:
        xd, yd = x.double(), y.double()
        if spec.variant == "gelu_tanh":
            return F.gelu(xd, approximate="tanh")
        if spec.variant == "silu_mul":
            return F.silu(xd) * yd
        if spec.variant == "add_relu":
            return torch.relu(xd + yd)
        return xd + yd

    return Case(run, reference)


_ELEMENTWISE_SHAPES: tuple[Shape, ...] = tuple({"numel": n} for n in (1 << 16, 1 << 20, 1_000_003, 1 << 22, 1 << 24))
_ELEMENTWISE_TUNING = {"BLOCK": (256, 512, 1024, 2048, 4096), "num_warps": (1, 2, 4, 8), "num_stages": (1,)}


def _elementwise_small(s: Shape, p: Params) -> dict[str, int]:
    return {"numel": 3 * p["BLOCK"] - 17}


# --- NB201 fused ops (search_spaces/nb201/triton_ops.py) ----------------------------------------
def _conv_out(s: Shape, p: Params) -> tuple[int, int]:
    if p["POOL2"]:
        return s["H"] // 2, s["W"] // 2
    pad = s["KS"] // 2
    return (s["H"] + 2 * pad - s["KS"]) // s["STRIDE"] + 1, (s["W"] + 2 * pad - s["KS"]) // s["STRIDE"] + 1


def _conv_grid(s: Shape, p: Params) -> tuple[int, ...]:
    h_out, w_out = _conv_out(s, p)
    return (_cdiv(s["N"] * h_out * w_out, p["BLOCK_M"]), _cdiv(s["C_out"], p["BLOCK_N"]))


def _conv_setup(spec: Any, device: torch.device) -> Case:
    s, p, gen = dict(spec.shape), dict(spec.params), _gen(spec, device)
    f32 = torch.float32
    x = _randn(gen, s["N"], s["C_in"], s["H"], s["W"], dtype=f32, device=device)
    w = _randn(gen, s["C_out"], s["C_in"], s["KS"], s["KS"], dtype=f32, device=device)
    bias = _randn(gen, s["C_out"], dtype=f32, device=device)
    h_out, w_out = _conv_out(s, p)
    res = _randn(gen, s["N"], s["C_out"], h_out, w_out, dtype=f32, device=device)
    out = torch.empty_like(res)
    kernel = nb201._conv_kernel[_conv_grid(s, p)]
    sizes = (s["N"], s["C_in"], s["H"], s["W"], s["C_out"], h_out, w_out)
    w_flat = w.reshape(s["C_out"], -1).contiguous()
    kw = {**_launch_kwargs(spec), "STRIDE": s["STRIDE"], "KS": s["KS"]}

    def run() -> torch.Tensor:
        # The residual is read from res and the result written to out (the executor adds in place).
        kernel(x, w_flat, bias, res, out, *sizes, **kw)
        return out

    def reference() -> torch.Tensor:
        xd = x.double().relu() if p["RELU"] else x.double()
        if p["POOL2"]:
            xd = F.avg_pool2d(xd, 2)
        y = F.conv2d(xd, w.double(), bias.double() if p["HAS_BIAS"] else None, stride=s["STRIDE"], padding=s["KS"] // 2)
        return y + res.double() if p["HAS_RES"] else y

    return Case(run, reference)


def _conv_forms() -> tuple[tuple[Params, tuple[Shape, ...]], ...]:
    """The convs of an NB201 network (CIFAR, 16/32/64 channels), at batch 1 and 32."""

    def shapes(geometry: list[tuple[int, int, int, int]], ks: int, stride: int) -> tuple[Shape, ...]:
        return tuple(
            {"N": n, "C_in": c_in, "H": hw, "W": hw, "C_out": c_out, "KS": ks, "STRIDE": stride}
            for n in (1, 32)
            for c_in, c_out, hw, _ in geometry
        )

    cells = [(16, 16, 32, 0), (32, 32, 16, 0), (64, 64, 8, 0)]
    reductions = [(16, 32, 32, 0), (32, 64, 16, 0)]
    after_reduction = [(32, 32, 16, 0), (64, 64, 8, 0)]

    def flags(relu: int, pool2: int, bias: int, res: int) -> dict[str, int]:
        return {"RELU": relu, "POOL2": pool2, "HAS_BIAS": bias, "HAS_RES": res}

    return (
        (flags(0, 0, 1, 0), shapes([(3, 16, 32, 0)], 3, 1)),  # the stem
        (flags(1, 0, 1, 0), shapes(cells, 3, 1)),  # a cell's first conv into a node
        (flags(1, 0, 1, 1), shapes(cells, 3, 1)),  # a later one, adding into the node in place
        (flags(1, 0, 1, 1), shapes(cells, 1, 1)),  # nor_conv_1x1 edges
        (flags(1, 0, 1, 0), shapes(reductions, 3, 2)),  # the reduction block's conv_a
        (flags(1, 0, 1, 1), shapes(after_reduction, 3, 1)),  # its conv_b, adding the shortcut
        (flags(0, 1, 0, 0), shapes(reductions, 1, 1)),  # the shortcut: 2x2 average pool fused into a 1x1 conv
    )


def _conv_small(s: Shape, p: Params) -> dict[str, int]:
    return {**dict(s), "N": 1, "H": 6, "W": 6, "C_in": min(s["C_in"], 8), "C_out": min(s["C_out"], 16)}


def _node_sum_grid(s: Shape, p: Params) -> tuple[int, ...]:
    return (_cdiv(s["N"] * s["C"] * s["H"] * s["W"], p["BLOCK"]),)


def _node_sum_setup(spec: Any, device: torch.device) -> Case:
    s, p, gen = dict(spec.shape), dict(spec.params), _gen(spec, device)
    modes = [p["MODE_A"], p["MODE_B"], p["MODE_C"]]
    inputs = [_randn(gen, s["N"], s["C"], s["H"], s["W"], dtype=torch.float32, device=device) for _ in modes]
    out = torch.empty_like(inputs[0])
    kernel = nb201._node_sum_kernel[_node_sum_grid(s, p)]

    def run() -> torch.Tensor:
        kernel(*inputs, out, out.numel(), s["H"], s["W"], **_launch_kwargs(spec))
        return out

    def reference() -> torch.Tensor:
        total = torch.zeros_like(out, dtype=torch.float64)
        for x, mode in zip(inputs, modes, strict=True):
            if mode == nb201.IDENTITY:
                total += x.double()
            elif mode == nb201.POOL:
                total += F.avg_pool2d(x.double(), 3, stride=1, padding=1, count_include_pad=False)
        return total

    return Case(run, reference)


_NB201_MAPS: tuple[Shape, ...] = tuple(
    {"N": n, "C": c, "H": hw, "W": hw} for n in (1, 32) for c, hw in [(16, 32), (32, 16), (64, 8)]
)


def _node_sum_forms() -> tuple[tuple[Params, tuple[Shape, ...]], ...]:
    i, pool = nb201.IDENTITY, nb201.POOL
    combos = [(i, 0, 0), (pool, 0, 0), (i, pool, 0), (pool, pool, 0), (i, pool, pool), (pool, pool, pool)]
    return tuple(({"MODE_A": a, "MODE_B": b, "MODE_C": c}, _NB201_MAPS) for a, b, c in combos)


def _head_setup(spec: Any, device: torch.device) -> Case:
    s, gen = dict(spec.shape), _gen(spec, device)
    f32 = torch.float32
    x = _randn(gen, s["N"], s["C"], s["H"], s["W"], dtype=f32, device=device)
    scale, shift = _randn(gen, s["C"], dtype=f32, device=device), _randn(gen, s["C"], dtype=f32, device=device)
    w = _randn(gen, s["classes"], s["C"], dtype=f32, device=device)
    b = _randn(gen, s["classes"], dtype=f32, device=device)
    out = torch.empty(s["N"], s["classes"], dtype=f32, device=device)
    kernel = nb201._head_kernel[(s["N"],)]

    def run() -> torch.Tensor:
        kernel(x, scale, shift, w, b, out, s["C"], s["H"] * s["W"], s["classes"], **_launch_kwargs(spec))
        return out

    def reference() -> torch.Tensor:
        y = torch.relu(x.double() * scale.double()[:, None, None] + shift.double()[:, None, None])
        return y.mean((2, 3)) @ w.double().T + b.double()

    return Case(run, reference)


_HEAD_SHAPES: tuple[Shape, ...] = tuple(
    {"N": n, "C": 64, "H": 8, "W": 8, "classes": k} for n in (1, 32, 256) for k in (10, 100, 120)
)


# --- the registry --------------------------------------------------------------------------------
_ROWS_TUNING = {"num_warps": (1, 2, 4, 8, 16), "num_stages": (1,)}
_LOOP_TUNING = {"BLOCK": (128, 256, 512, 1024, 2048), "num_warps": (1, 2, 4, 8), "num_stages": (1, 2, 3)}


def _registry() -> dict[str, Variant]:
    one: tuple[Params] = ({},)
    variants = [
        _matmul_variant("matmul_grouped_masked", grouped=True, masked=True),
        _matmul_variant("matmul_rowmajor_masked", grouped=False, masked=True),
        _matmul_variant("matmul_grouped_nomask", grouped=True, masked=False),
        _matmul_variant("matmul_bias_relu", grouped=True, masked=True),
        Variant(
            name="softmax_onepass",
            template="softmax",
            kernel=K.softmax_onepass,
            setup=_softmax_setup,
            grid=_rows_grid,
            forms=((one[0], _ROW_SHAPES),),
            tuning=_ROWS_TUNING,
            configs=5,
            derive=_whole_row,
            small_shape=lambda s, p: {"R": 3, "C": s["C"]},  # the sweep's row lengths: every BLOCK
        ),
        Variant(
            name="softmax_online",
            template="softmax",
            kernel=K.softmax_online,
            setup=_softmax_setup,
            grid=_rows_grid,
            forms=((one[0], _ROW_SHAPES),),
            tuning=_LOOP_TUNING,
            configs=14,
            small_shape=lambda s, p: {"R": 3, "C": 2 * p["BLOCK"] + 29},
        ),
        Variant(
            name="softmax_multirow",
            template="softmax",
            kernel=K.softmax_multirow,
            setup=_softmax_setup,
            grid=_rows_grid,
            forms=((one[0], _SHORT_ROWS),),
            tuning={"ROWS": (1, 2, 4, 8, 16), "num_warps": (1, 2, 4, 8), "num_stages": (1,)},
            configs=12,
            derive=_whole_row,
            shape_ok=lambda s, p: p["ROWS"] * triton.next_power_of_2(s["C"]) <= 16384,
            small_shape=lambda s, p: {"R": 2 * p["ROWS"] + 1, "C": s["C"]},
        ),
        Variant(
            name="layer_norm_onepass",
            template="layer_norm",
            kernel=K.layer_norm_onepass,
            setup=_norm_setup,
            grid=lambda s, p: (s["R"],),
            forms=((one[0], _ROW_SHAPES),),
            tuning=_ROWS_TUNING,
            configs=5,
            derive=_whole_row,
            small_shape=lambda s, p: {"R": 3, "C": s["C"]},  # the sweep's row lengths: every BLOCK
            tolerance=lambda dtype, p, gpu: 2e-2 if dtype == "float16" else 1e-4,
        ),
        Variant(
            name="layer_norm_looped",
            template="layer_norm",
            kernel=K.layer_norm_looped,
            setup=_norm_setup,
            grid=lambda s, p: (s["R"],),
            forms=((one[0], _ROW_SHAPES),),
            tuning=_LOOP_TUNING,
            configs=14,
            small_shape=lambda s, p: {"R": 3, "C": 2 * p["BLOCK"] + 29},
        ),
        Variant(
            name="rms_norm_onepass",
            template="layer_norm",
            kernel=K.rms_norm_onepass,
            setup=_norm_setup,
            grid=lambda s, p: (s["R"],),
            forms=((one[0], _ROW_SHAPES),),
            tuning=_ROWS_TUNING,
            configs=5,
            derive=_whole_row,
            small_shape=lambda s, p: {"R": 3, "C": s["C"]},  # the sweep's row lengths: every BLOCK
        ),
    ]
    reduce_tuning = {
        "BLOCK_M": (1, 4, 16),
        "BLOCK_N": (128, 256, 512, 1024, 2048),
        "num_warps": (1, 2, 4, 8),
        "num_stages": (1, 2, 3),
    }
    for name, axis in (("reduce_rows_sum", 1), ("reduce_rows_max", 1), ("reduce_cols_sum", 0)):
        tuning = dict(reduce_tuning)
        if axis == 0:
            tuning["BLOCK_M"], tuning["BLOCK_N"] = (8, 32, 128), (16, 64, 256)
        variants.append(
            Variant(
                name=name,
                template="reduction",
                kernel=getattr(K, name),
                setup=_reduce_setup,
                grid=_reduce_cols_grid if axis == 0 else _reduce_grid,
                forms=((one[0], _REDUCE_SHAPES),),
                tuning=tuning,
                configs=16,
                config_ok=lambda p: p["BLOCK_M"] * p["BLOCK_N"] <= 8192,
                small_shape=lambda s, p: {"R": 2 * p["BLOCK_M"] + 1, "C": 2 * p["BLOCK_N"] + 3},
                tolerance=_sum_tol,
            )
        )
    variants.append(
        Variant(
            name="reduce_all_atomic_sum",
            template="reduction",
            kernel=K.reduce_all_atomic_sum,
            setup=_reduce_setup,
            grid=_reduce_all_grid,
            forms=((one[0], _REDUCE_SHAPES),),
            tuning=_ELEMENTWISE_TUNING,
            configs=10,
            small_shape=lambda s, p: {"R": 3, "C": p["BLOCK"] - 5},
            tolerance=_sum_tol,
        )
    )
    for name in ("add_masked", "add_nomask", "add_grid_stride", "add_relu", "gelu_tanh", "silu_mul"):
        variants.append(
            Variant(
                name=name,
                template="elementwise",
                kernel=getattr(K, name),
                setup=_elementwise_setup,
                grid=_grid_stride_grid if name == "add_grid_stride" else _elementwise_grid,
                forms=((one[0], _ELEMENTWISE_SHAPES),),
                tuning=_ELEMENTWISE_TUNING,
                configs=10,
                shape_ok=(lambda s, p: s["numel"] % p["BLOCK"] == 0) if name == "add_nomask" else (lambda s, p: True),
                small_shape=(lambda s, p: {"numel": 3 * p["BLOCK"]}) if name == "add_nomask" else _elementwise_small,
                tolerance=lambda dtype, p, gpu: 2e-3 if dtype == "float16" else 1e-5,
            )
        )
    variants += [
        Variant(
            name="_conv_kernel",
            template="nb201_relu_conv_bn",
            kernel=nb201._conv_kernel,
            setup=_conv_setup,
            grid=_conv_grid,
            forms=_conv_forms(),
            tuning={
                "PRECISION": ("ieee", "tf32"),
                "BLOCK_M": (16, 32, 64, 128),
                "BLOCK_N": (16, 32, 64),
                "BLOCK_K": (16, 32),
                "num_warps": (1, 2, 4),
                "num_stages": (1, 2, 3),
            },
            dtypes=("float32",),
            configs=12,
            small_shape=_conv_small,
            tolerance=lambda dtype, p, gpu: 2e-2 if gpu or p["PRECISION"] == "tf32" else 1e-4,
        ),
        Variant(
            name="_node_sum_kernel",
            template="nb201_node_sum",
            kernel=nb201._node_sum_kernel,
            helpers=(nb201._term,),
            setup=_node_sum_setup,
            grid=_node_sum_grid,
            forms=_node_sum_forms(),
            tuning={"BLOCK": (256, 512, 1024, 2048, 4096), "num_warps": (1, 2, 4, 8), "num_stages": (1,)},
            dtypes=("float32",),
            configs=8,
            small_shape=lambda s, p: {"N": 1, "C": 2, "H": 5, "W": 7},
        ),
        Variant(
            name="_head_kernel",
            template="nb201_head",
            kernel=nb201._head_kernel,
            setup=_head_setup,
            grid=lambda s, p: (s["N"],),
            forms=((one[0], _HEAD_SHAPES),),
            tuning={"BLOCK_HW": (16, 32, 64), "num_warps": (1, 2, 4, 8), "num_stages": (1, 2)},
            dtypes=("float32",),
            configs=12,
            derive=lambda s, p: {
                "BLOCK_C": triton.next_power_of_2(s["C"]),
                "BLOCK_CLS": triton.next_power_of_2(s["classes"]),
            },
            small_shape=lambda s, p: {"N": 2, "C": 8, "H": 3, "W": 3, "classes": 5},
        ),
    ]
    return {v.name: v for v in variants}


VARIANTS: dict[str, Variant] = _registry()
TEMPLATES: tuple[str, ...] = tuple(dict.fromkeys(v.template for v in VARIANTS.values()))
