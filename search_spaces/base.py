"""The space contract: what search, the sampler, the reports and the hardware tools need of a space.

Two protocols. :class:`SearchSpace` is what any space provides, however large: parse, sample and
mutate architectures, map them to and from Optuna parameters, build each as a PyTorch module and an
ONNX model, turn inputs into the text the RLM reads (:meth:`SearchSpace.to_texts`, the space's
converter), name its metrics (with direction and unit, user-measured devices included) and answer
queries. :class:`TabularSpace` adds what a tabular benchmark has: a fixed, indexed set of
architectures and vectorised queries over all of them, which reports and exact hypervolumes need.

Per-space hooks replace what used to be NB201 branches in generic code: :meth:`SearchSpace.onnx_model`
(the graph a hardware measurement runs), :meth:`SearchSpace.graph_spec` (the DAG a GNN baseline
reads) and :meth:`SearchSpace.fused_module` (fused candidate ops). :class:`BaseSpace` and
:class:`BaseTabularSpace` give every hook and helper a default, so a new space writes only what is its
own; adding one is a folder under ``search_spaces/`` and one line in its registry.

Metric names are stable across the project: ``acc``, ``test_acc``, ``latency_<device>``, ``params``,
``flops``, ... Each metric carries its optimization direction and unit, so samplers and reports never
need to be told whether larger is better.
"""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np

from nasrlm.core.errors import NasrlmError

if TYPE_CHECKING:
    import onnx
    import optuna
    import torch

__all__ = [
    "INPUT_OP",
    "NON_NEGATIVE",
    "OUTPUT_OP",
    "PERCENT",
    "BaseSpace",
    "BaseTabularSpace",
    "CellDag",
    "DagSpec",
    "Direction",
    "Metric",
    "NoBenchmarkDataError",
    "SearchSpace",
    "TabularSpace",
    "UnknownMetricError",
    "UnsupportedBySpaceError",
    "is_tabular",
]

Direction = Literal["maximize", "minimize"]

PERCENT = (0.0, 100.0)  # valid range of an accuracy in %
NON_NEGATIVE = (0.0, math.inf)  # of a time, a size or a loss

INPUT_OP = "input"  # the op names of a DAG's input and output nodes (see DagSpec)
OUTPUT_OP = "output"


@dataclass(frozen=True)
class Metric:
    """A measurable property of an architecture."""

    name: str
    direction: Direction
    unit: str
    description: str
    # The values the metric can take, where known: predictions (and their intervals) are clipped to it.
    valid_range: tuple[float, float] = (-math.inf, math.inf)


class UnknownMetricError(NasrlmError, KeyError):
    """A metric name the space does not have; the message lists the valid ones."""

    def __init__(self, name: str, space: str, valid: Sequence[str]) -> None:
        self.message = f"unknown metric {name!r} for space {space!r}; valid metrics: {', '.join(valid)}"
        super().__init__(self.message)
        self.name = name

    def __str__(self) -> str:
        return self.message


class NoBenchmarkDataError(NasrlmError, KeyError):
    """A valid architecture outside the part of its space that the benchmark table covers."""

    def __init__(self, arch: Any, space: str, size: int, free: Sequence[str] = ()) -> None:
        free_part = f"; metrics computed for any arch: {', '.join(free)}" if free else ""
        self.message = (
            f"{arch} has no benchmark data: the table of space {space!r} covers {size:,} architectures "
            f"(space.archs()){free_part}"
        )
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class UnsupportedBySpaceError(NasrlmError, NotImplementedError):
    """A space lacks a hook a tool needs (a GNN graph, fused ops, a tabular index); the message says which."""


@dataclass(frozen=True)
class CellDag:
    """One architecture as a DAG: ``ops[i]`` is node i's op index in the space's vocabulary;
    ``adjacency[i, j]``: edge i->j; nodes in topological order."""

    ops: tuple[int, ...]
    adjacency: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.ops)
        if self.adjacency.shape != (n, n):
            raise ValueError(f"adjacency must be {n}x{n} for {n} nodes, got shape {self.adjacency.shape}")
        # The flat encoding keeps only the strict upper triangle, which is lossless only for nodes
        # listed in topological order.
        if np.any(np.tril(self.adjacency)):
            raise ValueError("a CellDag's nodes must be in topological order (edges only from i to j > i)")


@dataclass(frozen=True)
class DagSpec:
    """How one space's architectures become the DAGs that graph predictors (GIN, GCN, BRP) read."""

    space: str
    arch_type: type
    op_names: tuple[str, ...]
    max_nodes: int
    to_dag: Callable[[Any], CellDag]

    @property
    def flat_size(self) -> int:
        return self.max_nodes * len(self.op_names) + self.max_nodes * (self.max_nodes - 1) // 2


@runtime_checkable
class SearchSpace(Protocol):
    """What every search space provides. ``Arch`` is the space's own (hashable) architecture type."""

    name: str

    @property
    def arch_type(self) -> type:
        """The space's architecture class."""
        ...

    @property
    def function_modules(self) -> tuple[type, ...]:
        """Module classes exported as ONNX local functions (may be empty)."""
        ...

    # --- architectures ---
    def parse(self, text: str) -> Any:
        """Architecture from its string form (``str(arch)``); raises ``ValueError`` naming what is wrong."""
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

    # --- networks and text ---
    def build_model(self, arch: Any) -> torch.nn.Module:
        """The architecture as a PyTorch module, in eval mode."""
        ...

    def example_input(self, batch_size: int = 1) -> torch.Tensor:
        """An input tensor for :meth:`build_model`'s module."""
        ...

    def onnx_model(self, arch: Any, batch_size: int = 1) -> onnx.ModelProto:
        """The network as an ONNX model: what a hardware measurement runs (hook; default: export)."""
        ...

    def onnx_text(self, arch: Any) -> str:
        """Canonical ONNX text of the architecture (see :mod:`nasrlm.text.onnx_text`)."""
        ...

    def to_texts(self, inputs: Iterable[Any]) -> list[str]:
        """The space's converter: architectures (objects or strings) and anything
        :class:`nasrlm.text.convert.OnnxConverter` accepts, as the text the RLM reads."""
        ...

    # --- metrics ---
    @property
    def metrics(self) -> Mapping[str, Metric]:
        """The metrics the space ships, by name (user-measured devices are not listed: see :meth:`metric`)."""
        ...

    def metric(self, name: str) -> Metric:
        """A shipped metric or a user-measured device ``latency_<NAME>``; raises :class:`UnknownMetricError`."""
        ...

    def query(self, arch: Any, metric: str) -> float:
        """Value of ``metric`` for ``arch``; raises :class:`UnknownMetricError` for unknown names."""
        ...

    # --- hooks ---
    def graph_spec(self) -> DagSpec:
        """How graph predictors read an architecture; raises :class:`UnsupportedBySpaceError` if none."""
        ...

    def fused_module(self, module: torch.nn.Module) -> torch.nn.Module:
        """``module`` (built by :meth:`build_model`, on CUDA) with fused candidate ops (Triton);
        raises :class:`UnsupportedBySpaceError` where the space has none."""
        ...


@runtime_checkable
class TabularSpace(SearchSpace, Protocol):
    """A tabular benchmark: a fixed set of ``size`` architectures, index ``0..size-1``, every metric known.

    ``complete``: the table holds every architecture of the space (NB201). Where it holds a sample of
    a larger space (FBNet's 5,000 of 9**22), :meth:`arch`/:meth:`parse` accept any valid architecture,
    but only those in the table (``archs()``) have its metrics: :meth:`index` and :meth:`query` raise
    :class:`NoBenchmarkDataError` for the others, except for metrics computed from the network itself
    (``free_metrics``: FLOPs, parameters), which every architecture has. A metric measured on part of
    the table only is NaN in :meth:`values` elsewhere, and :meth:`query` raises
    :class:`NoBenchmarkDataError` there too. Such a space's
    :meth:`sample` and :meth:`mutate` return architectures with data, and searches send each proposal
    without data to :meth:`nearest_with_data`.
    """

    complete: bool
    free_metrics: frozenset[str]

    @property
    def size(self) -> int: ...

    def archs(self) -> list[Any]:
        """Every architecture, entry ``i`` = index ``i``."""
        ...

    def arch(self, key: Any) -> Any:
        """An architecture from an architecture, its string form or its index."""
        ...

    def index(self, arch: Any) -> int:
        """The index of ``arch`` (an architecture or its string form); :class:`NoBenchmarkDataError`
        for a valid one outside the table."""
        ...

    def has_data(self, arch: Any, metrics: Iterable[str] = ()) -> bool:
        """Whether ``arch`` is in the table (always, in a complete one) and has a value (not NaN) of
        each of ``metrics`` (a table may measure some metrics on part of its architectures only)."""
        ...

    def nearest_with_data(self, arch: Any, exclude: Iterable[Any] = (), metrics: Iterable[str] = ()) -> Any:
        """The architecture with data (for ``metrics``) whose Optuna parameters differ from ``arch``'s in
        the fewest places (ties: the lowest index), skipping those in ``exclude``; ``arch`` itself if it
        has data."""
        ...

    def nearest_to_params(
        self, params: Mapping[str, Any], exclude: Iterable[Any] = (), metrics: Iterable[str] = ()
    ) -> Any:
        """As :meth:`nearest_with_data`, from Optuna parameters that need not form a valid architecture."""
        ...

    def values(self, metric: str) -> np.ndarray:
        """All ``size`` values of ``metric`` (read-only), entry ``i`` = index ``i``."""
        ...

    def query_many(self, archs: Sequence[Any], metric: str) -> np.ndarray:
        """``metric`` of each architecture, vectorised."""
        ...


def is_tabular(space: SearchSpace) -> bool:
    """Whether ``space`` is a tabular benchmark (reports and exact hypervolumes need one)."""
    return isinstance(space, TabularSpace)


def looks_like_text_input(item: str) -> bool:
    """A string that is a network already (ONNX text, reading text) or an ``.onnx`` path, not an arch string."""
    from nasrlm.text.convert import looks_like_onnx_text

    return looks_like_onnx_text(item) or item.endswith(".onnx")


class BaseSpace(ABC):
    """Defaults for every :class:`SearchSpace` member that is not the space's own.

    A subclass sets ``name`` and ``arch_type`` and implements parse/sample/mutate, the Optuna mapping,
    :meth:`build_model`, :meth:`example_input`, :attr:`metrics` and :meth:`_query`. The rest works
    from those: texts are made per architecture (so spaces too large to enumerate never build them all)
    and kept in a bounded in-memory cache; ONNX models are exported from the module; user-measured
    devices (``nasrlm verify --device-name``) are served as metrics by tabular spaces.
    """

    name: str
    arch_type: type
    function_modules: tuple[type, ...] = ()
    text_cache_size = 65_536

    # --- to implement -----------------------------------------------------------------------------
    @abstractmethod
    def parse(self, text: str) -> Any: ...

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> Any: ...

    @abstractmethod
    def mutate(self, arch: Any, rng: np.random.Generator) -> Any: ...

    @abstractmethod
    def distributions(self) -> dict[str, optuna.distributions.BaseDistribution]: ...

    @abstractmethod
    def to_params(self, arch: Any) -> dict[str, Any]: ...

    @abstractmethod
    def from_params(self, params: Mapping[str, Any]) -> Any: ...

    @abstractmethod
    def build_model(self, arch: Any) -> torch.nn.Module: ...

    @abstractmethod
    def example_input(self, batch_size: int = 1) -> torch.Tensor: ...

    @property
    @abstractmethod
    def metrics(self) -> Mapping[str, Metric]: ...

    @abstractmethod
    def _query(self, arch: Any, metric: str) -> float:
        """A shipped metric's value (``metric`` is in :attr:`metrics`)."""

    # --- architectures ----------------------------------------------------------------------------
    def as_arch(self, item: Any) -> Any:
        """An architecture of this space from an architecture or its string form."""
        if isinstance(item, self.arch_type):
            return item
        if isinstance(item, str):
            return self.parse(item)
        raise TypeError(f"expected a {self.arch_type.__name__} or its string form, got {type(item).__name__}")

    # --- networks and text ------------------------------------------------------------------------
    def example_input_for(self, arch: Any, batch_size: int = 1) -> torch.Tensor:
        """An input for ``arch``'s module: :meth:`example_input`, unless the architecture fixes its own
        input shape (OFA's resolution), as a space then says by overriding this."""
        return self.example_input(batch_size)

    def onnx_model(self, arch: Any, batch_size: int = 1) -> onnx.ModelProto:
        from nasrlm.text.onnx_text import export_module

        arch = self.as_arch(arch)
        return export_module(self.build_model(arch), self.example_input_for(arch, batch_size))

    def onnx_text(self, arch: Any) -> str:
        return self._cached_text(self.as_arch(arch))

    def _make_text(self, arch: Any) -> str:
        """The canonical ONNX text of one architecture (override for a faster direct builder)."""
        from nasrlm.text.onnx_text import to_onnx_text

        return to_onnx_text(self.build_model(arch), self.example_input_for(arch), functions=self.function_modules)

    @functools.cached_property
    def _cached_text(self) -> Callable[[Any], str]:
        return functools.lru_cache(maxsize=self.text_cache_size)(self._make_text)

    def _texts_of_archs(self, archs: list[Any]) -> list[str]:
        """Text of many architectures of this space (override to batch or cache on disk)."""
        return [self._cached_text(arch) for arch in archs]

    def _is_own(self, item: Any) -> bool:
        if isinstance(item, self.arch_type):
            return True
        return isinstance(item, str) and not looks_like_text_input(item)

    def to_texts(self, inputs: Iterable[Any]) -> list[str]:
        items = list(inputs)
        own = [i for i, item in enumerate(items) if self._is_own(item)]
        texts: list[str | None] = [None] * len(items)
        if own:
            archs = []
            for i in own:
                try:
                    archs.append(self._own_arch(items[i]))
                except ValueError as exc:
                    raise ValueError(f"input {i}: {exc}") from None
            for i, text in zip(own, self._texts_of_archs(archs), strict=True):
                texts[i] = text
        rest = [i for i in range(len(items)) if texts[i] is None]
        if rest:
            from nasrlm.text.convert import OnnxConverter

            convert = OnnxConverter(example_input=self.example_input, functions=self.function_modules)
            for i, text in zip(rest, convert([items[i] for i in rest], positions=rest), strict=True):
                texts[i] = text
        return [t for t in texts if t is not None]

    def _own_arch(self, item: Any) -> Any:
        return self.as_arch(item)

    # --- metrics ----------------------------------------------------------------------------------
    def metric(self, name: str) -> Metric:
        if name in self.metrics:
            return self.metrics[name]
        table = self._device_table(name)
        if table is not None:
            return Metric(name, "minimize", "ms", table.description, NON_NEGATIVE)
        raise self._unknown_metric(name)

    def _unknown_metric(self, name: str) -> UnknownMetricError:
        """The error for a name that is neither shipped nor measured (override to list, say, devices)."""
        return UnknownMetricError(name, self.name, [*self.metrics, *self._measured_metrics()])

    def _measured_metrics(self) -> list[str]:
        from nasrlm.hardware.devices import registered_metrics

        return [m for m in registered_metrics(self.name) if m not in self.metrics]

    def _device_table(self, metric: str) -> Any:
        """A user-measured device table serving ``metric`` (see :mod:`nasrlm.hardware.devices`), or None."""
        if metric in self.metrics:
            return None  # the shipped metrics always win: a table cannot shadow them
        from nasrlm.hardware.devices import find_table

        return find_table(self.name, metric)

    def query(self, arch: Any, metric: str) -> float:
        if metric in self.metrics:
            return self._query(self.as_arch(arch), metric)
        self.metric(metric)  # raises for an unknown name
        raise UnsupportedBySpaceError(
            f"{metric} is a measured device table, which is keyed by architecture index: space {self.name!r} "
            "is not tabular"
        )

    # --- hooks ------------------------------------------------------------------------------------
    def graph_spec(self) -> DagSpec:
        raise UnsupportedBySpaceError(
            f"space {self.name!r} has no graph encoding (SearchSpace.graph_spec), which graph predictors "
            "(gin, gcn, brp, mlp, gbdt) read"
        )

    def fused_module(self, module: torch.nn.Module) -> torch.nn.Module:
        raise UnsupportedBySpaceError(f"space {self.name!r} has no fused candidate ops; use the torch backend")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class BaseTabularSpace(BaseSpace):
    """Defaults for a :class:`TabularSpace`: index lookup, vectorised queries, user-measured devices.

    A subclass also implements :attr:`size`, :meth:`archs`, :meth:`index` and :meth:`_values` (every
    value of a shipped metric); :meth:`_query` defaults to a lookup in it. A table that covers part
    of its space sets ``complete = False``, raises :meth:`no_data` from :meth:`index` for a valid
    architecture outside it, and answers ``free_metrics`` for any architecture in :meth:`_query`.
    """

    complete: bool = True
    free_metrics: frozenset[str] = frozenset()

    @property
    @abstractmethod
    def size(self) -> int: ...

    @abstractmethod
    def archs(self) -> list[Any]: ...

    @abstractmethod
    def index(self, arch: Any) -> int: ...

    @abstractmethod
    def _values(self, metric: str) -> np.ndarray:
        """All ``size`` values of a shipped metric."""

    def no_data(self, arch: Any) -> NoBenchmarkDataError:
        """The error for a valid architecture outside the table."""
        return NoBenchmarkDataError(arch, self.name, self.size, sorted(self.free_metrics))

    def has_data(self, arch: Any, metrics: Iterable[str] = ()) -> bool:
        try:
            index = self.index(arch)
        except NoBenchmarkDataError:
            return False
        return all(not math.isnan(float(self.values(metric)[index])) for metric in metrics)

    @functools.cached_property
    def _param_matrix(self) -> tuple[list[str], np.ndarray]:
        """Every table architecture's Optuna parameters, as strings, one row each."""
        names = sorted(self.distributions())
        rows = [[repr(self.to_params(arch)[name]) for name in names] for arch in self.archs()]
        return names, np.array(rows, dtype=object).reshape(len(rows), len(names))

    def nearest_with_data(self, arch: Any, exclude: Iterable[Any] = (), metrics: Iterable[str] = ()) -> Any:
        arch = self.as_arch(arch)
        metrics = list(metrics)
        if self.has_data(arch, metrics):
            return arch
        return self.nearest_to_params(self.to_params(arch), exclude, metrics)

    def nearest_to_params(
        self, params: Mapping[str, Any], exclude: Iterable[Any] = (), metrics: Iterable[str] = ()
    ) -> Any:
        """The table architecture with data (for ``metrics``) whose Optuna parameters differ from
        ``params`` in the fewest places, skipping ``exclude``: where a proposal is not even a valid
        architecture (``from_params`` raised), this is where a search goes instead."""
        metrics = list(metrics)
        names, matrix = self._param_matrix
        wanted = np.array([repr(params.get(name)) for name in names], dtype=object)
        differences = (matrix != wanted).sum(axis=1)
        usable = np.ones(self.size, dtype=bool)
        for metric in metrics:
            usable &= ~np.isnan(np.asarray(self.values(metric), dtype=np.float64))
        for other in exclude:
            if self.has_data(other):
                usable[self.index(other)] = False
        for i in np.argsort(differences, kind="stable"):
            if usable[i]:
                return self.archs()[int(i)]
        what = ", ".join(metrics) or "data"
        raise ValueError(f"no architecture of {self.name}'s table has {what} and is not excluded")

    def arch(self, key: Any) -> Any:
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            if not 0 <= int(key) < self.size:
                raise IndexError(f"index {int(key)} is out of range for {self.name} (0..{self.size - 1})")
            return self.archs()[int(key)]
        return self.as_arch(key)

    def _own_arch(self, item: Any) -> Any:
        return self.arch(item)

    def _is_own(self, item: Any) -> bool:
        return super()._is_own(item) or (isinstance(item, (int, np.integer)) and not isinstance(item, bool))

    def _query(self, arch: Any, metric: str) -> float:
        return float(self._values(metric)[self.index(arch)])

    def values(self, metric: str) -> np.ndarray:
        if metric in self.metrics:
            return self._values(metric)
        table = self._device_table(metric)
        if table is None:
            raise self._unknown_metric(metric)
        return table.values_for(range(self.size))  # complete tables only: else it names unmeasured archs

    def query(self, arch: Any, metric: str) -> float:
        arch = self.arch(arch)
        if metric in self.metrics:
            return self._query(arch, metric)  # raises no_data(arch) for a table metric outside the table
        table = self._device_table(metric)
        if table is None:
            raise self._unknown_metric(metric)
        return table.value(self.index(arch))

    def query_many(self, archs: Sequence[Any], metric: str) -> np.ndarray:
        indices = [self.index(self.arch(a)) for a in archs]
        if metric in self.metrics:
            return self._values(metric)[np.array(indices, dtype=np.int64)]
        table = self._device_table(metric)
        if table is None:
            raise self._unknown_metric(metric)
        return table.values_for(indices)
