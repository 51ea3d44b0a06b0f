"""Search spaces: one folder per space, each implementing :class:`search_spaces.base.SearchSpace`
(tabular benchmarks: :class:`~search_spaces.base.TabularSpace`), and their registry.

Adding a space is a folder here and one line in ``_FACTORIES`` (or, outside this package, one call
to :func:`register_space`).

>>> from search_spaces import get_space
>>> space = get_space("nb201")
>>> space.query(space.archs()[6111], "test_acc")  # the best NB201 cell
94.37333333333333
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from nasrlm.core.errors import NasrlmError

from .base import (
    Metric,
    NoBenchmarkDataError,
    SearchSpace,
    TabularSpace,
    UnknownMetricError,
    UnsupportedBySpaceError,
    is_tabular,
)

__all__ = [
    "Metric",
    "NoBenchmarkDataError",
    "SearchSpace",
    "TabularSpace",
    "UnknownMetricError",
    "UnknownSpaceError",
    "UnsupportedBySpaceError",
    "available_spaces",
    "get_space",
    "get_tabular_space",
    "is_tabular",
    "register_space",
    "space_of",
]


def _nb201() -> SearchSpace:
    from .nb201 import Nb201Space

    return Nb201Space()


def _nb101() -> SearchSpace:
    from .nb101 import Nb101Space

    return Nb101Space()


def _fbnet() -> SearchSpace:
    from .fbnet import FbnetSpace

    return FbnetSpace()


def _ofa_mbv3() -> SearchSpace:
    from .ofa_mbv3 import OfaMbv3Space

    return OfaMbv3Space()


def _transnas_macro() -> SearchSpace:
    from .transnas_macro import TransnasMacroSpace

    return TransnasMacroSpace()


# Factories, so that importing this package stays cheap and a space's data loads only when asked for.
_FACTORIES: dict[str, Callable[[], SearchSpace]] = {
    "nb201": _nb201,
    "nb101": _nb101,
    "fbnet": _fbnet,
    "ofa_mbv3": _ofa_mbv3,
    "transnas_macro": _transnas_macro,
}


_BUILT_IN = frozenset(_FACTORIES)


class UnknownSpaceError(NasrlmError, KeyError):
    def __init__(self, name: str) -> None:
        self.message = f"unknown search space {name!r}; valid spaces: {', '.join(available_spaces())}"
        super().__init__(self.message)
        self.name = name

    def __str__(self) -> str:
        return self.message


def available_spaces() -> list[str]:
    return sorted(_FACTORIES)


@functools.cache
def get_space(name: str) -> SearchSpace:
    """The search space called ``name`` (one shared instance per name)."""
    if name not in _FACTORIES:
        raise UnknownSpaceError(name)
    return _FACTORIES[name]()


def get_tabular_space(name: str, what: str) -> TabularSpace:
    """The space called ``name``, which ``what`` (e.g. "a report") needs to be a tabular benchmark."""
    space = get_space(name)
    if not isinstance(space, TabularSpace):
        raise UnsupportedBySpaceError(f"{what} needs a tabular benchmark space; {name!r} is not one")
    return space


def register_space(name: str, factory: Callable[[], SearchSpace], *, replace: bool = False) -> None:
    """Make a space defined outside this package known by ``name`` (``factory`` builds it on first use)."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a space name must be a Python identifier, got {name!r}")
    if name in _FACTORIES and not replace:
        raise ValueError(f"space {name!r} is already registered; pass replace=True to replace it")
    _FACTORIES[name] = factory
    get_space.cache_clear()


def space_of(arch: Any) -> SearchSpace:
    """The registered space whose architecture type ``arch`` is."""
    # A built-in space's arch type lives in its package: try that space first, so that finding it does
    # not build (and load the data of) every other space.
    parts = type(arch).__module__.split(".")
    if len(parts) > 1 and parts[0] == __name__ and parts[1] in _FACTORIES:
        space = get_space(parts[1])
        if isinstance(arch, space.arch_type):
            return space
    # Then spaces registered from outside this package, whose arch types live outside it too.
    for name in sorted(available_spaces(), key=lambda name: name in _BUILT_IN):
        space = get_space(name)
        if isinstance(arch, space.arch_type):
            return space
    raise TypeError(
        f"{type(arch).__name__} is not the architecture type of any registered space ({', '.join(available_spaces())})"
    )
