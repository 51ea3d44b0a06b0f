"""Direct ONNX construction of NB101 networks: the exported graph, without running the exporter.

Exporting one NB101 network with torch takes 1-4 s here; this module writes, node for node, the
graph ``torch.onnx.export`` produces for :class:`~search_spaces.nb101.model.Nb101Network` (BatchNorm
folded into each conv, so a conv-BN-ReLU is Conv + Relu; a channel truncation is a Slice fed by four
int64 Constants; TorchScript's common-subexpression pass merging identical non-conv nodes, e.g. two
truncations of one vertex to the same width or two max-pools of one tensor). Both go through
:func:`nasrlm.text.onnx_text.canonicalize` with the cells as local functions, and a test asserts
identical text on cells covering every op, every pruning case, truncation and the input-output edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import onnx
from onnx import TensorProto, helper

from nasrlm.text.onnx_text import DEFAULT_OPSET

from ..onnx_graph import GraphBuilder
from .arch import Nb101Arch
from .costs import CELLS_PER_STACK, INPUT_SHAPE, NUM_CLASSES, NUM_STACKS, STEM_CHANNELS, vertex_channels

__all__ = ["CELL_FUNCTION", "build_onnx", "cell_scopes"]

CELL_FUNCTION = "Nb101Cell"  # named after the module class, as for an exported network
_IR_VERSION = 8  # what torch's TorchScript exporter writes
_KERNEL = {"conv3x3-bn-relu": 3, "conv1x1-bn-relu": 1}


class _Graph(GraphBuilder):
    """The builder, with NB101's layers; repeated non-conv nodes merged as TorchScript's CSE does."""

    def __init__(self) -> None:
        super().__init__()
        # Non-conv nodes already emitted, by (op, inputs, attributes): TorchScript's CSE merges repeats.
        self._seen: dict[tuple[Any, ...], str] = {}

    def merged(self, op: str, inputs: Sequence[str], scope: str, **attributes: Any) -> str:
        """``add``, or the output of an identical node emitted before (never for convs: own weights)."""
        key = (op, *inputs, repr(sorted(attributes.items())))
        if key not in self._seen:
            self._seen[key] = self.add(op, inputs, scope, **attributes)
        return self._seen[key]

    def conv_bn_relu(self, x: str, c_in: int, c_out: int, kernel: int, scope: str) -> str:
        pad = kernel // 2
        conv = self.add(
            "Conv",
            [x, self.weight(c_out, c_in, kernel, kernel), self.weight(c_out)],
            scope,
            dilations=[1, 1],
            group=1,
            kernel_shape=[kernel, kernel],
            pads=[pad] * 4,
            strides=[1, 1],
        )
        return self.add("Relu", [conv], scope)

    def max_pool(self, x: str, kernel: int, stride: int, scope: str) -> str:
        pad = (kernel - 1) // 2
        return self.merged(
            "MaxPool",
            [x],
            scope,
            ceil_mode=0,
            dilations=[1, 1],
            kernel_shape=[kernel, kernel],
            pads=[pad] * 4,
            strides=[stride, stride],
        )

    def truncate(self, x: str, channels: int, scope: str) -> str:
        """``x[:, :channels]``: a Slice whose starts, ends, axes and steps are Constants."""
        key = ("Slice", x, channels)
        if key not in self._seen:
            bounds = [self._constant(value, scope) for value in (0, channels, 1, 1)]
            self._seen[key] = self.add("Slice", [x, *bounds], scope)
        return self._seen[key]

    def _constant(self, value: int, scope: str) -> str:
        return self.add("Constant", [], scope, value=helper.make_tensor("", TensorProto.INT64, [1], [value]))


def _add_cell(g: _Graph, arch: Nb101Arch, x: str, c_in: int, c_out: int, scope: str) -> str:
    """One cell's nodes in the order :class:`~.model.Nb101Cell` runs them; returns the cell output."""
    matrix = arch.adjacency()
    n = arch.num_vertices
    channels = vertex_channels(c_in, c_out, matrix)
    values = [x]
    concat = []
    for t in range(1, n - 1):
        terms = [
            values[src] if channels[src] == channels[t] else g.truncate(values[src], channels[t], scope)
            for src in range(1, t)
            if matrix[src, t]
        ]
        if matrix[0, t]:
            terms.append(g.conv_bn_relu(x, c_in, channels[t], 1, scope))
        total = terms[0]
        for term in terms[1:]:
            total = g.merged("Add", [total, term], scope)
        op = arch.ops[t]
        if op in _KERNEL:
            values.append(g.conv_bn_relu(total, channels[t], channels[t], _KERNEL[op], scope))
        else:
            values.append(g.max_pool(total, 3, 1, scope))
        if matrix[t, n - 1]:
            concat.append(values[t])
    if not concat:
        return g.conv_bn_relu(x, c_in, c_out, 1, scope)
    out = concat[0] if len(concat) == 1 else g.merged("Concat", concat, scope, axis=1)
    if matrix[0, n - 1]:
        out = g.add("Add", [out, g.conv_bn_relu(x, c_in, c_out, 1, scope)], scope)
    return out


def _cell_positions() -> list[int]:
    """Positions of the cells in the network's ``cells`` Sequential (the 2x2 pools sit between stacks)."""
    per_stack = CELLS_PER_STACK + 1
    return [k for k in range(NUM_STACKS * per_stack - 1) if k % per_stack != CELLS_PER_STACK]


def cell_scopes() -> dict[str, str]:
    """Node-name prefixes of the cells (``/cells/cells.<k>/``) -> function name."""
    return {f"/cells/cells.{k}/": CELL_FUNCTION for k in _cell_positions()}


def build_onnx(arch: Nb101Arch, num_classes: int = NUM_CLASSES, batch_size: int = 1) -> onnx.ModelProto:
    """The flat ONNX model that exporting the NB101 network gives, with the exporter's node scopes."""
    g = _Graph()
    c = STEM_CHANNELS
    h = g.conv_bn_relu("input", INPUT_SHAPE[0], c, 3, "/stem/")
    c_in = c
    k = 0
    for stack in range(NUM_STACKS):
        if stack > 0:
            h = g.max_pool(h, 2, 2, f"/cells/cells.{k}/")
            c, k = 2 * c, k + 1
        for _ in range(CELLS_PER_STACK):
            h = _add_cell(g, arch, h, c_in, c, f"/cells/cells.{k}/")
            c_in, k = c, k + 1
    axes = g.add("Constant", [], "/", value=helper.make_tensor("", TensorProto.INT64, [2], [2, 3]))
    h = g.add("ReduceMean", [h, axes], "/", keepdims=0)
    g.add("Gemm", [h, g.weight(num_classes, c), g.weight(num_classes)], "/classifier/", alpha=1.0, beta=1.0, transB=1)
    graph = helper.make_graph(
        g.nodes,
        "main_graph",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch_size, *INPUT_SHAPE])],
        [helper.make_tensor_value_info(g.nodes[-1].output[0], TensorProto.FLOAT, [batch_size, num_classes])],
        initializer=g.weights,
    )
    return helper.make_model(graph, ir_version=_IR_VERSION, opset_imports=[helper.make_opsetid("", DEFAULT_OPSET)])
