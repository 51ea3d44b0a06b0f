"""The RLM sampler on a toy search space defined here (as a user would), with a tiny surrogate."""

from __future__ import annotations

import numpy as np
import onnx
import optuna
import pytest
from onnx import TensorProto, helper

from nasrlm.rlm_model import DecoderConfig, EncoderConfig
from nasrlm.sampler import PREDICTION_ATTR, RLMSampler, RLMSamplerConfig
from nasrlm.surrogate import Surrogate
from nasrlm.text_tokenizer import TextTokenizerConfig

SPACE = {
    "depth": optuna.distributions.IntDistribution(1, 4),
    "width": optuna.distributions.CategoricalDistribution([8, 16, 32, 64]),
    "act": optuna.distributions.CategoricalDistribution(["Relu", "Tanh", "Sigmoid"]),
}
TINY = {"d_model": 32, "n_layers": 1, "n_heads": 2, "d_ff": 64}


def toy_network(params: dict) -> onnx.ModelProto:
    """An MLP as an ONNX graph; its weights are initializers, which the ONNX text leaves out."""
    nodes, inits, previous, fan_in = [], [], "x", 8
    for layer in range(params["depth"]):
        weight = helper.make_tensor(
            f"w{layer}", TensorProto.FLOAT, [fan_in, params["width"]], [0.0] * (fan_in * params["width"])
        )
        inits.append(weight)
        nodes.append(helper.make_node("MatMul", [previous, f"w{layer}"], [f"h{layer}"]))
        nodes.append(helper.make_node(params["act"], [f"h{layer}"], [f"a{layer}"]))
        previous, fan_in = f"a{layer}", params["width"]
    graph = helper.make_graph(
        nodes,
        "toy",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info(previous, TensorProto.FLOAT, [1, fan_in])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def size(params: dict) -> float:
    return float(params["depth"] * params["width"])


def score(params: dict) -> float:
    return params["depth"] + params["width"] / 16 + (params["act"] == "Relu")


@pytest.fixture(scope="module")
def tiny_surrogate_texts():
    from nasrlm.inputs import to_texts

    rng = np.random.default_rng(0)
    params = [
        {
            k: d.choices[rng.integers(len(d.choices))] if hasattr(d, "choices") else int(rng.integers(1, 5))
            for k, d in SPACE.items()
        }
        for _ in range(30)
    ]
    return to_texts([toy_network(p) for p in params])


def make_sampler(texts, **config) -> RLMSampler:
    surrogate = Surrogate.new(
        ("score",),
        texts,
        tokenizer=TextTokenizerConfig(vocab_size=300, max_length=96),
        encoder=EncoderConfig(**TINY, max_length=96),
        decoder=DecoderConfig(**TINY),
        seed=0,
    )
    settings = {
        "n_startup_trials": 6,
        "proposals_per_fit": 3,
        "pool_random": 20,
        "pool_mutations": 20,
        "num_samples": 4,
        "first_fit_steps": 10,
        "refit_steps": 5,
    } | config
    return RLMSampler(SPACE, toy_network, surrogate=surrogate, config=RLMSamplerConfig(**settings), seed=0)


def objective(trial: optuna.Trial) -> tuple[float, float]:
    params = {
        "depth": trial.suggest_int("depth", 1, 4),
        "width": trial.suggest_categorical("width", [8, 16, 32, 64]),
        "act": trial.suggest_categorical("act", ["Relu", "Tanh", "Sigmoid"]),
    }
    return score(params), size(params)


def test_sampler_proposes_new_valid_networks_with_predictions(tiny_surrogate_texts):
    sampler = make_sampler(tiny_surrogate_texts)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    study.set_metric_names(["score", "size"])
    study.optimize(objective, n_trials=15)
    trials = study.trials
    assert len(trials) == 15 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    proposed = [t for t in trials if PREDICTION_ATTR in t.system_attrs]
    assert len(proposed) >= 8  # every trial after the 6 random ones (bar a rare exhausted queue)
    keys = [tuple(sorted(t.params.items())) for t in trials]
    for t in proposed:  # never a network already evaluated when it was proposed
        assert keys.index(tuple(sorted(t.params.items()))) == t.number
        prediction = t.system_attrs[PREDICTION_ATTR]
        assert set(prediction) == {"score", "size"}
        assert prediction["size"]["q05"] <= prediction["size"]["median"] <= prediction["size"]["q95"]
    assert set(sampler.surrogate.objectives) >= {"score", "size"}  # the study's names became objectives
    assert sampler.last_round["candidates"] > 0


def test_sampler_learns_constraints_as_objectives(tiny_surrogate_texts):
    def constrained(trial: optuna.Trial) -> tuple[float, float]:
        values = objective(trial)
        trial.set_constraint("small", values[1] - 64.0)  # size <= 64
        return values

    sampler = make_sampler(tiny_surrogate_texts)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    study.optimize(constrained, n_trials=10)
    assert all(set(t.constraints) == {"small"} for t in study.trials)
    assert "constraint:small" in sampler.surrogate.objectives


def test_sampler_uses_names_when_the_study_has_none(tiny_surrogate_texts):
    sampler = make_sampler(tiny_surrogate_texts, n_startup_trials=4)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    study.optimize(objective, n_trials=6)
    assert {"objective_0", "objective_1"} <= set(sampler.surrogate.objectives)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="acquisition"):
        RLMSamplerConfig(acquisition="ucb")
    with pytest.raises(ValueError, match="num_samples"):
        RLMSamplerConfig(num_samples=0)
    with pytest.raises(ValueError, match="search_space is empty"):
        RLMSampler({}, toy_network)
