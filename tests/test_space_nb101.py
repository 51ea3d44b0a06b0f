"""The NB101 space (NASLib's 500-row zero-cost sample and 30 full NB101 records, any valid cell
parsed and built): the generic contract, parsing and its errors, canonical forms against NB101's
hash, the partial table, reference values, costs against torch and both data files, the direct ONNX
builder against the exporter, and the command-line tools on it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from baselines.encoding import dag_spec_for, encode_dags, flat_encoding
from search_spaces import NoBenchmarkDataError, SearchSpace, TabularSpace, UnknownMetricError, get_space
from search_spaces.nb101 import MetricNotMeasuredError, Nb101Arch, Nb101Space, make_arch
from search_spaces.nb101.arch import EDGE_PARAMS, INNER_OPS, OP_PARAMS, prune
from search_spaces.nb101.costs import count_params, naslib_flops
from search_spaces.vendored import VendoredData

C3, C1, MP = INNER_OPS


def cell(ops: str, rows: str) -> Nb101Arch:
    """A cell from its inner ops (space-separated) and adjacency rows (space-separated)."""
    return make_arch([[int(b) for b in row] for row in rows.split()], ["input", *ops.split(), "output"])


# Cells for the builder-vs-exporter check: every op, input->output (alone, with a concat, with one
# vertex), channel truncation (43/43/42 and 86/85/85 splits, with a merged repeat), merged pools
# and adds (two vertices reading the same tensors), a 7-vertex chain, a cell with a dead vertex.
BUILDER_CELLS = [
    cell("", "01 00"),
    cell(f"{C3} {MP} {C1}", "01011 00110 00010 00001 00000"),
    cell(f"{C3} {C1} {MP} {C3}", "010000 001110 000001 000001 000001 000000"),
    cell(f"{C3} {MP} {MP}", "01000 00110 00001 00001 00000"),
    cell(f"{C3} {C1} {MP} {C3}", "011000 000110 000110 000001 000001 000000"),
    cell(f"{C1} {MP} {MP} {C3}", "011001 000110 000110 000001 000001 000000"),
    cell(f"{C3} {C3} {C3} {C3} {C3}", "0100001 0010000 0001000 0000100 0000010 0000001 0000000"),
    cell(f"{MP}", "011 001 000"),
    cell(f"{C1} {C3} {MP}", "01110 00001 00001 00001 00000"),
]
OFF_TABLE = cell(f"{C3} {C3} {C3} {C3} {C3}", "0100001 0010000 0001000 0000100 0000010 0000001 0000000")


@pytest.fixture(scope="module")
def space() -> Nb101Space:
    space = get_space("nb101")
    assert isinstance(space, Nb101Space)
    return space


@pytest.fixture(scope="module")
def data():
    vendored = VendoredData("search_spaces.nb101")
    return vendored.table("nb101_500_zc_valacc_naslib"), vendored.json("nb101_sample30_naslib")


def raw_pruned(matrix: str, ops: str) -> Nb101Arch:
    """A table row's cell pruned as the NB101 API prunes it, vertex order kept (not canonical)."""
    kept, kept_ops = prune(np.array(json.loads(matrix)), ops.split("|"))  # type: ignore[misc]
    return Nb101Arch(tuple(kept_ops), tuple(tuple(int(b) for b in row) for row in kept.tolist()))


# --- the generic contract (as tests/test_space_contract.py checks every space) --------------------
def test_nb101_implements_the_contract(space):
    assert isinstance(space, SearchSpace) and isinstance(space, TabularSpace)
    assert space.complete is False and space.free_metrics == {"flops", "params"} and space.size == 321
    assert len(space.distributions()) == 26
    rng = np.random.default_rng(0)
    for _ in range(8):
        arch = space.sample(rng)
        assert isinstance(arch, Nb101Arch) and hash(arch) == hash(Nb101Arch(arch.ops, arch.matrix))
        assert space.parse(str(arch)) == arch
        assert space.from_params(space.to_params(arch)) == arch
        assert set(space.to_params(arch)) == set(space.distributions())
        mutated = space.mutate(arch, rng)
        assert mutated != arch and space.has_data(mutated)
        assert space.arch(space.index(arch)) == arch
    with pytest.raises(ValueError):
        space.parse("not an architecture")


def test_metrics_have_direction_and_unit(space):
    arch = space.archs()[3]
    for name, metric in space.metrics.items():
        assert space.metric(name) == metric and metric.direction in ("maximize", "minimize") and metric.unit
        value = space.values(name)[3]
        if np.isnan(value):  # the 30 records' metrics, for a cell outside them
            with pytest.raises(MetricNotMeasuredError, match=f"has no {name}: .* for 30 of its 321"):
                space.query(arch, name)
            assert not space.has_data(arch, [name])
            continue
        assert np.isclose(space.query(arch, name), value)
        assert np.isclose(space.query_many([arch, str(arch)], name), value).all()
    assert {f"zc_{p}" for p in ("snip", "jacov", "grad_norm", "plain", "epe_nas", "fisher", "grasp")} < set(
        space.metrics
    )
    with pytest.raises(UnknownMetricError, match="valid metrics"):
        space.metric("no_such_metric")


def test_networks_texts_and_graphs(space):
    import onnx

    arch = space.archs()[5]
    module = space.build_model(arch)
    with torch.no_grad():
        out = module(space.example_input(2))
    assert out.shape == (2, 10)
    assert isinstance(space.onnx_model(arch), onnx.ModelProto)
    text = space.onnx_text(arch)
    assert space.to_texts([arch, str(arch), 5, text]) == [text] * 4
    batch = encode_dags([arch, space.archs()[6]])
    assert dag_spec_for([arch]) == space.graph_spec() and batch.node_ops.shape == (2, 7)


# --- parsing, canonical forms and NB101's hash ------------------------------------------------
@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("input|output", "expected e.g."),
        ("input|conv3x3-bn-relu|output;011,001", "3 ops need 3 adjacency rows"),
        ("input|conv3x3-bn-relu|output;012,001,000", "must be 0/1 strings"),
        ("input|conv5x5|output;011,001,000", "vertex 1 has op 'conv5x5'; valid inner ops: conv3x3-bn-relu"),
        ("input|conv3x3-bn-relu|output;011,101,000", "not strictly upper triangular"),
        ("input|conv3x3-bn-relu|output;011,011,000", "not strictly upper triangular"),
        ("conv3x3-bn-relu|input|output;011,001,000", "first op must be 'input' and the last 'output'"),
        ("input|conv3x3-bn-relu|output;010,000,000", "no path from input to output"),
        ("input|" + "maxpool3x3|" * 6 + "output;" + ",".join(["0" * 8] * 8), "8 vertices; a cell has 2 to 7"),
        (
            "input|" + "maxpool3x3|" * 5 + "output;0111111,0011111,0001111,0000111,0000011,0000001,0000000",
            "21 edges on input-output paths; NB101 allows at most 9",
        ),
    ],
)
def test_parse_errors_name_the_problem(space, text, problem):
    with pytest.raises(ValueError, match="invalid NB101 cell") as caught:
        space.parse(text)
    assert problem in str(caught.value) and "\n" not in str(caught.value)


def test_pruning_and_isomorphic_cells_give_one_arch():
    small = cell(f"{C3} {MP}", "0110 0001 0001 0000")
    assert str(small) == "input|conv3x3-bn-relu|maxpool3x3|output;0110,0001,0001,0000"
    # The same cell with its inner vertices swapped, and with a dangling vertex (no way to the output).
    assert cell(f"{MP} {C3}", "0110 0001 0001 0000") == small
    assert cell(f"{C3} {C1} {MP}", "01010 00101 00000 00001 00000") == small
    # 10 edges before pruning (vertices 3-5 get no input), 4 after: valid, as the NB101 API counts.
    pruned = cell(f"{C3} {C1} {C1} {C1} {MP}", "0100001 0010000 0000001 0000111 0000011 0000001 0000000")
    assert pruned == cell(f"{C3} {C1}", "0101 0010 0001 0000") and pruned.num_edges == 4


def test_nb101_hash_and_representatives(data):
    frame, records = data
    for record in records:
        arch = make_arch(record["module_adjacency"], record["module_operations"])
        assert arch.graph_hash == record["hash"]
        # NB101 stores the representative its generator met first: the canonical form is that cell.
        assert arch.ops == tuple(record["module_operations"])
        assert arch.matrix == tuple(tuple(row) for row in record["module_adjacency"])
    archs = [make_arch(json.loads(m), o.split("|")) for m, o in zip(frame["adjacency_7x7"], frame["ops"], strict=True)]
    hashes = [a.graph_hash for a in archs]
    # Equal archs <=> equal hashes over the 500 rows (as many pairs as either alone).
    assert len(set(archs)) == len(set(hashes)) == len(set(zip(archs, hashes, strict=True))) == 292


def test_optuna_parameters_cover_the_full_space(space):
    params = space.to_params(cell(f"{C3} {MP}", "0110 0001 0001 0000"))
    assert len([p for p in params if p.startswith("edge_")]) == len(EDGE_PARAMS) == 21 and len(OP_PARAMS) == 5
    # A 4-vertex cell: inner vertices in 1, 2; the output stays vertex 6; vertices 3-5 unused.
    assert params["edge_0_1"] == params["edge_0_2"] == params["edge_1_6"] == params["edge_2_6"] == 1
    assert sum(params[p] for p in EDGE_PARAMS) == 4 and (params["op_1"], params["op_2"]) == (C3, MP)
    assert space.from_params({**params, "edge_3_6": 1}) == space.from_params(params)  # dead vertex pruned
    everything = {**dict.fromkeys(EDGE_PARAMS, 1), **dict.fromkeys(OP_PARAMS, C1)}
    with pytest.raises(ValueError, match="21 edges .* at most 9"):
        space.from_params(everything)
    nothing = {**dict.fromkeys(EDGE_PARAMS, 0), **dict.fromkeys(OP_PARAMS, C1)}
    with pytest.raises(ValueError, match="no path from input to output"):
        space.from_params(nothing)
    assert space.has_data(space.nearest_to_params(everything))
    assert space.has_data(space.nearest_with_data(OFF_TABLE))


# --- the partial table ----------------------------------------------------------------------
def test_cells_outside_the_table(space):
    assert not space.has_data(OFF_TABLE) and space.parse(str(OFF_TABLE)) == OFF_TABLE
    with pytest.raises(NoBenchmarkDataError, match="has no benchmark data: .*'nb101'.* covers 321"):
        space.index(OFF_TABLE)
    with pytest.raises(NoBenchmarkDataError, match="metrics computed for any arch: flops, params"):
        space.query(OFF_TABLE, "acc")
    assert space.query(OFF_TABLE, "params") == count_params(OFF_TABLE) / 1e6 > 0
    assert space.query(OFF_TABLE, "flops") > 0
    assert space.onnx_text(OFF_TABLE).count("local.Nb101Cell") == 9


def test_table_values_from_both_files(space, data):
    frame, records = data
    table = space.table
    assert len(table.row_archs) == 500 and int(table.rows.sum()) == 500 and (table.rows[:292] > 0).all()
    assert (table.rows[292:] == 0).all()
    # A cell's table values are the means over its rows (the input-output cell: 55 rows).
    io = space.index(cell("", "01 00"))
    rows = [i for i, a in enumerate(table.row_archs) if a == cell("", "01 00")]
    assert len(rows) == table.rows[io] == 55
    assert space.query(io, "acc") == pytest.approx(frame["val_accuracy"][rows].mean())
    assert space.query(io, "zc_synflow") == pytest.approx(frame["synflow"][rows].mean())
    assert space.values("acc")[0] == frame["val_accuracy"][0] and table.rows[0] == 1
    by_hash = {r["hash"]: r for r in records}
    # The cell in both files: the table's accuracy is one of its 3 runs (the second).
    both = [a for a in table.archs[:292] if a.graph_hash in by_hash]
    assert len(both) == 1
    runs = by_hash[both[0].graph_hash]["epochs"]["108"]
    assert space.query(both[0], "acc") == runs[1]["final_validation_accuracy"] * 100
    # A record-only cell: acc is the mean of its 3 runs; zero-cost proxies are missing.
    first = records[0]
    arch = make_arch(first["module_adjacency"], first["module_operations"])
    assert space.index(arch) == 292 and not space.has_data(arch, ["zc_snip"])
    runs = first["epochs"]["108"]
    assert space.query(arch, "test_acc") == pytest.approx(np.mean([r["final_test_accuracy"] for r in runs]) * 100)
    assert space.query(arch, "test_acc") == pytest.approx(92.1007, abs=1e-4)
    assert space.query(arch, "acc") == pytest.approx(np.mean([r["final_validation_accuracy"] for r in runs]) * 100)
    assert space.query(arch, "train_time") == pytest.approx(np.mean([r["final_training_time"] for r in runs]))
    assert np.count_nonzero(~np.isnan(space.values("test_acc"))) == 30
    assert np.count_nonzero(~np.isnan(space.values("zc_snip"))) == 292


def test_sample_is_uniform_over_the_table_and_mutate_stays_near(space):
    rng = np.random.default_rng(1)
    counts = np.bincount([space.index(space.sample(rng)) for _ in range(3210)], minlength=space.size)
    assert counts.min() > 0 and counts.max() < 30
    names = sorted(space.distributions())

    def distance(a, b):
        pa, pb = space.to_params(a), space.to_params(b)
        return sum(pa[n] != pb[n] for n in names)

    arch = space.archs()[10]
    distances = sorted(distance(arch, other) for other in space.archs() if other != arch)
    mutants = {space.mutate(arch, rng) for _ in range(20)}
    assert len(mutants) > 1 and all(distance(arch, m) <= distances[4] for m in mutants)
    assert space.has_data(space.mutate(OFF_TABLE, rng))


# --- costs ----------------------------------------------------------------------------------
def test_params_match_nb101_and_the_table(space, data):
    frame, records = data
    for record in records:
        arch = make_arch(record["module_adjacency"], record["module_operations"])
        assert count_params(arch) == record["trainable_parameters"]
    # NASLib counted its model of each row's own vertex order (pruned, not canonical): reproduced exactly.
    raw = [raw_pruned(m, o) for m, o in zip(frame["adjacency_7x7"], frame["ops"], strict=True)]
    np.testing.assert_allclose([count_params(a) / 1e6 for a in raw], frame["params"], rtol=0, atol=1e-9)
    np.testing.assert_allclose([naslib_flops(a) / 1e6 for a in raw], frame["flops"], rtol=0, atol=1e-6)
    # The canonical order (the one NB101 trained) moves a spare channel between vertices in 28 rows.
    ours = np.array([space.query(a, "params") for a in space.table.row_archs])
    assert np.count_nonzero(np.abs(ours - frame["params"]) > 1e-9) == 28
    assert np.abs(ours / frame["params"] - 1).max() < 0.01


@pytest.mark.parametrize("arch", [BUILDER_CELLS[0], BUILDER_CELLS[2], BUILDER_CELLS[5]], ids=str)
def test_params_and_flops_match_torch(space, arch):
    from torch.utils.flop_counter import FlopCounterMode

    module = space.build_model(arch)
    params = sum(p.numel() for p in module.parameters())
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module(space.example_input(1))
    assert space.query(arch, "params") == pytest.approx(params / 1e6, abs=0)
    assert space.query(arch, "flops") == pytest.approx(counter.get_total_flops() / 1e6, abs=0)


def test_known_costs(space):
    # input -> output only: stem, one 1x1 projection per cell, dense (the table's 0.88257 M).
    assert space.query(cell("", "01 00"), "params") == 0.88257
    assert space.query(cell("", "01 00"), "flops") == 275.523584  # 2 x multiply-accumulates, in millions


# --- ONNX text --------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("arch", BUILDER_CELLS, ids=str)
def test_direct_builder_text_equals_exported_text(space, arch):
    assert space.onnx_text(arch) == space.onnx_text_exported(arch)


def test_text_folds_cells_and_parses_back_into_the_network(space):
    import onnxruntime as ort
    from onnx import numpy_helper

    from nasrlm.text.onnx_text import canonicalize_with_weight_map, export_module, parse_text

    arch = BUILDER_CELLS[2]  # truncations: one function per stack (different slice widths)
    net = space.build_model(arch)
    x = space.example_input(1)
    with torch.no_grad():
        expected = net(x).numpy()
    model = export_module(net, x)
    _canonical, weight_map = canonicalize_with_weight_map(model)
    text = space.onnx_text(arch)
    assert text.count("local.Nb101Cell ") == 3 and text.count("local.Nb101Cell_2 ") == 3
    parsed = parse_text(text)
    initializers = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    feeds = {"x": x.numpy(), **{w: initializers[src] for w, src in weight_map.items()}}
    session = ort.InferenceSession(parsed.SerializeToString(), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, feeds)
    assert out.shape == (1, 10)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def test_onnx_model_runs_at_any_batch_size(space):
    import onnxruntime as ort

    from nasrlm.hardware.latency import onnx_with_weights

    model = onnx_with_weights(space.onnx_model(BUILDER_CELLS[1], batch_size=3), np.random.default_rng(0))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"input": np.zeros((3, 3, 32, 32), dtype=np.float32)})
    assert out.shape == (3, 10)


# --- the graph predictors' DAG -----------------------------------------------------------------
def test_graph_spec_pads_before_the_output(space):
    spec = space.graph_spec()
    assert spec.max_nodes == 7 and spec.op_names == ("input", C3, C1, MP, "output")
    small = cell(f"{C3} {MP}", "0110 0001 0001 0000")
    dag = spec.to_dag(small)
    assert dag.ops == (0, 1, 3, -1, -1, -1, 4)
    assert dag.adjacency[0, 1] == dag.adjacency[1, 6] == dag.adjacency[2, 6] == 1 and dag.adjacency.sum() == 4
    batch = encode_dags([small, OFF_TABLE])
    assert batch.mask.tolist() == [[True, True, True, False, False, False, True], [True] * 7]
    flat = flat_encoding([small])
    assert flat.shape == (1, spec.flat_size) and flat[0, : 7 * 5].reshape(7, 5)[3:6].sum() == 0
