"""The NB201 cell as the DAG that graph predictors read (the space's ``graph_spec`` hook).

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

import numpy as np

from ..base import INPUT_OP, OUTPUT_OP, CellDag, DagSpec
from .arch import EDGES, OPS, Nb201Arch

__all__ = ["NB201_DAG_SPEC", "NB201_NODE_OPS", "nb201_dag"]

NB201_NODE_OPS: tuple[str, ...] = (INPUT_OP, *OPS, OUTPUT_OP)
_NODES = len(EDGES) + 2  # input, one node per edge op, output


@functools.cache
def _adjacency() -> np.ndarray:
    adjacency = np.zeros((_NODES, _NODES), dtype=np.float32)
    output = _NODES - 1
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
    return CellDag(ops=ops, adjacency=_adjacency())


NB201_DAG_SPEC = DagSpec("nb201", Nb201Arch, NB201_NODE_OPS, _NODES, nb201_dag)
