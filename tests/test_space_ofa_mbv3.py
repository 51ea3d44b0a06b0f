"""The OFA-MobileNetV3 space: the contract, its arch form, its table, its networks and text, and the tools on it."""

from __future__ import annotations

import numpy as np
import pytest

from baselines.encoding import dag_spec_for, encode_dags
from nasrlm.hardware import devices
from search_spaces import NoBenchmarkDataError, SearchSpace, TabularSpace, UnknownMetricError, get_space
from search_spaces.ofa_mbv3 import OfaMbv3Arch, OfaMbv3Space, count_flops, count_params
from search_spaces.ofa_mbv3.arch import EXPANDS, KERNELS

# Row 0 of HELP's table, as the vendored CSV holds it (unused slots hold leftover values).
ROW0 = {
    "ks": [7, 5, 5, 5, 7, 7, 5, 7, 5, 7, 3, 7, 5, 3, 7, 3, 5, 3, 5, 3],
    "e": [6, 4, 4, 6, 6, 3, 4, 3, 3, 6, 3, 3, 3, 6, 3, 4, 6, 4, 3, 6],
    "d": [2, 2, 2, 2, 3],
    "r": 204,
}
ROW0_STR = "r204|k7e6,k5e4|k7e6,k7e3|k5e3,k7e6|k5e3,k3e6|k5e6,k3e4,k5e3"
# OFA's "flops@595M_top1@80.0_finetune@75" subnet of the same supernet (its net.config, as in
# Alibaba-MIIL/ImageNet21K); the OFA README gives it 9.1M parameters and 595M MACs at its 236x236 input.
OFA_595M = "r224|k3e3,k5e4,k3e3|k5e4,k5e4,k3e6,k5e3|k7e6,k5e6,k3e3,k5e4|k3e6,k5e6,k7e6,k3e4|k3e6,k3e6,k5e6,k3e3"
# Not in the table (checked below): the largest subnet.
LARGEST = OfaMbv3Arch((7,) * 20, (6,) * 20, (4,) * 5, 224)


def _cover(depths: tuple[int, ...], r: int, offset: int) -> OfaMbv3Arch:
    """An arch whose layers cycle through all 9 (kernel, expand) pairs, starting at ``offset``."""
    pairs = [(k, e) for k in KERNELS for e in EXPANDS]
    ks, es, n = [], [], offset
    for depth in depths:
        for layer in range(4):
            k, e = pairs[n % len(pairs)] if layer < depth else (0, 0)
            n += layer < depth
            ks.append(k)
            es.append(e)
    return OfaMbv3Arch(tuple(ks), tuple(es), depths, r)


# Every kernel/expand pair, every depth in every stage, four resolutions (one not a multiple of 8).
COVERING = (_cover((2, 3, 4, 2, 3), 128, 0), _cover((3, 4, 2, 3, 4), 132, 3), _cover((4, 2, 3, 4, 2), 224, 6))


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NASRLM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(devices, "_REGISTERED", {})


@pytest.fixture(scope="module")
def space() -> OfaMbv3Space:
    space = get_space("ofa_mbv3")
    assert isinstance(space, OfaMbv3Space)
    return space


# --- the contract ---------------------------------------------------------------------------------
def test_the_contract(space):
    assert isinstance(space, SearchSpace) and isinstance(space, TabularSpace)
    assert space.size == 5000 and not space.complete and space.free_metrics == {"flops", "params"}
    rng = np.random.default_rng(0)
    for _ in range(5):
        arch = space.sample(rng)
        assert isinstance(arch, OfaMbv3Arch) and hash(arch) == hash(space.parse(str(arch)))
        assert space.parse(str(arch)) == arch
        assert space.from_params(space.to_params(arch)) == arch
        assert set(space.to_params(arch)) == set(space.distributions())
        distributions = space.distributions()
        for name, value in space.to_params(arch).items():
            assert distributions[name]._contains(distributions[name].to_internal_repr(value))
        mutant = space.mutate(arch, rng)
        assert mutant != arch and space.has_data(mutant)
        assert space.arch(space.index(arch)) == arch
    with pytest.raises(ValueError):
        space.parse("not an architecture")


def test_mutate_is_near_and_works_from_any_arch(space):
    rng = np.random.default_rng(1)
    arch = space.archs()[7]
    params = space.to_params(arch)
    distance = [sum(params[k] != v for k, v in space.to_params(space.mutate(arch, rng)).items()) for _ in range(20)]
    random = [sum(params[k] != v for k, v in space.to_params(space.sample(rng)).items()) for _ in range(20)]
    assert np.mean(distance) < np.mean(random)
    assert space.has_data(space.mutate(LARGEST, rng))


def test_metrics(space):
    arch = space.archs()[3]
    names = set(space.metrics)
    gpus = ("2080ti", "titan_rtx", "titan_xp", "v100")
    assert names == {f"latency_{g}_{b}" for g in gpus for b in (1, 32, 64)} | {"flops", "params"}
    for name, metric in space.metrics.items():
        assert space.metric(name) == metric and metric.direction == "minimize" and metric.unit
        value = space.query(arch, name)
        assert np.isclose(value, space.values(name)[3]) and value > 0
        assert np.isclose(space.query_many([arch, str(arch)], name), value).all()
        assert not space.values(name).flags.writeable and len(space.values(name)) == 5000
    assert "batch of 64 images" in space.metric("latency_titan_xp_64").description
    assert "Titan Xp" in space.metric("latency_titan_xp_64").description
    with pytest.raises(UnknownMetricError, match="valid metrics"):
        space.metric("acc")  # HELP's table has no accuracy


def test_networks_texts_and_graphs(space):
    import onnx

    arch = space.archs()[5]
    module = space.build_model(arch)
    assert not module.training
    assert module(space.example_input(2)).shape == (2, 1000)
    assert module(space.example_input_for(arch, 1)).shape == (1, 1000)
    assert tuple(space.example_input_for(arch, 3).shape) == (3, 3, arch.r, arch.r)
    model = space.onnx_model(arch, batch_size=4)
    assert isinstance(model, onnx.ModelProto)
    assert [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim] == [4, 3, arch.r, arch.r]
    text = space.onnx_text(arch)
    assert f"float[1,3,{arch.r},{arch.r}] x" in text
    assert space.to_texts([arch, str(arch), 5, text]) == [text] * 4
    batch = encode_dags([arch, space.archs()[6]])
    assert dag_spec_for([arch]) == space.graph_spec() and batch.node_ops.shape == (2, 23)


def test_the_graph_is_the_chain_of_layers(space):
    spec = space.graph_spec()
    arch = space.parse(ROW0_STR)
    dag = spec.to_dag(arch)
    names = [spec.op_names[i] for i in dag.ops]
    stages = ["s0_k7_e6", "s0_k5_e4", "s1_k7_e6", "s1_k7_e3", "s2_k5_e3", "s2_k7_e6", "s3_k5_e3", "s3_k3_e6"]
    assert names == ["input", "r204", *stages, "s4_k5_e6", "s4_k3_e4", "s4_k5_e3", "output"]
    assert dag.adjacency.sum() == len(names) - 1 and spec.max_nodes == 23
    assert len(spec.op_names) == 2 + 25 + 45
    assert len({tuple(spec.to_dag(a).ops) for a in space.archs()[:500]}) == 500  # lossless on the table


# --- architectures --------------------------------------------------------------------------------
def test_unused_slots_are_normalized_away(space):
    arch = OfaMbv3Arch(**ROW0)
    assert str(arch) == ROW0_STR and space.archs()[0] == arch and space.index(ROW0_STR) == 0
    assert arch.ks[2:4] == (0, 0) and arch.e[19:] == (0,)
    other = dict(ROW0, ks=[*ROW0["ks"][:2], 3, 3, *ROW0["ks"][4:]])  # differs only in unused slots
    assert OfaMbv3Arch(**other) == arch and hash(OfaMbv3Arch(**other)) == hash(arch)
    params = space.to_params(arch)
    assert params["ks_2"] == 3 and params["e_2"] == 3  # an unused slot reports the smallest choice
    assert space.from_params({**params, "ks_2": 7, "e_19": 6}) == arch
    unused = {"ks_2", "ks_3", "e_2", "e_3"}
    assert space.from_params({k: v for k, v in params.items() if k not in unused}) == arch
    assert arch.config() == {**ROW0, "ks": list(arch.ks), "e": list(arch.e)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("r204|k7e6,k5e4", "expected 'r<resolution>' and 5 stages"),
        ("r200x|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3", "resolution 'r200x'.*128, 132, ..., 224"),
        ("r226|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3", "resolution 'r226'"),
        ("r224|k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3", "stage 0 has 1 layers; valid depths: 2, 3, 4"),
        ("r224|k3e3,k3e3|k3e3,k3e3,k3e3,k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3", "stage 1 has 5 layers"),
        ("r224|k3e3,k3e3|k3e3,k3e3|k4e3,k3e3|k3e3,k3e3|k3e3,k3e3", "stage 2 layer 0 is 'k4e3'.*kernel 3, 5, 7"),
        ("r224|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e5|k3e3,k3e3", "stage 3 layer 1.*expand ratio 3, 4, 6"),
        ("r224|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k03e3", "stage 4 layer 1 is 'k03e3'"),
        ("r0224|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3|k3e3,k3e3", "resolution 'r0224' must be r<pixels>"),
    ],
)
def test_parse_errors_name_the_field_and_the_valid_values(space, text, message):
    with pytest.raises(ValueError, match=message):
        space.parse(text)


def test_constructor_errors_name_the_field():
    with pytest.raises(ValueError, match="depth of stage 4 is 5; valid depths: 2, 3, 4"):
        OfaMbv3Arch((3,) * 20, (3,) * 20, (2, 2, 2, 2, 5), 224)
    with pytest.raises(ValueError, match="kernel size of stage 0 layer 1 is 4; valid kernel sizes: 3, 5, 7"):
        OfaMbv3Arch((3, 4, *(3,) * 18), (3,) * 20, (2,) * 5, 224)
    with pytest.raises(ValueError, match="expand ratio of stage 1 layer 0 is 0"):
        OfaMbv3Arch((3,) * 20, (3,) * 4 + (0,) * 16, (2,) * 5, 224)
    with pytest.raises(ValueError, match="ks .* must have 20 entries"):
        OfaMbv3Arch((3,) * 19, (3,) * 20, (2,) * 5, 224)
    with pytest.raises(ValueError, match="resolution r is 230"):
        OfaMbv3Arch((3,) * 20, (3,) * 20, (2,) * 5, 230)
    with pytest.raises(ValueError, match="missing ofa_mbv3 parameters: d_0"):
        get_space("ofa_mbv3").from_params({"r": 224})


# --- the table ------------------------------------------------------------------------------------
def test_known_values_of_the_table(space):
    """Row 0 of the vendored CSV (HELP's data/ofa/latency/*.pt, index 0)."""
    assert space.query(ROW0_STR, "latency_v100_1") == pytest.approx(7.820444107055664)
    assert space.query(0, "latency_2080ti_64") == pytest.approx(28.88721)
    assert space.query(0, "latency_titan_xp_64") == pytest.approx(55.508513, rel=1e-6)
    assert len(set(space.archs())) == 5000  # 5,000 distinct networks: no duplicate rows
    rs = {a.r for a in space.archs()}
    assert rs == set(range(128, 225, 4))
    # Latency grows with batch on every GPU, as measured whole-batch times should.
    for gpu in ("2080ti", "titan_rtx", "titan_xp", "v100"):
        assert np.median(space.values(f"latency_{gpu}_64")) > np.median(space.values(f"latency_{gpu}_1"))


def test_an_arch_outside_the_table(space):
    arch = space.parse(str(LARGEST))
    assert not space.has_data(arch)
    with pytest.raises(NoBenchmarkDataError, match="has no benchmark data.*5,000.*flops, params"):
        space.query(arch, "latency_v100_1")
    with pytest.raises(NoBenchmarkDataError):
        space.index(arch)
    assert space.query(arch, "params") == pytest.approx(count_params(arch) / 1e6)
    assert space.query(arch, "flops") > max(space.values("flops"))
    assert space.has_data(space.nearest_with_data(arch))
    assert len(space.onnx_text(arch)) > 0


# --- costs ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["covering", "largest", "table"])
def test_flops_and_params_match_torch(space, which):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    arch = {"covering": COVERING[1], "largest": LARGEST, "table": space.archs()[11]}[which]
    module = space.build_model(arch)
    assert sum(p.numel() for p in module.parameters()) == count_params(arch)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module(space.example_input_for(arch))
    assert counter.get_total_flops() == count_flops(arch)
    assert space.query(arch, "flops") == count_flops(arch) / 1e6


def test_costs_match_ofa_published_subnet():
    """OFA README: ofa-595M (flops@595M_top1@80.0_finetune@75) has 9.1M parameters and 595M MACs at 236x236."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from search_spaces.ofa_mbv3 import build_network

    arch = OfaMbv3Arch.from_str(OFA_595M)
    assert count_params(arch) / 1e6 == pytest.approx(9.1, abs=0.05)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        build_network(arch)(torch.zeros(1, 3, 236, 236))  # its resolution is outside the searched 128..224
    assert counter.get_total_flops() / 2e6 == pytest.approx(595, abs=0.5)


# --- ONNX text ------------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", COVERING, ids=str)
def test_direct_text_equals_exported_text(space, arch):
    assert space.onnx_text(arch) == space.onnx_text_exported(arch)


def test_covering_archs_cover_every_choice():
    pairs = {(k, e) for a in COVERING for _, k, e in a.layers()}
    assert pairs == {(k, e) for k in KERNELS for e in EXPANDS}
    assert all({a.d[s] for a in COVERING} == {2, 3, 4} for s in range(5))


def test_text_parses_back_and_runs(space):
    import onnxruntime as ort

    from nasrlm.text.onnx_text import parse_text

    arch = COVERING[1]
    model = parse_text(space.onnx_text(arch))
    rng = np.random.default_rng(0)
    feed = {}
    for value in model.graph.input:
        shape = [d.dim_value for d in value.type.tensor_type.shape.dim]
        feed[value.name] = (rng.standard_normal(shape) * 0.05).astype(np.float32)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, feed)
    assert out.shape == (1, 1000) and np.isfinite(out).all()
    assert feed["x"].shape == (1, 3, arch.r, arch.r)


def test_texts_differ_by_network_and_fold_blocks(space):
    texts = space.to_texts(space.archs()[:20])
    assert len(set(texts)) == 20
    assert all("local.MBConvBlock" in t for t in texts)
