"""The NB101 cell as the DAG that graph predictors read (the space's ``graph_spec`` hook).

NB101 already puts ops on vertices, so the DAG is the cell itself: 7 nodes, the input (node 0), the
inner ops, the output (always node 6), edges as in the adjacency matrix. A pruned cell with fewer
than 7 vertices keeps its inner ops in nodes 1, 2, ... and its output in node 6; the nodes between
are padding: op ``-1``, no edges, so :func:`baselines.encoding.encode_dags` masks them (the padding
convention of its ``DagBatch``) and the GNNs ignore them. Keeping the output at node 6 lines the
flat encoding (one-hot per node + the 21 upper-triangle bits) up with the 7x7 form that NB101's
predictor papers use and with the Optuna edge parameters.
"""

from __future__ import annotations

import numpy as np

from ..base import INPUT_OP, OUTPUT_OP, CellDag, DagSpec
from .arch import INNER_OPS, MAX_VERTICES, Nb101Arch

__all__ = ["NB101_DAG_SPEC", "NB101_NODE_OPS", "PAD_OP", "nb101_dag"]

NB101_NODE_OPS: tuple[str, ...] = (INPUT_OP, *INNER_OPS, OUTPUT_OP)
PAD_OP = -1  # a padding node: encode_dags masks nodes whose op is negative


def nb101_dag(arch: Nb101Arch) -> CellDag:
    """The cell as 7 nodes, padding nodes just before the output (see the module docstring)."""
    n = arch.num_vertices
    slots = [*range(n - 1), MAX_VERTICES - 1]
    adjacency = np.zeros((MAX_VERTICES, MAX_VERTICES), dtype=np.float32)
    adjacency[np.ix_(slots, slots)] = arch.adjacency()
    ops = [PAD_OP] * MAX_VERTICES
    for vertex, slot in enumerate(slots):
        ops[slot] = NB101_NODE_OPS.index(arch.ops[vertex])  # the cell's "input"/"output" are INPUT_OP/OUTPUT_OP
    return CellDag(ops=tuple(ops), adjacency=adjacency)


NB101_DAG_SPEC = DagSpec("nb101", Nb101Arch, NB101_NODE_OPS, MAX_VERTICES, nb101_dag)
