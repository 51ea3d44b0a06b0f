"""TransNAS-Bench-101's macro space as a partial :class:`~search_spaces.base.TabularSpace`.

Any of the 3,256 networks parses, builds, and has FLOPs, parameters and ONNX text; the 725 that the
vendored table measured (``archs()``) also have the seven tasks' validation metrics and zero-cost
proxies, two tasks (class_scene, class_object) on 662 of them only.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..base import INPUT_OP, NON_NEGATIVE, OUTPUT_OP, BaseTabularSpace, CellDag, DagSpec, Metric, NoBenchmarkDataError
from . import arch as _arch
from .arch import KINDS, MAX_MODULES, TransnasMacroArch
from .costs import INPUT_SHAPE, NUM_CLASSES, RESOLUTION, count_flops, count_params
from .tables import load_table, table_metrics

ArchLike = TransnasMacroArch | str | int

FREE_METRICS = {
    "params": Metric(
        "params",
        "minimize",
        "M",
        f"Trainable parameters of the network built here (macro encoder + {NUM_CLASSES}-class scene "
        "head), in millions; computed for any arch.",
        NON_NEGATIVE,
    ),
    "flops": Metric(
        "flops",
        "minimize",
        "MFLOPs",
        f"FLOPs of one forward pass of one {RESOLUTION}x{RESOLUTION} image through the network built here, in "
        "millions, counted as torch.utils.flop_counter does (2 per multiply-accumulate of convs and the linear "
        "head); computed for any arch.",
        NON_NEGATIVE,
    ),
}

# graph_spec: input -> one node per module, by kind -> output.
NODE_OPS: tuple[str, ...] = (INPUT_OP, "keep", "double_channels", "downsample", "double_and_downsample", OUTPUT_OP)
_MUTATION_POOL = 5  # mutate picks among this many nearest table archs


class MetricNotMeasuredError(NoBenchmarkDataError):
    """A table arch whose task did not measure ``metric`` (a :class:`NoBenchmarkDataError`)."""

    def __init__(self, arch: Any, metric: str, space: str, measured: int, size: int) -> None:
        super().__init__(arch, space, size)
        self.message = (
            f"{arch} has no {metric} data: the table of space {space!r} measures {metric} on {measured:,} of its "
            f"{size:,} architectures (space.has_data(arch, [metric]))"
        )
        self.args = (self.message,)


def macro_dag(arch: TransnasMacroArch) -> CellDag:
    """The network as a chain: input, its modules by kind, output."""
    ops = (0, *(KINDS.index(k) + 1 for k in arch.modules), len(NODE_OPS) - 1)
    return CellDag(ops=ops, adjacency=np.eye(len(ops), k=1, dtype=np.float32))


class TransnasMacroSpace(BaseTabularSpace):
    """TransNAS-Bench-101 macro space: 3,256 networks, 725 of them with benchmark data."""

    name = "transnas_macro"
    arch_type = TransnasMacroArch
    complete = False
    free_metrics = frozenset(FREE_METRICS)

    # --- architectures -----------------------------------------------------------------------
    @property
    def size(self) -> int:
        return len(load_table().archs)

    def archs(self) -> list[TransnasMacroArch]:
        """The table's archs, in its ``idx`` order."""
        return list(load_table().archs)

    def index(self, arch: ArchLike) -> int:
        valid = self.arch(arch)
        found = load_table().index.get(valid)
        if found is None:
            raise self.no_data(valid)
        return found

    def parse(self, text: str) -> TransnasMacroArch:
        return TransnasMacroArch.from_str(text)

    def sample(self, rng: np.random.Generator) -> TransnasMacroArch:
        archs = load_table().archs
        return archs[int(rng.integers(len(archs)))]

    def mutate(self, arch: ArchLike, rng: np.random.Generator) -> TransnasMacroArch:
        """One of the few table archs whose module slots differ least from ``arch``'s (never ``arch``)."""
        slots = np.array(self.arch(arch).op_indices)
        differences = (self._slot_matrix != slots).sum(axis=1)
        order = np.lexsort((rng.permutation(len(differences)), differences))  # random among ties
        pool = [int(i) for i in order if differences[i] > 0][:_MUTATION_POOL]
        return load_table().archs[pool[int(rng.integers(len(pool)))]]

    @functools.cached_property
    def _slot_matrix(self) -> np.ndarray:
        return np.array([a.op_indices for a in load_table().archs])

    def distributions(self) -> dict[str, Any]:
        import optuna

        return {
            name: optuna.distributions.CategoricalDistribution(choices)
            for name, choices in _arch.optuna_choices().items()
        }

    def to_params(self, arch: ArchLike) -> dict[str, int]:
        return _arch.to_optuna_params(self.arch(arch))

    def from_params(self, params: Mapping[str, Any]) -> TransnasMacroArch:
        return _arch.from_optuna_params(params)

    # --- networks and text ---------------------------------------------------------------------
    def build_model(self, arch: ArchLike) -> Any:
        """The PyTorch network (macro encoder + scene-classification head), in eval mode."""
        from .model import build_network

        return build_network(self.arch(arch).modules)

    def example_input(self, batch_size: int = 1) -> Any:
        import torch

        return torch.randn(batch_size, *INPUT_SHAPE, generator=torch.Generator().manual_seed(0))

    @property
    def function_modules(self) -> tuple[type, ...]:  # type: ignore[override]
        from .model import BasicBlock

        return (BasicBlock,)

    def onnx_model(self, arch: ArchLike, batch_size: int = 1) -> Any:
        """The graph the exporter would write, built directly (a few ms instead of ~1 s)."""
        from .onnx_builder import build_onnx

        return build_onnx(self.arch(arch).modules, batch_size=batch_size)

    def _make_text(self, arch: Any) -> str:
        from .onnx_builder import onnx_text

        return onnx_text(arch.modules)

    def onnx_text_exported(self, arch: ArchLike) -> str:
        """The same text through the general path: build the torch module and export it (~1 s)."""
        from nasrlm.text.onnx_text import to_onnx_text

        return to_onnx_text(self.build_model(arch), self.example_input(), functions=self.function_modules)

    # --- metrics -------------------------------------------------------------------------------
    @functools.cached_property
    def _metrics(self) -> dict[str, Metric]:
        return {**table_metrics(), **FREE_METRICS}

    @property
    def metrics(self) -> dict[str, Metric]:
        return self._metrics

    @functools.cached_property
    def _free_values(self) -> dict[str, np.ndarray]:
        arrays = {}
        for name in FREE_METRICS:
            array = np.array([self._free(a, name) for a in load_table().archs], dtype=np.float64)
            array.setflags(write=False)
            arrays[name] = array
        return arrays

    @staticmethod
    def _free(arch: TransnasMacroArch, metric: str) -> float:
        count = count_params if metric == "params" else count_flops
        return count(arch.modules) / 1e6

    def _values(self, metric: str) -> np.ndarray:
        if metric in FREE_METRICS:
            return self._free_values[metric]
        return load_table().values[metric]

    def _query(self, arch: Any, metric: str) -> float:
        if metric in FREE_METRICS:
            return self._free(arch, metric)
        values = load_table().values[metric]
        value = float(values[self.index(arch)])  # raises no_data for an arch outside the table
        if np.isnan(value):
            raise MetricNotMeasuredError(arch, metric, self.name, int(np.count_nonzero(~np.isnan(values))), self.size)
        return value

    # --- hooks ---------------------------------------------------------------------------------
    def graph_spec(self) -> DagSpec:
        return DagSpec(self.name, TransnasMacroArch, NODE_OPS, MAX_MODULES + 2, macro_dag)
