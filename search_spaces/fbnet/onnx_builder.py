"""Direct ONNX construction of FBNet networks: the exported graph, without running the exporter.

Exporting one 22-layer network with torch takes 1-2 s, so text for thousands of architectures
cannot come from the exporter. This module writes, node for node, the graph that
``torch.onnx.export`` (TorchScript, opset 18) produces for :class:`~search_spaces.fbnet.model.FbnetNetwork`
in eval mode, as :func:`nasrlm.text.onnx_text.canonicalize` sees it: every BatchNorm folded into the
conv before it (so each conv has a bias), the channel shuffle as Reshape -> Transpose -> Reshape with
constant shapes, the flatten as a Reshape to ``{N, -1}``. A test asserts identical canonical text on
architectures with every op at every kind of position.

Blocks are not folded into ONNX local functions: with 9 ops at 22 positions of 9 different shapes,
few blocks repeat, and a function definition per distinct block made the text longer (e.g. 14,905
instead of 12,852 characters on table arch 0, 18,101 instead of 16,803 on arch 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import onnx
from onnx import TensorProto, helper

from nasrlm.text.onnx_text import DEFAULT_OPSET

from ..onnx_graph import GraphBuilder
from .arch import HEAD_CHANNELS, LAYERS, NUM_CLASSES, RESOLUTION, STEM_CHANNELS, block_spec
from .model import padding_of

__all__ = ["build_onnx"]

_IR_VERSION = 8  # what torch's TorchScript exporter writes


class _Graph(GraphBuilder):
    """The builder, with FBNet's layers (no local functions, so no scopes in node names)."""

    def add(self, op: str, inputs: Sequence[str], scope: str = "", **attributes: Any) -> str:
        return super().add(op, inputs, scope, **attributes)

    def conv(self, x: str, c_in: int, c_out: int, kernel: int, stride: int, pad: int, groups: int) -> str:
        """A conv with its BatchNorm folded in: weight and bias."""
        inputs = [x, self.weight(c_out, c_in // groups, kernel, kernel), self.weight(c_out)]
        return self.add(
            "Conv",
            inputs,
            dilations=[1, 1],
            group=groups,
            kernel_shape=[kernel, kernel],
            pads=[pad] * 4,
            strides=[stride, stride],
        )

    def reshape(self, x: str, shape: Sequence[int]) -> str:
        target = self.add("Constant", [], value=helper.make_tensor("", TensorProto.INT64, [len(shape)], list(shape)))
        return self.add("Reshape", [x, target], allowzero=0)


def _add_layer(g: _Graph, op: str, x: str, c_in: int, c_out: int, stride: int, hw: int, batch: int) -> str:
    """One searchable layer at input resolution ``hw``; returns its output."""
    spec = block_spec(op)
    if spec is None:
        if stride == 1 and c_in == c_out:
            return x  # the identity: no node
        return g.add("Relu", [g.conv(x, c_in, c_out, 1, stride, 0, 1)])
    mid = c_in * spec.expansion
    h = g.add("Relu", [g.conv(x, c_in, mid, 1, 1, 0, spec.groups)])
    if spec.groups > 1:  # ChannelShuffle: view, permute, view (static shapes become constants)
        h = g.reshape(h, [batch, spec.groups, mid // spec.groups, hw, hw])
        h = g.add("Transpose", [h], perm=[0, 2, 1, 3, 4])
        h = g.reshape(h, [batch, mid, hw, hw])
    h = g.add("Relu", [g.conv(h, mid, mid, spec.kernel, stride, padding_of(spec.kernel, stride), mid)])
    h = g.conv(h, mid, c_out, 1, 1, 0, spec.groups)
    if stride == 1 and c_in == c_out:
        h = g.add("Add", [h, x])
    return h


def build_onnx(ops: Sequence[str], batch_size: int = 1, num_classes: int = NUM_CLASSES) -> onnx.ModelProto:
    """The ONNX model that exporting the FBNet network for ``ops`` (22 names, layer 1 first) gives."""
    if len(ops) != len(LAYERS):
        raise ValueError(f"an FBNet network has {len(LAYERS)} layers, got {len(ops)} ops")
    g = _Graph()
    h = g.add("Relu", [g.conv("input", 3, STEM_CHANNELS, 3, 1, 1, 1)])
    for op, layer in zip(ops, LAYERS, strict=True):
        h = _add_layer(g, op, h, layer.c_in, layer.c_out, layer.stride, layer.resolution, batch_size)
    h = g.add("Relu", [g.conv(h, LAYERS[-1].c_out, HEAD_CHANNELS, 1, 1, 0, 1)])
    h = g.reshape(g.add("GlobalAveragePool", [h]), [batch_size, -1])
    g.add(
        "Gemm",
        [h, g.weight(num_classes, HEAD_CHANNELS), g.weight(num_classes)],
        alpha=1.0,
        beta=1.0,
        transB=1,
    )
    graph = helper.make_graph(
        g.nodes,
        "main_graph",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch_size, 3, RESOLUTION, RESOLUTION])],
        [helper.make_tensor_value_info(g.nodes[-1].output[0], TensorProto.FLOAT, [batch_size, num_classes])],
        initializer=g.weights,
    )
    return helper.make_model(graph, ir_version=_IR_VERSION, opset_imports=[helper.make_opsetid("", DEFAULT_OPSET)])


def text_of_ops(ops: Sequence[str]) -> str:
    """The canonical ONNX text of the network (batch 1), as :meth:`FbnetSpace.onnx_text` gives it."""
    from onnx import printer

    from nasrlm.text.onnx_text import canonicalize

    return printer.to_text(canonicalize(build_onnx(ops)))
