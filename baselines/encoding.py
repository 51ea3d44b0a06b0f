"""Architecture encodings shared by the predictors: a cell as a DAG with ops on nodes, and a flat vector.

Each search space contributes one small function that turns an architecture into a :class:`CellDag`
(node ops + adjacency, nodes in topological order). Everything else here is generic, so a new space
needs only that function and an entry in ``_DAG_SPECS``.

NB201 puts ops on edges; the neural-predictor papers (Wen et al. 2019, BRP-NAS, NASLib's encodings)
move them onto nodes. The cell becomes 8 nodes: the cell input, one node per edge op in ``EDGES``
order, and the cell output. Op node ``(to, frm)`` reads every op node that writes cell node ``frm``
(the input node when ``frm == 0``) and feeds every op node that reads cell node ``to``; the op nodes
writing cell node 3 feed the output node. ``none`` stays a node of its own (it is an op the
predictor must learn to treat as "cuts this path"), so every NB201 cell has the same adjacency and
differs only in its node ops.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from search_spaces.nb201.arch import EDGES, OPS, Nb201Arch

__all__ = [
    "INPUT_OP",
    "OUTPUT_OP",
    "CellDag",
    "DagBatch",
    "DagSpec",
    "dag_spec",
    "dag_spec_for",
    "encode_dags",
    "flat_encoding",
    "nb201_dag",
]

INPUT_OP = "input"
OUTPUT_OP = "output"


@dataclass(frozen=True)
class CellDag:
    """One cell: ``ops[i]`` is node i's op index in the space's vocabulary; ``adjacency[i, j]``: edge i->j."""

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
    """How one search space's architectures become DAGs."""

    space: str
    arch_type: type
    op_names: tuple[str, ...]
    max_nodes: int
    to_dag: Callable[[Any], CellDag]

    @property
    def flat_size(self) -> int:
        return self.max_nodes * len(self.op_names) + self.max_nodes * (self.max_nodes - 1) // 2


@dataclass(frozen=True)
class DagBatch:
    """Many DAGs padded to ``max_nodes``: ``node_ops`` is -1 on padding, ``mask`` False there."""

    node_ops: np.ndarray  # int64 [n_archs, max_nodes]
    adjacency: np.ndarray  # float32 [n_archs, max_nodes, max_nodes]
    mask: np.ndarray  # bool [n_archs, max_nodes]
    num_ops: int

    def __len__(self) -> int:
        return len(self.node_ops)

    def one_hot(self) -> np.ndarray:
        """float32 [n_archs, max_nodes, num_ops]; padding rows are all zero."""
        eye = np.eye(self.num_ops, dtype=np.float32)
        return np.where(self.mask[..., None], eye[np.maximum(self.node_ops, 0)], 0.0).astype(np.float32)


# --- NB201 ----------------------------------------------------------------------------------------
NB201_NODE_OPS: tuple[str, ...] = (INPUT_OP, *OPS, OUTPUT_OP)
_NB201_NODES = len(EDGES) + 2  # input, one node per edge op, output


@functools.cache
def _nb201_adjacency() -> np.ndarray:
    adjacency = np.zeros((_NB201_NODES, _NB201_NODES), dtype=np.float32)
    output = _NB201_NODES - 1
    last_cell_node = max(to for to, _ in EDGES)
    for k, (to, frm) in enumerate(EDGES):
        node = k + 1  # node 0 is the input
        if frm == 0:
            adjacency[0, node] = 1
        for j, (to_j, _) in enumerate(EDGES):
            if to_j == frm:
                adjacency[j + 1, node] = 1
        if to == last_cell_node:
            adjacency[node, output] = 1
    adjacency.setflags(write=False)
    return adjacency


def nb201_dag(arch: Nb201Arch) -> CellDag:
    """The NB201 cell as 8 nodes (input, 6 edge ops in ``EDGES`` order, output); see the module doc."""
    ops = (0, *(1 + OPS.index(op) for op in arch.ops), len(NB201_NODE_OPS) - 1)
    return CellDag(ops=ops, adjacency=_nb201_adjacency())


_DAG_SPECS: dict[str, DagSpec] = {
    "nb201": DagSpec("nb201", Nb201Arch, NB201_NODE_OPS, _NB201_NODES, nb201_dag),
}


# --- generic --------------------------------------------------------------------------------------
def dag_spec(space: str) -> DagSpec:
    """The DAG conversion of the search space called ``space``."""
    try:
        return _DAG_SPECS[space]
    except KeyError:
        raise KeyError(f"no DAG encoding for space {space!r}; spaces with one: {', '.join(_DAG_SPECS)}") from None


def dag_spec_for(archs: Sequence[Any]) -> DagSpec:
    """The DAG conversion that fits ``archs`` (all of one space), found from their type."""
    if len(archs) == 0:
        raise ValueError("expected at least one architecture, got none")
    kinds = {type(arch) for arch in archs}
    for spec in _DAG_SPECS.values():
        if kinds == {spec.arch_type}:
            return spec
    names = ", ".join(f"{spec.arch_type.__name__} ({spec.space})" for spec in _DAG_SPECS.values())
    found = ", ".join(sorted(kind.__name__ for kind in kinds))
    raise TypeError(f"architectures must all be of one supported type ({names}); got {found}")


def encode_dags(archs: Sequence[Any], spec: DagSpec | None = None) -> DagBatch:
    """Every arch as a DAG, padded to the space's ``max_nodes``."""
    spec = spec or dag_spec_for(archs)
    n, size = len(archs), spec.max_nodes
    node_ops = np.full((n, size), -1, dtype=np.int64)
    adjacency = np.zeros((n, size, size), dtype=np.float32)
    for i, arch in enumerate(archs):
        if not isinstance(arch, spec.arch_type):
            raise TypeError(f"arch {i} is a {type(arch).__name__}, expected {spec.arch_type.__name__}")
        dag = spec.to_dag(arch)
        k = len(dag.ops)
        node_ops[i, :k] = dag.ops
        adjacency[i, :k, :k] = dag.adjacency
    return DagBatch(node_ops=node_ops, adjacency=adjacency, mask=node_ops >= 0, num_ops=len(spec.op_names))


def flat_encoding(archs: Sequence[Any], spec: DagSpec | None = None) -> np.ndarray:
    """float32 [n_archs, flat_size]: node-op one-hots (node by node), then the adjacency's upper triangle.

    This is the "adjacency + one-hot" encoding of the predictor benchmarks (White et al. 2021). For
    NB201 the adjacency part is constant, which is harmless for the MLP and the trees.
    """
    spec = spec or dag_spec_for(archs)
    batch = encode_dags(archs, spec)
    rows, cols = np.triu_indices(spec.max_nodes, k=1)
    return np.concatenate([batch.one_hot().reshape(len(batch), -1), batch.adjacency[:, rows, cols]], axis=1).astype(
        np.float32
    )
