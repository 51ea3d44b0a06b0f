"""The RLM sampler on a toy search space defined here (as a user would), with a tiny surrogate."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import optuna
import pytest
from onnx import TensorProto, helper
from optuna.distributions import IntDistribution

from nasrlm.rlm.model import DecoderConfig, EncoderConfig
from nasrlm.rlm.surrogate import Surrogate
from nasrlm.rlm.text_tokenizer import TextTokenizerConfig
from nasrlm.search.sampler import RLMSampler, RLMSamplerConfig, stored_predictions

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
    from nasrlm.text.convert import OnnxConverter

    rng = np.random.default_rng(0)
    params = [
        {
            k: d.choices[rng.integers(len(d.choices))] if hasattr(d, "choices") else int(rng.integers(1, 5))
            for k, d in SPACE.items()
        }
        for _ in range(30)
    ]
    return OnnxConverter()([toy_network(p) for p in params])


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
    predictions = stored_predictions(study)
    proposed = [t for t in trials if t.number in predictions]
    assert len(proposed) >= 8  # every trial after the 6 random ones (bar a rare exhausted queue)
    keys = [tuple(sorted(t.params.items())) for t in trials]
    for t in proposed:  # never a network already evaluated when it was proposed
        assert keys.index(tuple(sorted(t.params.items()))) == t.number
        prediction = predictions[t.number]
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
    with pytest.raises(ValueError, match="decode_batch"):
        RLMSamplerConfig(decode_batch=0)
    with pytest.raises(ValueError, match="search_space is empty"):
        RLMSampler({}, toy_network)


def suggest_network(trial: optuna.Trial) -> dict:
    return {
        "depth": trial.suggest_int("depth", 1, 4),
        "width": trial.suggest_categorical("width", [8, 16, 32, 64]),
        "act": trial.suggest_categorical("act", ["Relu", "Tanh", "Sigmoid"]),
    }


def network_key(trial) -> tuple:
    return tuple(trial.params[name] for name in SPACE)


def test_parameters_the_sampler_does_not_model_are_sampled_independently(tiny_surrogate_texts):
    def with_dropout(trial: optuna.Trial) -> tuple[float, float]:
        params = suggest_network(trial)
        dropout = trial.suggest_float("dropout", 0.0, 0.5)
        return score(params) - dropout, size(params)

    sampler = make_sampler(tiny_surrogate_texts)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    study.optimize(with_dropout, n_trials=12)
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    proposed = [t for t in study.trials if t.number in stored_predictions(study)]
    assert proposed  # the surrogate ran; before, its proposals carried every finished trial's dropout
    dropouts = [t.params["dropout"] for t in study.trials]
    assert len(set(dropouts)) == len(dropouts)  # drawn afresh each time, never copied from a finished trial
    assert set(sampler.infer_relative_search_space(study, study.trials[-1])) == set(SPACE)


def test_sample_relative_proposes_within_the_search_space_it_is_given(tiny_surrogate_texts):
    sampler = make_sampler(tiny_surrogate_texts)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    study.optimize(objective, n_trials=6)
    # The objective moves to deeper networks than the sampler was built with (and than any trial has).
    deeper = {**SPACE, "depth": optuna.distributions.IntDistribution(5, 8)}
    for _ in range(4):
        trial = study.ask()
        proposal = sampler.sample_relative(study, study.trials[trial.number], deeper)
        assert set(proposal) == set(SPACE) and 5 <= proposal["depth"] <= 8
        study.tell(trial, state=optuna.trial.TrialState.FAIL)

    # Once trials use a wider range, the relative space is theirs, not the constructor's.
    def wider(trial: optuna.Trial) -> tuple[float, float]:
        params = {
            "depth": trial.suggest_int("depth", 1, 8),
            "width": trial.suggest_categorical("width", [8, 16, 32, 64]),
            "act": trial.suggest_categorical("act", ["Relu", "Tanh", "Sigmoid"]),
        }
        return score(params), size(params)

    study.optimize(wider, n_trials=1)
    assert sampler.infer_relative_search_space(study, study.trials[-1])["depth"] == IntDistribution(1, 8)


def test_partial_fixed_sampler_over_the_rlm_sampler(tiny_surrogate_texts):
    sampler = make_sampler(tiny_surrogate_texts)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    study.optimize(objective, n_trials=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.sampler = optuna.samplers.PartialFixedSampler({"act": "Relu"}, sampler)
    with pytest.warns(UserWarning, match="act are not in the relative search space") as caught:
        study.optimize(objective, n_trials=3)
    assert len([w for w in caught if "relative search space" in str(w.message)]) == 1  # warned once
    assert [t.params["act"] for t in study.trials[6:]] == ["Relu"] * 3
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)


def test_a_network_to_network_cannot_build_is_skipped_with_one_warning(tiny_surrogate_texts):
    def refuses_deep_wide(params: dict):
        if params["depth"] >= 3 and params["width"] == 64:
            raise RuntimeError("out of memory")
        return toy_network(params)

    sampler = make_sampler(tiny_surrogate_texts)
    sampler.to_network = refuses_deep_wide
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    for params in ({"depth": 4, "width": 64, "act": "Relu"}, {"depth": 3, "width": 64, "act": "Tanh"}):
        study.enqueue_trial(params)  # finished trials it cannot read are left out of the fit
    with pytest.warns(UserWarning, match="to_network raised RuntimeError: out of memory") as caught:
        study.optimize(objective, n_trials=14)
    assert len([w for w in caught if "to_network raised" in str(w.message)]) == 1
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    predictions = stored_predictions(study)
    assert predictions
    for trial in study.trials:
        if trial.number in predictions:
            assert not (trial.params["depth"] >= 3 and trial.params["width"] == 64)


def test_a_wrong_number_of_objective_names_stops_the_first_trial(tiny_surrogate_texts):
    sampler = make_sampler(tiny_surrogate_texts)
    sampler.objective_names = ("score",)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    with pytest.raises(ValueError, match="1 objective names \\(score\\) for a study of 2 objectives"):
        study.optimize(objective, n_trials=10)
    assert len(study.trials) == 1


def warm_started_study(sampler: RLMSampler, n: int) -> optuna.Study:
    """A study that starts from ``n`` trials evaluated elsewhere, which report no constraint."""
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    rng = np.random.default_rng(1)
    for _ in range(n):
        params = {
            "depth": int(rng.integers(1, 5)),
            "width": [8, 16, 32, 64][rng.integers(4)],
            "act": ["Relu", "Tanh", "Sigmoid"][rng.integers(3)],
        }
        study.add_trial(
            optuna.trial.create_trial(params=params, distributions=SPACE, values=[score(params), size(params)])
        )
    return study


def test_warm_start_without_constraints(tiny_surrogate_texts):
    sampler = make_sampler(tiny_surrogate_texts)
    study = warm_started_study(sampler, 8)
    study.optimize(objective, n_trials=3)
    assert all(t.number in stored_predictions(study) for t in study.trials[8:])  # no random start needed


def test_warm_start_then_constraints_the_warm_trials_lack(tiny_surrogate_texts):
    def constrained(trial: optuna.Trial) -> tuple[float, float]:
        values = objective(trial)
        trial.set_constraint("small", values[1] - 64.0)  # size <= 64
        return values

    sampler = make_sampler(tiny_surrogate_texts)
    study = warm_started_study(sampler, 8)
    study.optimize(constrained, n_trials=5)  # a refit after 3 constrained trials
    assert "constraint:small" in sampler.surrogate.objectives  # before, dropped while any trial lacked it


def test_a_partly_enqueued_trial_gets_a_proposal_that_keeps_its_values(tiny_surrogate_texts):
    sampler = make_sampler(tiny_surrogate_texts)
    proposals = {}
    propose = sampler.sample_relative

    def recorded(study, trial, search_space):  # the real method; the test only keeps what it returned
        proposals[trial.number] = propose(study, trial, search_space)
        return proposals[trial.number]

    sampler.sample_relative = recorded
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    study.optimize(objective, n_trials=6)
    study.enqueue_trial({"depth": 4})
    study.enqueue_trial({"depth": 1, "width": 8, "act": "Tanh"})
    study.optimize(objective, n_trials=2)
    partly, fully = study.trials[6], study.trials[7]
    # The proposal was made for depth 4, so the prediction stored is for the network evaluated.
    assert proposals[6] == partly.params and partly.params["depth"] == 4
    assert partly.number in stored_predictions(study)
    assert fully.params == {"depth": 1, "width": 8, "act": "Tanh"}
    assert fully.number not in stored_predictions(study)  # not proposed, so nothing was predicted for it


@pytest.mark.parametrize("n_objectives", [3, 4])
def test_three_and_four_objectives(tiny_surrogate_texts, n_objectives):
    names = ["score", "size", "depth", "width"][:n_objectives]

    def many(trial: optuna.Trial) -> tuple[float, ...]:
        params = suggest_network(trial)
        return (score(params), size(params), float(params["depth"]), float(params["width"]))[:n_objectives]

    sampler = make_sampler(tiny_surrogate_texts)
    study = optuna.create_study(directions=["maximize"] + ["minimize"] * (n_objectives - 1), sampler=sampler)
    study.set_metric_names(names)
    study.optimize(many, n_trials=9)
    predictions = stored_predictions(study)
    assert len(predictions) >= 2 and all(set(p) == set(names) for p in predictions.values())


def test_two_threads_share_one_sampler(tiny_surrogate_texts):
    import torch

    def module_network(params: dict):  # exported by torch in the sampler's thread
        layers, fan_in = [], 8
        for _ in range(params["depth"]):
            layers += [
                torch.nn.Linear(fan_in, params["width"]),
                getattr(torch.nn, params["act"].replace("Relu", "ReLU"))(),
            ]
            fan_in = params["width"]
        return torch.nn.Sequential(*layers), torch.zeros(1, 8)

    sampler = make_sampler(tiny_surrogate_texts, pool_random=10, pool_mutations=10)
    sampler.to_network = module_network
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    study.optimize(objective, n_trials=14, n_jobs=2)
    assert len(study.trials) == 14 and all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    proposed = [network_key(t) for t in study.trials if t.number in stored_predictions(study)]
    assert proposed and len(set(proposed)) == len(proposed)  # never one network handed to both threads


def test_predictions_stay_in_each_objective_s_valid_range(tiny_surrogate_texts):
    sampler = make_sampler(tiny_surrogate_texts)
    sampler.valid_ranges = {"score": (0.0, 0.5)}  # far below what the untrained surrogate decodes
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    study.set_metric_names(["score", "size"])
    study.optimize(objective, n_trials=9)
    predictions = stored_predictions(study).values()
    assert predictions
    for prediction in predictions:
        assert all(0.0 <= prediction["score"][stat] <= 0.5 for stat in ("q05", "median", "q95"))


def test_the_default_pool_is_smaller_where_each_candidate_costs_an_export(tiny_surrogate_texts):
    """A torch module is exported to ONNX for every candidate (~15 ms): 200 of them, not 900 texts."""
    import torch

    from nasrlm.search.sampler import POOL_EXPORTED, POOL_TEXT

    wide = {"depth": IntDistribution(1, 4), "width": IntDistribution(1, 4096)}  # far more networks than a pool

    def as_module(params: dict) -> tuple[torch.nn.Module, torch.Tensor]:
        layers = [torch.nn.Linear(8, 8) for _ in range(params["depth"] - 1)]
        return torch.nn.Sequential(*layers, torch.nn.Linear(8, params["width"])), torch.zeros(1, 8)

    def as_proto(params: dict) -> onnx.ModelProto:  # read without an export; width as a constant, not a tensor
        model = toy_network({"depth": params["depth"], "width": 8, "act": "Relu"})
        scale = helper.make_node("Constant", [], ["scale"], value_float=float(params["width"]))
        model.graph.node.extend([scale, helper.make_node("Mul", [model.graph.output[0].name, "scale"], ["scaled"])])
        model.graph.output[0].name = "scaled"
        return model

    candidates = {}
    for name, to_network in (("module", as_module), ("text", as_proto)):
        sampler = make_sampler(tiny_surrogate_texts, pool_random=None, pool_mutations=None, proposals_per_fit=1)
        sampler = RLMSampler(wide, to_network, surrogate=sampler.surrogate, config=sampler.config, seed=0)
        study = optuna.create_study(directions=["maximize"], sampler=sampler)
        study.optimize(lambda t: t.suggest_int("depth", 1, 4) + t.suggest_int("width", 1, 4096) / 1024, n_trials=7)
        candidates[name] = sampler.last_round["candidates"]
    # A few candidates may repeat a network: the pool is at most its size, and far above the other.
    assert sum(POOL_EXPORTED) * 0.9 <= candidates["module"] <= sum(POOL_EXPORTED)
    assert sum(POOL_TEXT) * 0.9 <= candidates["text"] <= sum(POOL_TEXT)
    assert RLMSamplerConfig(pool_random=5).pool_sizes(exported=True) == (5, POOL_EXPORTED[1])  # a given size stays


def test_the_first_fit_shows_its_progress_and_later_fits_stay_quiet(tiny_surrogate_texts, capsys):
    sampler = make_sampler(tiny_surrogate_texts, first_fit_steps=12, refit_steps=5)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    study.optimize(objective, n_trials=14)  # the first fit at trial 7, a refit at trial 10 and 13
    err = capsys.readouterr().err
    assert "12/12" in err and "5/5" not in err
    assert sampler._fits >= 2
    quiet = make_sampler(tiny_surrogate_texts, progress=False)
    optuna.create_study(directions=["maximize", "minimize"], sampler=quiet).optimize(objective, n_trials=8)
    assert "training" not in capsys.readouterr().err
