"""Direct ONNX construction of OFA-MobileNetV3 subnets: the exported graph, without running the exporter.

Exporting one subnet with torch takes about a second; this module writes, node for node, the graph
that ``torch.onnx.export`` produces for :class:`~search_spaces.ofa_mbv3.model.OfaMbv3Network`
(BatchNorm folded into the convs, as the exporter's constant folding does) in a few milliseconds,
with the exporter's node scopes, so that :func:`nasrlm.text.onnx_text.canonicalize` folds each
MBConv block into an ONNX local function exactly as it does for the exported module. A test
asserts identical text on architectures covering every kernel, expand ratio, depth and several
resolutions.
"""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper

from nasrlm.text.onnx_text import DEFAULT_OPSET

from ..onnx_graph import GraphBuilder
from .arch import OfaMbv3Arch
from .costs import (
    FEATURE_MIX_CHANNELS,
    FINAL_EXPAND_CHANNELS,
    FIRST_CHANNELS,
    NUM_CLASSES,
    STAGES,
    mid_channels,
    se_channels,
)

BLOCK_FUNCTION = "MBConvBlock"  # named after the module class, as for an exported network
_IR_VERSION = 8  # what torch's TorchScript exporter writes
_HSIGMOID_ALPHA = 1.0 / 6.0  # nn.Hardsigmoid exports as HardSigmoid(alpha=1/6, beta=0.5 default)


class _Graph(GraphBuilder):
    """The builder, with OFA's layers."""

    def conv(
        self,
        x: str,
        c_in: int,
        c_out: int,
        kernel: int,
        scope: str,
        stride: int = 1,
        groups: int = 1,
        bias: bool = True,
    ) -> str:
        """A conv; ``bias``: it has one (its own, or a BatchNorm's folded into it)."""
        pad = kernel // 2
        inputs = [x, self.weight(c_out, c_in // groups, kernel, kernel)]
        if bias:
            inputs.append(self.weight(c_out))
        return self.add(
            "Conv",
            inputs,
            scope,
            dilations=(1, 1),
            group=groups,
            kernel_shape=(kernel, kernel),
            pads=(pad,) * 4,
            strides=(stride, stride),
        )

    def act(self, x: str, name: str, scope: str) -> str:
        return self.add("HardSwish" if name == "h_swish" else "Relu", [x], scope)


def _mbconv(
    g: _Graph, x: str, c_in: int, c_out: int, kernel: int, expand: int, stride: int, act: str, se: bool, scope: str
) -> str:
    """One MBConv block (see :class:`~search_spaces.ofa_mbv3.model.MBConvBlock`)."""
    y = x
    mid = c_in
    if expand != 1:
        mid = mid_channels(c_in, expand)
        y = g.act(g.conv(y, c_in, mid, 1, scope), act, scope)
    y = g.act(g.conv(y, mid, mid, kernel, scope, stride=stride, groups=mid), act, scope)
    if se:
        s = se_channels(mid)
        gate = g.add("GlobalAveragePool", [y], scope)
        gate = g.add("Relu", [g.conv(gate, mid, s, 1, scope)], scope)
        gate = g.add("HardSigmoid", [g.conv(gate, s, mid, 1, scope)], scope, alpha=_HSIGMOID_ALPHA)
        y = g.add("Mul", [y, gate], scope)
    y = g.conv(y, mid, c_out, 1, scope)
    if stride == 1 and c_in == c_out:
        y = g.add("Add", [y, x], scope)
    return y


def block_scopes(arch: OfaMbv3Arch) -> dict[str, str]:
    """Node-name prefixes of the MBConv blocks (``blocks.k``) -> function name."""
    return {f"/blocks/blocks.{k}/": BLOCK_FUNCTION for k in range(1 + sum(arch.d))}


def build_onnx(arch: OfaMbv3Arch, batch_size: int = 1, num_classes: int = NUM_CLASSES) -> onnx.ModelProto:
    """The ONNX model that exporting the subnet gives, input ``[batch_size, 3, r, r]``, with the exporter's scopes."""
    g = _Graph()
    c = FIRST_CHANNELS
    h = g.act(g.conv("input", 3, c, 3, "/first_conv/", stride=2), "h_swish", "/first_conv/")
    h = _mbconv(g, h, c, c, 3, 1, 1, "relu", False, "/blocks/blocks.0/")
    k = 1
    for s, stage in enumerate(STAGES):
        for layer, (kernel, expand) in enumerate(arch.stage_layers(s)):
            stride = stage.stride if layer == 0 else 1
            h = _mbconv(g, h, c, stage.channels, kernel, expand, stride, stage.act, stage.se, f"/blocks/blocks.{k}/")
            c, k = stage.channels, k + 1
    h = g.act(g.conv(h, c, FINAL_EXPAND_CHANNELS, 1, "/final_expand/"), "h_swish", "/final_expand/")
    h = g.add("GlobalAveragePool", [h], "/pool/")
    h = g.conv(h, FINAL_EXPAND_CHANNELS, FEATURE_MIX_CHANNELS, 1, "/feature_mix/", bias=False)
    h = g.act(h, "h_swish", "/feature_mix/")
    h = g.add("Flatten", [h], "/", axis=1)
    g.add(
        "Gemm",
        [h, g.weight(num_classes, FEATURE_MIX_CHANNELS), g.weight(num_classes)],
        "/classifier/",
        alpha=1.0,
        beta=1.0,
        transB=1,
    )
    graph = helper.make_graph(
        g.nodes,
        "main_graph",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch_size, 3, arch.r, arch.r])],
        [helper.make_tensor_value_info(g.nodes[-1].output[0], TensorProto.FLOAT, [batch_size, num_classes])],
        initializer=g.weights,
    )
    return helper.make_model(graph, ir_version=_IR_VERSION, opset_imports=[helper.make_opsetid("", DEFAULT_OPSET)])


def onnx_text(arch: OfaMbv3Arch) -> str:
    """The canonical ONNX text of ``arch`` (MBConv blocks as local functions)."""
    from onnx import printer

    from nasrlm.text.onnx_text import canonicalize

    return printer.to_text(canonicalize(build_onnx(arch), block_scopes(arch)))
