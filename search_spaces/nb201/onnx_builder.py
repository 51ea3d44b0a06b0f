"""Direct ONNX construction of NB201 networks: the exported graph, without running the exporter.

Exporting a module with torch takes ~50-300 ms; text for all 15,625 architectures would take most
of an hour. This module writes, node for node, the graph that ``torch.onnx.export`` produces for
:class:`~search_spaces.nb201.model.Nb201Network` with cells as local functions (including what the
TorchScript passes do to it: BatchNorm folded into convs, one ReLU shared by the convs that read the
same node, dead nodes dropped). Both go through :func:`nasrlm.text.onnx_text.canonicalize`, and a test
asserts identical text on architectures covering every op and every dead-node pattern.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import onnx
from onnx import TensorProto, helper

from nasrlm.text.onnx_text import DEFAULT_OPSET

from ..onnx_graph import GraphBuilder
from .arch import EDGES
from .costs import CELLS_PER_STAGE, STEM_CHANNELS

CELL_FUNCTION = "Nb201Cell"  # named after the module class, as for an exported network
_IR_VERSION = 8  # what torch's TorchScript exporter writes


def _conv_attrs(kernel: int, stride: int) -> dict[str, object]:
    pad = kernel // 2
    return {
        "dilations": [1, 1],
        "group": 1,
        "kernel_shape": [kernel, kernel],
        "pads": [pad] * 4,
        "strides": [stride, stride],
    }


def cell_edges(ops: Sequence[str], keep_dead: bool) -> list[tuple[int, int, str]]:
    """Non-``none`` edges; without ``keep_dead`` only those that reach the cell output (as exported)."""
    edges = [(dst, src, op) for (dst, src), op in zip(EDGES, ops, strict=True) if op != "none"]
    if keep_dead:
        return edges
    live_nodes = {3}
    for dst, src, _ in sorted(edges, reverse=True):  # later nodes first
        if dst in live_nodes:
            live_nodes.add(src)
    return [(dst, src, op) for dst, src, op in edges if dst in live_nodes]


def _add_cell(
    g: GraphBuilder, ops: Sequence[str], x: str, channels: int, scope: str, keep_dead: bool, merge_identical: bool
) -> str:
    """Emit one cell's nodes; returns the cell output.

    ``keep_dead`` also emits the ops whose result never reaches the cell output: the network runs
    them (and the benchmarks timed them), though the exporter drops them. ``merge_identical``
    merges identical ops on identical inputs, as the exporter does; the network itself runs each
    edge's op, and hardware pays for each (see :func:`build_onnx`).
    """
    edges = cell_edges(ops, keep_dead)
    # TorchScript's common-subexpression pass merges identical ops on identical inputs: the ReLU in
    # front of several convs, two pools of one node, the zero of two empty nodes, x + x twice.
    # Convs never merge: each has its own weights.
    seen: dict[tuple[str, ...], str] = {}

    def emit(op: str, inputs: list[str], **attributes: Any) -> str:
        key = (op, *inputs, repr(sorted(attributes.items())))
        if op == "Conv" or not merge_identical or key not in seen:
            seen[key] = g.add(op, inputs, scope, **attributes)
        return seen[key]

    values = {0: x}
    for node in (1, 2, 3):
        terms = []
        for dst, src, op in edges:
            if dst != node:
                continue
            value = values[src]
            if op == "skip_connect":
                terms.append(value)
            elif op == "avg_pool_3x3":
                terms.append(
                    emit(
                        "AveragePool",
                        [value],
                        ceil_mode=0,
                        count_include_pad=0,
                        kernel_shape=[3, 3],
                        pads=[1, 1, 1, 1],
                        strides=[1, 1],
                    )
                )
            else:
                kernel = 3 if op == "nor_conv_3x3" else 1
                conv_inputs = [
                    emit("Relu", [value]),
                    g.weight(channels, channels, kernel, kernel),
                    g.weight(channels),
                ]
                terms.append(emit("Conv", conv_inputs, **_conv_attrs(kernel, 1)))
        if not terms:
            if node != 3 and not any(src == node for _, src, _ in edges):
                continue
            zero = emit("Constant", [], value=helper.make_tensor("", TensorProto.FLOAT, [], [0.0]))
            terms.append(emit("Mul", [x, zero]))
        total = terms[0]
        for term in terms[1:]:
            total = emit("Add", [total, term])
        values[node] = total
    return values[3]


def cell_scopes() -> dict[str, str]:
    """Node-name prefixes of the cells (``cells.k`` for k not a reduction block) -> function name."""
    per_stage = CELLS_PER_STAGE + 1
    return {f"/cells/cells.{k}/": CELL_FUNCTION for k in range(3 * per_stage - 1) if k % per_stage != CELLS_PER_STAGE}


def build_onnx(
    ops: Sequence[str],
    num_classes: int = 10,
    resolution: int = 32,
    *,
    keep_dead: bool = False,
    merge_identical: bool = True,
) -> onnx.ModelProto:
    """The flat ONNX model that exporting the NB201 network gives, with the exporter's node scopes.

    ``keep_dead``: also the computation that does not reach the output; ``merge_identical=False``:
    each edge's own ReLU and pool, where the exporter keeps one of each per input. Both are what the
    network runs and what the benchmarks timed: on eyeriss, latency is exactly linear in the number
    of 3x3 convs, 1x1 convs and pools over all six edges, and with pools merged and dead edges
    dropped the ops a text shows rank it at Spearman .92 at best (experiments/bound_text_counts.py).
    """
    g = GraphBuilder()
    c = STEM_CHANNELS
    h = g.add("Conv", ["input", g.weight(c, 3, 3, 3), g.weight(c)], "/stem/stem.0/", **_conv_attrs(3, 1))
    k = 0
    for stage in range(3):
        if stage > 0:
            c_out, scope = 2 * c, f"/cells/cells.{k}/"
            shortcut = g.add(
                "AveragePool",
                [h],
                scope,
                ceil_mode=0,
                count_include_pad=1,
                kernel_shape=[2, 2],
                pads=[0, 0, 0, 0],
                strides=[2, 2],
            )
            shortcut = g.add("Conv", [shortcut, g.weight(c_out, c, 1, 1)], scope, **_conv_attrs(1, 1))
            a = g.add(
                "Conv",
                [g.add("Relu", [h], scope), g.weight(c_out, c, 3, 3), g.weight(c_out)],
                scope,
                **_conv_attrs(3, 2),
            )
            b = g.add(
                "Conv",
                [g.add("Relu", [a], scope), g.weight(c_out, c_out, 3, 3), g.weight(c_out)],
                scope,
                **_conv_attrs(3, 1),
            )
            h = g.add("Add", [shortcut, b], scope)
            c, k = c_out, k + 1
        for _ in range(CELLS_PER_STAGE):
            h = _add_cell(g, ops, h, c, f"/cells/cells.{k}/", keep_dead, merge_identical)
            k += 1
    if g.producer(h) != "Conv":  # else the exporter folds this BN into that conv
        h = g.add(
            "BatchNormalization",
            [h, *(g.weight(c) for _ in range(4))],
            "/lastact/",
            epsilon=1e-5,
            momentum=0.9,
            training_mode=0,
        )
    h = g.add("Flatten", [g.add("GlobalAveragePool", [g.add("Relu", [h], "/lastact/")])], axis=1)
    g.add(
        "Gemm",
        [h, g.weight(num_classes, c), g.weight(num_classes)],
        "/classifier/",
        alpha=1.0,
        beta=1.0,
        transB=1,
    )
    graph = helper.make_graph(
        g.nodes,
        "main_graph",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, resolution, resolution])],
        [helper.make_tensor_value_info(g.nodes[-1].output[0], TensorProto.FLOAT, [1, num_classes])],
        initializer=g.weights,
    )
    return helper.make_model(graph, ir_version=_IR_VERSION, opset_imports=[helper.make_opsetid("", DEFAULT_OPSET)])
