"""FBNet architectures as the DAG that graph predictors read (the space's ``graph_spec`` hook).

The network is a chain: the input node, one node per searchable layer carrying that layer's block,
the output node. Every architecture has the same adjacency and differs only in its node ops; a
``skip`` stays a node (the predictor learns what it costs at each position, which differs where it
is a 1x1 conv).
"""

from __future__ import annotations

import functools

import numpy as np

from ..base import INPUT_OP, OUTPUT_OP, CellDag, DagSpec
from .arch import NUM_LAYERS, OPS, FbnetArch

__all__ = ["FBNET_DAG_SPEC", "FBNET_NODE_OPS", "fbnet_dag"]

FBNET_NODE_OPS: tuple[str, ...] = (INPUT_OP, *OPS, OUTPUT_OP)
_NODES = NUM_LAYERS + 2


@functools.cache
def _adjacency() -> np.ndarray:
    adjacency = np.eye(_NODES, k=1, dtype=np.float32)
    adjacency.setflags(write=False)
    return adjacency


def fbnet_dag(arch: FbnetArch) -> CellDag:
    """Input, the 22 layers' blocks (layer 1 first), output, in a chain."""
    ops = (0, *(1 + OPS.index(op) for op in arch.ops), len(FBNET_NODE_OPS) - 1)
    return CellDag(ops=ops, adjacency=_adjacency())


FBNET_DAG_SPEC = DagSpec("fbnet", FbnetArch, FBNET_NODE_OPS, _NODES, fbnet_dag)
