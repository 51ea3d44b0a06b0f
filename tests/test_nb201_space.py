from __future__ import annotations

import numpy as np
import pytest
import torch
from onnx import numpy_helper

from nasrlm.text.onnx_text import canonicalize_with_weight_map, export_module, function_scopes, parse_text
from search_spaces import SearchSpace, UnknownSpaceError, available_spaces, get_space
from search_spaces.base import UnknownMetricError
from search_spaces.nb201 import space as space_module
from search_spaces.nb201.arch import ArchStringError, Nb201Arch, sample_arch
from search_spaces.nb201.model import Nb201Cell

# Cells that exercise every path of the direct builder: dead nodes, empty (zero) nodes, an
# identity cell, shared ReLUs/pools/sums, a final conv that absorbs the last BatchNorm.
SPECIAL = [
    ("none",) * 6,
    ("skip_connect", "none", "none", "none", "none", "none"),
    ("none", "none", "none", "skip_connect", "none", "none"),
    ("none", "none", "none", "none", "none", "skip_connect"),
    ("none", "none", "nor_conv_3x3", "none", "none", "nor_conv_1x1"),
    ("none", "none", "none", "none", "nor_conv_3x3", "nor_conv_3x3"),
    ("skip_connect", "skip_connect", "skip_connect", "skip_connect", "skip_connect", "avg_pool_3x3"),
    ("skip_connect", "skip_connect", "nor_conv_3x3", "avg_pool_3x3", "nor_conv_3x3", "nor_conv_1x1"),
    ("avg_pool_3x3", "avg_pool_3x3", "none", "skip_connect", "nor_conv_3x3", "avg_pool_3x3"),
    ("nor_conv_3x3", "none", "nor_conv_1x1", "none", "none", "skip_connect"),
    ("nor_conv_1x1", "skip_connect", "none", "none", "nor_conv_3x3", "none"),
]


@pytest.fixture(scope="module")
def space():
    return get_space("nb201")


def test_registry(space):
    assert "nb201" in available_spaces()
    assert isinstance(space, SearchSpace)
    with pytest.raises(UnknownSpaceError, match="valid spaces: .*nb201"):
        get_space("nb999")


def test_direct_text_equals_exported_text(space):
    from search_spaces.nb201.text import text_of_ops

    rng = np.random.default_rng(0)
    archs = [Nb201Arch(ops) for ops in SPECIAL] + [sample_arch(rng) for _ in range(14)]
    for arch in archs:
        # The exporter drops what does not reach the output; the builder's live-only text is the same.
        assert text_of_ops(arch.ops, as_run=False) == space.onnx_text_exported(arch), arch


def test_text_shows_each_edge_op_the_network_runs(space):
    # The exporter keeps one ReLU and one pool per input node; the network runs one per edge (and the
    # benchmarks timed each: eyeriss latency is linear in the number of pool and conv edges). So the
    # cell text holds as many pools as pool edges and as many ReLUs as conv edges, dead ones included.
    rng = np.random.default_rng(1)
    for arch in [Nb201Arch(ops) for ops in SPECIAL] + [sample_arch(rng) for _ in range(30)]:
        cell = space.onnx_text(arch).partition("Nb201Cell (x0")[2]  # empty for an identity cell
        assert cell.count("= AveragePool") == arch.ops.count("avg_pool_3x3"), arch
        convs = arch.ops.count("nor_conv_3x3") + arch.ops.count("nor_conv_1x1")
        assert cell.count("= Conv") == cell.count("= Relu") == convs, arch
    two_pools = Nb201Arch(("avg_pool_3x3", "avg_pool_3x3", "none", "none", "skip_connect", "skip_connect"))
    assert space.onnx_text_exported(two_pools).count("= AveragePool (x0)") < 2  # merged when exported


def test_text_keeps_computation_that_does_not_reach_the_output(space):
    # Node 1 is computed by a conv but read by nothing (its only out-edges are none): a dead conv.
    dead = Nb201Arch(("nor_conv_3x3", "nor_conv_3x3", "none", "avg_pool_3x3", "none", "nor_conv_1x1"))
    live = Nb201Arch(("none", "nor_conv_3x3", "none", "avg_pool_3x3", "none", "nor_conv_1x1"))
    cell = space.onnx_text(dead).split("Nb201Cell (x0")[1]
    assert cell.count("= Conv") == 3  # the dead 3x3 conv, the live 3x3 and the 1x1
    assert space.onnx_text(dead) != space.onnx_text(live)  # they run different work
    import onnx

    onnx.checker.check_model(onnx.parser.parse_model(space.onnx_text(dead)), full_check=True)


def test_text_is_valid_onnx_and_computes_the_network(space):
    import onnxruntime as ort

    arch = Nb201Arch(SPECIAL[7])
    net = space.build_model(arch)
    x = space.example_input(2)
    with torch.no_grad():
        expected = net(x).numpy()
    model = export_module(net, x)
    _canonical, weight_map = canonicalize_with_weight_map(model, function_scopes(net, {Nb201Cell}))
    parsed = parse_text(space.onnx_text(arch))
    initializers = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    feeds = {"x": x.numpy(), **{w: initializers[src] for w, src in weight_map.items()}}
    parsed.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 2
    session = ort.InferenceSession(parsed.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, feeds)[0], expected, rtol=1e-4, atol=1e-4)


def test_text_names_stages_and_cells(space):
    text = space.onnx_text(Nb201Arch(SPECIAL[7]))
    assert text.count("local.Nb201Cell (") == 15
    assert "float[64,64,3,3]" in text and "=  {" not in text  # shapes, no weight values


def test_texts_cache_round_trip(space, tmp_path, monkeypatch):
    monkeypatch.setenv("NASRLM_CACHE_DIR", str(tmp_path))
    few = [Nb201Arch(ops) for ops in SPECIAL[:4]]
    monkeypatch.setattr(space_module.Nb201Space, "archs", lambda self: few)
    fresh = space_module.Nb201Space()
    texts = fresh.onnx_texts(workers=2)
    assert texts == [fresh.onnx_text(a) for a in few]
    assert fresh.text_cache_path().is_file()
    monkeypatch.setattr(space_module, "build_texts", lambda *a, **k: pytest.fail("cache not used"))
    assert fresh.onnx_texts() == texts
    fresh.text_cache_path().write_bytes(b"damaged")
    monkeypatch.undo()


def test_texts_of_a_few_archs_do_not_reread_the_whole_space(space, tmp_path, monkeypatch):
    # A sampler asks for a few texts thousands of times: the whole-space cache is read once.
    monkeypatch.setenv("NASRLM_CACHE_DIR", str(tmp_path))
    few = [Nb201Arch.from_index(i) for i in range(4)]  # a "space" of the first 4 archs, in index order
    monkeypatch.setattr(space_module.Nb201Space, "archs", lambda self: few)
    monkeypatch.setattr(space_module, "NUM_ARCHS", 4)  # the cache serves even one arch
    space_module.Nb201Space().onnx_texts(workers=1)  # writes the cache
    fresh = space_module.Nb201Space()
    reads = []
    real_decompress = space_module.gzip.decompress
    monkeypatch.setattr(space_module.gzip, "decompress", lambda data: reads.append(1) or real_decompress(data))
    texts = [fresh.to_texts([arch])[0] for arch in few * 3]
    assert texts == [fresh.onnx_text(a) for a in few * 3]
    assert len(reads) == 1
    everything = fresh.onnx_texts()
    everything[0] = "changed by a caller"  # a copy: the space's own list is not the caller's
    assert fresh.onnx_texts()[0] == texts[0]


def test_build_texts_parallel_equals_serial():
    cells = SPECIAL[:6]
    assert space_module.build_texts(cells, workers=2) == space_module.build_texts(cells, workers=1)


def test_metrics_and_queries(space):
    metrics = space.metrics
    assert metrics["acc"].direction == "maximize" and metrics["latency_pixel3"].direction == "minimize"
    assert metrics["params"].unit == "M" and metrics["flops"].unit == "MFLOPs"
    assert space.query(0, "latency_pixel3") == pytest.approx(3.60585)
    assert space.query(space.archs()[6111].to_str(), "test_acc") == pytest.approx(94.3733, abs=1e-4)
    assert space.query(Nb201Arch.from_index(6111), "acc") == pytest.approx(91.6067, abs=1e-4)
    for metric in ("acc", "params", "flops", "latency_eyeriss"):
        values = space.values(metric)
        assert values.shape == (15_625,) and np.isfinite(values).all()
        assert space.query(123, metric) == pytest.approx(values[123])
    np.testing.assert_allclose(space.query_many([5, 6, 7], "flops"), space.values("flops")[[5, 6, 7]])
    # Parameter-free cells have the smallest networks.
    empty = space.arch("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    assert space.values("params").min() == space.query(empty, "params")


def test_errors(space):
    with pytest.raises(UnknownMetricError, match="valid metrics: .*latency_pixel3"):
        space.query(0, "accuracy")
    with pytest.raises(UnknownMetricError, match="unknown device 'iphone'"):
        space.query(0, "latency_iphone")
    with pytest.raises(ArchStringError, match="valid ops"):
        space.arch("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    with pytest.raises(IndexError):
        space.arch(15_625)
    with pytest.raises(TypeError, match="arch string or an index"):
        space.arch(1.5)


def test_optuna_round_trip(space):
    rng = np.random.default_rng(3)
    arch = space.sample(rng)
    assert space.from_params(space.to_params(arch)) == arch
    assert space.mutate(arch, rng) != arch
    assert set(space.distributions()) == set(space.to_params(arch))


def test_shipped_text_table_is_what_the_code_makes():
    from search_spaces.nb201 import text_table
    from search_spaces.nb201.arch import all_archs

    texts = text_table.shipped_texts()
    assert texts is not None, "the shipped NB201 text table is stale: run python -m search_spaces.nb201.text_table"
    archs = all_archs()
    picked = np.random.default_rng(0).choice(len(archs), 12, replace=False)
    assert space_module.build_texts([archs[i].ops for i in picked], workers=1) == [texts[i] for i in picked]


def test_a_shipped_text_table_not_made_by_this_code_is_not_used(tmp_path):
    import json
    import lzma

    from search_spaces.nb201 import text_table

    table = json.loads(lzma.decompress(text_table.table_path().read_bytes()))
    path = tmp_path / "onnx_text.json.xz"
    changed = list(table["texts"])
    changed[text_table.CHECKED_ARCHS[1]] += " "  # what another onnx printer would make of one network
    text_table.write_table(changed, path)
    assert text_table.shipped_texts(path) is None
    text_table.write_table(table["texts"], path)
    assert text_table.shipped_texts(path) == table["texts"]
    path.write_bytes(lzma.compress(json.dumps({**table, "code_digest": "0" * 16}).encode()))
    assert text_table.shipped_texts(path) is None  # made by other text code
    path.write_bytes(b"damaged")
    assert text_table.shipped_texts(path) is None
    assert text_table.shipped_texts(tmp_path / "absent.json.xz") is None


def test_a_fresh_install_reads_texts_without_building_them(tmp_path, monkeypatch):
    # On a fresh machine the sampler asks for thousands of texts, a few at a time: none is built
    # but the shipped table's check, and nothing is written to the cache.
    from search_spaces.nb201 import text as text_module
    from search_spaces.nb201 import text_table

    monkeypatch.setenv("NASRLM_CACHE_DIR", str(tmp_path))
    built = []
    real_build = text_module.build_texts
    counting = lambda cells, **k: built.extend(cells) or real_build(cells, **k)  # noqa: E731
    monkeypatch.setattr(space_module, "build_texts", counting)
    monkeypatch.setattr(text_module, "build_texts", counting)
    fresh = space_module.Nb201Space()
    texts = [fresh.to_texts([index])[0] for index in (5, 900, 15000, 5)]
    assert len(built) == len(text_table.CHECKED_ARCHS)
    assert list(tmp_path.iterdir()) == []
    assert texts == real_build([fresh.arch(i).ops for i in (5, 900, 15000, 5)], workers=1)
