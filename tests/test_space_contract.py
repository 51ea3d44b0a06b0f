"""The space contract, checked the same way on every space (as Optuna checks every sampler), and a toy
space, written as a new space is written, run through the generic tools: converter, GNN encoding,
latency measurement, device tables, search."""

from __future__ import annotations

import numpy as np
import pytest
from toy_space import ToyArch, ToySpace

from baselines.encoding import dag_spec_for, encode_dags
from nasrlm.hardware import devices
from search_spaces import (
    NoBenchmarkDataError,
    SearchSpace,
    TabularSpace,
    UnknownMetricError,
    UnsupportedBySpaceError,
    available_spaces,
    get_space,
    register_space,
    space_of,
)
from search_spaces.base import BaseSpace


@pytest.fixture(autouse=True)
def toy_registered(tmp_path, monkeypatch):
    """The toy space is registered (one line) and device tables go to a private cache folder."""
    monkeypatch.setenv("NASRLM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(devices, "_REGISTERED", {})
    register_space("toy", ToySpace, replace=True)
    yield
    from search_spaces import _FACTORIES

    _FACTORIES.pop("toy", None)
    get_space.cache_clear()


@pytest.fixture(params=["nb201", "nb101", "fbnet", "ofa_mbv3", "transnas_macro", "toy"])
def space(request):
    return get_space(request.param)


def test_registry():
    assert "toy" in available_spaces() and isinstance(get_space("toy"), ToySpace)
    with pytest.raises(ValueError, match="already registered"):
        register_space("toy", ToySpace)
    assert space_of(ToyArch(4, 1, 1)) is get_space("toy")
    with pytest.raises(TypeError, match="not the architecture type of any registered space"):
        space_of(3.5)


def test_every_space_implements_the_contract(space):
    assert isinstance(space, SearchSpace) and isinstance(space, TabularSpace)
    rng = np.random.default_rng(0)
    for _ in range(5):
        arch = space.sample(rng)
        assert isinstance(arch, space.arch_type)
        assert space.parse(str(arch)) == arch
        assert space.from_params(space.to_params(arch)) == arch
        assert set(space.to_params(arch)) == set(space.distributions())
        assert space.mutate(arch, rng) != arch
        assert space.arch(space.index(arch)) == arch
    with pytest.raises(ValueError):
        space.parse("not an architecture")


def test_metrics_have_direction_and_unit(space):
    arch = space.archs()[3]
    for name, metric in space.metrics.items():
        assert space.metric(name) == metric and metric.direction in ("maximize", "minimize") and metric.unit
        if np.isnan(space.values(name)[3]):  # a metric the table measured on part of its archs only
            with pytest.raises(NoBenchmarkDataError, match=name):
                space.query(arch, name)
            assert not space.has_data(arch, [name])
            continue
        value = space.query(arch, name)
        assert np.isclose(value, space.values(name)[3])
        assert np.isclose(space.query_many([arch, str(arch)], name), value).all()
    with pytest.raises(UnknownMetricError, match="valid metrics"):
        space.metric("no_such_metric")


def test_networks_texts_and_graphs(space):
    import onnx

    arch = space.archs()[5]
    module = space.build_model(arch)
    out = module(space.example_input(2))
    assert out.shape[0] == 2
    assert isinstance(space.onnx_model(arch), onnx.ModelProto)
    text = space.onnx_text(arch)
    assert space.to_texts([arch, str(arch), 5, text]) == [text] * 4
    batch = encode_dags([arch, space.archs()[6]])
    assert dag_spec_for([arch]) == space.graph_spec() and batch.node_ops.shape[0] == 2


def test_hooks_a_space_lacks_say_so():
    class Bare(BaseSpace):  # the least a space writes: no graph, no fused ops
        name = "bare"
        arch_type = ToyArch
        parse = ToySpace.parse
        sample = ToySpace.sample
        mutate = ToySpace.mutate
        distributions = ToySpace.distributions
        to_params = ToySpace.to_params
        from_params = ToySpace.from_params
        build_model = ToySpace.build_model
        example_input = ToySpace.example_input
        metrics = ToySpace.metrics

        def _query(self, arch, metric):
            return 1.0

    bare = Bare()
    assert isinstance(bare, SearchSpace) and not isinstance(bare, TabularSpace)
    assert bare.query("w4-d1-k1", "acc") == 1.0
    assert bare.to_texts(["w4-d1-k1"]) == [bare.onnx_text(ToyArch(4, 1, 1))]
    with pytest.raises(UnsupportedBySpaceError, match="no graph encoding"):
        bare.graph_spec()
    with pytest.raises(UnsupportedBySpaceError, match="no fused candidate ops"):
        bare.fused_module(bare.build_model("w4-d1-k1"))


def test_toy_space_measured_device_serves_search():
    """A device measured on the toy space becomes a metric that a search can optimize (the bug: search
    checked objectives against the shipped metrics only)."""
    from nasrlm.hardware.latency import LatencyConfig
    from nasrlm.hardware.verify import verify
    from nasrlm.search.runner import SearchConfig, run_search

    toy = get_space("toy")
    verify(toy, toy.archs(), LatencyConfig(warmup=1, repeats=3), "latency_toy_cpu")
    metric = toy.metric("latency_toy_cpu")
    assert metric.direction == "minimize" and metric.unit == "ms"
    assert (toy.values("latency_toy_cpu") > 0).all()
    result = run_search(
        SearchConfig(space="toy", objectives=("acc", "latency_toy_cpu"), budget=8, sampler="random", progress=False)
    )
    assert len(result.trials) == 8 and result.exact_hypervolume is not None
    assert 0 < result.hypervolume_ratio <= 1 + 1e-9


def test_toy_space_through_verify_search_and_report(tmp_path, capsys):
    """The command line on a space that is not NB201: measure every toy arch as a new device
    (``verify``), then search on it and report how well predictors rank it."""
    import json

    from nasrlm.cli import main

    archs = tmp_path / "archs.txt"
    archs.write_text("\n".join(str(a) for a in get_space("toy").archs()) + "\n")
    verify_args = ["--device-name", "toy_cpu", "--warmup", "1", "--repeats", "3", "--samples", "4"]
    assert main(["verify", "--space", "toy", "--archs", str(archs), *verify_args, "--out", str(tmp_path / "v")]) == 0
    assert "latency_toy_cpu" in devices.registered_metrics("toy")
    capsys.readouterr()
    assert main(["spaces", "toy"]) == 0
    listed = capsys.readouterr().out
    assert "toy: 18 architectures" in listed and "latency_toy_cpu" in listed and "minimize  ms" in listed

    objectives = ["--objectives", "acc,latency_toy_cpu"]
    search = ["search", "--space", "toy", *objectives, "--budget", "8", "--sampler", "tpe"]
    assert main([*search, "--out", str(tmp_path / "s")]) == 0
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert summary["finished"] == 8 and 0 < summary["hypervolume_ratio"] <= 1 + 1e-9

    report = ["report", "--space", "toy", *objectives, "--predictors", "params,gin", "--train-sizes", "8"]
    assert main([*report, "--seeds", "1", "--epochs", "5", "--quiet", "--out", str(tmp_path / "r")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "r" / "results.jsonl").read_text().splitlines()]
    assert {row["predictor"] for row in rows} == {"params", "gin"}
    assert all(row["n_test"] == 10 and set(row["scores"]) == {"acc", "latency_toy_cpu"} for row in rows)
    assert (tmp_path / "r" / "report.md").is_file() and (tmp_path / "r" / "scatter_latency_toy_cpu.png").is_file()
    capsys.readouterr()


def test_an_unmeasured_device_is_named_by_search(capsys):
    from nasrlm.cli import main

    code = main(["search", "--space", "toy", "--objectives", "acc,latency_nowhere", "--budget", "4"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "latency_nowhere" in err and "valid metrics" in err
