"""A tiny tabular space, written as a new space is: one folder, registered with one line.

    register_space("toy", ToySpace)

18 plain CNNs (width x depth x kernel) on 3x8x8 inputs; ``acc`` is a made-up deterministic table
(larger and deeper nets score higher, with a fixed pseudo-random spread), ``params`` is counted from
the built module. It exists to show that generic code (search, report, verify, the converter, the
GNN baselines) runs on any space that implements the contract, not only NB201.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from search_spaces.base import NON_NEGATIVE, PERCENT, BaseTabularSpace, CellDag, DagSpec, Metric

__all__ = ["ToyArch", "ToySpace"]

WIDTHS = (4, 8, 16)
DEPTHS = (1, 2, 3)
KERNELS = (1, 3)
CHOICES = {"width": WIDTHS, "depth": DEPTHS, "kernel": KERNELS}


@dataclass(frozen=True, order=True)
class ToyArch:
    width: int
    depth: int
    kernel: int

    def __str__(self) -> str:
        return f"w{self.width}-d{self.depth}-k{self.kernel}"


ARCHS = tuple(ToyArch(*combo) for combo in itertools.product(WIDTHS, DEPTHS, KERNELS))
_INDEX = {arch: i for i, arch in enumerate(ARCHS)}
_OPS = ("input", "conv1x1", "conv3x3", "head", "output")


def _toy_dag(arch: ToyArch) -> CellDag:
    """input -> depth convs in a chain -> head -> output, padded nodes dropped."""
    conv = 1 + KERNELS.index(arch.kernel)
    ops = (0, *([conv] * arch.depth), 3, 4)
    n = len(ops)
    adjacency = np.eye(n, k=1, dtype=np.float32)
    return CellDag(ops=ops, adjacency=adjacency)


class ToySpace(BaseTabularSpace):
    name = "toy"
    arch_type = ToyArch

    @property
    def size(self) -> int:
        return len(ARCHS)

    def archs(self) -> list[ToyArch]:
        return list(ARCHS)

    def index(self, arch: Any) -> int:
        return _INDEX[self.as_arch(arch)]

    def parse(self, text: str) -> ToyArch:
        try:
            width, depth, kernel = (int(part[1:]) for part in text.split("-"))
            arch = ToyArch(width, depth, kernel)
        except ValueError:
            raise ValueError(f"not a toy arch: {text!r}; expected e.g. 'w8-d2-k3'") from None
        if arch not in _INDEX:
            raise ValueError(f"not a toy arch: {text!r}; widths {WIDTHS}, depths {DEPTHS}, kernels {KERNELS}")
        return arch

    def sample(self, rng: np.random.Generator) -> ToyArch:
        return ARCHS[int(rng.integers(len(ARCHS)))]

    def mutate(self, arch: Any, rng: np.random.Generator) -> ToyArch:
        arch = self.as_arch(arch)
        others = [
            a for a in ARCHS if sum(x != y for x, y in zip(vars(a).values(), vars(arch).values(), strict=True)) == 1
        ]
        return others[int(rng.integers(len(others)))]

    def distributions(self) -> dict[str, Any]:
        import optuna

        return {name: optuna.distributions.CategoricalDistribution(values) for name, values in CHOICES.items()}

    def to_params(self, arch: Any) -> dict[str, Any]:
        return dict(vars(self.as_arch(arch)))

    def from_params(self, params: Mapping[str, Any]) -> ToyArch:
        return ToyArch(int(params["width"]), int(params["depth"]), int(params["kernel"]))

    def build_model(self, arch: Any) -> Any:
        import torch

        arch = self.as_arch(arch)
        torch.manual_seed(0)
        layers: list[torch.nn.Module] = []
        channels = 3
        for _ in range(arch.depth):
            layers += [torch.nn.Conv2d(channels, arch.width, arch.kernel, padding=arch.kernel // 2), torch.nn.ReLU()]
            channels = arch.width
        layers += [torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(channels, 10)]
        return torch.nn.Sequential(*layers).eval()

    def example_input(self, batch_size: int = 1) -> Any:
        import torch

        return torch.randn(batch_size, 3, 8, 8, generator=torch.Generator().manual_seed(0))

    @property
    def metrics(self) -> dict[str, Metric]:
        return {
            "acc": Metric("acc", "maximize", "%", "made-up accuracy (a fixed table)", PERCENT),
            "params": Metric("params", "minimize", "K", "trainable parameters, thousands", NON_NEGATIVE),
        }

    def _values(self, metric: str) -> np.ndarray:
        return _tables()[metric]

    def graph_spec(self) -> DagSpec:
        return DagSpec("toy", ToyArch, _OPS, max_nodes=max(DEPTHS) + 3, to_dag=_toy_dag)


@functools.cache
def _tables() -> dict[str, np.ndarray]:
    spread = np.random.default_rng(0).normal(0.0, 1.5, len(ARCHS))
    acc = np.array([60 + 6 * np.log2(a.width) + 4 * a.depth + 2 * (a.kernel == 3) for a in ARCHS]) + spread
    params = []
    for a in ARCHS:
        convs = sum((3 if d == 0 else a.width) * a.width * a.kernel**2 + a.width for d in range(a.depth))
        params.append((convs + a.width * 10 + 10) / 1000)
    tables = {"acc": acc, "params": np.array(params)}
    for values in tables.values():
        values.setflags(write=False)
    return tables
