"""TransNAS-Bench-101's macro space: the contract, the constraints, the partial table (725 of 3,256
archs; two tasks on 662 of those), the network against the table's own counts, the direct ONNX
builder against the exporter, and the command-line tools on the space."""

from __future__ import annotations

import math

import numpy as np
import pytest

from baselines.encoding import dag_spec_for, encode_dags
from search_spaces import NoBenchmarkDataError, SearchSpace, TabularSpace, UnknownMetricError, get_space
from search_spaces.transnas_macro import TransnasMacroArch, TransnasMacroSpace
from search_spaces.transnas_macro.arch import all_archs
from search_spaces.transnas_macro.costs import blocks, count_flops, count_macs, count_params, has_projection
from search_spaces.transnas_macro.tables import TASKS, load_table

SPACE = "transnas_macro"


@pytest.fixture
def space() -> TransnasMacroSpace:
    chosen = get_space(SPACE)
    assert isinstance(chosen, TransnasMacroSpace)
    return chosen


def outside_archs(space: TransnasMacroSpace) -> list[TransnasMacroArch]:
    table = set(space.archs())
    return [a for a in all_archs() if a not in table]


def unmeasured(space: TransnasMacroSpace, metric: str) -> list[TransnasMacroArch]:
    return [a for a, v in zip(space.archs(), space.values(metric), strict=True) if math.isnan(v)]


# --- the space ----------------------------------------------------------------------------------
def test_the_full_space_has_the_paper_s_3256_networks_and_the_table_725():
    assert len(all_archs()) == 3256  # TransNAS-Bench-101: "Search space 'macro' contains 3256 architectures"
    space = get_space(SPACE)
    assert space.size == 725 and len(set(space.archs())) == 725 and not space.complete
    assert set(space.archs()) <= set(all_archs())
    # The file's own idx column is the index.
    assert str(space.archs()[0]) == "64-231341-basic" and space.archs()[0].op_indices == (2, 3, 1, 3, 4, 1)


def test_the_contract(space):
    assert isinstance(space, SearchSpace) and isinstance(space, TabularSpace)
    rng = np.random.default_rng(0)
    for _ in range(20):
        arch = space.sample(rng)
        assert isinstance(arch, TransnasMacroArch) and space.has_data(arch)
        assert space.parse(str(arch)) == arch and space.parse(str(arch.op_indices)) == arch
        assert space.from_params(space.to_params(arch)) == arch
        assert set(space.to_params(arch)) == set(space.distributions())
        child = space.mutate(arch, rng)
        assert child != arch and space.has_data(child)
        assert sum(a != b for a, b in zip(child.op_indices, arch.op_indices, strict=True)) <= 2
        assert space.arch(space.index(arch)) == arch
    with pytest.raises(ValueError):
        space.parse("not an architecture")


def test_mutate_picks_among_the_nearest_table_archs(space):
    rng = np.random.default_rng(1)
    arch = space.archs()[10]
    children = {space.mutate(arch, rng) for _ in range(60)}

    def distance(other):
        return sum(a != b for a, b in zip(other.op_indices, arch.op_indices, strict=True))

    fifth = sorted(distance(a) for a in space.archs() if a != arch)[4]
    assert len(children) > 1 and all(0 < distance(c) <= fifth for c in children)
    outside = outside_archs(space)[0]
    assert space.has_data(space.mutate(outside, rng))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("64-123-basic", "3 modules; a network has 4 to 6"),
        ("1234567", "7 modules"),
        ("64-1251-basic", "module kind 5 is not one of 1, 2, 3, 4"),
        ("1111", "0 downsampling modules"),
        ("343434", "6 downsampling modules"),  # also 3 doublings
        ("3333", "0 channel-doubling modules"),
        ("242423", "5 channel-doubling modules"),
        ("(1, 2, 0, 4, 3, 0)", "0 (no module) may only pad the end"),
        ("(1, 2, 4, 3)", "4 slots, NASLib's form has 6"),
        ("64-1243-bottleneck", "expected e.g. '64-1242-basic'"),
    ],
)
def test_parse_errors_name_the_problem(space, text, message):
    with pytest.raises(ValueError, match=r"not a TransNAS macro arch") as info:
        space.parse(text)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_string_forms():
    arch = TransnasMacroArch.from_str("(1, 2, 4, 2, 0, 0)")
    assert str(arch) == "64-1242-basic" and arch.modules == (1, 2, 4, 2)
    assert TransnasMacroArch.from_str("1242") == arch == TransnasMacroArch.from_str(" 64-1242-basic ")
    assert hash(arch) == hash(TransnasMacroArch((1, 2, 4, 2)))
    with pytest.raises(ValueError, match="invalid TransNAS macro network"):
        TransnasMacroArch((1, 1, 1, 1))


def test_optuna_params_describe_the_full_space(space):
    dists = space.distributions()
    assert list(dists) == [f"module_{i}" for i in range(6)]
    assert dists["module_0"].choices == (1, 2, 3, 4) and dists["module_5"].choices == (0, 1, 2, 3, 4)
    outside = outside_archs(space)[0]
    assert space.from_params(space.to_params(outside)) == outside
    bad = {**space.to_params(TransnasMacroArch.from_str("123411")), "module_4": 0}  # a gap before module 5
    with pytest.raises(ValueError, match="may only pad the end"):
        space.from_params(bad)
    with pytest.raises(ValueError, match="downsampling"):
        space.from_params({f"module_{i}": 1 for i in range(6)})
    nearest = space.nearest_to_params(bad, metrics=["class_scene_acc"])
    assert space.has_data(nearest, ["class_scene_acc"])


# --- the table ----------------------------------------------------------------------------------
def test_tasks_cover_662_or_725_archs_and_metrics_have_direction_and_unit(space):
    counts = {t.metric: int(np.count_nonzero(~np.isnan(space.values(t.metric)))) for t in TASKS}
    assert counts == {
        "class_scene_acc": 662,
        "class_object_acc": 662,
        "jigsaw_acc": 725,
        "room_layout_neg_loss": 725,
        "segmentsemantic_acc": 725,
        "normal_ssim": 725,
        "autoencoder_ssim": 725,
    }
    assert len(space.metrics) == 7 + 7 * 8 + 2
    arch = space.archs()[3]
    for name, metric in space.metrics.items():
        assert space.metric(name) == metric and metric.direction in ("maximize", "minimize") and metric.unit
        values = space.values(name)
        assert values.shape == (725,) and not values.flags.writeable
        measured = values[~np.isnan(values)]
        low, high = metric.valid_range
        assert ((measured >= low) & (measured <= high)).all(), name
        value = space.query(arch, name)
        assert np.isclose(value, values[3]) and np.isclose(space.query_many([arch, str(arch)], name), value).all()
    assert space.metric("room_layout_neg_loss").valid_range[1] == 0.0
    assert space.metric("params").direction == "minimize" and space.metric("flops").unit == "MFLOPs"
    with pytest.raises(UnknownMetricError, match="valid metrics"):
        space.metric("acc")


def test_reference_values_from_the_file(space):
    arch = space.parse("(1, 2, 4, 2, 0, 0)")  # the file's first row
    assert space.query(arch, "class_scene_acc") == pytest.approx(54.29438781738281)
    assert space.query(arch, "class_scene_zc_nwot") == pytest.approx(502.8109690217562)
    assert space.query(arch, "class_scene_zc_snip") == pytest.approx(70.1485595703125)
    for metric in ("room_layout_neg_loss", "normal_ssim", "autoencoder_ssim"):
        assert space.query(arch, metric) <= (0 if metric.startswith("room") else 1)


def test_a_metric_a_task_did_not_measure_raises_no_data(space):
    missing = unmeasured(space, "class_scene_acc")
    assert len(missing) == 63 and missing == unmeasured(space, "class_object_acc")
    arch = missing[0]
    assert space.has_data(arch) and not space.has_data(arch, ["class_scene_acc"])
    assert space.query(arch, "jigsaw_acc") > 0
    with pytest.raises(NoBenchmarkDataError, match=r"has no class_scene_acc data: .* on 662 of its 725"):
        space.query(arch, "class_scene_acc")
    assert space.has_data(space.nearest_with_data(arch, metrics=["class_scene_acc"]), ["class_scene_acc"])


def test_an_arch_outside_the_table_has_free_metrics_only(space):
    outside = outside_archs(space)
    assert len(outside) == 3256 - 725
    arch = outside[0]
    assert space.parse(str(arch)) == arch and not space.has_data(arch)
    assert space.query(arch, "params") == pytest.approx(count_params(arch.modules) / 1e6)
    assert space.query(arch, "flops") > 0
    with pytest.raises(NoBenchmarkDataError, match=r"has no benchmark data: .*725 architectures.*flops, params"):
        space.query(arch, "jigsaw_acc")
    with pytest.raises(NoBenchmarkDataError):
        space.index(arch)


# --- the network ---------------------------------------------------------------------------------
# 64-1242 has all three block variants (identity, 1x1 projection, strided 1x1 projection); 64-311224 has
# six modules and a strided projection that keeps the channels.
COVERING = ["64-1242-basic", "64-311224-basic", "64-44411-basic", "64-2311-basic"]


@pytest.mark.slow
@pytest.mark.parametrize("text", COVERING[:2])
def test_params_and_flops_match_torch(space, text):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    arch = space.parse(text)
    net = space.build_model(arch)
    assert sum(p.numel() for p in net.parameters()) == count_params(arch.modules)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = net(space.example_input(1))
    assert out.shape == (1, 47)
    assert counter.get_total_flops() == count_flops(arch.modules) == round(space.query(arch, "flops") * 1e6)


def tensorwatch_flops(modules: tuple[int, ...], num_classes: int, resolution: int = 256) -> int:
    """FLOPs as NASLib's table counts them (tensorwatch's torchstat, batch 1): conv and linear
    multiply-accumulates, 2 per BatchNorm output element, 1 per ReLU element, and (h+1)**2 per
    channel for the final adaptive pooling. Every term needs our layer shapes to be NASLib's."""
    h = resolution // 2
    elementwise = 2 * 32 * h * h + 32 * h * h  # stem BN, then the ReLU before the second stem conv
    h //= 2
    elementwise += 2 * 64 * h * h
    c = 64
    for c_in, c_out, stride in blocks(modules):
        elementwise += c_in * h * h  # ReLU before conv_a
        h //= stride
        elementwise += 2 * c_out * h * h + c_out * h * h + 2 * c_out * h * h  # BN, ReLU, BN
        if has_projection(c_in, c_out, stride):
            elementwise += 2 * c_out * h * h
        c = c_out
    return count_macs(modules, num_classes, resolution) + elementwise + c * (h + 1) ** 2


def test_counts_agree_with_the_table_s_columns():
    """NASLib's model for class_scene (whose columns the table holds) has a 63-class head, not
    TransNAS-Bench-101's 47: with it, our parameter count and our layer shapes give the table's
    params and FLOPs exactly, for every arch. Other tasks: the same encoder, other decoders."""
    table = load_table()
    measured = ~np.isnan(table.table_params["class_scene"])
    archs = [a for a, m in zip(table.archs, measured, strict=True) if m]
    params = np.array([count_params(a.modules, num_classes=63) for a in archs]) / 1e6
    assert np.allclose(params, table.table_params["class_scene"][measured], rtol=0, atol=5e-7)
    flops = np.array([tensorwatch_flops(a.modules, num_classes=63) for a in archs]) / 1e6
    assert np.allclose(flops, table.table_flops["class_scene"][measured], rtol=0, atol=5e-7)
    room = np.array([count_params(a.modules, num_classes=9) for a in table.archs]) / 1e6  # 9 layout numbers
    assert np.allclose(room, table.table_params["room_layout"], rtol=0, atol=5e-7)
    # Our free metrics (47 classes, FLOPs = 2 x MACs) differ from the table's by the head and convention.
    ours = np.array([count_flops(a.modules) for a in archs]) / 1e6
    ratio = ours / table.table_flops["class_scene"][measured]
    assert (ratio > 1.97).all() and (ratio < 2.0).all()  # measured: 1.976 to 1.998


def test_build_model_is_deterministic(space):
    import torch

    arch = space.parse(COVERING[3])
    first, second = space.build_model(arch), space.build_model(arch)
    assert not first.training
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.slow
def test_direct_text_equals_the_exported_text(space):
    for text in COVERING[:2]:
        arch = space.parse(text)
        assert space.onnx_text(arch) == space.onnx_text_exported(arch), text


def test_text_parses_back_and_runs(space):
    import onnxruntime as ort

    from nasrlm.hardware.latency import onnx_with_weights
    from nasrlm.text.onnx_text import parse_text

    arch = space.parse(COVERING[1])
    text = space.onnx_text(arch)
    assert "local.BasicBlock_2" in text and parse_text(text) is not None
    fifth = space.archs()[5]
    assert space.to_texts([fifth, str(fifth), 5, space.onnx_text(fifth)]) == [space.onnx_text(fifth)] * 4
    model = onnx_with_weights(space.onnx_model(arch, batch_size=2), np.random.default_rng(0))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {session.get_inputs()[0].name: space.example_input(2).numpy()})
    assert out.shape == (2, 47)


def test_graph_spec_is_a_chain(space):
    spec = space.graph_spec()
    arch = space.parse("64-311224-basic")
    dag = spec.to_dag(arch)
    assert dag.ops == (0, 3, 1, 1, 2, 2, 4, 5) and len(dag.ops) <= spec.max_nodes
    assert dag.adjacency.sum() == len(dag.ops) - 1
    batch = encode_dags([arch, space.archs()[6]])
    assert dag_spec_for([arch]) == spec and batch.node_ops.shape[0] == 2
