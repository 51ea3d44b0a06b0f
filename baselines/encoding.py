"""Architecture encodings shared by the predictors: a cell as a DAG with ops on nodes, and a flat vector.

Each search space says how its architectures become a :class:`~search_spaces.base.CellDag` (node ops +
adjacency, nodes in topological order) through its ``graph_spec`` hook; everything here is generic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from search_spaces import get_space, space_of
from search_spaces.base import INPUT_OP, OUTPUT_OP, CellDag, DagSpec

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
]


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


# --- generic --------------------------------------------------------------------------------------
def dag_spec(space: str) -> DagSpec:
    """The DAG conversion of the search space called ``space`` (its ``graph_spec`` hook)."""
    return get_space(space).graph_spec()


def dag_spec_for(archs: Sequence[Any]) -> DagSpec:
    """The DAG conversion that fits ``archs`` (all of one space), found from their type."""
    if len(archs) == 0:
        raise ValueError("expected at least one architecture, got none")
    kinds = {type(arch) for arch in archs}
    if len(kinds) > 1:
        found = ", ".join(sorted(kind.__name__ for kind in kinds))
        raise TypeError(f"architectures must all be of one space's type; got {found}")
    return space_of(archs[0]).graph_spec()


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
