"""Free labels for pretraining the RLM encoder: computed from a network alone, without training it.

Two families, both generic (nothing here knows about a particular search space):

- **Graph labels** (:func:`graph_labels`) read an ONNX model's structure: how deep the longest
  data path is, how many distinct paths there are, which nodes are dead and whether the output
  depends on the input at all. They need the whole graph, not just op counts, so an encoder that
  predicts them has to read how nodes connect.
- **Zero-cost proxies** (:func:`synflow`, :func:`naswot`, :func:`grad_norm`, :func:`snip`,
  :func:`jacob_cov`, or all at once with :func:`zero_cost_proxies`) run the untrained network on
  synthetic inputs (all-ones or Gaussian, never a data set) and random labels. They are the
  training-free accuracy predictors of Abdelfattah et al. (ICLR 2021) and Mellor et al. (ICML 2021),
  reimplemented here.

None of them uses accuracy or a benchmark measurement, so a model pretrained on them can later be
evaluated on those without leakage. Every function returns finite floats: degenerate networks get a
documented sentinel instead of NaN or infinity, because one NaN label poisons a whole training batch.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import onnx
import onnx.inliner  # a submodule: `import onnx` alone does not load it
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn

__all__ = [
    "EXECUTED_OP_LABELS",
    "GRAPH_LABELS",
    "JACOB_COV_CORRELATION_OFFSET",
    "LOG10_FLOOR",
    "NASWOT_SINGULAR",
    "PROXY_LABELS",
    "executed_op_counts",
    "grad_norm",
    "graph_labels",
    "jacob_cov",
    "jacob_cov_floor",
    "naswot",
    "snip",
    "synflow",
    "zero_cost_proxies",
]

# --- graph labels ------------------------------------------------------------------------------

GRAPH_LABELS: tuple[str, ...] = (
    "num_nodes",
    "count_conv",
    "count_gemm",
    "count_matmul",
    "count_pool",
    "count_add",
    "count_relu",
    "longest_path_convs",
    "longest_path_nodes",
    "num_paths",
    "dead_nodes",
    "output_reachable",
)

# Nodes that multiply by a learned matrix: what "depth" means for a network's capacity.
_WEIGHTED_OPS = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul"})
_POOL_OPS = frozenset({"AveragePool", "MaxPool", "LpPool", "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"})
# Their output depends only on the static shape of their input, never on its values.
_SHAPE_ONLY_OPS = frozenset({"Shape", "Size"})
# Far beyond any real path count, and still a finite float.
_MAX_PATHS = 10**300


@dataclass(frozen=True)
class _Dataflow:
    """Per-node inputs of a flat ONNX graph, split into what each node reads from where."""

    nodes: Sequence[onnx.NodeProto]
    producer: dict[str, int]  # value name -> index of the node that outputs it
    reads: list[list[str]]  # per node: every value it reads (subgraph outer-scope reads included)
    data_inputs: frozenset[str]  # graph inputs that are not initializers: what the network is fed
    outputs: list[str]


def _flat_graph(model: onnx.ModelProto) -> onnx.GraphProto:
    """The main graph with local functions inlined, so that a function call counts as its nodes."""
    if model.functions:
        model = onnx.inliner.inline_local_functions(model)
    return model.graph


def _subgraph_reads(graph: onnx.GraphProto) -> set[str]:
    """Values a subgraph (If/Loop/Scan body) reads from the scope around it."""
    defined = {value.name for value in graph.input} | {tensor.name for tensor in graph.initializer}
    reads: set[str] = set()
    for node in graph.node:
        reads.update(name for name in _node_reads(node) if name and name not in defined)
        defined.update(node.output)
    return reads


def _node_reads(node: onnx.NodeProto) -> list[str]:
    """A node's inputs, plus the outer values its subgraphs use (they are inputs too, just implicit)."""
    reads = [name for name in node.input if name]
    for attribute in node.attribute:
        subgraphs = [attribute.g] if attribute.type == onnx.AttributeProto.GRAPH else list(attribute.graphs)
        for subgraph in subgraphs:
            reads.extend(sorted(_subgraph_reads(subgraph)))
    return reads


def _dataflow(graph: onnx.GraphProto) -> _Dataflow:
    producer: dict[str, int] = {}
    reads: list[list[str]] = []
    for index, node in enumerate(graph.node):
        reads.append(_node_reads(node))
        producer.update((name, index) for name in node.output if name)
    # ONNX requires topological order and every pass below relies on it, so check rather than assume.
    for index, node in enumerate(graph.node):
        late = [name for name in reads[index] if producer.get(name, -1) >= index]
        if late:
            raise ValueError(f"ONNX graph is not topologically sorted: node {node.name!r} reads {late[0]!r}")
    weights = {tensor.name for tensor in graph.initializer} | {t.values.name for t in graph.sparse_initializer}
    data_inputs = frozenset(value.name for value in graph.input if value.name not in weights)
    return _Dataflow(graph.node, producer, reads, data_inputs, [value.name for value in graph.output])


def _constant_is_zero(node: onnx.NodeProto) -> bool:
    """Whether a Constant node holds only zeros (how exporters write ``x * 0``'s zero)."""
    for attribute in node.attribute:
        if attribute.name == "value":
            values = numpy_helper.to_array(attribute.t)
        elif attribute.name in ("value_float", "value_int"):
            values = np.array([attribute.f if attribute.name == "value_float" else attribute.i])
        elif attribute.name in ("value_floats", "value_ints"):
            values = np.array(list(attribute.floats if attribute.name == "value_floats" else attribute.ints))
        else:
            return False  # strings and sparse tensors: not a numeric zero we can see
        return values.size > 0 and not np.any(values)
    return False


def _initializer_zero_values(graph: onnx.GraphProto) -> set[str]:
    """Initializers stored with all their values, all zero (weights given only as dims are unknown)."""
    zeros = set()
    for tensor in graph.initializer:
        try:
            values = numpy_helper.to_array(tensor)
        except (ValueError, TypeError):  # dims without data (e.g. a graph built for its text only)
            continue
        if values.size > 0 and not np.any(values):
            zeros.add(tensor.name)
    return zeros


def _data_dependent_edges(flow: _Dataflow, graph: onnx.GraphProto) -> list[list[str]]:
    """Per node, the values it reads that carry information from a data input.

    A value carries data if a data input reaches it, except through a product with a constant zero
    (``x * 0`` is how exporters write "zeros shaped like x", e.g. an NB201 node with no live edge)
    or through Shape/Size, which read only the static shape. So a network whose every path is
    multiplied by zero has no data path at all, and its output counts as not reachable.
    """
    # Zero-ness is only ever needed for Mul operands; finding zero initializers decodes every weight,
    # so it is done only when some Mul reads an initializer.
    initializer_names = {tensor.name for tensor in graph.initializer}
    reads_initializer = any(
        node.op_type == "Mul" and any(name in initializer_names for name in node.input) for node in flow.nodes
    )
    zero_values = _initializer_zero_values(graph) if reads_initializer else set()
    carries_data = set(flow.data_inputs)
    data_reads: list[list[str]] = []
    for node, node_reads in zip(flow.nodes, flow.reads, strict=True):
        if node.op_type == "Constant" and _constant_is_zero(node):
            zero_values.update(node.output)
        if node.op_type == "Mul" and any(name in zero_values for name in node.input):
            zero_values.update(node.output)
            data_reads.append([])
            continue
        used = [] if node.op_type in _SHAPE_ONLY_OPS else [name for name in node_reads if name in carries_data]
        data_reads.append(used)
        if used:
            carries_data.update(name for name in node.output if name)
    return data_reads


def _dead_node_count(flow: _Dataflow) -> int:
    """Nodes none of whose outputs reach a graph output (through any edge, data or not)."""
    live: set[int] = set()
    pending = [flow.producer[name] for name in flow.outputs if name in flow.producer]
    while pending:
        index = pending.pop()
        if index in live:
            continue
        live.add(index)
        pending.extend(flow.producer[name] for name in flow.reads[index] if name in flow.producer)
    return len(flow.nodes) - len(live)


def _path_labels(flow: _Dataflow, data_reads: list[list[str]]) -> tuple[int, int, int]:
    """(longest path in weighted nodes, longest path in nodes, number of paths), input to output.

    A path is a sequence of nodes joined by data-carrying values, starting at a node that reads a
    data input and ending at a node that writes a graph output. Two nodes joined by several values
    (``Add(x, x)``) count as one step, so paths are distinct node sequences.
    """
    # Per node, over the paths that reach it from a data input: most weighted nodes, most nodes, count.
    best_weighted: list[int] = []
    best_length: list[int] = []
    paths: list[int] = []
    for index, node in enumerate(flow.nodes):
        sources = {name for name in data_reads[index] if name in flow.data_inputs}
        predecessors = {flow.producer[name] for name in data_reads[index] if name in flow.producer}
        count = len(sources) + sum(paths[p] for p in predecessors)
        weighted = max((best_weighted[p] for p in predecessors), default=0)
        length = max((best_length[p] for p in predecessors), default=0)
        is_weighted = int(node.op_type in _WEIGHTED_OPS)
        reached = count > 0
        best_weighted.append(weighted + is_weighted if reached else 0)
        best_length.append(length + 1 if reached else 0)
        paths.append(min(count, _MAX_PATHS))
    ends = {flow.producer[name] for name in flow.outputs if name in flow.producer}
    # A graph output that is a data input itself is a path through no node.
    passthrough = sum(name in flow.data_inputs for name in flow.outputs)
    total = passthrough + sum(paths[i] for i in ends)
    weighted = max((best_weighted[i] for i in ends if paths[i]), default=0)
    length = max((best_length[i] for i in ends if paths[i]), default=0)
    return weighted, length, min(total, _MAX_PATHS)


def _is_pointwise_conv(node: onnx.NodeProto, graph: onnx.GraphProto) -> bool:
    """A Conv whose kernel is 1 in every spatial dimension: from ``kernel_shape``, else its weight's shape."""
    if node.op_type != "Conv":
        return False
    for attribute in node.attribute:
        if attribute.name == "kernel_shape":
            return all(k == 1 for k in attribute.ints)
    if len(node.input) > 1:
        for weight in graph.initializer:
            if weight.name == node.input[1]:
                return all(k == 1 for k in weight.dims[2:])
        for value in graph.input:
            if value.name == node.input[1]:
                dims = value.type.tensor_type.shape.dim[2:]
                return bool(dims) and all(d.HasField("dim_value") and d.dim_value == 1 for d in dims)
    return False  # kernel size unknown


EXECUTED_OP_LABELS: tuple[str, ...] = ("executed_nodes", "executed_convs", "executed_convs_1x1", "executed_pools")


def executed_op_counts(model: onnx.ModelProto) -> dict[str, float]:
    """Nodes of the flat graph that the network runs, dead ones included (:data:`EXECUTED_OP_LABELS`).

    A device's latency is often a sum of per-op costs over every op it runs: on NB201, eyeriss and
    fpga latency are exactly linear in the counts of 3x3 and 1x1 convolutions and pools of all six
    edges, whether or not an edge reaches the output; a 1x1 convolution costs a fraction of a 3x3.
    """
    graph = _flat_graph(model)
    return {
        "executed_nodes": float(len(graph.node)),
        "executed_convs": float(sum(node.op_type == "Conv" for node in graph.node)),
        "executed_convs_1x1": float(sum(_is_pointwise_conv(node, graph) for node in graph.node)),
        "executed_pools": float(sum(node.op_type in _POOL_OPS for node in graph.node)),
    }


def graph_labels(model: onnx.ModelProto) -> dict[str, float]:
    """Structural labels of an ONNX model, as floats (see :data:`GRAPH_LABELS`).

    - ``num_nodes``, ``count_conv`` / ``count_gemm`` / ``count_matmul`` / ``count_pool`` /
      ``count_add`` / ``count_relu``: nodes of the flat graph (local functions inlined), all of them;
    - ``longest_path_convs``: most Conv/ConvTranspose/Gemm/MatMul nodes on one input-to-output path;
    - ``longest_path_nodes``: most nodes on one input-to-output path;
    - ``num_paths``: distinct input-to-output node paths (a float: it grows exponentially with depth
      in multi-branch networks, so take its log before regressing on it);
    - ``dead_nodes``: nodes whose outputs never reach a graph output;
    - ``output_reachable``: 1.0 if a graph output depends on a data input (a graph input that is not
      an initializer), 0.0 if the outputs are functions of weights and constants only.

    Paths follow only data-carrying values: a product with a constant zero and Shape/Size cut them
    (see :func:`_data_dependent_edges`), so a network whose output is ``f(x * 0)`` has no path,
    longest paths of 0 and ``output_reachable`` 0.0. Dead nodes are counted structurally, whether or
    not the graph builder dropped them. Raises ValueError if the nodes are not in topological order.
    """
    graph = _flat_graph(model)
    flow = _dataflow(graph)
    data_reads = _data_dependent_edges(flow, graph)
    longest_weighted, longest_nodes, num_paths = _path_labels(flow, data_reads)
    op_types = [node.op_type for node in flow.nodes]
    return {
        "num_nodes": float(len(op_types)),
        "count_conv": float(op_types.count("Conv")),
        "count_gemm": float(op_types.count("Gemm")),
        "count_matmul": float(op_types.count("MatMul")),
        "count_pool": float(sum(op in _POOL_OPS for op in op_types)),
        "count_add": float(op_types.count("Add")),
        "count_relu": float(op_types.count("Relu")),
        "longest_path_convs": float(longest_weighted),
        "longest_path_nodes": float(longest_nodes),
        "num_paths": float(num_paths),
        "dead_nodes": float(_dead_node_count(flow)),
        "output_reachable": 1.0 if num_paths > 0 else 0.0,
    }


# --- zero-cost proxies ---------------------------------------------------------------------------

PROXY_LABELS: tuple[str, ...] = ("synflow_log10", "naswot", "grad_norm_log10", "snip_log10", "jacob_cov")

# log10 of a score that is zero, negative zero or not finite (a network with no signal path, zero
# weights or all-zero gradients). Networks that pass any signal score far above 1e-30.
LOG10_FLOOR = -30.0
# NASWOT of a singular kernel (two inputs with the same activation pattern, e.g. a constant network).
# The kernel holds integer counts, so a non-singular one has determinant >= 1 and log-determinant >= 0:
# the sentinel ranks degenerate networks at or below every real one.
NASWOT_SINGULAR = 0.0
# Added to the eigenvalues of the Jacobian correlation matrix, as in Mellor et al.'s jacob_cov.
JACOB_COV_CORRELATION_OFFSET = 1e-5


def _log10_or_floor(value: float) -> float:
    """log10 of a non-negative score, floored at :data:`LOG10_FLOOR` (zero and NaN included)."""
    if not math.isfinite(value) and value > 0:
        return 308.0  # beyond float64: not reachable with the double-precision synflow below
    if not value > 0:  # zero, negative or NaN
        return LOG10_FLOOR
    return max(math.log10(value), LOG10_FLOOR)


def _scored_weights(module: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """Parameters with at least 2 dims: conv kernels and linear matrices, the weights that pruning
    proxies score (biases and normalization scales are left out, as in the reference implementations)."""
    return [(name, p) for name, p in module.named_parameters() if p.dim() >= 2 and p.requires_grad]


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Draw from torch's global generator with ``seed`` (also what dropout uses), restoring it after,
    so that a proxy is a function of (network, seed) and does not disturb the caller's random stream."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def _mode_restored(module: nn.Module, training: bool) -> Iterator[None]:
    """``module`` in train or eval mode for the duration, then as it was: every submodule's mode flag,
    and its buffers (BatchNorm running statistics, which a train-mode forward updates). The proxies
    work on the caller's module in place, because copying a network costs more than scoring it."""
    modes = {m: m.training for m in module.modules()}
    buffers = {name: b.detach().clone() for name, b in module.named_buffers()}
    module.train(training)
    try:
        yield
    finally:
        with torch.no_grad():
            for name, b in module.named_buffers():
                if name in buffers:
                    b.copy_(buffers[name])
        for m, was_training in modes.items():
            m.train(was_training)


@contextlib.contextmanager
def _batchnorm_bypassed(module: nn.Module) -> Iterator[None]:
    """Every BatchNorm passes its input through unchanged for the duration (a forward hook replaces
    its output), without copying the module or changing its structure."""

    def identity(_module: nn.Module, inputs: tuple[torch.Tensor, ...], _output: torch.Tensor) -> torch.Tensor:
        return inputs[0]

    hooks = [
        m.register_forward_hook(identity) for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
    ]
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()


def synflow(module: nn.Module, input_shape: Sequence[int]) -> float:
    """log10 of the SynFlow score (Tanaka et al. 2020): sum of |w * dR/dw| over conv/linear weights,
    where R is the sum of the outputs of the network with every parameter replaced by its absolute
    value, fed one all-ones input of per-sample shape ``input_shape``.

    As in zero-cost-nas's ``synflow``, BatchNorm is bypassed (on an all-ones batch of one, train-mode
    BN would normalize the signal away, and eval-mode BN would apply whatever statistics the module
    carries), and the rest runs in eval mode (no dropout). Computed in double precision, because
    NB201 scores reach 1e40, past float32, on absolute copies of the parameters: the module is left
    as it was. Deterministic (no randomness). Returns :data:`LOG10_FLOOR` when the score is 0 (e.g.
    all-zero weights).
    """
    absolute = {name: p.detach().abs().double() for name, p in module.named_parameters()}
    absolute.update(
        (name, b.detach().abs().double() if b.is_floating_point() else b) for name, b in module.named_buffers()
    )
    scored = [absolute[name].requires_grad_() for name, _ in _scored_weights(module)]
    if not scored:
        return LOG10_FLOOR
    with _mode_restored(module, training=False), _batchnorm_bypassed(module):
        output = torch.func.functional_call(module, absolute, (torch.ones(1, *input_shape, dtype=torch.float64),))
    if not output.requires_grad:  # no scored weight reaches the output
        return LOG10_FLOOR
    grads = torch.autograd.grad(output.sum(), scored, allow_unused=True)
    with torch.no_grad():
        score = sum(float((w * g).abs().sum()) for w, g in zip(scored, grads, strict=True) if g is not None)
    return _log10_or_floor(score)


@dataclass
class _GaussianPass:
    """What one train-mode forward (and its backwards) on a Gaussian batch yields."""

    activation_kernel: np.ndarray | None  # NASWOT's kernel; None if no nn.ReLU reaches the output
    weight_grads: list[tuple[torch.Tensor, torch.Tensor | None]]  # (weight, dLoss/dweight)
    input_jacobian: torch.Tensor  # d(sum of outputs)/d(input), one row per sample


class _ActivationPatterns:
    """NASWOT's bookkeeping: each nn.ReLU call's activation agreement matrix, and whether the backward
    pass reached that call's output.

    As in the reference NASWOT code, only ReLUs that the output depends on count: a ReLU feeding a
    branch whose result is never used (a dead node) says nothing about the network's function. The
    backward pass of the Jacobian marks them, through a gradient hook on each ReLU output.
    """

    def __init__(self) -> None:
        self.agreements: list[torch.Tensor] = []
        self.reached: list[bool] = []

    def record(self, _module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        # ReLU output > 0 exactly where its input is > 0; reading the output also works for inplace ReLUs.
        active = (output.detach().flatten(1) > 0).float()
        self.agreements.append(active @ active.T + (1 - active) @ (1 - active).T)
        self.reached.append(False)
        if output.requires_grad:
            call = len(self.reached) - 1
            output.register_hook(lambda grad: self._mark(call))

    def _mark(self, call: int) -> None:
        self.reached[call] = True

    def kernel(self) -> np.ndarray | None:
        """K[i, j] = units (of the ReLUs the output depends on) where samples i and j agree; None if no such ReLU."""
        used = [a for a, reached in zip(self.agreements, self.reached, strict=True) if reached]
        return torch.stack(used).double().sum(0).numpy() if used else None


def _gaussian_pass(module: nn.Module, input_shape: Sequence[int], batch_size: int, seed: int) -> _GaussianPass:
    """One forward of a standard-normal batch in train mode, random labels, and two backwards.

    Train mode is what the reference implementations use for these proxies (BatchNorm normalizes
    with the batch's statistics, so activations keep a healthy scale at initialization); the module's
    mode and running statistics are restored afterwards. Inputs and labels depend only on ``seed``,
    ``batch_size`` and ``input_shape``, so every network of a search space sees the same batch: after
    ``torch.manual_seed(seed)``, ``inputs = torch.randn(batch_size, *input_shape)``, then
    ``labels = torch.randint(0, classes, (batch_size,))``, with the output flattened to (batch, classes).
    """
    with _seeded(seed), _mode_restored(module, training=True):
        inputs = torch.randn(batch_size, *input_shape, requires_grad=True)
        patterns = _ActivationPatterns()
        hooks = [m.register_forward_hook(patterns.record) for m in module.modules() if isinstance(m, nn.ReLU)]
        try:
            output = module(inputs).flatten(1)
        finally:
            for hook in hooks:
                hook.remove()
        labels = torch.randint(0, output.shape[1], (batch_size,))
        loss = F.cross_entropy(output, labels)
        weights = [p for _, p in _scored_weights(module)]
        # Without a graph (no parameter or input reaches the output) every gradient is zero.
        grads: Sequence[torch.Tensor | None] = [None] * len(weights)
        jacobian = None
        if output.requires_grad:
            if weights:
                grads = torch.autograd.grad(loss, weights, retain_graph=True, allow_unused=True)
            (jacobian,) = torch.autograd.grad(output.sum(), inputs, allow_unused=True)
    if jacobian is None:  # the output does not depend on the input at all
        jacobian = torch.zeros_like(inputs)
    return _GaussianPass(
        activation_kernel=patterns.kernel(),
        weight_grads=[(w.detach(), None if g is None else g.detach()) for w, g in zip(weights, grads, strict=True)],
        input_jacobian=jacobian.detach().flatten(1),
    )


def _naswot_score(kernel: np.ndarray | None) -> float:
    if kernel is None:
        return NASWOT_SINGULAR
    sign, log_det = np.linalg.slogdet(kernel)
    return float(log_det) if sign > 0 and np.isfinite(log_det) else NASWOT_SINGULAR


def _grad_norm_score(weight_grads: list[tuple[torch.Tensor, torch.Tensor | None]]) -> float:
    return _log10_or_floor(sum(float(g.double().norm()) for _, g in weight_grads if g is not None))


def _snip_score(weight_grads: list[tuple[torch.Tensor, torch.Tensor | None]]) -> float:
    return _log10_or_floor(sum(float((w.double() * g.double()).abs().sum()) for w, g in weight_grads if g is not None))


def jacob_cov_floor(batch_size: int) -> float:
    """jacob_cov's lowest possible score: every sample's Jacobian perfectly correlated (eigenvalues
    batch_size, 0, ..., 0). Degenerate networks (constant output, zero Jacobian) are given it."""
    k = JACOB_COV_CORRELATION_OFFSET
    eigenvalues = np.array([batch_size] + [0.0] * (batch_size - 1))
    return float(-np.sum(np.log(eigenvalues + k) + 1.0 / (eigenvalues + k)))


def _jacob_cov_score(jacobian: torch.Tensor) -> float:
    rows = jacobian.double().numpy()
    batch_size = rows.shape[0]
    # A constant row has no correlation with anything (np.corrcoef would divide by zero).
    if batch_size < 2 or not np.all(np.isfinite(rows)) or np.any(rows.std(axis=1) == 0):
        return jacob_cov_floor(batch_size)
    correlation = np.corrcoef(rows)
    eigenvalues = np.clip(np.linalg.eigvalsh(correlation), 0.0, None)  # symmetric: real, >= 0 up to rounding
    k = JACOB_COV_CORRELATION_OFFSET
    score = float(-np.sum(np.log(eigenvalues + k) + 1.0 / (eigenvalues + k)))
    return score if math.isfinite(score) else jacob_cov_floor(batch_size)


def naswot(module: nn.Module, input_shape: Sequence[int], batch_size: int = 32, seed: int = 0) -> float:
    """NASWOT (Mellor et al., ICML 2021): log-determinant of the kernel K[i, j] = number of ReLU units
    on which inputs i and j agree (both active or both inactive), for a batch of ``batch_size``
    standard-normal inputs, in train mode. Units are those of every ``nn.ReLU`` call whose output the
    network output depends on (functional relus are not seen; ReLUs of dead branches are left out,
    as in the reference code).

    Higher means the network separates inputs better at initialization. Returns
    :data:`NASWOT_SINGULAR` (0.0) for a singular kernel, or when no nn.ReLU reaches the output.
    """
    return _naswot_score(_gaussian_pass(module, input_shape, batch_size, seed).activation_kernel)


def grad_norm(module: nn.Module, input_shape: Sequence[int], batch_size: int = 32, seed: int = 0) -> float:
    """log10 of the summed Frobenius norms of dLoss/dw over conv/linear weights (one norm per weight
    tensor, as zero-cost-nas's ``grad_norm``), for cross-entropy on random labels with a batch of
    standard-normal inputs, in train mode. Returns :data:`LOG10_FLOOR` when every gradient is zero."""
    return _grad_norm_score(_gaussian_pass(module, input_shape, batch_size, seed).weight_grads)


def snip(module: nn.Module, input_shape: Sequence[int], batch_size: int = 32, seed: int = 0) -> float:
    """log10 of SNIP's saliency (Lee et al. 2019): sum of |w * dLoss/dw| over conv/linear weights, for
    cross-entropy on random labels with a batch of standard-normal inputs, in train mode. Returns
    :data:`LOG10_FLOOR` when it is zero (zero weights or zero gradients)."""
    return _snip_score(_gaussian_pass(module, input_shape, batch_size, seed).weight_grads)


def jacob_cov(module: nn.Module, input_shape: Sequence[int], batch_size: int = 32, seed: int = 0) -> float:
    """jacob_cov (Mellor et al., first version): with J the per-sample gradient of the summed outputs
    with respect to the input, for a batch of standard-normal inputs in train mode, and v the
    eigenvalues of J's sample correlation matrix, -sum(log(v + k) + 1 / (v + k)) with k = 1e-5.

    Higher (closer to -batch_size) means less correlated Jacobians. A network whose Jacobian is
    constant or zero for some sample gets :func:`jacob_cov_floor` (``batch_size``), the lowest score.
    """
    return _jacob_cov_score(_gaussian_pass(module, input_shape, batch_size, seed).input_jacobian)


def zero_cost_proxies(
    module: nn.Module, input_shape: Sequence[int], batch_size: int = 32, seed: int = 0
) -> dict[str, float]:
    """All proxies (:data:`PROXY_LABELS`), sharing one Gaussian forward pass between the four that use it.

    Identical to calling :func:`synflow`, :func:`naswot`, :func:`grad_norm`, :func:`snip` and
    :func:`jacob_cov` one by one with the same arguments, about three times faster.
    """
    shared = _gaussian_pass(module, input_shape, batch_size, seed)
    return {
        "synflow_log10": synflow(module, input_shape),
        "naswot": _naswot_score(shared.activation_kernel),
        "grad_norm_log10": _grad_norm_score(shared.weight_grads),
        "snip_log10": _snip_score(shared.weight_grads),
        "jacob_cov": _jacob_cov_score(shared.input_jacobian),
    }
