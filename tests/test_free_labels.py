"""Free labels: graph structure of hand-made ONNX graphs, zero-cost proxies of tiny torch modules."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from nasrlm.rlm.free_labels import (
    EXECUTED_OP_LABELS,
    GRAPH_LABELS,
    LOG10_FLOOR,
    NASWOT_SINGULAR,
    PROXY_LABELS,
    executed_op_counts,
    grad_norm,
    graph_labels,
    jacob_cov,
    jacob_cov_floor,
    naswot,
    snip,
    synflow,
    zero_cost_proxies,
)

# --- hand-made ONNX graphs ----------------------------------------------------------------------


def _weight(name: str, *dims: int) -> TensorProto:
    return numpy_helper.from_array(np.full(dims, 0.1, dtype=np.float32), name)


def _model(nodes: list[onnx.NodeProto], outputs: list[str], weights: tuple[TensorProto, ...] = ()) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in outputs],
        initializer=list(weights),
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def _node(op: str, inputs: list[str], output: str, **attributes: object) -> onnx.NodeProto:
    return helper.make_node(op, inputs, [output], name=output, **attributes)


# x -> MatMul a -> Relu r -> MatMul b -> Add s -> Relu y
#   \-> MatMul c --------------------/
# Paths: a-r-b-s-y (5 nodes, 2 weighted) and c-s-y (3 nodes, 1 weighted).
_DIAMOND = [
    _node("MatMul", ["x", "w1"], "a"),
    _node("Relu", ["a"], "r"),
    _node("MatMul", ["r", "w2"], "b"),
    _node("MatMul", ["x", "w3"], "c"),
    _node("Add", ["b", "c"], "s"),
    _node("Relu", ["s"], "y"),
]
_DIAMOND_WEIGHTS = (_weight("w1", 4, 4), _weight("w2", 4, 4), _weight("w3", 4, 4))


def test_pointwise_convolutions_are_counted_by_kernel_attribute_or_weight_shape_dead_ones_too():
    # A 1x1 conv with kernel_shape, a 3x3 one, a 1x1 one known only from its weight's shape, and a
    # dead 1x1 conv: hardware runs it, so it counts (as count_conv counts every node).
    nodes = [
        _node("Conv", ["x", "k1"], "a", kernel_shape=[1, 1]),
        _node("Conv", ["a", "k3"], "b", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        _node("Conv", ["b", "k1b"], "y"),
        _node("Conv", ["x", "k1c"], "dead", kernel_shape=[1, 1]),
    ]
    weights = (
        _weight("k1", 4, 4, 1, 1),
        _weight("k3", 4, 4, 3, 3),
        _weight("k1b", 4, 4, 1, 1),
        _weight("k1c", 4, 4, 1, 1),
    )
    model = _model(nodes, ["y"], weights)
    counts = executed_op_counts(model)
    assert list(counts) == list(EXECUTED_OP_LABELS)
    assert counts == {"executed_nodes": 4.0, "executed_convs": 4.0, "executed_convs_1x1": 3.0, "executed_pools": 0.0}
    assert graph_labels(model)["dead_nodes"] == 1.0


def test_graph_labels_of_a_known_dag():
    labels = graph_labels(_model(_DIAMOND, ["y"], _DIAMOND_WEIGHTS))
    assert list(labels) == list(GRAPH_LABELS)
    assert labels["longest_path_convs"] == 2.0
    assert labels["longest_path_nodes"] == 5.0
    assert labels["num_paths"] == 2.0
    assert labels["dead_nodes"] == 0.0
    assert labels["output_reachable"] == 1.0
    assert labels["num_nodes"] == 6.0
    assert labels["count_matmul"] == 3.0
    assert labels["count_relu"] == 2.0
    assert labels["count_add"] == 1.0
    assert labels["count_conv"] == 0.0


def test_paths_multiply_through_stacked_diamonds_and_repeated_inputs_count_once():
    # Each block: h -> {Relu, Sigmoid} -> Add, then Add(t, t): 2 paths per block, 3 blocks -> 8 paths.
    nodes, h = [], "x"
    for block in range(3):
        nodes += [
            _node("Relu", [h], f"r{block}"),
            _node("Sigmoid", [h], f"s{block}"),
            _node("Add", [f"r{block}", f"s{block}"], f"t{block}"),
            _node("Add", [f"t{block}", f"t{block}"], f"d{block}"),
        ]
        h = f"d{block}"
    labels = graph_labels(_model(nodes, [h]))
    assert labels["num_paths"] == 8.0
    assert labels["longest_path_nodes"] == 9.0
    assert labels["longest_path_convs"] == 0.0


def test_dead_branch_is_counted_whether_or_not_it_is_kept():
    dead_branch = [_node("MatMul", ["x", "w4"], "dead_a"), _node("Relu", ["dead_a"], "dead_b")]
    with_dead = graph_labels(_model(_DIAMOND + dead_branch, ["y"], (*_DIAMOND_WEIGHTS, _weight("w4", 4, 4))))
    without = graph_labels(_model(_DIAMOND, ["y"], _DIAMOND_WEIGHTS))
    assert with_dead["dead_nodes"] == 2.0
    assert without["dead_nodes"] == 0.0
    # Dead nodes add no path and no depth.
    for name in ("num_paths", "longest_path_nodes", "longest_path_convs", "output_reachable"):
        assert with_dead[name] == without[name]


def test_output_of_weights_only_is_not_reachable():
    nodes = [
        _node("Relu", ["x"], "unused"),  # reads the input, but the output does not use it
        _node("Gemm", ["w1", "w2"], "y"),
    ]
    labels = graph_labels(_model(nodes, ["y"], (_weight("w1", 4, 4), _weight("w2", 4, 4))))
    assert labels["output_reachable"] == 0.0
    assert labels["num_paths"] == 0.0
    assert labels["longest_path_nodes"] == 0.0
    assert labels["dead_nodes"] == 1.0


@pytest.mark.parametrize("zero_source", ["constant_node", "initializer"])
def test_times_constant_zero_cuts_the_data_path(zero_source):
    # How exporters write "zeros like x" (NB201's nodes without a live edge): f(x * 0) is constant.
    nodes = [_node("Mul", ["x", "zero"], "z"), _node("Relu", ["z"], "y")]
    weights: tuple[TensorProto, ...] = ()
    if zero_source == "constant_node":
        nodes.insert(0, _node("Constant", [], "zero", value=helper.make_tensor("", TensorProto.FLOAT, [], [0.0])))
    else:
        weights = (numpy_helper.from_array(np.zeros((1, 4), np.float32), "zero"),)
    labels = graph_labels(_model(nodes, ["y"], weights))
    assert labels["output_reachable"] == 0.0
    assert labels["num_paths"] == 0.0
    # A non-zero constant keeps the path.
    nodes[-2] = _node("Mul", ["x", "two"], "z")
    two = (numpy_helper.from_array(np.full((1, 4), 2.0, np.float32), "two"),)
    assert graph_labels(_model(nodes[-2:], ["y"], two))["num_paths"] == 1.0


def test_shape_of_input_is_not_a_data_path():
    nodes = [
        _node("Shape", ["x"], "shape"),
        _node("ConstantOfShape", ["shape"], "y", value=helper.make_tensor("", TensorProto.FLOAT, [1], [1.0])),
    ]
    assert graph_labels(_model(nodes, ["y"]))["output_reachable"] == 0.0


def test_local_functions_are_inlined():
    body = [helper.make_node("MatMul", ["inp", "w"], ["m"]), helper.make_node("Relu", ["m"], ["out"])]
    function = helper.make_function(
        "local", "Block", ["inp", "w"], ["out"], body, [helper.make_opsetid("", 18)], attributes=[]
    )
    nodes = [
        helper.make_node("Block", ["x", "w1"], ["h"], domain="local", name="b1"),
        helper.make_node("Block", ["h", "w2"], ["y"], domain="local", name="b2"),
    ]
    model = _model(nodes, ["y"], (_weight("w1", 4, 4), _weight("w2", 4, 4)))
    model.opset_import.append(helper.make_opsetid("local", 1))
    model.functions.append(function)
    labels = graph_labels(model)
    assert labels["num_nodes"] == 4.0
    assert labels["longest_path_convs"] == 2.0
    assert labels["longest_path_nodes"] == 4.0


def test_unsorted_graph_is_refused():
    with pytest.raises(ValueError, match="topologically"):
        graph_labels(_model([_DIAMOND[1], _DIAMOND[0]], ["r"], _DIAMOND_WEIGHTS))


def test_nb201_graphs_known():
    from search_spaces.nb201.onnx_builder import build_onnx

    skips = build_onnx(("skip_connect",) * 6)
    # All skips: the longest conv chain is the stem, two convs per reduction block, and the classifier.
    labels = graph_labels(skips)
    assert labels["longest_path_convs"] == 1 + 2 + 2 + 1
    assert labels["output_reachable"] == 1.0
    # Node 3 without a live edge: every cell outputs x * 0.
    empty = graph_labels(build_onnx(("nor_conv_3x3", "nor_conv_3x3", "nor_conv_3x3", "none", "none", "none")))
    assert empty["output_reachable"] == 0.0
    assert empty["num_paths"] == 0.0
    # (How fast: experiments/bench_foundation.py; tests assert no times.)


# --- zero-cost proxies ---------------------------------------------------------------------------

_SHAPE = (3, 6, 6)


def _cnn(width: int = 4, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(width, 5),
    ).eval()


def test_proxies_finite_deterministic_and_shared_pass_matches():
    scores = zero_cost_proxies(_cnn(), _SHAPE, batch_size=8, seed=3)
    assert list(scores) == list(PROXY_LABELS)
    assert all(math.isfinite(v) for v in scores.values())
    assert scores == zero_cost_proxies(_cnn(), _SHAPE, batch_size=8, seed=3)
    one_by_one = {
        "synflow_log10": synflow(_cnn(), _SHAPE),
        "naswot": naswot(_cnn(), _SHAPE, 8, 3),
        "grad_norm_log10": grad_norm(_cnn(), _SHAPE, 8, 3),
        "snip_log10": snip(_cnn(), _SHAPE, 8, 3),
        "jacob_cov": jacob_cov(_cnn(), _SHAPE, 8, 3),
    }
    assert scores == one_by_one
    # Another seed draws another batch.
    assert naswot(_cnn(), _SHAPE, 8, 4) != scores["naswot"]
    # Healthy network: above every sentinel.
    assert scores["synflow_log10"] > LOG10_FLOOR
    assert scores["naswot"] > NASWOT_SINGULAR
    assert scores["jacob_cov"] > jacob_cov_floor(8)


def test_proxies_leave_the_module_as_it_was():
    network = _cnn()
    before = {k: v.clone() for k, v in network.state_dict().items()}
    rng_before = torch.random.get_rng_state()
    zero_cost_proxies(network, _SHAPE, batch_size=8)
    assert not any(m.training for m in network.modules())
    assert all(torch.equal(before[k], v) for k, v in network.state_dict().items())
    assert all(p.grad is None for p in network.parameters())
    assert torch.equal(torch.random.get_rng_state(), rng_before)


def _constant_mlp(width: int, inputs: int = 4) -> nn.Module:
    network = nn.Sequential(
        nn.Flatten(), nn.Linear(inputs, width, bias=False), nn.ReLU(), nn.Linear(width, 1, bias=False)
    )
    for p in network.parameters():
        nn.init.constant_(p, -0.5)  # synflow takes absolute values
    return network


def test_synflow_exact_value_and_grows_with_width():
    # With |w| = 0.5 everywhere and a ones input, R = inputs * width * 0.25; R has degree 2 in the
    # weights, so sum(w * dR/dw) = 2R.
    for width in (3, 12):
        assert synflow(_constant_mlp(width), (4,)) == pytest.approx(math.log10(2 * 4 * width * 0.25))
    # Randomly initialized conv nets too: a wider one has more paths.
    assert synflow(_cnn(width=16), _SHAPE) > synflow(_cnn(width=2), _SHAPE) + 0.3


def _gaussian_batch(seed: int, batch: int, shape: tuple[int, ...], classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch the proxies draw (their documented contract)."""
    torch.manual_seed(seed)
    inputs = torch.randn(batch, *shape)
    return inputs, torch.randint(0, classes, (batch,))


def test_naswot_exact_value_and_dead_relus_ignored():
    inputs, _ = _gaussian_batch(0, 6, (10,), 10)
    active = (inputs > 0).double()
    kernel = active @ active.T + (1 - active) @ (1 - active).T
    expected = np.linalg.slogdet(kernel.numpy())[1]
    assert naswot(nn.ReLU(), (10,), batch_size=6, seed=0) == pytest.approx(expected)

    class WithDeadBranch(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.live, self.dead = nn.ReLU(), nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.dead(x * 3 - 1)  # computed, never used
            return self.live(x)

    assert naswot(WithDeadBranch(), (10,), batch_size=6, seed=0) == pytest.approx(expected)


def test_grad_norm_and_snip_exact_on_a_linear_model():
    torch.manual_seed(0)
    model = nn.Linear(7, 3, bias=False)
    inputs, labels = _gaussian_batch(5, 4, (7,), 3)
    loss = nn.functional.cross_entropy(model(inputs), labels)
    (grad,) = torch.autograd.grad(loss, [model.weight])
    assert grad_norm(model, (7,), batch_size=4, seed=5) == pytest.approx(math.log10(grad.norm()))
    assert snip(model, (7,), batch_size=4, seed=5) == pytest.approx(
        math.log10((model.weight.detach() * grad).abs().sum())
    )


def test_jacob_cov_floor_for_identical_jacobians():
    # A linear map has the same Jacobian for every input: perfectly correlated, the lowest score.
    assert jacob_cov(nn.Linear(5, 3), (5,), batch_size=6) == pytest.approx(jacob_cov_floor(6))
    # A ReLU network's Jacobians differ with the input: with more input dims than samples, the
    # correlation matrix has full rank and the score is near -batch_size (all eigenvalues 1).
    torch.manual_seed(0)
    relu_network = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 3))
    assert -100 < jacob_cov(relu_network, (20,), batch_size=6) < -6


def test_all_zero_network_gets_the_sentinels():
    network = _cnn()
    for p in network.parameters():
        nn.init.zeros_(p)
    scores = zero_cost_proxies(network, _SHAPE, batch_size=8)
    assert scores == {
        "synflow_log10": LOG10_FLOOR,
        "naswot": NASWOT_SINGULAR,
        "grad_norm_log10": LOG10_FLOOR,
        "snip_log10": LOG10_FLOOR,
        "jacob_cov": jacob_cov_floor(8),
    }
    assert LOG10_FLOOR == -30.0
    assert jacob_cov_floor(8) == pytest.approx(-(math.log(8 + 1e-5) + 1 / (8 + 1e-5) + 7 * (math.log(1e-5) + 1e5)))


def test_output_independent_of_input_and_of_weights():
    class Constant(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.table = nn.Parameter(torch.ones(1, 4))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.table.expand(x.shape[0], 4)

    scores = zero_cost_proxies(Constant(), (3,), batch_size=4)
    assert scores["jacob_cov"] == jacob_cov_floor(4)
    assert scores["naswot"] == NASWOT_SINGULAR  # no ReLU at all
    assert all(math.isfinite(v) for v in scores.values())
    # No parameter at all: no graph to differentiate.
    assert zero_cost_proxies(nn.Identity(), (3,), batch_size=4)["grad_norm_log10"] == LOG10_FLOOR


# --- the NB201 script's resumable CSV -------------------------------------------------------------


def _script():
    path = Path(__file__).resolve().parents[1] / "experiments" / "free_labels_nb201.py"
    spec = importlib.util.spec_from_file_location("free_labels_nb201", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_rows_survive_an_interrupted_append(tmp_path):
    script = _script()
    out = tmp_path / "labels.csv"
    row = {name: 1.5 for name in script.COLUMNS} | {"index": 7, "arch": "|none~0|+|none~0|none~1|+|a~0|b~1|c~2|"}
    script._prepare_append(out)
    script.append_rows(out, [row, row | {"index": 9}])
    with out.open("a") as handle:
        handle.write("11,|none~0|,3.0")  # a crash in the middle of a row
    assert [r["index"] for r in script.read_rows(out)] == ["7", "9"]
    script._prepare_append(out)  # the cut row goes, the next rows start on their own line
    script.append_rows(out, [row | {"index": 11}, row | {"index": 7, "seconds": 2.5}])
    rows = script.read_rows(out)
    assert [r["index"] for r in rows] == ["7", "9", "11"]
    assert rows[0]["seconds"] == "1.5"  # the first row of an index wins
    # A fixed permutation, so that a run with a larger --archs extends the subset of a smaller one.
    order = script.arch_order(100)
    assert np.array_equal(order, script.arch_order(100))
    assert sorted(order) == list(range(100))
    assert not np.array_equal(order, np.arange(100))


def test_kept_nb201_table_is_what_the_script_computes():
    """experiments/data/nb201_free_labels.csv.xz stands in for an hour of CPU: it must hold every arch,
    and the labels the committed code gives today (a few archs recomputed; proxies to float noise)."""
    import pandas as pd

    script = _script()
    table = pd.read_csv(Path(__file__).resolve().parents[1] / "experiments/data/nb201_free_labels.csv.xz")
    assert list(table.columns) == list(script.COLUMNS)
    assert sorted(table["index"]) == list(range(15_625))
    assert table[[*GRAPH_LABELS, *PROXY_LABELS]].notna().all().all()
    kept = table.set_index("index")
    for index in (0, 7, 15_624):
        fresh = script.labels_of_arch(index, batch_size=8, seed=0)
        assert fresh["arch"] == kept.loc[index, "arch"]
        for name in GRAPH_LABELS:
            assert fresh[name] == pytest.approx(kept.loc[index, name]), name
        for name in PROXY_LABELS:
            assert fresh[name] == pytest.approx(kept.loc[index, name], rel=1e-3, abs=1e-6), name
