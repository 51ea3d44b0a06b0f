"""An OFA-MobileNetV3 subnet as the DAG that graph predictors read (the space's ``graph_spec`` hook).

The network is a chain, so the DAG is one: an input node, a resolution node (op ``r<pixels>``, one
per input size: resolution drives latency quadratically, too much to bucket), one node per layer
the network runs (op ``s<stage>_k<kernel>_e<expand>``), an output node. A layer's op names its stage
as well as its kernel and expand ratio: the stage fixes its channels, stride, activation and
squeeze-excite, so a k7_e6 layer at 192 channels with SE is not the op of a k7_e6 layer at 32, and
depths are read from where the stage changes. 2 + 20 nodes at most (5 stages x 4 layers), so
``max_nodes`` is 23; the fixed parts (first conv and block, head) are the same in every subnet and
have no node.
"""

from __future__ import annotations

import functools

import numpy as np

from ..base import INPUT_OP, OUTPUT_OP, CellDag, DagSpec
from .arch import EXPANDS, KERNELS, NUM_SLOTS, NUM_STAGES, RESOLUTIONS, OfaMbv3Arch

__all__ = ["OFA_DAG_SPEC", "OFA_NODE_OPS", "ofa_dag"]

RESOLUTION_OPS: tuple[str, ...] = tuple(f"r{r}" for r in RESOLUTIONS)
LAYER_OPS: tuple[str, ...] = tuple(f"s{s}_k{k}_e{e}" for s in range(NUM_STAGES) for k in KERNELS for e in EXPANDS)
OFA_NODE_OPS: tuple[str, ...] = (INPUT_OP, *RESOLUTION_OPS, *LAYER_OPS, OUTPUT_OP)
_OP_INDEX = {op: i for i, op in enumerate(OFA_NODE_OPS)}
MAX_NODES = 3 + NUM_SLOTS  # input, resolution, up to 20 layers, output


@functools.cache
def _chain(n: int) -> np.ndarray:
    adjacency = np.eye(n, k=1, dtype=np.float32)
    adjacency.setflags(write=False)
    return adjacency


def ofa_dag(arch: OfaMbv3Arch) -> CellDag:
    """input -> r<pixels> -> every layer the subnet runs, in order -> output."""
    ops = (
        _OP_INDEX[INPUT_OP],
        _OP_INDEX[f"r{arch.r}"],
        *(_OP_INDEX[f"s{s}_k{k}_e{e}"] for s, k, e in arch.layers()),
        _OP_INDEX[OUTPUT_OP],
    )
    return CellDag(ops=ops, adjacency=_chain(len(ops)))


OFA_DAG_SPEC = DagSpec("ofa_mbv3", OfaMbv3Arch, OFA_NODE_OPS, MAX_NODES, ofa_dag)
