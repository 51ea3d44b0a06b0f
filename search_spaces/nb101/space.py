"""NAS-Bench-101 as a :class:`~search_spaces.base.TabularSpace` whose table covers part of the space.

Any valid NB101 cell (423,624 distinct ones) parses, builds and has ``params`` and ``flops``; the 321
cells of the vendored data (:mod:`.tables`) also have accuracy and zero-cost proxies. Text comes from
the direct ONNX builder (cells as local functions), which a test checks against the exporter.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..base import NON_NEGATIVE, BaseTabularSpace, DagSpec, Metric, NoBenchmarkDataError
from . import arch as _arch
from .arch import Nb101Arch
from .costs import INPUT_SHAPE, count_flops, count_params
from .tables import TableData, load_table, table_metrics

__all__ = ["MetricNotMeasuredError", "Nb101Space"]

# How many of the nearest table archs ``mutate`` picks from (ties with the last included).
_MUTATION_POOL = 5

_FREE_METRICS = {
    "params": Metric(
        "params",
        "minimize",
        "M",
        "Trainable parameters of the CIFAR-10 network, in millions (conv weights, BN scale and shift, "
        "dense layer), counted for NB101's representative of the cell: equal to NB101's "
        "trainable_parameters.",
        NON_NEGATIVE,
    ),
    "flops": Metric(
        "flops",
        "minimize",
        "MFLOPs",
        "FLOPs of one forward pass of one 32x32 image, in millions, counted as torch.utils.flop_counter "
        "does (2 per multiply-accumulate of convs and the dense layer). NASLib's table column counts "
        "multiply-accumulates plus BN, ReLU and pooling elements: about half of this.",
        NON_NEGATIVE,
    ),
}


class MetricNotMeasuredError(NoBenchmarkDataError):
    """A table arch for which the data lacks ``metric`` (e.g. test_acc outside the 30 full records)."""

    def __init__(self, arch: Any, metric: str, space: str, measured: int, size: int) -> None:
        super().__init__(arch, space, size)
        self.message = (
            f"{arch} has no {metric}: space {space!r} has it for {measured} of its {size} table "
            f"architectures (space.has_data(arch, [{metric!r}]) tells which)"
        )
        self.args = (self.message,)


def _text_of(arch: Nb101Arch) -> str:
    from onnx import printer

    from nasrlm.text.onnx_text import canonicalize

    from .onnx_builder import build_onnx, cell_scopes

    return printer.to_text(canonicalize(build_onnx(arch), cell_scopes()))


class Nb101Space(BaseTabularSpace):
    """NAS-Bench-101 cells on CIFAR-10; table: NASLib's 500-row zero-cost sample and 30 full records."""

    name = "nb101"
    arch_type = Nb101Arch
    complete = False
    free_metrics = frozenset(_FREE_METRICS)

    @functools.cached_property
    def table(self) -> TableData:
        return load_table()

    # --- architectures -----------------------------------------------------------------------
    @property
    def size(self) -> int:
        return len(self.table.archs)

    def archs(self) -> list[Nb101Arch]:
        return list(self.table.archs)

    def index(self, arch: Any) -> int:
        arch = self.as_arch(arch)
        try:
            return self.table.index[arch]
        except KeyError:
            raise self.no_data(arch) from None

    def parse(self, text: str) -> Nb101Arch:
        return _arch.parse_arch(text)

    def sample(self, rng: np.random.Generator) -> Nb101Arch:
        return self.table.archs[int(rng.integers(self.size))]

    def mutate(self, arch: Any, rng: np.random.Generator) -> Nb101Arch:
        """A table arch near ``arch``: one of the few whose Optuna parameters differ from it in the
        fewest places (ties with the last of them included)."""
        arch = self.as_arch(arch)
        names, matrix = self._param_matrix
        params = self.to_params(arch)
        wanted = np.array([repr(params[name]) for name in names], dtype=object)
        distance = (matrix != wanted).sum(axis=1).astype(np.float64)
        if arch in self.table.index:
            distance[self.table.index[arch]] = np.inf
        limit = np.sort(distance)[min(_MUTATION_POOL, self.size) - 1]
        pool = np.flatnonzero(distance <= limit)
        return self.table.archs[int(rng.choice(pool))]

    def distributions(self) -> dict[str, Any]:
        return _arch.optuna_distributions()

    def to_params(self, arch: Any) -> dict[str, Any]:
        return _arch.to_optuna_params(self.as_arch(arch))

    def from_params(self, params: Mapping[str, Any]) -> Nb101Arch:
        return _arch.from_optuna_params(params)

    # --- networks and text ---------------------------------------------------------------------
    def build_model(self, arch: Any, num_classes: int = 10) -> Any:
        """The PyTorch network (NB101's macro structure), in eval mode, weights from a fixed seed."""
        from .model import build_network

        return build_network(self.as_arch(arch), num_classes=num_classes)

    def example_input(self, batch_size: int = 1) -> Any:
        import torch

        return torch.randn(batch_size, *INPUT_SHAPE, generator=torch.Generator().manual_seed(0))

    @property
    def function_modules(self) -> tuple[type, ...]:  # type: ignore[override]
        """Module classes folded into ONNX local functions when one of this space's networks is exported."""
        from .model import Nb101Cell

        return (Nb101Cell,)

    def onnx_model(self, arch: Any, batch_size: int = 1) -> Any:
        """The graph the exporter would write, built directly (weights without values; dims only)."""
        from .onnx_builder import build_onnx

        return build_onnx(self.as_arch(arch), batch_size=batch_size)

    def _make_text(self, arch: Any) -> str:
        return _text_of(arch)

    def onnx_text_exported(self, arch: Any) -> str:
        """The same text through the general path: build the torch module and export it (1-4 s)."""
        from nasrlm.text.onnx_text import to_onnx_text

        return to_onnx_text(self.build_model(arch), self.example_input(), functions=self.function_modules)

    # --- metrics -------------------------------------------------------------------------------
    @property
    def metrics(self) -> dict[str, Metric]:
        return {**table_metrics(), **_FREE_METRICS}

    def _values(self, metric: str) -> np.ndarray:
        if metric in _FREE_METRICS:
            return self._free_values(metric)
        return self.table.values[metric]

    @functools.cache  # noqa: B019 - one space instance per process (the registry's)
    def _free_values(self, metric: str) -> np.ndarray:
        values = np.array([self._query(arch, metric) for arch in self.table.archs], dtype=np.float64)
        values.setflags(write=False)
        return values

    def _query(self, arch: Any, metric: str) -> float:
        if metric == "params":
            return count_params(arch) / 1e6
        if metric == "flops":
            return count_flops(arch) / 1e6
        values = self._values(metric)
        value = float(values[self.index(arch)])  # raises no_data for an arch outside the table
        if np.isnan(value):
            measured = int(np.count_nonzero(~np.isnan(values)))
            raise MetricNotMeasuredError(arch, metric, self.name, measured, self.size)
        return value

    # --- hooks ---------------------------------------------------------------------------------
    def graph_spec(self) -> DagSpec:
        from .graph import NB101_DAG_SPEC

        return NB101_DAG_SPEC
