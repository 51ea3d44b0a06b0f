"""FBNet architectures (HW-NAS-Bench's CIFAR-100 setting): 22 searchable layers, one of 9 blocks each.

The macro-architecture is HW-NAS-Bench's ``FBNet_Infer`` (``hw_nas_bench_api/fbnet_models/
model_infer.py``, GATECH-EIC/HW-NAS-Bench, MIT) with its CIFAR settings: a 3x3 stem to 16 channels
at stride 1, seven stages of (1, 4, 4, 4, 4, 4, 1) searchable layers with (16, 24, 32, 64, 112, 184,
352) output channels and first-layer strides (1, 1, 2, 2, 1, 2, 1), a 1x1 conv head to 1504
channels, global average pooling and a 100-class linear layer, on 32x32 inputs. Only the first
layer of a stage changes channels or stride. So there are 9**22 architectures.

An architecture's string form is its 22 block names joined by ``-`` (layer 1 first), e.g.
``k3_e1-skip-k5_e6-...``; :meth:`FbnetArch.from_str` also reads them separated by spaces, as the
benchmark table's ``ops`` column writes them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nasrlm.core.errors import NasrlmError

if TYPE_CHECKING:
    import optuna

__all__ = [
    "HEAD_CHANNELS",
    "LAYERS",
    "NUM_CLASSES",
    "NUM_LAYERS",
    "OPS",
    "PARAM_NAMES",
    "RESOLUTION",
    "STEM_CHANNELS",
    "ArchStringError",
    "BlockSpec",
    "FbnetArch",
    "LayerSpec",
    "block_spec",
]

# HW-NAS-Bench's PRIMITIVES, in its order: the table's op_idx_list indexes this tuple.
OPS: tuple[str, ...] = ("k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", "skip")

STEM_CHANNELS = 16
STAGE_LAYERS = (1, 4, 4, 4, 4, 4, 1)
STAGE_CHANNELS = (16, 24, 32, 64, 112, 184, 352)
STAGE_STRIDES = (1, 1, 2, 2, 1, 2, 1)  # HW-NAS-Bench's CIFAR strides (ImageNet: 1, 2, 2, 2, 1, 2, 1)
HEAD_CHANNELS = 1504  # CIFAR setting (ImageNet: 1984)
NUM_CLASSES = 100
RESOLUTION = 32


@dataclass(frozen=True)
class LayerSpec:
    """One searchable layer's position: input and output channels, stride, input resolution."""

    c_in: int
    c_out: int
    stride: int
    resolution: int


@dataclass(frozen=True)
class BlockSpec:
    """A candidate block: kernel size, expansion ratio and groups of its 1x1 convs (None: ``skip``)."""

    kernel: int
    expansion: int
    groups: int


def _layers() -> tuple[LayerSpec, ...]:
    layers = []
    c, hw = STEM_CHANNELS, RESOLUTION
    for count, c_out, stride in zip(STAGE_LAYERS, STAGE_CHANNELS, STAGE_STRIDES, strict=True):
        for i in range(count):
            s = stride if i == 0 else 1
            layers.append(LayerSpec(c, c_out, s, hw))
            c, hw = c_out, hw // s
    return tuple(layers)


LAYERS: tuple[LayerSpec, ...] = _layers()
NUM_LAYERS = len(LAYERS)  # 22
PARAM_NAMES: tuple[str, ...] = tuple(f"layer_{i:02d}" for i in range(1, NUM_LAYERS + 1))
_BLOCK_NAME = re.compile(r"k(\d)_e(\d)(?:_g(\d))?")


def block_spec(op: str) -> BlockSpec | None:
    """The block an op name stands for; None for ``skip``."""
    if op == "skip":
        return None
    match = _BLOCK_NAME.fullmatch(op)
    if match is None or op not in OPS:
        raise ValueError(f"unknown FBNet op {op!r}; valid ops: {', '.join(OPS)}")
    return BlockSpec(int(match[1]), int(match[2]), int(match[3] or 1))


class ArchStringError(NasrlmError, ValueError):
    """A malformed FBNet architecture string or op tuple; the message names the layer and the valid ops."""


_FORMAT_HELP = f"expected {NUM_LAYERS} ops joined by '-' (or spaces), layer 1 first; valid ops: {', '.join(OPS)}"


@dataclass(frozen=True)
class FbnetArch:
    """One architecture: the block of each of the 22 searchable layers, layer 1 first."""

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        ops = self.ops
        if not isinstance(ops, tuple):
            raise ArchStringError(f"FbnetArch.ops must be a tuple of {NUM_LAYERS} op names, got {type(ops).__name__}")
        # Unknown ops first: a misspelt op (``k3-e1``) also miscounts the layers, and is the real error.
        for layer, op in enumerate(ops, start=1):
            if op not in OPS:
                raise ArchStringError(f"layer {layer}: unknown op {op!r}; valid ops: {', '.join(OPS)}")
        if len(ops) != NUM_LAYERS:
            raise ArchStringError(f"an FBNet arch has {NUM_LAYERS} layers, got {len(ops)} op(s); {_FORMAT_HELP}")

    def __str__(self) -> str:
        return "-".join(self.ops)

    @classmethod
    def from_str(cls, text: str) -> FbnetArch:
        """Parse ``str(arch)`` (ops joined by ``-``) or the table's space-separated form."""
        if not isinstance(text, str):
            raise TypeError(f"an FBNet arch string must be a str, got {type(text).__name__}: {text!r}")
        stripped = text.strip()
        if not stripped:
            raise ArchStringError(f"invalid FBNet arch string {text!r}: it is empty; {_FORMAT_HELP}")
        ops = stripped.split() if any(ch.isspace() for ch in stripped) else stripped.split("-")
        try:
            return cls(tuple(ops))
        except ArchStringError as exc:
            raise ArchStringError(f"invalid FBNet arch string {_short(text)}: {exc}") from None

    @classmethod
    def from_indices(cls, indices: Any) -> FbnetArch:
        """From HW-NAS-Bench's ``op_idx_list`` (indices into :data:`OPS`)."""
        values = list(indices)
        for layer, value in enumerate(values, start=1):
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < len(OPS):
                raise ArchStringError(f"layer {layer}: op index {value!r} is not an integer in 0..{len(OPS) - 1}")
        return cls(tuple(OPS[v] for v in values))

    @property
    def indices(self) -> tuple[int, ...]:
        """HW-NAS-Bench's ``op_idx_list``."""
        return tuple(OPS.index(op) for op in self.ops)


def _short(text: str) -> str:
    return repr(text) if len(text) < 120 else repr(text[:117] + "...")


def optuna_distributions() -> dict[str, optuna.distributions.BaseDistribution]:
    """One categorical per layer over the 9 blocks: the full 9**22 space."""
    import optuna

    return {name: optuna.distributions.CategoricalDistribution(OPS) for name in PARAM_NAMES}


def to_optuna_params(arch: FbnetArch) -> dict[str, str]:
    return dict(zip(PARAM_NAMES, arch.ops, strict=True))


def from_optuna_params(params: Mapping[str, Any]) -> FbnetArch:
    missing = [name for name in PARAM_NAMES if name not in params]
    if missing:
        raise ArchStringError(f"FBNet params lack {', '.join(missing)}; expected {PARAM_NAMES[0]}..{PARAM_NAMES[-1]}")
    return FbnetArch(tuple(str(params[name]) for name in PARAM_NAMES))
