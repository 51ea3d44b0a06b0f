"""The one small protocol every search space implements, and the metric vocabulary they share.

A space knows its architectures (parse, sample, mutate, map to and from Optuna parameters), builds
each as a network (PyTorch module and ONNX text, which the RLM reads), and answers metric queries.
Metric names are stable across the project: ``acc``, ``test_acc``, ``latency_<device>``, ``params``,
``flops``, ... Each metric carries its optimization direction and unit, so samplers and reports
never need to be told whether larger is better.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    import optuna
    import torch

Direction = Literal["maximize", "minimize"]


PERCENT = (0.0, 100.0)  # valid range of an accuracy in %
NON_NEGATIVE = (0.0, math.inf)  # of a time, a size or a loss


@dataclass(frozen=True)
class Metric:
    """A measurable property of an architecture."""

    name: str
    direction: Direction
    unit: str
    description: str
    # The values the metric can take, where known: predictions (and their intervals) are clipped to it.
    valid_range: tuple[float, float] = (-math.inf, math.inf)


class UnknownMetricError(KeyError):
    """A metric name the space does not have; the message lists the valid ones."""

    def __init__(self, name: str, space: str, valid: Sequence[str]) -> None:
        super().__init__(name)
        self.message = f"unknown metric {name!r} for space {space!r}; valid metrics: {', '.join(valid)}"

    def __str__(self) -> str:
        return self.message


@runtime_checkable
class SearchSpace(Protocol):
    """What every search space provides. ``Arch`` is the space's own (hashable) architecture type."""

    name: str

    @property
    def metrics(self) -> Mapping[str, Metric]:
        """Every metric :meth:`query` answers, by name."""
        ...

    def parse(self, text: str) -> Any:
        """Architecture from its string form; raises ``ValueError`` naming what is wrong."""
        ...

    def sample(self, rng: np.random.Generator) -> Any:
        """A uniformly random architecture."""
        ...

    def mutate(self, arch: Any, rng: np.random.Generator) -> Any:
        """A random neighbour of ``arch`` (differs from it)."""
        ...

    def distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        """Optuna search space whose parameters describe one architecture."""
        ...

    def to_params(self, arch: Any) -> dict[str, Any]:
        """Optuna parameters of ``arch`` (inverse of :meth:`from_params`)."""
        ...

    def from_params(self, params: Mapping[str, Any]) -> Any:
        """Architecture from Optuna parameters."""
        ...

    def build_model(self, arch: Any) -> torch.nn.Module:
        """The architecture as a PyTorch module."""
        ...

    def example_input(self, batch_size: int = 1) -> torch.Tensor:
        """An input tensor for :meth:`build_model`'s module."""
        ...

    def onnx_text(self, arch: Any) -> str:
        """Canonical ONNX text of the architecture (see :mod:`nasrlm.text.onnx_text`)."""
        ...

    def query(self, arch: Any, metric: str) -> float:
        """Value of ``metric`` for ``arch``; raises :class:`UnknownMetricError` for unknown names."""
        ...
