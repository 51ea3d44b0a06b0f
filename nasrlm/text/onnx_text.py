"""Canonical ONNX text: how the RLM sees a network.

Any network (a ``torch.nn.Module`` with an example input, an ``onnx.ModelProto`` or an ``.onnx``
file) becomes the text that ``onnx.printer`` prints for its graph, after a canonicalization that
makes the text a function of the architecture alone:

* **no weight values** — every floating-point initializer that is a tensor (rank 1 or more, of any
  size: the bias of a ``Linear(8, 1)`` has one element) becomes a typed graph input
  (``float[16,16,3,3] w3``), so shapes stay visible and values do not; so does a module's
  parameter of rank 0. Other scalars (the 0.5 of ``x * 0.5``) and integer constants (reshape
  targets, axes) are architecture, and keep their values;
* **untied weights** — each use of a weight gets its own input: exporters deduplicate initializers
  whose *values* happen to be equal (e.g. all-zero biases), which would otherwise leak weight values
  into the structure of the text;
* **stable short names** — data inputs ``x``, weights ``w0, w1, ...`` in order of first use,
  intermediate values ``t0, t1, ...`` in node order, outputs ``y``; node names, doc strings,
  metadata and producer fields are dropped; pass-through ``Identity`` nodes are removed;
* **compact repetition** — ONNX local functions (e.g. one definition of a repeated cell, called once
  per cell) are kept, with their own local names and the fixed domain ``local``.

The result parses back with ``onnx.parser`` into a model that passes ``onnx.checker``; identical
networks give identical text.
"""

from __future__ import annotations

import io
import os
import threading
import warnings
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import onnx
from onnx import helper, parser, printer

if TYPE_CHECKING:
    import torch

__all__ = [
    "DEFAULT_OPSET",
    "FUNCTION_DOMAIN",
    "canonicalize",
    "canonicalize_with_weight_map",
    "export_module",
    "parse_text",
    "to_onnx_text",
]

DEFAULT_OPSET = 18
# torch's TorchScript exporter keeps process-wide state while it runs, and ``catch_warnings``
# swaps the process-wide warning filters: two threads exporting at once (an RLM sampler under
# ``study.optimize(n_jobs=2)``) corrupt each other, so exports take turns.
_EXPORT_LOCK = threading.Lock()
FUNCTION_DOMAIN = "local"
_FLOAT_TYPES = {
    onnx.TensorProto.FLOAT,
    onnx.TensorProto.DOUBLE,
    onnx.TensorProto.FLOAT16,
    onnx.TensorProto.BFLOAT16,
}


def export_module(
    module: torch.nn.Module,
    example_input: torch.Tensor | tuple[torch.Tensor, ...],
    *,
    opset: int = DEFAULT_OPSET,
) -> onnx.ModelProto:
    """Export ``module`` in eval mode with torch's TorchScript-based ONNX exporter.

    That exporter folds BatchNorm into the preceding convolution (the graph is the one that runs
    at inference) and names every node after the module that made it (``/cells/cells.3/...``),
    which :func:`canonicalize` uses to fold repeated modules into local functions. Its own
    ``export_modules_as_functions`` is not used: it crashes on some cells (torch 2.13).
    """
    import torch

    args = example_input if isinstance(example_input, tuple) else (example_input,)
    was_training = module.training
    module.eval()
    buffer = io.BytesIO()
    try:
        with _EXPORT_LOCK, warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, args, buffer, dynamo=False, opset_version=opset)  # type: ignore[arg-type]
    finally:
        module.train(was_training)
    return onnx.load_from_string(buffer.getvalue())


def function_scopes(module: torch.nn.Module, classes: Collection[type[torch.nn.Module]]) -> dict[str, str]:
    """Node-name prefix of every submodule of one of ``classes`` -> its class name.

    The TorchScript exporter names a node of submodule ``a.b`` ``/a/a.b/<op>``.
    """
    scopes = {}
    for path, sub in module.named_modules():
        if path and isinstance(sub, tuple(classes)):
            parts = path.split(".")
            scopes["/" + "/".join(".".join(parts[: i + 1]) for i in range(len(parts))) + "/"] = type(sub).__name__
    return scopes


def _load(source: onnx.ModelProto | str | os.PathLike[str] | bytes) -> onnx.ModelProto:
    if isinstance(source, onnx.ModelProto):
        return source
    if isinstance(source, bytes):
        return onnx.load_from_string(source)
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"ONNX file not found: {path}")
    try:
        # Weight values are never needed, so external data files are not read.
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise ValueError(f"{path} is not a readable ONNX model: {exc}") from exc
    # Protobuf reads any bytes that happen to parse, an empty file included, as a model without a
    # graph; printing that would show an empty network as if it were the file's.
    if not model.graph.node and not model.graph.output:
        size = path.stat().st_size
        raise ValueError(f"{path} holds no ONNX graph ({size} bytes); give an .onnx file saved by an exporter")
    return model


class _Renamer:
    """Hands out ``prefix0, prefix1, ...`` names and remembers what each original name became."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.counts: dict[str, int] = {}

    def fresh(self, prefix: str) -> str:
        n = self.counts.get(prefix, 0)
        self.counts[prefix] = n + 1
        return f"{prefix}{n}"

    def assign(self, original: str, new: str) -> str:
        self.names[original] = new
        return new


def _is_weight(tensor: onnx.TensorProto, parameter_names: Collection[str] = ()) -> bool:
    """Whether an initializer holds learned values, which the text must not show.

    By rank, not by size: a one-element tensor is as much a weight as a large one (and an exporter
    cannot tell a parameter's shape [1] from a folded constant's), while a rank-0 float is almost
    always a scalar the code wrote (``x * 0.5``); a rank-0 parameter is known by its name.
    """
    if tensor.data_type not in _FLOAT_TYPES:
        return False
    return len(tensor.dims) > 0 or tensor.name in parameter_names


def _clean_node(
    node: onnx.NodeProto,
    inputs: Iterable[str],
    outputs: Iterable[str],
    name: str = "",
    domain: str | None = None,
) -> onnx.NodeProto:
    """A copy of ``node`` with new inputs/outputs, sorted attributes and no doc strings."""
    new = onnx.NodeProto()
    new.CopyFrom(node)
    new.ClearField("name")
    new.ClearField("doc_string")
    if name:
        new.name = name
    if domain is not None:
        new.domain = domain
    new.input[:] = list(inputs)
    new.output[:] = list(outputs)
    names = [a.name for a in new.attribute]
    if names != sorted(names) or any(a.doc_string for a in new.attribute):
        attributes = sorted(new.attribute, key=lambda a: a.name)
        new.ClearField("attribute")
        for attribute in attributes:
            a = new.attribute.add()
            a.CopyFrom(attribute)
            a.ClearField("doc_string")
    return new


def _normalize_nodes(
    graph: onnx.GraphProto, parameter_names: Collection[str] = ()
) -> tuple[list[onnx.NodeProto], dict[str, onnx.TensorProto]]:
    """Original names kept; Identity nodes removed; weights untied; constants placed before first use.

    Returns the node list and the weights (initializers that become inputs), one entry per use:
    exporters deduplicate initializers with equal *values* (e.g. zero biases), and untying every
    use keeps such value coincidences out of the text. A constant made from an initializer takes
    the name of its first consumer, so it falls in that module's scope when modules are folded.
    """
    initializers = {t.name: t for t in graph.initializer}
    protected = {o.name for o in graph.output}
    alias: dict[str, str] = {}
    constants: dict[str, onnx.NodeProto] = {}
    weights: dict[str, onnx.TensorProto] = {}
    body: list[onnx.NodeProto] = []
    for node in graph.node:
        if node.op_type == "Identity" and not node.domain and node.output[0] not in protected:
            alias[node.output[0]] = alias.get(node.input[0], node.input[0])
        elif node.op_type == "Constant" and not node.domain:
            constants[node.output[0]] = node
        else:
            inputs = []
            for name in node.input:
                name = alias.get(name, name)
                if name in initializers and _is_weight(initializers[name], parameter_names):
                    use = f"{name}#{len(weights)}"  # '#' cannot clash: exporters never emit it
                    weights[use] = initializers[name]
                    name = use
                inputs.append(name)
            body.append(_clean_node(node, inputs, node.output, node.name))
    for name, tensor in initializers.items():
        if not _is_weight(tensor, parameter_names):
            value = onnx.TensorProto()
            value.CopyFrom(tensor)
            value.ClearField("name")  # the exporter's name ("onnx::Reshape_12", "fc.bias"), not architecture
            constants[name] = helper.make_node("Constant", [], [name], value=value)
    result: list[onnx.NodeProto] = []
    placed: set[str] = set()
    for node in body:
        for name in node.input:
            if name in constants and name not in placed:
                placed.add(name)
                result.append(_clean_node(constants[name], [], [name], node.name))
        result.append(node)
    return result, weights


def _fold_functions(
    nodes: list[onnx.NodeProto],
    weights: dict[str, onnx.TensorProto],
    outputs: set[str],
    scopes: dict[str, str],
) -> tuple[list[onnx.NodeProto], list[onnx.FunctionProto]]:
    """Replace each contiguous run of nodes under a scope prefix by a call to a local function.

    Instances whose bodies are identical (after local renaming) share one definition; a class
    whose instances differ gets ``Name``, ``Name_1``, ... Runs that are not contiguous stay inline.
    """
    prefixes = sorted(scopes, key=len)  # outermost scope wins

    def scope_of(node: onnx.NodeProto) -> str | None:
        return next((p for p in prefixes if node.name.startswith(p)), None)

    consumers: dict[str, list[int]] = {}
    for index, node in enumerate(nodes):
        for name in node.input:
            consumers.setdefault(name, []).append(index)
    runs: list[tuple[str | None, list[int]]] = []
    for index, node in enumerate(nodes):
        scope = scope_of(node)
        if runs and runs[-1][0] == scope and scope is not None:
            runs[-1][1].append(index)
        else:
            runs.append((scope, [index]))
    seen_scopes: set[str] = set()
    bodies: dict[str, onnx.FunctionProto] = {}  # canonical body text -> function
    variants: dict[str, int] = {}
    result: list[onnx.NodeProto] = []
    for scope, indices in runs:
        if scope is None or scope in seen_scopes:  # unscoped, or a scope split into several runs
            result.extend(nodes[i] for i in indices)
            continue
        seen_scopes.add(scope)
        inside = set(indices)
        produced = [o for i in indices for o in nodes[i].output]
        consumed = list(dict.fromkeys(n for i in indices for n in nodes[i].input if n and n not in produced))
        inputs = [n for n in consumed if n not in weights] + [n for n in consumed if n in weights]
        results = [o for o in produced if o in outputs or any(c not in inside for c in consumers.get(o, []))]
        raw = helper.make_function(
            FUNCTION_DOMAIN,
            scopes[scope],
            inputs,
            results,
            [nodes[i] for i in indices],
            [helper.make_opsetid("", DEFAULT_OPSET)],
        )
        function = _canonical_function(raw, {})
        key = printer.to_text(function)
        if key not in bodies:
            n = variants.get(scopes[scope], 0)
            variants[scopes[scope]] = n + 1
            function.name = scopes[scope] if n == 0 else f"{scopes[scope]}_{n}"
            bodies[key] = function
        result.append(helper.make_node(bodies[key].name, inputs, results, domain=FUNCTION_DOMAIN))
    return result, list(bodies.values())


def _canonical_function(function: onnx.FunctionProto, domains: dict[str, str]) -> onnx.FunctionProto:
    """Local names: inputs ``x0..``, values ``t0..``, outputs ``y0..``."""
    names = _Renamer()
    for original in function.input:
        names.assign(original, names.fresh("x"))
    for node in function.node:
        for o in node.output:
            if o:
                names.assign(o, names.fresh("t"))
    for i, o in enumerate(function.output):
        if o in names.names and names.names[o].startswith("t"):
            names.assign(o, f"y{i}")
    nodes = [
        _clean_node(
            n,
            [names.names.get(i, i) for i in n.input],
            [names.names.get(o, o) for o in n.output],
            domain=domains.get(n.domain, n.domain),
        )
        for n in function.node
    ]
    return helper.make_function(
        domains.get(function.domain, function.domain),
        function.name,
        [names.names[i] for i in function.input],
        [names.names[o] for o in function.output],
        nodes,
        list(function.opset_import),
        list(function.attribute),
    )


def canonicalize(
    model: onnx.ModelProto, scopes: dict[str, str] | None = None, *, parameter_names: Collection[str] = ()
) -> onnx.ModelProto:
    """The canonical form described in the module docstring (a new model; ``model`` is untouched).

    ``scopes`` maps node-name prefixes to function names (see :func:`function_scopes`): nodes
    under each prefix are folded into calls of a local function. ``parameter_names``: initializers
    that are weights whatever their rank (a module's parameters; tensors of rank 1 or more always are).
    """
    return canonicalize_with_weight_map(model, scopes, parameter_names=parameter_names)[0]


def canonicalize_with_weight_map(
    model: onnx.ModelProto, scopes: dict[str, str] | None = None, *, parameter_names: Collection[str] = ()
) -> tuple[onnx.ModelProto, dict[str, str]]:
    """:func:`canonicalize`, plus which original initializer feeds each weight input (``w3`` -> name).

    With it the canonical graph can be run on the original weights, which shows that the text
    computes what the network computes.
    """
    graph = model.graph
    domains = {f.domain: FUNCTION_DOMAIN for f in model.functions}
    nodes, weights = _normalize_nodes(graph, parameter_names)
    initializer_names = {t.name for t in graph.initializer}
    functions = [_canonical_function(f, domains) for f in model.functions]
    if scopes:
        nodes, folded = _fold_functions(nodes, weights, {o.name for o in graph.output}, scopes)
        functions += folded
    names = _Renamer()
    data_inputs = [i for i in graph.input if i.name not in initializer_names]
    new_inputs = []
    for i, value in enumerate(data_inputs):
        new_inputs.append(
            helper.make_value_info(names.assign(value.name, "x" if len(data_inputs) == 1 else f"x{i}"), value.type)
        )
    outputs = {o.name: ("y" if len(graph.output) == 1 else f"y{i}") for i, o in enumerate(graph.output)}
    weight_inputs = []
    weight_map: dict[str, str] = {}
    new_nodes = []
    for node in nodes:
        inputs = []
        for name in node.input:
            if name == "" or name in names.names:
                inputs.append(names.names.get(name, ""))
            elif name in weights:
                tensor = weights[name]
                inputs.append(names.fresh("w"))
                weight_map[inputs[-1]] = name.rsplit("#", 1)[0]
                weight_inputs.append(helper.make_tensor_value_info(inputs[-1], tensor.data_type, tensor.dims))
            else:
                raise ValueError(f"node {node.op_type} reads {name!r}, which no earlier node produces")
        new_outputs = [
            names.assign(o, outputs[o] if o in outputs else names.fresh("t")) if o else "" for o in node.output
        ]
        new_nodes.append(_clean_node(node, inputs, new_outputs, domain=domains.get(node.domain, node.domain)))
    for value in graph.output:
        if value.name not in names.names:
            raise ValueError(f"graph output {value.name!r} is not produced by any node")
    new_graph = helper.make_graph(
        new_nodes,
        "net",
        new_inputs + weight_inputs,
        [helper.make_value_info(outputs[o.name], o.type) for o in graph.output],
    )
    opsets = {domains.get(o.domain, o.domain): o.version for o in model.opset_import}
    if functions:
        opsets.setdefault(FUNCTION_DOMAIN, 1)
    canonical = helper.make_model(
        new_graph,
        opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()],
        functions=functions,
        ir_version=model.ir_version,
        producer_name="nasrlm",
    )
    return canonical, weight_map


def to_onnx_text(
    source: torch.nn.Module | onnx.ModelProto | str | os.PathLike[str] | bytes,
    example_input: torch.Tensor | tuple[torch.Tensor, ...] | None = None,
    *,
    functions: Collection[type[torch.nn.Module]] = (),
    opset: int = DEFAULT_OPSET,
) -> str:
    """Canonical ONNX text of a network.

    ``source`` is a ``torch.nn.Module`` (then ``example_input`` is required; ``functions`` lists
    module classes to export as local functions), an ``onnx.ModelProto``, serialized model bytes,
    or the path of an ``.onnx`` file.
    """
    if isinstance(source, (onnx.ModelProto, bytes, str, os.PathLike)):
        if example_input is not None or functions:
            raise TypeError("example_input and functions apply only when source is a torch.nn.Module")
        model = _load(source)
    else:
        import torch

        if not isinstance(source, torch.nn.Module):
            raise TypeError(
                f"cannot make ONNX text from {type(source).__name__}; expected a torch.nn.Module, "
                "an onnx.ModelProto, bytes or the path of an .onnx file"
            )
        if example_input is None:
            raise TypeError("example_input is required to export a torch.nn.Module")
        model = export_module(source, example_input, opset=opset)
        # The exporter names an initializer after the parameter it holds, where it holds one unchanged.
        parameters = {name for name, _ in source.named_parameters()}
        return printer.to_text(canonicalize(model, function_scopes(source, functions), parameter_names=parameters))
    return printer.to_text(canonicalize(model))


def parse_text(text: str, check: bool = True) -> onnx.ModelProto:
    """Parse canonical ONNX text back into a model; with ``check``, run ``onnx.checker`` on it."""
    model = parser.parse_model(text)
    if check:
        onnx.checker.check_model(model, full_check=True)
    return model
