"""Baseline predictors: they learn, round-trip through files, fail clearly, and encode cells correctly.

Each predictor is fitted once (module fixture) on 200 archs with a short schedule; the learning and
save/load tests share those fits so that the whole file stays fast.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from baselines import (
    NotFittedError,
    Predictor,
    PredictorFileError,
    UnknownPredictorError,
    available_predictors,
    get_predictor,
    predictor_class,
    random_split,
)
from baselines.encoding import CellDag, dag_spec, dag_spec_for, encode_dags, flat_encoding
from nasrlm.core.metrics import kendall_tau
from nasrlm.core.predictor import Predictions, PredictorProtocol
from nasrlm.predictors.registry import available_predictors as available_registered
from nasrlm.predictors.registry import make_predictor
from search_spaces import get_space
from search_spaces.nb201.arch import Nb201Arch
from search_spaces.nb201.graph import nb201_dag

N_TRAIN = 200
N_TEST = 2000
# Short schedules: enough to show each model learns, far from the benchmark's 300 epochs.
FAST = {
    "gin": {"epochs": 40},
    "gcn": {"epochs": 40},
    "brp": {"epochs": 50, "hidden": 128},
    "mlp": {"epochs": 60},
    "gbdt": {"rounds": 200},
    "flops": {},
    "params": {},
}
OBJECTIVES = ("acc", "latency_eyeriss")


@pytest.fixture(scope="module")
def space():
    return get_space("nb201")


@pytest.fixture(scope="module")
def data(space):
    archs = space.archs()
    train, rest = random_split(len(archs), N_TRAIN, seed=0)
    test = np.random.default_rng(1).choice(rest, size=N_TEST, replace=False)
    values = {name: space.values(name) for name in OBJECTIVES}
    return {
        "train": [archs[i] for i in train],
        "test": [archs[i] for i in test],
        "y_train": {name: v[train] for name, v in values.items()},
        "y_test": {name: v[test] for name, v in values.items()},
    }


@pytest.fixture(scope="module")
def fitted(data):
    """Every predictor fitted once on the small split, with its test predictions."""
    result = {}
    for name in available_predictors():
        predictor = get_predictor(name, seed=0, **FAST[name]).fit(data["train"], data["y_train"])
        result[name] = (predictor, predictor.predict(data["test"]))
    return result


def test_fast_configs_cover_every_predictor():
    assert set(FAST) == set(available_predictors())


# --- learning ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(FAST))
def test_predictor_learns_accuracy(name, data, fitted):
    _, predicted = fitted[name]
    assert set(predicted) == set(OBJECTIVES)
    assert predicted["acc"].shape == (N_TEST,) and predicted["acc"].dtype == np.float64
    assert kendall_tau(data["y_test"]["acc"], predicted["acc"]) > 0.3


@pytest.mark.parametrize("name", ["gin", "gcn", "brp", "mlp", "gbdt"])
def test_trained_predictors_learn_latency_and_beat_flops(name, data, fitted):
    truth = data["y_test"]["latency_eyeriss"]
    tau = kendall_tau(truth, fitted[name][1]["latency_eyeriss"])
    # Eyeriss latency is nearly a function of the ops; FLOPs alone gets tau ~0.4 here.
    assert tau > max(0.6, kendall_tau(truth, fitted["flops"][1]["latency_eyeriss"]) + 0.1)


def test_predictions_are_in_target_units(data, fitted):
    # Latency is modelled in log space and accuracy in z-space; both must come back in original units.
    predicted = fitted["gbdt"][1]
    for name in OBJECTIVES:
        low, high = np.percentile(data["y_train"][name], [1, 99])
        assert low * 0.5 < np.median(predicted[name]) < high * 1.5
    assert np.all(predicted["latency_eyeriss"] > 0)


def test_proxies_predict_the_proxy_itself(space, data, fitted):
    expected = space.query_many(data["test"], "flops")
    for name in OBJECTIVES:
        np.testing.assert_array_equal(fitted["flops"][1][name], expected)
    np.testing.assert_array_equal(fitted["params"][1]["acc"], space.query_many(data["test"], "params"))


# --- repeatability and persistence ----------------------------------------------------------------
@pytest.mark.parametrize("name", ["gin", "mlp", "gbdt"])
def test_same_seed_same_fit_other_seed_other_fit(name, data):
    small = {"epochs": 5} if name != "gbdt" else {"rounds": 30}
    targets = {"acc": data["y_train"]["acc"]}
    first = get_predictor(name, seed=3, **small).fit(data["train"], targets).predict(data["test"])["acc"]
    again = get_predictor(name, seed=3, **small).fit(data["train"], targets).predict(data["test"])["acc"]
    other = get_predictor(name, seed=4, **small).fit(data["train"], targets).predict(data["test"])["acc"]
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("name", sorted(FAST))
def test_save_load_gives_identical_predictions(name, data, fitted, tmp_path):
    predictor, predicted = fitted[name]
    path = tmp_path / f"{name}.safetensors"
    predictor.save(path)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind
    for loader in (type(predictor), Predictor):  # the class itself, and dispatch on the file
        loaded = loader.load(path)
        assert type(loaded) is type(predictor) and loaded.config == predictor.config
        reloaded = loaded.predict(data["test"])
        for objective in OBJECTIVES:
            np.testing.assert_array_equal(reloaded[objective], predicted[objective])


def test_load_rejects_missing_corrupt_and_foreign_files(fitted, tmp_path):
    with pytest.raises(FileNotFoundError, match="no saved predictor"):
        Predictor.load(tmp_path / "missing.safetensors")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file at all")
    with pytest.raises(PredictorFileError, match="not a saved predictor"):
        Predictor.load(garbage)
    good = tmp_path / "mlp.safetensors"
    fitted["mlp"][0].save(good)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(PredictorFileError, match="corrupt"):
        Predictor.load(truncated)
    with pytest.raises(PredictorFileError, match="holds a 'mlp' predictor, not 'gin'"):
        predictor_class("gin").load(good)


# --- errors -------------------------------------------------------------------------------------------
def test_registry_errors():
    assert available_predictors() == ["brp", "flops", "gbdt", "gcn", "gin", "mlp", "params"]
    with pytest.raises(UnknownPredictorError, match="valid predictors: brp, flops, gbdt"):
        get_predictor("xgb")
    with pytest.raises(TypeError, match=r"unknown config field.*'gin'.*valid fields:.*epochs"):
        get_predictor("gin", epoch=3)
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        get_predictor("mlp", epochs=0)
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        get_predictor("gbdt", seed=-1)
    with pytest.raises(TypeError, match="log_prefixes must be a sequence of strings"):
        get_predictor("gin", log_prefixes="latency_")
    with pytest.raises(TypeError, match="needs a GinConfig"):
        predictor_class("gin")(predictor_class("mlp").config_type())
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_predictor("gin").config.epochs = 3  # type: ignore[misc]


def test_bad_inputs_raise_clear_errors(data, tmp_path):
    archs, acc = data["train"][:20], data["y_train"]["acc"][:20]
    predictor = get_predictor("mlp", epochs=1)
    with pytest.raises(NotFittedError, match="call fit"):
        predictor.predict(archs)
    with pytest.raises(NotFittedError, match="call fit"):
        predictor.save(tmp_path / "x.safetensors")
    with pytest.raises(ValueError, match=r"shape \(19,\), expected \(20,\)"):
        predictor.fit(archs, {"acc": acc[:19]})
    with pytest.raises(ValueError, match="non-finite"):
        predictor.fit(archs, {"acc": np.where(np.arange(20) == 3, np.nan, acc)})
    with pytest.raises(ValueError, match="targets is empty"):
        predictor.fit(archs, {})
    with pytest.raises(ValueError, match="non-positive"):
        predictor.fit(archs, {"latency_x": acc - 50})
    with pytest.raises(TypeError, match="not the architecture type of any registered space"):
        predictor.fit([a.to_str() for a in archs], {"acc": acc})
    predictor.fit(archs, {"acc": acc})
    with pytest.raises(ValueError, match="at least one architecture"):
        predictor.predict([])


# --- the protocol shared with the RLM (metrics: tests/test_metrics.py) --------------------------------
@pytest.mark.parametrize("name", sorted(FAST))
def test_baselines_implement_the_predictor_protocol(name, data, fitted):
    predictor, predicted = fitted[name]
    assert isinstance(predictor, PredictorProtocol) and predictor.name == name
    assert predictor.objectives == OBJECTIVES and predictor.fit_info == {}
    with_std = predictor.predict(data["test"], return_std=True)
    assert isinstance(with_std, Predictions) and with_std.std is None and not with_std.has_uncertainty
    for objective in OBJECTIVES:
        np.testing.assert_array_equal(with_std.point[objective], predicted[objective])


def test_make_predictor_builds_baselines_and_the_rlm_alike():
    assert available_registered() == ["rlm", *available_predictors()]
    gin = make_predictor("gin", space="nb201", seed=2, epochs=7)
    assert type(gin) is predictor_class("gin") and gin.config.seed == 2 and gin.config.epochs == 7
    rlm = make_predictor("rlm", space="nb201", seed=2, epochs=3, samples=4)
    assert isinstance(rlm, PredictorProtocol) and rlm.name == "rlm" and rlm.objectives == ()
    assert rlm.seed == 2 and (rlm.settings.epochs, rlm.settings.samples) == (3, 4)
    with pytest.raises(NotFittedError, match="call fit"):
        rlm.predict(["whatever"])
    with pytest.raises(UnknownPredictorError, match="valid predictors: rlm, brp, flops"):
        make_predictor("xgb", space="nb201")
    with pytest.raises(TypeError, match="unknown config field"):
        make_predictor("gin", space="nb201", samples=3)
    with pytest.raises(TypeError, match="unexpected keyword argument 'rounds'"):
        make_predictor("rlm", space="nb201", rounds=3)


# --- splits -------------------------------------------------------------------------------------------
def test_random_split():
    train, test = random_split(100, 30, seed=5)
    assert len(train) == 30 and len(test) == 70
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(100))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
    again, _ = random_split(100, 30, seed=5)
    other, _ = random_split(100, 30, seed=6)
    assert np.array_equal(train, again) and not np.array_equal(train, other)
    for bad in (0, 100, -1):
        with pytest.raises(ValueError, match="n_train must be between 1 and n_total - 1"):
            random_split(100, bad, seed=0)


# --- encodings ----------------------------------------------------------------------------------------
# Hand-derived DAG of NB201 with ops on nodes: 0 input, 1..6 the edge ops in EDGES order
# ((1,0),(2,0),(2,1),(3,0),(3,1),(3,2)), 7 output. E.g. op node 1 (edge 0->1) writes cell node 1, which
# op nodes 3 (edge 1->2) and 5 (edge 1->3) read; op nodes 4, 5, 6 write cell node 3, the output.
NB201_ADJACENCY = np.array(
    [
        [0, 1, 1, 0, 1, 0, 0, 0],
        [0, 0, 0, 1, 0, 1, 0, 0],
        [0, 0, 0, 0, 0, 0, 1, 0],
        [0, 0, 0, 0, 0, 0, 1, 0],
        [0, 0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 0, 0],
    ]
)


def test_nb201_dag_on_a_hand_checked_arch():
    arch = Nb201Arch.from_str("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|")
    dag = nb201_dag(arch)
    spec = dag_spec("nb201")
    assert spec.op_names == (
        "input", "none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3", "output",
    )  # fmt: skip
    names = [spec.op_names[i] for i in dag.ops]
    assert names == [
        "input", "nor_conv_3x3", "skip_connect", "none",
        "avg_pool_3x3", "nor_conv_1x1", "skip_connect", "output",
    ]  # fmt: skip
    np.testing.assert_array_equal(dag.adjacency, NB201_ADJACENCY)


def test_encoding_shapes(space):
    archs = space.archs()[:5]
    spec = dag_spec_for(archs)
    batch = encode_dags(archs)
    assert batch.node_ops.shape == (5, 8) and batch.adjacency.shape == (5, 8, 8) and batch.mask.all()
    one_hot = batch.one_hot()
    assert one_hot.shape == (5, 8, 7) and np.all(one_hot.sum(-1) == 1)
    flat = flat_encoding(archs)
    assert flat.shape == (5, spec.flat_size) and spec.flat_size == 8 * 7 + math.comb(8, 2)
    # Node-op one-hots first (node by node), then the upper triangle of the adjacency.
    np.testing.assert_array_equal(flat[:, :56], one_hot.reshape(5, -1))
    assert flat[0, 56:].sum() == NB201_ADJACENCY.sum()
    # Distinct archs get distinct encodings.
    assert len({row.tobytes() for row in flat_encoding(space.archs()[:500])}) == 500


def test_encoding_errors():
    with pytest.raises(ValueError, match="at least one architecture"):
        dag_spec_for([])
    with pytest.raises(KeyError, match="unknown search space 'nb999'"):
        dag_spec("nb999")
    with pytest.raises(ValueError, match="topological order"):
        CellDag(ops=(0, 1), adjacency=np.array([[0, 0], [1, 0]]))
    with pytest.raises(ValueError, match="must be 2x2"):
        CellDag(ops=(0, 1), adjacency=np.zeros((3, 3)))
