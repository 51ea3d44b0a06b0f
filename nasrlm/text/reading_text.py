"""The compact reading form of canonical ONNX text: the whole network in a few hundred tokens.

Canonical ONNX text (``nasrlm.text.onnx_text``) is exact and parses back, but much of it is not
architecture: a signature declaring every weight (``float[16,16,3,3] w7``, 78 of them for a
NAS-Bench-201 network), and attributes restating ONNX defaults (``dilations``, ``group``,
``strides`` of 1, zero ``pads``). A model that reads a budget of tokens spends it there: the v3
default reads the last 128 tokens of texts that take 315 (NB201, median) to 559 (a CNN family of
``experiments/bench_own_space.py``); in this form, with a BPE learned on it, they take 247 and 238.

The reading form keeps every node, its op, its inputs and outputs, the attributes that differ from
ONNX defaults, and each weight as its shape where it is used; local functions stay folded (one
definition per repeated block). Nothing that changes what the network computes or costs is
dropped, and identical networks still give identical text; weight names and redundant attributes
go. It is one way to read a network, not a file format: it does not parse back.

    net(x[1,3,32,32]) -> y[1,10]
    t0 = Conv<kernel_shape=[3,3] pads=[1,1,1,1]>(x, [16,3,3,3], [16])
    t1 = Nb201Cell(t0, [16,16,3,3], [16], [16,16,1,1], [16])
    ...
    Nb201Cell(x0, x1, x2, x3, x4) -> y0
    t0 = AveragePool<kernel_shape=[3,3] pads=[1,1,1,1]>(x0)
"""

from __future__ import annotations

import onnx
from onnx import helper

from nasrlm.text.onnx_text import parse_text

__all__ = ["is_reading_text", "reading_text"]

HEADER = "net("  # every reading text starts here; ONNX text starts with "<"

# List attributes whose neutral value ONNX implies when they are absent ("1 along each axis", "no padding").
_NEUTRAL_LISTS = {"dilations": 1, "strides": 1, "pads": 0, "output_padding": 0}


def is_reading_text(text: str) -> bool:
    """Whether ``text`` is already in the reading form (so converting it again is a no-op)."""
    return text.startswith(HEADER)


def reading_text(source: str | onnx.ModelProto) -> str:
    """The reading form of a network given as canonical ONNX text or a ``ModelProto``.

    Text already in the reading form comes back unchanged.
    """
    if isinstance(source, str):
        if is_reading_text(source):
            return source
        source = parse_text(source, check=False)
    graph = source.graph
    shapes = {v.name: _shape(v.type) for v in graph.input}
    data_inputs = [v.name for v in graph.input if not _is_weight_name(v.name)]
    lines = [
        f"net({', '.join(f'{n}{shapes[n]}' for n in data_inputs)}) -> "
        + ", ".join(f"{o.name}{_shape(o.type)}" for o in graph.output)
    ]
    lines += [_node_line(node, shapes) for node in graph.node]
    for function in source.functions:
        lines.append(f"{function.name}({', '.join(function.input)}) -> {', '.join(function.output)}")
        lines += [_node_line(node, {}) for node in function.node]
    return "\n".join(lines)


def _is_weight_name(name: str) -> bool:
    return name.startswith("w") and name[1:].isdigit()


def _shape(value_type: onnx.TypeProto) -> str:
    if not value_type.HasField("tensor_type") or not value_type.tensor_type.HasField("shape"):
        return ""
    dims = [
        str(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?") for d in value_type.tensor_type.shape.dim
    ]
    return f"[{','.join(dims)}]"


def _node_line(node: onnx.NodeProto, shapes: dict[str, str]) -> str:
    inputs = ", ".join(shapes[i] if _is_weight_name(i) and i in shapes else i for i in node.input)
    attributes = _attributes(node)
    outputs = ", ".join(node.output)
    return f"{outputs} = {node.op_type}{f'<{attributes}>' if attributes else ''}({inputs})"


def _attributes(node: onnx.NodeProto) -> str:
    defaults = _schema_defaults(node)
    kept = []
    for attribute in node.attribute:
        value = helper.get_attribute_value(attribute)
        if attribute.name in defaults and defaults[attribute.name] == value:
            continue
        neutral = _NEUTRAL_LISTS.get(attribute.name)
        if neutral is not None and isinstance(value, list) and all(v == neutral for v in value):
            continue
        kept.append(f"{attribute.name}={_value(value)}")
    return " ".join(kept)


def _schema_defaults(node: onnx.NodeProto) -> dict[str, object]:
    if node.domain not in ("", "ai.onnx"):
        return {}
    try:
        schema = onnx.defs.get_schema(node.op_type, domain="")
    except onnx.defs.SchemaError:
        return {}
    defaults = {}
    for name, attribute in schema.attributes.items():
        if attribute.default_value is not None and attribute.default_value.name:
            defaults[name] = helper.get_attribute_value(attribute.default_value)
    return defaults


def _value(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "[" + ",".join(_value(v) for v in value) + "]"
    if isinstance(value, onnx.TensorProto):
        array = onnx.numpy_helper.to_array(value)
        if array.size <= 8:
            return f"{array.dtype.name}{list(array.shape)}{array.ravel().tolist()}"
        return f"{array.dtype.name}{list(array.shape)}"
    return str(value)
