"""The compact form of canonical ONNX text: every node of a network in a few tokens.

The reading form (:mod:`nasrlm.text.reading_text`) keeps a whole NAS-Bench-201 network within ~250
tokens, but a 22-layer FBNet takes ~670 and an OFA MobileNetV3 ~1,050: each node line spends half its
tokens naming values (``t17 = ...(t16, ...)``) and spelling attributes out. A model that reads every
network of several spaces within one token budget needs less per node. This form writes one line per
node with nothing that can be implied, and nothing that changes what the network computes or costs is
dropped (identical networks give identical text, different ones different text):

- no value names: a node's inputs are the previous line's output (written as nothing when it is the
  first input), ``@d`` for the output of the line ``d`` lines up (``@d.j``: its j-th output), ``x``
  (``x0``, ``x1``, ... if several) for the network's or a function's data inputs;
- weights as their shapes, and a Conv's or Gemm's bias, whose shape its weight implies, as ``+b``;
- short attributes: ``k3`` (kernel 3x3; ``k1x7`` if not square), ``s2`` (strides), ``g24`` (group),
  padding only where it is not the "same" padding of the kernel (``p0``, ``p[0,1,0,1]``), ``d2``
  (dilations); any other attribute as ``name=value`` (ONNX defaults omitted, as the reading form does);
- local functions stay folded, their body after ``def Name(x0, ...)``; a function's or the network's
  output that is not the last line's is named by a final ``-> @d`` line.

    net x[1,3,32,32] -> [1,10]
    Conv k3 [16,3,3,3] +b
    Nb201Cell [16,16,3,3] +b [16,16,1,1] +b
    ...
    def Nb201Cell(x0, x1, x2, x3, x4)
    AveragePool k3 x0

It is one way to read a network, not a file format: it does not parse back.
"""

from __future__ import annotations

import re

import onnx
from onnx import helper

from nasrlm.text.onnx_text import parse_text
from nasrlm.text.reading_text import _schema_defaults, _shape, _value

__all__ = ["COMPACT_HEADER", "compact_text", "is_compact_text"]

COMPACT_HEADER = "net x"  # every compact text starts here
_BIASED = {"Conv": 2, "ConvTranspose": 2, "Gemm": 2}  # op -> position of its bias input
_NEUTRAL_LISTS = {"dilations": 1, "strides": 1, "output_padding": 0}


def is_compact_text(text: str) -> bool:
    """Whether ``text`` is already in the compact form (converting it again is a no-op)."""
    return re.match(r"net x\d*\[", text) is not None


def compact_text(source: str | onnx.ModelProto) -> str:
    """The compact form of a network given as canonical ONNX text or a ``ModelProto``."""
    if isinstance(source, str):
        if is_compact_text(source):
            return source
        source = parse_text(source, check=False)
    graph = source.graph
    initializers = {t.name for t in graph.initializer}
    shapes = {v.name: _shape(v.type) for v in graph.input}
    weights = {name for name in shapes if name in initializers or _is_weight_name(name)}
    data = [v.name for v in graph.input if v.name not in weights]
    names = {name: ("x" if len(data) == 1 else f"x{i}") for i, name in enumerate(data)}
    header = f"net {', '.join(names[n] + shapes[n] for n in data)} -> " + ", ".join(
        _shape(o.type) for o in graph.output
    )
    lines = [header, *_body(list(graph.node), names, {n: shapes[n] for n in weights}, [o.name for o in graph.output])]
    for function in source.functions:
        local = {name: f"x{i}" for i, name in enumerate(function.input)}
        lines.append(f"def {function.name}({', '.join(local.values())})")
        lines += _body(list(function.node), local, {}, list(function.output))
    return "\n".join(lines)


def _is_weight_name(name: str) -> bool:
    return name.startswith("w") and name[1:].isdigit()


def _body(nodes: list[onnx.NodeProto], inputs: dict[str, str], weights: dict[str, str], outputs: list[str]) -> list:
    """One line per node, inputs by relative position; then ``-> @d`` for outputs not on the last line."""
    produced: dict[str, tuple[int, int]] = {}  # value -> (line, output position)
    lines = []
    for k, node in enumerate(nodes):
        refs = []
        for position, value in enumerate(node.input):
            if value == "":
                refs.append("_")
            elif value in weights:
                bias = _BIASED.get(node.op_type) == position
                refs.append("+b" if bias else weights[value])
            elif value in inputs:
                refs.append(inputs[value])
            elif value in produced:
                line, j = produced[value]
                if position == 0 and line == k - 1 and j == 0:
                    continue  # the chain: the previous line's output
                refs.append(f"@{k - line}" + (f".{j}" if j else ""))
            else:  # a value from outside (a function body's weight passed in): keep its name
                refs.append(value)
        for j, value in enumerate(node.output):
            produced[value] = (k, j)
        attributes = _attributes(node)
        lines.append(" ".join([node.op_type, *attributes, *refs]))
    last = len(nodes) - 1
    for value in outputs:
        if value in produced and produced[value] == (last, 0) and len(outputs) == 1:
            continue
        if value in produced:
            line, j = produced[value]
            lines.append(f"-> @{len(nodes) - line}" + (f".{j}" if j else ""))
        else:
            lines.append(f"-> {inputs.get(value, value)}")
    return lines


def _attributes(node: onnx.NodeProto) -> list[str]:
    defaults = _schema_defaults(node)
    values = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    kernel = values.get("kernel_shape")
    out = []
    for name, value in values.items():
        if name in defaults and defaults[name] == value:
            continue
        neutral = _NEUTRAL_LISTS.get(name)
        if neutral is not None and isinstance(value, list) and all(v == neutral for v in value):
            continue
        if name == "kernel_shape":
            out.append("k" + _square(value))
        elif name == "strides":
            out.append("s" + _square(value))
        elif name == "dilations":
            out.append("d" + _square(value))
        elif name == "group":
            out.append(f"g{value}")
        elif name == "pads":
            if isinstance(kernel, list) and value == [k // 2 for k in kernel] * 2:
                continue  # "same" padding of the kernel: implied
            uniform = isinstance(value, list) and len(set(value)) == 1
            out.append(f"p{value[0]}" if uniform else f"p{_value(value)}")
        else:
            out.append(f"{name}={_value(value)}")
    if "pads" not in values and isinstance(kernel, list) and any(k > 1 for k in kernel):
        out.append("p0")  # no padding where the kernel's "same" padding would be implied
    return out


def _square(value: object) -> str:
    if isinstance(value, list) and value and len(set(value)) == 1:
        return str(value[0])
    if isinstance(value, list):
        return "x".join(str(v) for v in value)
    return str(value)
