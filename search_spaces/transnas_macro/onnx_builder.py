"""Direct ONNX construction of the macro networks: the exported graph, without running the exporter.

Exporting one of these networks with torch takes ~0.5-1 s; this writes, node for node, what
``torch.onnx.export`` produces for :class:`~search_spaces.transnas_macro.model.TransnasMacroNetwork`
(BatchNorm folded into the preceding conv, which then has a bias; node names scoped like the
exporter's, so :func:`nasrlm.text.onnx_text.canonicalize` folds each basic block into a local
function). A test asserts identical canonical text to the exported module's for every block variant.
"""

from __future__ import annotations

from collections.abc import Sequence

import onnx
from onnx import TensorProto, helper

from nasrlm.text.onnx_text import DEFAULT_OPSET

from ..onnx_graph import GraphBuilder
from .costs import BASE_CHANNELS, BLOCKS_PER_MODULE, NUM_CLASSES, RESOLUTION, STEM_CHANNELS, blocks, has_projection

BLOCK_FUNCTION = "BasicBlock"  # named after the module class, as for an exported network
_IR_VERSION = 8  # what torch's TorchScript exporter writes


class _Graph(GraphBuilder):
    """The builder, with this space's layers."""

    def conv(self, x: str, c_in: int, c_out: int, kernel: int, stride: int, scope: str) -> str:
        """A conv with its BatchNorm folded in (hence the bias)."""
        pad = kernel // 2
        return self.add(
            "Conv",
            [x, self.weight(c_out, c_in, kernel, kernel), self.weight(c_out)],
            scope,
            dilations=[1, 1],
            group=1,
            kernel_shape=[kernel, kernel],
            pads=[pad] * 4,
            strides=[stride, stride],
        )


def block_scopes(num_modules: int) -> dict[str, str]:
    """Node-name prefix of each basic block (``layers.i.j``) -> the local function's name."""
    return {
        f"/layers/layers.{i}/layers.{i}.{j}/": BLOCK_FUNCTION
        for i in range(num_modules)
        for j in range(BLOCKS_PER_MODULE)
    }


def build_onnx(
    modules: Sequence[int], num_classes: int = NUM_CLASSES, resolution: int = RESOLUTION, batch_size: int = 1
) -> onnx.ModelProto:
    """The flat ONNX model that exporting the network gives, with the exporter's node scopes."""
    g = _Graph()
    h = g.conv("input", 3, STEM_CHANNELS, 3, 2, "/stem/stem.0/")
    h = g.conv(g.add("Relu", [h], "/stem/stem.2/"), STEM_CHANNELS, BASE_CHANNELS, 3, 2, "/stem/stem.2/")
    c = BASE_CHANNELS
    for k, (c_in, c_out, stride) in enumerate(blocks(modules)):
        scope = f"/layers/layers.{k // BLOCKS_PER_MODULE}/layers.{k // BLOCKS_PER_MODULE}.{k % BLOCKS_PER_MODULE}/"
        a = g.conv(g.add("Relu", [h], scope), c_in, c_out, 3, stride, scope)
        b = g.conv(g.add("Relu", [a], scope), c_out, c_out, 3, 1, scope)
        residual = g.conv(h, c_in, c_out, 1, stride, scope) if has_projection(c_in, c_out, stride) else h
        h, c = g.add("Add", [residual, b], scope), c_out
    h = g.add("Flatten", [g.add("GlobalAveragePool", [h], "/avgpool/")], "/", axis=1)
    g.add("Gemm", [h, g.weight(num_classes, c), g.weight(num_classes)], "/head/", alpha=1.0, beta=1.0, transB=1)
    graph = helper.make_graph(
        g.nodes,
        "main_graph",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch_size, 3, resolution, resolution])],
        [helper.make_tensor_value_info(g.nodes[-1].output[0], TensorProto.FLOAT, [batch_size, num_classes])],
        initializer=g.weights,
    )
    return helper.make_model(graph, ir_version=_IR_VERSION, opset_imports=[helper.make_opsetid("", DEFAULT_OPSET)])


def onnx_text(modules: Sequence[int]) -> str:
    """The canonical ONNX text (basic blocks as local functions) of one network."""
    from onnx import printer

    from nasrlm.text.onnx_text import canonicalize

    return printer.to_text(canonicalize(build_onnx(modules), block_scopes(len(modules))))
