"""What every space's direct ONNX builder starts from: a graph that accumulates nodes and weights.

Exporting a network with torch takes 0.1-4 s; text for thousands of architectures needs the graph
written directly, node for node as the exporter would (each space's ``onnx_builder.py``, tested
against the exporter's text). Weights are initializers with dims only: the text never needs values.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import onnx
from onnx import TensorProto, helper

__all__ = ["GraphBuilder"]


@functools.cache
def _template(op: str, attributes: tuple[tuple[str, Any], ...]) -> onnx.NodeProto:
    """A node without inputs or outputs, made once per op and attributes (``make_node`` is the slow part)."""
    node = helper.make_node(op, [], [])
    node.attribute.extend(helper.make_attribute(name, list(v) if isinstance(v, tuple) else v) for name, v in attributes)
    return node


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


class GraphBuilder:
    """Nodes (outputs ``v0``, ``v1``, ...) and weights (``p0``, ``p1``, ...) in the order they are added."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.weights: list[TensorProto] = []

    def weight(self, *dims: int) -> str:
        """A new float weight of shape ``dims``; its name."""
        tensor = TensorProto(name=f"p{len(self.weights)}", data_type=TensorProto.FLOAT)
        tensor.dims.extend(dims)
        self.weights.append(tensor)
        return tensor.name

    def add(self, op: str, inputs: Sequence[str], scope: str = "/", **attributes: Any) -> str:
        """Append an ``op`` node reading ``inputs`` (attributes as ``helper.make_node`` takes them, sorted
        by name, None left out); its output's name. ``scope`` prefixes the node's name, as the
        exporter's module path does (what folds nodes into local functions)."""
        out = f"v{len(self.nodes)}"
        name = f"{scope}{op}_{len(self.nodes)}"
        kept = tuple(sorted((key, _hashable(value)) for key, value in attributes.items() if value is not None))
        try:
            template = _template(op, kept)
        except TypeError:  # an unhashable attribute (a tensor): made directly
            self.nodes.append(helper.make_node(op, list(inputs), [out], name=name, **attributes))
            return out
        node = onnx.NodeProto()
        node.CopyFrom(template)
        node.input.extend(inputs)
        node.output.append(out)
        node.name = name
        self.nodes.append(node)
        return out

    def producer(self, value: str) -> str | None:
        """Op type of the node that outputs ``value`` (None for graph inputs)."""
        return next((n.op_type for n in self.nodes if value in n.output), None)
