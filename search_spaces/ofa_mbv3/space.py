"""OFA-MobileNetV3 as a :class:`~search_spaces.base.TabularSpace` over HELP's 5,000 measured subnets.

The space is every subnet of the width-1.2 Once-for-All MobileNetV3 supernet (about 10**19 with 25
resolutions); the table holds 5,000 of them (``complete = False``). Any valid subnet parses, builds
and has ONNX text, FLOPs and parameters; only table subnets have GPU latencies.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..base import NON_NEGATIVE, BaseTabularSpace, DagSpec, Metric
from . import arch as _arch
from .arch import OfaMbv3Arch
from .costs import count_flops, count_params
from .tables import DEVICES, GPU_NAMES, load_table

# torch and onnx are imported where networks or text are made: asking for metrics needs neither.

__all__ = ["OfaMbv3Space"]

DEFAULT_RESOLUTION = 224  # example_input's size: the network is fully convolutional with global pooling
MUTATION_NEIGHBOURS = 8  # mutate picks among this many nearest table archs

_FREE_METRICS = {
    "params": Metric(
        "params",
        "minimize",
        "M",
        "Trainable parameters of the subnet (1000 ImageNet classes), in millions, counted from the "
        "network built here (conv weights, BN affine, SE biases, classifier); resolution-independent.",
        NON_NEGATIVE,
    ),
    "flops": Metric(
        "flops",
        "minimize",
        "MFLOPs",
        "FLOPs of one forward pass of one r x r image at the subnet's own resolution, in millions, counted "
        "as torch.utils.flop_counter does (2 per multiply-accumulate of convs and linear layers: twice "
        "the 'MACs'/'FLOPs' figure of the OFA paper).",
        NON_NEGATIVE,
    ),
}


def _latency_metric(device: str) -> Metric:
    gpu, batch = device.rsplit("_", 1)
    return Metric(
        f"latency_{device}",
        "minimize",
        "ms",
        f"Latency of one forward pass of a batch of {batch} image{'s' if batch != '1' else ''} at the subnet's "
        f"resolution on an {GPU_NAMES[gpu]} GPU, in ms, measured by the HELP authors (Lee et al., NeurIPS 2021) "
        "in PyTorch.",
        NON_NEGATIVE,
    )


class OfaMbv3Space(BaseTabularSpace):
    """OFA-MobileNetV3 (``ofa_mbv3_d234_e346_k357_w1.2``) subnets; HELP's 5,000 GPU-latency rows as the table."""

    name = "ofa_mbv3"
    arch_type = OfaMbv3Arch
    complete = False
    free_metrics = frozenset(_FREE_METRICS)

    # --- architectures -----------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return len(load_table().archs)

    def archs(self) -> list[OfaMbv3Arch]:
        """The table's subnets, entry ``i`` = row ``i``."""
        return list(load_table().archs)

    @functools.cached_property
    def _index(self) -> dict[OfaMbv3Arch, int]:
        return {arch: i for i, arch in enumerate(load_table().archs)}

    def index(self, arch: Any) -> int:
        arch = self.as_arch(arch)
        found = self._index.get(arch)
        if found is None:
            raise self.no_data(arch)
        return found

    def parse(self, text: str) -> OfaMbv3Arch:
        return OfaMbv3Arch.from_str(text)

    def sample(self, rng: np.random.Generator) -> OfaMbv3Arch:
        """A uniformly random table subnet."""
        return load_table().archs[int(rng.integers(self.size))]

    @functools.cached_property
    def _param_ints(self) -> np.ndarray:
        """Every table subnet's Optuna parameters as ints, one row each (``PARAM_NAMES`` order)."""
        return np.array([self._params_row(a) for a in load_table().archs], dtype=np.int16)

    @staticmethod
    def _params_row(arch: OfaMbv3Arch) -> list[int]:
        params = _arch.to_optuna_params(arch)
        return [params[name] for name in _arch.PARAM_NAMES]

    def mutate(self, arch: Any, rng: np.random.Generator) -> OfaMbv3Arch:
        """A table subnet near ``arch``: one of the few whose Optuna parameters differ from its in the
        fewest places (the table is a sparse sample: single-choice neighbours are almost never in it)."""
        arch = self.as_arch(arch)
        differences = (self._param_ints != np.array(self._params_row(arch), dtype=np.int16)).sum(axis=1)
        if arch in self._index:
            differences[self._index[arch]] = np.iinfo(differences.dtype).max
        nearest = np.argsort(differences, kind="stable")[:MUTATION_NEIGHBOURS]
        return load_table().archs[int(nearest[int(rng.integers(len(nearest)))])]

    def distributions(self) -> dict[str, Any]:
        return _arch.optuna_distributions()

    def to_params(self, arch: Any) -> dict[str, int]:
        return _arch.to_optuna_params(self.as_arch(arch))

    def from_params(self, params: Mapping[str, Any]) -> OfaMbv3Arch:
        return _arch.from_optuna_params(params)

    # --- networks and text -------------------------------------------------------------------------
    def build_model(self, arch: Any) -> Any:
        """The subnet as a PyTorch module (eval mode, weights initialized from a fixed seed)."""
        from .model import build_network

        return build_network(self.as_arch(arch))

    def example_input(self, batch_size: int = 1) -> Any:
        """A ``[batch, 3, 224, 224]`` input, which every subnet accepts; see :meth:`example_input_for`."""
        import torch

        generator = torch.Generator().manual_seed(0)
        return torch.randn(batch_size, 3, DEFAULT_RESOLUTION, DEFAULT_RESOLUTION, generator=generator)

    def example_input_for(self, arch: Any, batch_size: int = 1) -> Any:
        """A ``[batch, 3, r, r]`` input at the subnet's own resolution (what it was measured on)."""
        import torch

        r = self.as_arch(arch).r
        return torch.randn(batch_size, 3, r, r, generator=torch.Generator().manual_seed(0))

    @property
    def function_modules(self) -> tuple[type, ...]:  # type: ignore[override]
        """MBConv blocks become ONNX local functions when a subnet is exported."""
        from .model import MBConvBlock

        return (MBConvBlock,)

    def onnx_model(self, arch: Any, batch_size: int = 1) -> Any:
        """The exported graph at the subnet's resolution (``[batch, 3, r, r]``), built directly in ~10 ms."""
        from .onnx_builder import build_onnx

        return build_onnx(self.as_arch(arch), batch_size)

    def _make_text(self, arch: Any) -> str:
        from .onnx_builder import onnx_text

        return onnx_text(arch)

    def onnx_text_exported(self, arch: Any) -> str:
        """The same text through the general path: build the module, export it at ``r x r`` (~1 s)."""
        from nasrlm.text.onnx_text import to_onnx_text

        arch = self.as_arch(arch)
        return to_onnx_text(self.build_model(arch), self.example_input_for(arch), functions=self.function_modules)

    # --- metrics -----------------------------------------------------------------------------------
    @functools.cached_property
    def _metrics(self) -> dict[str, Metric]:
        return {**{f"latency_{d}": _latency_metric(d) for d in DEVICES}, **_FREE_METRICS}

    @property
    def metrics(self) -> dict[str, Metric]:
        return self._metrics

    @functools.cached_property
    def _free_values(self) -> dict[str, np.ndarray]:
        values = {}
        for metric in _FREE_METRICS:
            array = np.array([self._free(arch, metric) for arch in load_table().archs], dtype=np.float64)
            array.setflags(write=False)
            values[metric] = array
        return values

    @staticmethod
    def _free(arch: OfaMbv3Arch, metric: str) -> float:
        return (count_params(arch) if metric == "params" else count_flops(arch)) / 1e6

    def _values(self, metric: str) -> np.ndarray:
        """All table values of a shipped metric (read-only), entry ``i`` = row ``i``."""
        if metric in _FREE_METRICS:
            return self._free_values[metric]
        return load_table().latency[metric.removeprefix("latency_")]

    def _query(self, arch: Any, metric: str) -> float:
        if metric in _FREE_METRICS:
            return self._free(arch, metric)  # any subnet, table or not
        return float(self._values(metric)[self.index(arch)])

    # --- hooks -------------------------------------------------------------------------------------
    def graph_spec(self) -> DagSpec:
        from .graph import OFA_DAG_SPEC

        return OFA_DAG_SPEC
