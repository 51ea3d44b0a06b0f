"""Architectures of TransNAS-Bench-101's macro space: parsing, constraints, Optuna mapping.

A network is a chain of 4 to 6 modules after a fixed stem (Duan et al., CVPR 2021; code
``yawen-d/TransNASBench``, ``lib/models/net_infer/net_macro.py``). Each module is two ResNet basic
blocks, of one of four kinds, written as a digit:

====  ==================  ==========
kind  channels            resolution
====  ==================  ==========
1     kept                kept
2     doubled             kept
3     kept                halved
4     doubled             halved
====  ==================  ==========

Valid networks downsample 1 to 4 times (kinds 3 and 4) and double channels 1 to 3 times (kinds 2
and 4): 3,256 networks, as in the paper (NASLib's ``TransBench101SearchSpaceMacro`` samples
exactly these). String forms:

* the benchmark's own name, ``64-1242-basic`` (base channels 64, module digits, ResNet basic
  blocks): what ``str(arch)`` gives and the TransNAS-Bench-101 API is keyed by;
* NASLib's op indices, six slots padded with 0 = no module: ``(1, 2, 4, 2, 0, 0)`` (the vendored
  table's ``arch`` column);
* the bare digits ``1242``.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BASE_CHANNELS",
    "KINDS",
    "MAX_MODULES",
    "MIN_MODULES",
    "TransnasMacroArch",
    "all_archs",
    "from_optuna_params",
    "optuna_choices",
    "to_optuna_params",
]

BASE_CHANNELS = 64
MIN_MODULES, MAX_MODULES = 4, 6
KINDS = (1, 2, 3, 4)
DOWNSAMPLES = (1, 4)  # allowed number of kind-3/4 modules (inclusive)
DOUBLINGS = (1, 3)  # allowed number of kind-2/4 modules (inclusive)
KIND_NAMES = {1: "keep", 2: "channels x2", 3: "resolution /2", 4: "channels x2 & resolution /2"}
_NAME_RE = re.compile(r"^(?:64-)?([0-9]+)(?:-basic)?$")
_TUPLE_RE = re.compile(r"^[(\[]\s*([0-9]+(?:\s*,\s*[0-9]+)*)\s*,?\s*[)\]]$")
_HINT = "expected e.g. '64-1242-basic', '1242' or '(1, 2, 4, 2, 0, 0)'"


def doubles_channels(kind: int) -> bool:
    return kind in (2, 4)


def downsamples(kind: int) -> bool:
    return kind in (3, 4)


def check_modules(modules: tuple[int, ...]) -> str | None:
    """What makes ``modules`` invalid, or None for a valid network."""
    if not MIN_MODULES <= len(modules) <= MAX_MODULES:
        return f"{len(modules)} modules; a network has {MIN_MODULES} to {MAX_MODULES}"
    bad = [m for m in modules if m not in KINDS]
    if bad:
        return f"module kind {bad[0]} is not one of {', '.join(map(str, KINDS))}"
    down = sum(downsamples(m) for m in modules)
    if not DOWNSAMPLES[0] <= down <= DOWNSAMPLES[1]:
        return f"{down} downsampling modules (kinds 3, 4); a network has {DOWNSAMPLES[0]} to {DOWNSAMPLES[1]}"
    double = sum(doubles_channels(m) for m in modules)
    if not DOUBLINGS[0] <= double <= DOUBLINGS[1]:
        return f"{double} channel-doubling modules (kinds 2, 4); a network has {DOUBLINGS[0]} to {DOUBLINGS[1]}"
    return None


@dataclass(frozen=True, order=True)
class TransnasMacroArch:
    """One macro network: the kinds (1-4) of its 4 to 6 modules, input to output. Always valid."""

    modules: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "modules", tuple(int(m) for m in self.modules))
        problem = check_modules(self.modules)
        if problem is not None:
            raise ValueError(f"invalid TransNAS macro network {self.modules}: {problem}")

    @property
    def op_indices(self) -> tuple[int, ...]:
        """NASLib's encoding: six slots, 0 = no module."""
        return self.modules + (0,) * (MAX_MODULES - len(self.modules))

    @classmethod
    def from_str(cls, text: str) -> TransnasMacroArch:
        """From ``64-1242-basic``, ``1242`` or ``(1, 2, 4, 2, 0, 0)``; ``ValueError`` names the problem."""
        if not isinstance(text, str):
            raise TypeError(f"expected an arch string, got {type(text).__name__}")
        stripped = text.strip()
        if match := _TUPLE_RE.match(stripped):
            slots = tuple(int(s) for s in match.group(1).split(","))
            if len(slots) != MAX_MODULES:
                raise ValueError(f"not a TransNAS macro arch: {text!r} has {len(slots)} slots, NASLib's form has 6")
            used = len(slots) - len(list(itertools.takewhile(lambda s: s == 0, reversed(slots))))
            if 0 in slots[:used]:
                raise ValueError(f"not a TransNAS macro arch: {text!r}: 0 (no module) may only pad the end")
            modules = slots[:used]
        elif match := _NAME_RE.match(stripped):
            modules = tuple(int(c) for c in match.group(1))
        else:
            raise ValueError(f"not a TransNAS macro arch: {text!r}; {_HINT}")
        problem = check_modules(modules)
        if problem is not None:
            raise ValueError(f"not a TransNAS macro arch: {text!r}: {problem}")
        return cls(modules)

    def __str__(self) -> str:
        return f"{BASE_CHANNELS}-{''.join(map(str, self.modules))}-basic"


@functools.cache
def all_archs() -> tuple[TransnasMacroArch, ...]:
    """Every valid network (3,256), by number of modules then module digits."""
    archs = []
    for n in range(MIN_MODULES, MAX_MODULES + 1):
        for modules in itertools.product(KINDS, repeat=n):
            if check_modules(modules) is None:
                archs.append(TransnasMacroArch(modules))
    return tuple(archs)


# --- Optuna: one categorical per module slot; the first four slots always hold a module --------


def optuna_choices() -> dict[str, tuple[int, ...]]:
    """Slot ``module_i`` -> its choices; 0 (no module) only where a network may end (slots 4, 5)."""
    return {f"module_{i}": KINDS if i < MIN_MODULES else (0, *KINDS) for i in range(MAX_MODULES)}


def to_optuna_params(arch: TransnasMacroArch) -> dict[str, int]:
    return {f"module_{i}": kind for i, kind in enumerate(arch.op_indices)}


def from_optuna_params(params: Mapping[str, Any]) -> TransnasMacroArch:
    """The network of one Optuna proposal; ``ValueError`` if the slots break a constraint."""
    missing = [name for name in optuna_choices() if name not in params]
    if missing:
        raise ValueError(f"missing Optuna parameters {', '.join(missing)} for a TransNAS macro arch")
    slots = tuple(int(params[f"module_{i}"]) for i in range(MAX_MODULES))
    return TransnasMacroArch.from_str(str(slots))
