"""What a network costs, read statically off its ONNX graph, and the ``costed`` text form that states it.

A model that reads a network as windows of tokens, each encoded alone, cannot add up what the whole
network computes: in canonical ONNX text a Conv line names its weight (``w17``) while the weight's
shape sits in the signature, windows away, and nothing near the line says the spatial size that
earlier strides left. Yet multiply-accumulates alone rank a CNN family's onnxruntime latency at
Spearman .97 (``experiments/bench_own_space.py``). The ``costed`` form puts these totals where every
reader sees them, as one line after the text:

    ...
       y0 = Add (x0, t0)
    }
    costs: macs 10^7.72, params 10^5.23, activations 10^5.47

After, not before: windows are counted from a text's end (``nasrlm.rlm.model.encode_in_windows``), so
the line is always whole, at the same positions of the last window, and a model that reads only a
text's tail reads it too. Before the text it fell across two windows in a third of a CNN family's
texts, at a different cut in each, and a model pretrained 31 minutes on it did not learn to use it
(its predictions barely changed when every text was given one network's line).

They are a function of the text (ONNX shape inference over the graph with its local functions
inlined), so nothing is added that the network does not say; no measured or benchmark value is.
Each number is written as a power of ten to two decimals (``10^7.72``: a 4.7 % grid). A tokenizer
given :data:`VALUE_TOKENS` (``TextTokenizer.with_added_tokens``) reads each as one token, which the
encoder embeds on a line through embedding space by its exponent (``EncoderConfig.value_tokens``), so
a model reads a magnitude from one state; as BPE pieces of numerals it did not learn to
(``experiments/results/screen_costed.txt``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import inliner, shape_inference

from nasrlm.text.onnx_text import parse_text

__all__ = [
    "COSTS_HEADER",
    "VALUE_TOKENS",
    "GraphCosts",
    "costed_text",
    "graph_costs",
    "is_costed_text",
    "op_census",
    "value_token",
]

COSTS_HEADER = "costs: "  # the last line of every costed text starts here
# 10^0.00, 10^0.02, ..., 10^11.98: every exponent the costs line can state, in steps of 0.02.
_VALUE_STEPS_PER_DECADE = 50
VALUE_TOKENS = tuple(f"10^{k // _VALUE_STEPS_PER_DECADE}.{k % _VALUE_STEPS_PER_DECADE * 2:02d}" for k in range(600))
_WEIGHT_NAME = re.compile(r"w\d+$")  # canonical ONNX text passes weights as inputs w0, w1, ...
_FLOAT_TYPES = frozenset(
    {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16, onnx.TensorProto.DOUBLE}
)


@dataclass(frozen=True)
class GraphCosts:
    """Totals over every node the graph runs (local functions counted at each call)."""

    macs: int  # multiply-accumulates of Conv, ConvTranspose, Gemm and MatMul
    params: int  # elements of the learned tensors (float weights of rank >= 1)
    activations: int  # elements every node writes: the memory traffic that MACs miss


def is_costed_text(text: str) -> bool:
    """Whether ``text`` is already in the costed form (converting it again is a no-op)."""
    return text.rpartition("\n")[2].startswith(COSTS_HEADER)


def costed_text(text: str) -> str:
    """Canonical ONNX ``text`` with its :func:`graph_costs` stated on a last line."""
    if is_costed_text(text):
        return text
    if not text.lstrip().startswith("<"):
        raise ValueError(f"the costed form is made from canonical ONNX text (nasrlm.text.onnx_text); got {text[:40]!r}")
    costs = graph_costs(parse_text(text, check=False))
    numbers = ", ".join(f"{name} {value_token(getattr(costs, name))}" for name in ("macs", "params", "activations"))
    return f"{text.rstrip()}\n{COSTS_HEADER}{numbers}"


def value_token(value: float) -> str:
    """``10^7.72`` for 52,680,912: the nearest of :data:`VALUE_TOKENS` (0 and 1 give ``10^0.00``)."""
    step = round(math.log10(value) * _VALUE_STEPS_PER_DECADE) if value > 1 else 0
    return VALUE_TOKENS[min(max(step, 0), len(VALUE_TOKENS) - 1)]


def graph_costs(model: onnx.ModelProto) -> GraphCosts:
    """MACs, parameters and activation elements of ``model``, from its shapes (batch as given)."""
    if model.functions:
        model = inliner.inline_local_functions(model)
    model = shape_inference.infer_shapes(model)
    graph = model.graph
    shapes: dict[str, list[int]] = {}
    for value in [*graph.input, *graph.value_info, *graph.output]:
        shape = _shape(value.type)
        if shape is not None:
            shapes[value.name] = shape
    for tensor in graph.initializer:
        shapes[tensor.name] = list(tensor.dims)
    learned = [t.name for t in graph.initializer if t.data_type in _FLOAT_TYPES and len(t.dims) > 0]
    learned += [
        v.name
        for v in graph.input
        if _WEIGHT_NAME.match(v.name) and v.type.tensor_type.elem_type in _FLOAT_TYPES and v.name in shapes
    ]
    params = sum(_size(shapes[name]) for name in set(learned))
    macs = sum(_node_macs(node, shapes) for node in graph.node)
    activations = sum(_size(shapes[out]) for node in graph.node for out in node.output if out in shapes)
    return GraphCosts(macs=int(macs), params=int(params), activations=int(activations))


def op_census(text: str) -> dict[str, int]:
    """How many nodes of each kind a network's ONNX text runs (local functions counted at each call).

    A kind is the op type, with its kernel size where it has one and ``grouped`` for a grouped (or
    depthwise) convolution (``Conv 3x3``, ``Conv 5x5 grouped``, ``MaxPool 3x3``, ``Relu``): what a GNN reads
    as node features and sums, and what a few-shot line can weigh (``nasrlm.rlm.line_prior``: on 16
    archs, NAS-Bench-101's accuracy follows its count of 3x3 convolutions, OFA-MobileNetV3's GPU
    latency its depthwise kernels, where MACs say little). A costed text's last line is ignored;
    any text that is not ONNX text has no nodes (an empty census).
    """
    text = text.rpartition("\n")[0] if is_costed_text(text) else text
    if not text.lstrip().startswith("<"):
        return {}
    model = parse_text(text, check=False)
    if model.functions:
        model = inliner.inline_local_functions(model)
    census: dict[str, int] = {}
    for node in model.graph.node:
        kind = node.op_type
        for attribute in node.attribute:
            if attribute.name == "kernel_shape":
                kind += " " + "x".join(str(k) for k in attribute.ints)
        if any(a.name == "group" and a.i > 1 for a in node.attribute):
            kind += " grouped"
        census[kind] = census.get(kind, 0) + 1
    return census


def _shape(value_type: onnx.TypeProto) -> list[int] | None:
    if not value_type.HasField("tensor_type") or not value_type.tensor_type.HasField("shape"):
        return None
    # A symbolic dimension (a batch named "N") counts as 1: costs per example.
    return [d.dim_value if d.HasField("dim_value") else 1 for d in value_type.tensor_type.shape.dim]


def _size(shape: list[int]) -> int:
    return int(np.prod(shape, dtype=np.int64)) if shape else 1


def _node_macs(node: onnx.NodeProto, shapes: dict[str, list[int]]) -> int:
    """Multiply-accumulates of one node; 0 for ops without a weight product or with unknown shapes."""
    inputs = [shapes.get(name) for name in node.input]
    output = shapes.get(node.output[0]) if node.output else None
    if node.op_type == "Conv" and output is not None and len(inputs) > 1 and inputs[1] is not None:
        return _size(output) * _size(inputs[1][1:])  # each output element: Ci/group x kernel products
    if node.op_type == "ConvTranspose" and inputs and inputs[0] is not None and len(inputs) > 1 and inputs[1]:
        return _size(inputs[0]) * _size(inputs[1][1:])  # each input element spreads over Co/group x kernel
    if node.op_type == "Gemm" and output is not None and inputs and inputs[0] is not None:
        trans_a = next((a.i for a in node.attribute if a.name == "transA"), 0)
        return _size(output) * inputs[0][0 if trans_a else -1]
    if node.op_type == "MatMul" and output is not None and inputs and inputs[0] is not None:
        return _size(output) * inputs[0][-1]
    return 0
