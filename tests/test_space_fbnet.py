"""The FBNet space (HW-NAS-Bench's CIFAR-100 macro-architecture, HELP's 5,000-arch latency table):
the generic contract, parsing, the partial table, reference values, costs against torch, the direct
ONNX builder against the exporter, and the command-line tools on it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from baselines.encoding import dag_spec_for, encode_dags
from search_spaces import NoBenchmarkDataError, SearchSpace, TabularSpace, UnknownMetricError, get_space
from search_spaces.fbnet import LAYERS, OPS, FbnetArch, FbnetSpace
from search_spaces.fbnet.tables import DEVICES
from search_spaces.vendored import VendoredData

# Arch j puts op (j + layer) % 9 at each layer: over the 9, every op sits at every layer, so at every
# kind of position (residual, channel change, stride 2 with a channel change, the last layer).
ROTATED = [FbnetArch(tuple(OPS[(j + layer) % len(OPS)] for layer in range(len(LAYERS)))) for j in range(len(OPS))]
OFF_TABLE = FbnetArch(("k3_e1",) * len(LAYERS))


@pytest.fixture(scope="module")
def space() -> FbnetSpace:
    space = get_space("fbnet")
    assert isinstance(space, FbnetSpace)
    return space


# --- the generic contract (as tests/test_space_contract.py checks every space) --------------------
def test_fbnet_implements_the_contract(space):
    assert isinstance(space, SearchSpace) and isinstance(space, TabularSpace)
    assert space.complete is False and space.free_metrics == {"flops", "params"} and space.size == 5000
    rng = np.random.default_rng(0)
    for _ in range(5):
        arch = space.sample(rng)
        assert isinstance(arch, FbnetArch) and hash(arch) == hash(FbnetArch(arch.ops))
        assert space.parse(str(arch)) == arch
        assert space.from_params(space.to_params(arch)) == arch
        assert set(space.to_params(arch)) == set(space.distributions()) and len(space.distributions()) == 22
        mutated = space.mutate(arch, rng)
        assert mutated != arch and space.has_data(mutated)
        assert space.arch(space.index(arch)) == arch
    with pytest.raises(ValueError):
        space.parse("not an architecture")


def test_sample_is_uniform_over_the_table_and_mutate_stays_near(space):
    rng = np.random.default_rng(1)
    drawn = {space.index(space.sample(rng)) for _ in range(2000)}
    assert len(drawn) > 1500  # 2,000 uniform draws from 5,000 hit ~1,648 distinct archs
    arch = space.archs()[0]
    by_distance = sorted(sum(a != b for a, b in zip(arch.ops, o.ops, strict=True)) for o in space.archs()[1:])
    distances = [sum(a != b for a, b in zip(arch.ops, space.mutate(arch, rng).ops, strict=True)) for _ in range(60)]
    # mutate picks among the 5 nearest table archs (13 and 14 differing layers here)
    assert min(distances) == by_distance[0] and max(distances) <= by_distance[4]


def test_metrics_have_direction_and_unit(space):
    arch = space.archs()[3]
    for name, metric in space.metrics.items():
        assert space.metric(name) == metric and metric.direction == "minimize" and metric.unit
        value = space.query(arch, name)
        assert np.isclose(value, space.values(name)[3])
        assert np.isclose(space.query_many([arch, str(arch)], name), value).all()
        assert not space.values(name).flags.writeable
    with pytest.raises(UnknownMetricError, match="valid metrics"):
        space.metric("no_such_metric")
    assert "acc" not in space.metrics  # the table has latencies only


def test_networks_texts_and_graphs(space):
    import onnx

    arch = space.archs()[5]
    module = space.build_model(arch)
    with torch.no_grad():
        out = module(space.example_input(2))
    assert out.shape == (2, 100)
    assert isinstance(space.onnx_model(arch), onnx.ModelProto)
    text = space.onnx_text(arch)
    assert space.to_texts([arch, str(arch), 5, text]) == [text] * 4
    batch = encode_dags([arch, space.archs()[6]])
    assert dag_spec_for([arch]) == space.graph_spec() and batch.node_ops.shape[0] == 2


# --- architectures ------------------------------------------------------------------------------
def test_the_op_index_mapping_comes_from_the_data():
    frame = VendoredData("search_spaces.fbnet").table("fbnet_latency_help")
    mapping: dict[int, set[str]] = {}
    for indices, names in zip(frame["op_idx_list"], frame["ops"], strict=True):
        for i, name in zip(indices.split(), names.split(), strict=True):
            mapping.setdefault(int(i), set()).add(name)
    assert {i: names.pop() for i, names in mapping.items() if len(names) == 1} == dict(enumerate(OPS))
    first = [7, 8, 1, 8, 4, 8, 8, 8, 7, 4, 1, 4, 7, 3, 2, 7, 3, 2, 4, 2, 4, 5]  # row 0's op_idx_list
    assert FbnetArch.from_indices(first) == FbnetArch.from_str(frame["ops"][0])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "it is empty"),
        ("k3_e1", "22 layers, got 1 op"),
        ("-".join(["k3_e1"] * 21 + ["k7_e1"]), "layer 22: unknown op 'k7_e1'; valid ops: k3_e1, k3_e1_g2"),
        ("-".join(["skip"] * 4 + ["conv"] + ["skip"] * 17), "layer 5: unknown op 'conv'"),
        ("-".join(["k3_e1"] * 23), "22 layers, got 23"),
        ("k3-e1-" + "-".join(["k3_e1"] * 21), "layer 1: unknown op 'k3'"),
    ],
)
def test_parse_errors_name_the_layer_and_the_valid_ops(space, text, message):
    with pytest.raises(ValueError, match=message) as info:
        space.parse(text)
    assert "\n" not in str(info.value) and "skip" in str(info.value)


def test_strings_round_trip_and_the_table_form_parses(space):
    arch = space.archs()[0]
    assert str(arch).split("-")[:3] == ["k5_e6", "skip", "k3_e1_g2"]
    assert space.parse(" ".join(arch.ops)) == arch == space.parse(f"  {arch}\n")
    with pytest.raises(ValueError, match="layer 3: op index 9"):
        FbnetArch.from_indices([0, 0, 9] + [0] * 19)
    with pytest.raises(ValueError, match="layer_22"):
        space.from_params({f"layer_{i:02d}": "skip" for i in range(1, 22)})


# --- the partial table ------------------------------------------------------------------------
def test_archs_outside_the_table_parse_build_and_have_free_metrics_only(space):
    assert not space.has_data(OFF_TABLE)
    arch = space.parse(str(OFF_TABLE))
    assert space.query(arch, "params") > 0 and space.query(arch, "flops") > 0
    with pytest.raises(NoBenchmarkDataError, match="has no benchmark data.*5,000.*flops, params"):
        space.query(arch, "latency_pixel3")
    with pytest.raises(NoBenchmarkDataError):
        space.index(arch)
    nearest = space.nearest_with_data(arch)
    assert space.has_data(nearest) and space.nearest_with_data(nearest) == nearest
    assert space.onnx_text(arch).startswith("<")


def test_reference_values_from_the_table(space):
    assert set(space.metrics) == {f"latency_{d}" for d in DEVICES} | {"flops", "params"}
    assert len(DEVICES) == 27 and "latency_titan_rtx_32" in space.metrics
    assert "batch size 64" in space.metric("latency_1080ti_64").description
    first = space.archs()[0]
    assert space.query(first, "latency_pixel3") == 17.55774545
    assert space.query(first, "latency_raspi4") == 30.252860404143576
    assert space.query(first, "latency_eyeriss") == 5.229984
    assert space.query(first, "latency_samsung_s7") == 100.0
    assert space.query(1, "latency_titan_rtx_32") == 11.601556481719017
    assert space.values("latency_fpga").shape == (5000,) and not np.isnan(space.values("latency_fpga")).any()


# --- costs ------------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", [ROTATED[0], ROTATED[4], OFF_TABLE, FbnetArch(("skip",) * 22)], ids=str)
def test_params_and_flops_match_torch(space, arch):
    from torch.utils.flop_counter import FlopCounterMode

    module = space.build_model(arch)
    params = sum(p.numel() for p in module.parameters())
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module(space.example_input(1))
    assert space.query(arch, "params") == pytest.approx(params / 1e6, abs=0)
    assert space.query(arch, "flops") == pytest.approx(counter.get_total_flops() / 1e6, abs=0)


def test_known_costs(space):
    # All-skip: stem, five 1x1 projections (where channels or stride change), head and classifier.
    assert space.query(FbnetArch(("skip",) * 22), "params") == 0.78066
    assert space.values("flops")[0] == space.query(space.archs()[0], "flops") == 135.210752


# --- ONNX text --------------------------------------------------------------------------------
@pytest.mark.slow
def test_direct_text_equals_the_exported_text(space):
    """Every op at every layer (9 exports of ~1-2 s each)."""
    for arch in ROTATED:
        assert space.onnx_text(arch) == space.onnx_text_exported(arch), str(arch)


def test_text_parses_back_and_computes_the_network(space):
    import onnxruntime as ort
    from onnx import numpy_helper

    from nasrlm.text.onnx_text import canonicalize_with_weight_map, export_module, parse_text

    arch = ROTATED[1]  # grouped blocks with shuffles, strided skips, residuals
    net = space.build_model(arch)
    x = space.example_input(1)
    with torch.no_grad():
        expected = net(x).numpy()
    model = export_module(net, x)
    _canonical, weight_map = canonicalize_with_weight_map(model)
    text = space.onnx_text(arch)
    parsed = parse_text(text)
    assert "=  {" not in text and "float[1,100] y" in text
    initializers = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    feeds = {"x": x.numpy(), **{w: initializers[src] for w, src in weight_map.items()}}
    session = ort.InferenceSession(parsed.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, feeds)[0], expected, rtol=1e-4, atol=1e-5)


def test_onnx_model_runs_at_any_batch_size(space):
    import onnxruntime as ort

    from nasrlm.hardware.latency import onnx_with_weights

    model = onnx_with_weights(space.onnx_model(ROTATED[5], batch_size=3), np.random.default_rng(0))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"input": np.zeros((3, 3, 32, 32), dtype=np.float32)})
    assert out.shape == (3, 100)


def test_texts_of_table_archs_are_distinct(space):
    # How fast texts are is measured by a script (README: 1,000 in 9.3 s), never by a test: CI is busy.
    archs = space.archs()[100:150]
    assert len({space._make_text(a) for a in archs}) == 50


def test_graph_spec_is_a_chain_of_the_layers(space):
    spec = space.graph_spec()
    dag = spec.to_dag(ROTATED[2])
    assert spec.max_nodes == 24 and len(spec.op_names) == 11
    assert spec.op_names[dag.ops[0]] == "input" and spec.op_names[dag.ops[-1]] == "output"
    assert [spec.op_names[o] for o in dag.ops[1:-1]] == list(ROTATED[2].ops)
    assert dag.adjacency.sum() == 23 and all(dag.adjacency[i, i + 1] == 1 for i in range(23))
