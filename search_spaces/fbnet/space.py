"""FBNet (HW-NAS-Bench's CIFAR-100 macro-architecture) as a partial :class:`~search_spaces.base.TabularSpace`.

The space has 9**22 architectures; HELP's table measures 5,000 of them on 27 devices (latency only,
no accuracy). Any architecture parses, builds, has ONNX text and has ``flops`` and ``params``
(computed from the network); only the table's architectures have latencies.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..base import NON_NEGATIVE, BaseTabularSpace, DagSpec, Metric
from . import arch as _arch
from .arch import NUM_CLASSES, RESOLUTION, FbnetArch
from .costs import count_flops, count_params
from .tables import LATENCY_METRICS, load_table

# torch and onnx are imported where networks or text are made: asking for metrics needs neither.

__all__ = ["FbnetSpace"]

_COMPUTED_METRICS = {
    "params": Metric(
        "params",
        "minimize",
        "M",
        "Trainable parameters of the CIFAR-100 network (100 classes), in millions, counted from the network "
        "built here (conv weights, BatchNorm scale and shift, the linear layer). Computed for any arch.",
        NON_NEGATIVE,
    ),
    "flops": Metric(
        "flops",
        "minimize",
        "MFLOPs",
        "FLOPs of one forward pass of one 32x32 image, in millions, counted as torch.utils.flop_counter does "
        "(2 per multiply-accumulate of convs and the linear layer). Computed for any arch.",
        NON_NEGATIVE,
    ),
}
_MUTATION_CHOICES = 5  # mutate picks among this many nearest table archs


class FbnetSpace(BaseTabularSpace):
    """FBNet, 22 layers x 9 blocks; HELP's 5,000 measured archs (table order = index)."""

    name = "fbnet"
    arch_type = FbnetArch
    complete = False
    free_metrics = frozenset(_COMPUTED_METRICS)

    # --- architectures -----------------------------------------------------------------------
    @property
    def size(self) -> int:
        return len(load_table().archs)

    def archs(self) -> list[FbnetArch]:
        return list(load_table().archs)

    def parse(self, text: str) -> FbnetArch:
        return FbnetArch.from_str(text)

    def index(self, arch: Any) -> int:
        arch = self.as_arch(arch)
        position = load_table().index.get(arch)
        if position is None:
            raise self.no_data(arch)
        return position

    def sample(self, rng: np.random.Generator) -> FbnetArch:
        """A uniformly random table arch (the only ones with latencies)."""
        table = load_table()
        return table.archs[int(rng.integers(len(table.archs)))]

    @functools.cached_property
    def _op_matrix(self) -> np.ndarray:
        """Op indices of every table arch, one row each (5,000 x 22)."""
        return np.array([a.indices for a in load_table().archs], dtype=np.int8)

    def mutate(self, arch: Any, rng: np.random.Generator) -> FbnetArch:
        """A table arch among the few nearest to ``arch`` (fewest differing layers), never ``arch`` itself.

        Random table archs differ from each other in ~20 of 22 layers, so a one-layer change almost
        never lands in the table; the nearest table archs are the closest a search with data can step.
        """
        arch = self.as_arch(arch)
        differences = (self._op_matrix != np.array(arch.indices, dtype=np.int8)).sum(axis=1)
        differences[differences == 0] = np.iinfo(differences.dtype).max  # not arch itself
        nearest = np.argsort(differences, kind="stable")[:_MUTATION_CHOICES]
        return load_table().archs[int(nearest[int(rng.integers(len(nearest)))])]

    def distributions(self) -> dict[str, Any]:
        return _arch.optuna_distributions()

    def to_params(self, arch: Any) -> dict[str, str]:
        return _arch.to_optuna_params(self.as_arch(arch))

    def from_params(self, params: Mapping[str, Any]) -> FbnetArch:
        return _arch.from_optuna_params(params)

    # --- networks and text --------------------------------------------------------------------
    def build_model(self, arch: Any, num_classes: int = NUM_CLASSES) -> Any:
        """HW-NAS-Bench's FBNet network (CIFAR-100 setting), seeded initialisation, in eval mode."""
        from .model import build_network

        return build_network(self.as_arch(arch).ops, num_classes=num_classes)

    def example_input(self, batch_size: int = 1) -> Any:
        import torch

        return torch.randn(batch_size, 3, RESOLUTION, RESOLUTION, generator=torch.Generator().manual_seed(0))

    def onnx_model(self, arch: Any, batch_size: int = 1) -> Any:
        """The graph the exporter would write for ``batch_size`` images, built directly (~5 ms)."""
        from .onnx_builder import build_onnx

        return build_onnx(self.as_arch(arch).ops, batch_size=batch_size)

    def _make_text(self, arch: Any) -> str:
        from .onnx_builder import text_of_ops

        return text_of_ops(arch.ops)

    def onnx_text_exported(self, arch: Any) -> str:
        """The same text through the general path: build the torch module and export it (1-2 s)."""
        from nasrlm.text.onnx_text import to_onnx_text

        return to_onnx_text(self.build_model(arch), self.example_input(), functions=self.function_modules)

    # --- metrics -------------------------------------------------------------------------------
    @property
    def metrics(self) -> dict[str, Metric]:
        return {**LATENCY_METRICS, **_COMPUTED_METRICS}

    @functools.cached_property
    def _computed(self) -> dict[str, np.ndarray]:
        values = {}
        for name, count in (("params", count_params), ("flops", count_flops)):
            array = np.array([count(a.ops) / 1e6 for a in load_table().archs], dtype=np.float64)
            array.setflags(write=False)
            values[name] = array
        return values

    def _values(self, metric: str) -> np.ndarray:
        if metric in _COMPUTED_METRICS:
            return self._computed[metric]
        return load_table().values[metric]

    def _query(self, arch: Any, metric: str) -> float:
        if metric == "params":
            return count_params(arch.ops) / 1e6
        if metric == "flops":
            return count_flops(arch.ops) / 1e6
        return float(load_table().values[metric][self.index(arch)])

    # --- hooks ---------------------------------------------------------------------------------
    def graph_spec(self) -> DagSpec:
        from .graph import FBNET_DAG_SPEC

        return FBNET_DAG_SPEC
