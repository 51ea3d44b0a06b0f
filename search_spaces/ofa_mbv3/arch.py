"""OFA-MobileNetV3 subnet architectures: the dataclass, its string form, its Optuna parameters.

A subnet of the Once-for-All MobileNetV3 supernet (Cai et al., ICLR 2020; ``ofa_mbv3_d234_e346_k357_w1.2``,
the supernet HELP samples from) picks, for each of 5 stages, a depth of 2, 3 or 4 layers, for every
layer a depthwise kernel (3, 5, 7) and an expand ratio (3, 4, 6), and an input resolution of
128..224 pixels in steps of 4.

OFA writes a subnet as 20 kernel sizes and 20 expand ratios (5 stages x 4 layer slots) plus 5
depths: slots beyond a stage's depth hold values the network never uses. Two such configs that
differ only there are the same network, so :class:`OfaMbv3Arch` normalizes them away: unused slots
hold 0 (HELP's own encoding, ``utils.arch_encoding_ofa``, zeroes them the same way). Equal
architectures are then exactly equal networks (same ONNX text, same FLOPs), and any OFA config, a
HELP table row included, maps to its architecture by passing its lists to the constructor.

The string form lists the resolution, then each stage's layers, e.g.
``r176|k5e3,k3e3|k7e4,k3e6,k3e6|k3e6,k3e4,k3e3|k7e4,k7e4,k5e3|k5e6,k5e4,k3e4``: a stage's depth is
its number of layers.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nasrlm.core.errors import NasrlmError

if TYPE_CHECKING:
    import optuna

__all__ = [
    "DEPTHS",
    "EXPANDS",
    "KERNELS",
    "MAX_DEPTH",
    "NUM_STAGES",
    "PARAM_NAMES",
    "RESOLUTIONS",
    "ArchStringError",
    "OfaMbv3Arch",
    "from_optuna_params",
    "optuna_distributions",
    "to_optuna_params",
]

KERNELS: tuple[int, ...] = (3, 5, 7)
EXPANDS: tuple[int, ...] = (3, 4, 6)
DEPTHS: tuple[int, ...] = (2, 3, 4)
RESOLUTIONS: tuple[int, ...] = tuple(range(128, 225, 4))  # the 25 sizes OFA and HELP use
NUM_STAGES = 5
MAX_DEPTH = max(DEPTHS)
NUM_SLOTS = NUM_STAGES * MAX_DEPTH
UNUSED = 0  # what an unused layer slot holds

# Optuna parameter names: one kernel and one expand ratio per layer slot (OFA's flat order), one depth
# per stage, the resolution.
KS_PARAMS: tuple[str, ...] = tuple(f"ks_{i}" for i in range(NUM_SLOTS))
E_PARAMS: tuple[str, ...] = tuple(f"e_{i}" for i in range(NUM_SLOTS))
D_PARAMS: tuple[str, ...] = tuple(f"d_{s}" for s in range(NUM_STAGES))
PARAM_NAMES: tuple[str, ...] = (*KS_PARAMS, *E_PARAMS, *D_PARAMS, "r")

_EXAMPLE = "r176|k5e3,k3e3|k7e4,k3e6,k3e6|k3e6,k3e4,k3e3|k7e4,k7e4,k5e3|k5e6,k5e4,k3e4"
# No leading zeros, so that every accepted string is the canonical one and round-trips.
_LAYER = re.compile(r"k([1-9][0-9]*)e([1-9][0-9]*)")
_RESOLUTION = re.compile(r"r([1-9][0-9]*)")


class ArchStringError(NasrlmError, ValueError):
    """An OFA-MobileNetV3 architecture (string or lists) is malformed; the message says what is valid."""


def _choices(values: Sequence[int]) -> str:
    return ", ".join(str(v) for v in values)


def _as_ints(name: str, values: Any, length: int) -> tuple[int, ...]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ArchStringError(f"{name} must be a sequence of {length} ints, got {values!r}")
    values = list(values)  # a tuple, a list or a numpy array
    if len(values) != length:
        raise ArchStringError(f"{name} must have {length} entries, got {len(values)}")
    try:
        return tuple(int(v) for v in values)
    except (TypeError, ValueError):
        raise ArchStringError(f"{name} must hold ints, got {list(values)!r}") from None


@dataclass(frozen=True, order=True)
class OfaMbv3Arch:
    """One subnet: ``ks`` and ``e`` per layer slot (20, stage-major, 0 where unused), ``d`` per stage, ``r``.

    The constructor accepts OFA's config lists as they come (any value in unused slots) and stores
    the canonical form, so ``OfaMbv3Arch(ks, e, d, r)`` of two configs of one network compare equal.
    """

    ks: tuple[int, ...]
    e: tuple[int, ...]
    d: tuple[int, ...]
    r: int

    def __post_init__(self) -> None:
        d = _as_ints("d (depth per stage)", self.d, NUM_STAGES)
        ks = _as_ints("ks (kernel size per layer slot)", self.ks, NUM_SLOTS)
        e = _as_ints("e (expand ratio per layer slot)", self.e, NUM_SLOTS)
        for stage, depth in enumerate(d):
            if depth not in DEPTHS:
                raise ArchStringError(f"depth of stage {stage} is {depth}; valid depths: {_choices(DEPTHS)}")
        canonical_ks, canonical_e = [], []
        for slot in range(NUM_SLOTS):
            stage, layer = divmod(slot, MAX_DEPTH)
            if layer >= d[stage]:  # unused by the network: normalized away
                canonical_ks.append(UNUSED)
                canonical_e.append(UNUSED)
                continue
            if ks[slot] not in KERNELS:
                raise ArchStringError(
                    f"kernel size of stage {stage} layer {layer} is {ks[slot]}; valid kernel sizes: {_choices(KERNELS)}"
                )
            if e[slot] not in EXPANDS:
                valid = _choices(EXPANDS)
                raise ArchStringError(
                    f"expand ratio of stage {stage} layer {layer} is {e[slot]}; valid expand ratios: {valid}"
                )
            canonical_ks.append(ks[slot])
            canonical_e.append(e[slot])
        if not isinstance(self.r, numbers.Integral) or isinstance(self.r, bool):
            raise ArchStringError(f"resolution r must be an int, got {self.r!r}")
        if int(self.r) not in RESOLUTIONS:
            raise ArchStringError(f"resolution r is {self.r}; valid resolutions: 128, 132, ..., 224 (steps of 4)")
        object.__setattr__(self, "ks", tuple(canonical_ks))
        object.__setattr__(self, "e", tuple(canonical_e))
        object.__setattr__(self, "d", d)
        object.__setattr__(self, "r", int(self.r))

    def stage_layers(self, stage: int) -> tuple[tuple[int, int], ...]:
        """``(kernel, expand)`` of each layer the network runs in ``stage`` (0..4)."""
        start = stage * MAX_DEPTH
        return tuple(zip(self.ks[start : start + self.d[stage]], self.e[start : start + self.d[stage]], strict=True))

    def layers(self) -> tuple[tuple[int, int, int], ...]:
        """``(stage, kernel, expand)`` of every layer the network runs, in order."""
        return tuple((s, k, e) for s in range(NUM_STAGES) for k, e in self.stage_layers(s))

    def config(self) -> dict[str, Any]:
        """OFA's ``set_active_subnet`` / HELP config form (unused slots as 0)."""
        return {"ks": list(self.ks), "e": list(self.e), "d": list(self.d), "r": self.r}

    def __str__(self) -> str:
        stages = (",".join(f"k{k}e{e}" for k, e in self.stage_layers(s)) for s in range(NUM_STAGES))
        return "|".join((f"r{self.r}", *stages))

    @classmethod
    def from_str(cls, text: str) -> OfaMbv3Arch:
        """Parse the string form (see the module doc); strict, so that every accepted string round-trips."""
        if not isinstance(text, str):
            raise TypeError(f"an OFA-MobileNetV3 arch string must be a str, got {type(text).__name__}")

        def error(problem: str) -> ArchStringError:
            return ArchStringError(f"invalid ofa_mbv3 arch string {text!r}: {problem}")

        parts = text.strip().split("|")
        if len(parts) != 1 + NUM_STAGES:
            raise error(
                f"expected 'r<resolution>' and {NUM_STAGES} stages separated by '|' "
                f"(each 2-4 layers k<kernel>e<expand> separated by ','), e.g. {_EXAMPLE}"
            )
        match = _RESOLUTION.fullmatch(parts[0])
        if match is None or int(match.group(1)) not in RESOLUTIONS:
            raise error(f"resolution {parts[0]!r} must be r<pixels>, pixels one of 128, 132, ..., 224 (steps of 4)")
        ks: list[int] = []
        e: list[int] = []
        d: list[int] = []
        for stage, part in enumerate(parts[1:]):
            layers = part.split(",")
            if len(layers) not in DEPTHS:
                raise error(f"stage {stage} has {len(layers)} layers; valid depths: {_choices(DEPTHS)}")
            for layer, item in enumerate(layers):
                found = _LAYER.fullmatch(item)
                if found is None or int(found.group(1)) not in KERNELS or int(found.group(2)) not in EXPANDS:
                    raise error(
                        f"stage {stage} layer {layer} is {item!r}; a layer is k<kernel>e<expand> with kernel "
                        f"{_choices(KERNELS)} and expand ratio {_choices(EXPANDS)}, e.g. k5e4"
                    )
                ks.append(int(found.group(1)))
                e.append(int(found.group(2)))
            padding = MAX_DEPTH - len(layers)
            ks += [UNUSED] * padding
            e += [UNUSED] * padding
            d.append(len(layers))
        return cls(tuple(ks), tuple(e), tuple(d), int(match.group(1)))


# --- Optuna --------------------------------------------------------------------------------------
def optuna_distributions() -> dict[str, optuna.distributions.BaseDistribution]:
    """Kernel and expand ratio per layer slot and depth per stage (categorical), resolution (int, step 4)."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    distributions: dict[str, optuna.distributions.BaseDistribution] = {}
    distributions.update({name: CategoricalDistribution(KERNELS) for name in KS_PARAMS})
    distributions.update({name: CategoricalDistribution(EXPANDS) for name in E_PARAMS})
    distributions.update({name: CategoricalDistribution(DEPTHS) for name in D_PARAMS})
    # An int, not a categorical: resolution is ordered, and samplers that model order (TPE, GP) use it.
    distributions["r"] = IntDistribution(RESOLUTIONS[0], RESOLUTIONS[-1], step=RESOLUTIONS[1] - RESOLUTIONS[0])
    return distributions


def to_optuna_params(arch: OfaMbv3Arch) -> dict[str, int]:
    """Every parameter of ``arch``; an unused slot reports the smallest choice (3), which
    :func:`from_optuna_params` ignores, since every parameter needs a value in its distribution."""
    params: dict[str, int] = {}
    for slot in range(NUM_SLOTS):
        params[KS_PARAMS[slot]] = arch.ks[slot] or KERNELS[0]
        params[E_PARAMS[slot]] = arch.e[slot] or EXPANDS[0]
    params.update({name: depth for name, depth in zip(D_PARAMS, arch.d, strict=True)})
    params["r"] = arch.r
    return params


def from_optuna_params(params: Mapping[str, Any]) -> OfaMbv3Arch:
    """The architecture of a set of parameters; slots beyond a stage's depth are ignored (and may be missing)."""
    missing = [name for name in (*D_PARAMS, "r") if name not in params]
    if not missing:
        depths = [int(params[name]) for name in D_PARAMS]
        used = [slot for slot in range(NUM_SLOTS) if slot % MAX_DEPTH < depths[slot // MAX_DEPTH]]
        missing = [name for slot in used for name in (KS_PARAMS[slot], E_PARAMS[slot]) if name not in params]
    if missing:
        raise ArchStringError(f"missing ofa_mbv3 parameters: {', '.join(missing)}")
    return OfaMbv3Arch(
        tuple(params.get(name, UNUSED) for name in KS_PARAMS),
        tuple(params.get(name, UNUSED) for name in E_PARAMS),
        tuple(params[name] for name in D_PARAMS),
        params["r"],
    )
