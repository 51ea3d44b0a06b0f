"""Search spaces: one module per space, each implementing :class:`search_spaces.base.SearchSpace`.

>>> from search_spaces import get_space
>>> space = get_space("nb201")
>>> space.query(space.archs()[6111], "test_acc")  # the best NB201 cell
94.37333333333333
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from .base import Metric, SearchSpace, UnknownMetricError

__all__ = [
    "Metric",
    "SearchSpace",
    "UnknownMetricError",
    "UnknownSpaceError",
    "available_spaces",
    "get_space",
]


def _nb201() -> SearchSpace:
    from .nb201 import Nb201Space

    return Nb201Space()


# Factories, so that importing this package stays cheap and a space's data loads only when asked for.
_FACTORIES: dict[str, Callable[[], SearchSpace]] = {"nb201": _nb201}


class UnknownSpaceError(KeyError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.message = f"unknown search space {name!r}; valid spaces: {', '.join(available_spaces())}"

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
