"""An Optuna sampler steered by the RLM: fine-tune on finished trials, propose by expected HV gain.

Each round the sampler (1) fine-tunes its surrogate (the shipped pretrained default unless given)
on every finished trial, decoding all objectives in sequence from the network's ONNX text; (2)
builds a pool of candidates: random points of the search space plus one- and two-step mutations of
the current Pareto front; (3) draws joint samples of all objectives for each candidate and scores
it by Monte Carlo expected hypervolume improvement (EHVI) over the front, so the RLM's sampled
uncertainty is what trades exploration against exploitation; (4) queues the best few, chosen
greedily, each added to the front at its predicted median before the next is picked (so a batch
does not crowd one spot). One round serves ``proposals_per_fit`` trials: fitting and scoring cost
seconds, and spreading them keeps the time per trial low.

The sampler knows nothing of search spaces: it takes Optuna distributions and a function from
trial parameters to the network (ONNX text, an ``onnx.ModelProto`` or a ``(module, input)`` pair),
so it drops into anyone's study. Constraints are Optuna's (``trial.set_constraint(name, value)``,
feasible when every value is <= 0): the RLM learns each constraint's value as one more objective
and weighs each sample's improvement by whether that sample is feasible.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import optuna
import torch
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from .inputs import to_texts
from .pareto import hypervolume_improvement, pareto_mask, to_minimization
from .training import TrainConfig

__all__ = ["PREDICTION_ATTR", "RLMSampler", "RLMSamplerConfig"]

PREDICTION_ATTR = "nasrlm:prediction"  # trial system attr: what the surrogate predicted when proposing it


@dataclass(frozen=True)
class RLMSamplerConfig:
    n_startup_trials: int = 10  # random trials before the first fit
    proposals_per_fit: int = 4  # trials served by one fit-and-score round
    pool_random: int = 300
    pool_mutations: int = 600  # neighbours of the current front: all one-step ones first, then two-step
    num_samples: int = 16  # joint samples per candidate for the EHVI estimate
    temperature: float = 1.0  # of the RLM's sampling; below 1 trusts its most likely values more
    # ehvi: mean improvement over the samples; median: improvement of the median prediction (greedier)
    acquisition: Literal["ehvi", "median"] = "ehvi"
    first_fit_steps: int = 120  # optimizer steps of the first fit (new objectives start untrained)
    refit_steps: int = 60  # later fits continue from the previous weights
    batch_size: int = 16
    lr: float = 1e-3
    # In objective units, one value per objective; None: the front's nadir pushed out by 10 % of its range.
    reference_point: tuple[float, ...] | None = None
    state_cache_size: int = 8192  # encoder states kept between rounds (the encoder is frozen)

    def __post_init__(self) -> None:
        for name in ("n_startup_trials", "proposals_per_fit", "num_samples", "batch_size", "first_fit_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.acquisition not in ("ehvi", "median"):
            raise ValueError(f"unknown acquisition {self.acquisition!r}; valid: ehvi, median")
        if self.pool_random + self.pool_mutations < 1:
            raise ValueError("the candidate pool is empty: pool_random + pool_mutations must be at least 1")


def _key(params: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((name, repr(value)) for name, value in params.items()))


def _random_value(distribution: BaseDistribution, rng: np.random.Generator) -> Any:
    if isinstance(distribution, CategoricalDistribution):
        return distribution.choices[rng.integers(len(distribution.choices))]
    if isinstance(distribution, IntDistribution):
        if distribution.log:
            return round(math.exp(rng.uniform(math.log(distribution.low), math.log(distribution.high))))
        steps = (distribution.high - distribution.low) // distribution.step
        return distribution.low + distribution.step * int(rng.integers(steps + 1))
    if isinstance(distribution, FloatDistribution):
        if distribution.log:
            return float(math.exp(rng.uniform(math.log(distribution.low), math.log(distribution.high))))
        if distribution.step is not None:
            steps = round((distribution.high - distribution.low) / distribution.step)
            return distribution.low + distribution.step * int(rng.integers(steps + 1))
        return float(rng.uniform(distribution.low, distribution.high))
    raise TypeError(f"unsupported distribution {type(distribution).__name__}")


def _neighbours(params: Mapping[str, Any], space: Mapping[str, BaseDistribution], rng: np.random.Generator) -> list:
    """Every one-step change of a categorical parameter; two random redraws of each numeric one."""
    out = []
    for name, distribution in space.items():
        if isinstance(distribution, CategoricalDistribution):
            values = [c for c in distribution.choices if c != params.get(name)]
        else:
            values = [_random_value(distribution, rng) for _ in range(2)]
        out.extend({**params, name: value} for value in values)
    return out


class RLMSampler(BaseSampler):
    """Optuna sampler that proposes trials by the RLM surrogate's expected hypervolume improvement.

    Args:
        search_space: the Optuna distributions that describe one network.
        to_network: trial parameters -> the network (ONNX text, ``onnx.ModelProto`` or ``(module, input)``).
        objectives: names the surrogate decodes the study's values as (default: the study's metric
            names, else ``objective_0``, ...); reusing a name the surrogate knows reuses what it learned.
        surrogate: a :class:`nasrlm.surrogate.Surrogate`, the path of a saved one, or None for the default.
    """

    def __init__(
        self,
        search_space: Mapping[str, BaseDistribution],
        to_network: Callable[[dict[str, Any]], Any],
        *,
        objectives: Sequence[str] | None = None,
        surrogate: Any = None,
        config: RLMSamplerConfig = RLMSamplerConfig(),
        seed: int | None = None,
    ) -> None:
        if not search_space:
            raise ValueError("search_space is empty: give the Optuna distributions that describe a network")
        self.search_space = dict(search_space)
        self.to_network = to_network
        self.objective_names = tuple(objectives) if objectives else None
        self.config = config
        self._surrogate_source = surrogate
        self._surrogate: Any = None
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        self._random = RandomSampler(seed=seed)
        self._texts: dict[tuple, str] = {}
        self._states: dict[str, torch.Tensor] = {}
        self._queue: list[tuple[dict[str, Any], dict[str, Any]]] = []  # (params, prediction)
        self._fitted_on = -1  # how many finished trials the current queue was made from
        self._fits = 0
        self.last_round: dict[str, float] = {}

    # --- Optuna's sampler contract ---------------------------------------------------------------
    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return dict(self.search_space)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        finished = self._finished(study)
        if len(finished) < self.config.n_startup_trials:
            return {}  # random start, through sample_independent
        busy = {_key(t.params) for t in study.get_trials(deepcopy=False) if t.params and t.number != trial.number}
        stale = len(finished) - self._fitted_on >= self.config.proposals_per_fit
        if stale or not any(_key(p) not in busy for p, _ in self._queue):
            self._queue = self._propose(study, finished, busy)
            self._fitted_on = len(finished)
        while self._queue:
            params, prediction = self._queue.pop(0)
            if _key(params) not in busy:
                study._storage.set_trial_system_attr(trial._trial_id, PREDICTION_ATTR, prediction)
                return params
        return {}  # nothing new left to propose: fall back on random sampling

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def reseed_rng(self) -> None:
        self._rng = np.random.default_rng()
        self._random.reseed_rng()

    # --- the surrogate ---------------------------------------------------------------------------
    @property
    def surrogate(self) -> Any:
        """The surrogate as last fine-tuned (loaded on first use)."""
        if self._surrogate is None:
            from .surrogate import Surrogate

            source = self._surrogate_source
            if source is None:
                self._surrogate = Surrogate.pretrained()
            elif isinstance(source, Surrogate):
                self._surrogate = source
            else:
                self._surrogate = Surrogate.load(source)
        return self._surrogate

    def _names(self, study: Study) -> list[str]:
        names = list(self.objective_names or study.metric_names or [])
        if not names:
            names = [f"objective_{i}" for i in range(len(study.directions))]
        if len(names) != len(study.directions):
            raise ValueError(
                f"{len(names)} objective names ({', '.join(names)}) for {len(study.directions)} objectives"
            )
        return names

    def _text(self, params: Mapping[str, Any]) -> str:
        key = _key(params)
        if key not in self._texts:
            self._texts[key] = to_texts([self.to_network(dict(params))])[0]
        return self._texts[key]

    def _finished(self, study: Study) -> list[FrozenTrial]:
        trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        out = [t for t in trials if t.values is not None and all(math.isfinite(v) for v in t.values)]
        return [t for t in out if set(t.params) >= set(self.search_space)]

    @staticmethod
    def _constraint_keys(finished: list[FrozenTrial]) -> list[str]:
        """Constraints every finished trial reports (``trial.set_constraint``)."""
        keys = [set(t.constraints) for t in finished]
        return sorted(set.intersection(*keys)) if keys else []

    def _fit(self, names: list[str], finished: list[FrozenTrial]) -> None:
        values = np.array([t.values for t in finished], dtype=np.float64)
        targets = {name: values[:, k] for k, name in enumerate(names)}
        for key in self._constraint_keys(finished):
            targets[f"constraint:{key}"] = np.array([t.constraints[key] for t in finished], dtype=np.float64)
        steps = self.config.first_fit_steps if self._fits == 0 else self.config.refit_steps
        per_epoch = math.ceil(len(finished) / self.config.batch_size)
        config = TrainConfig(
            epochs=max(1, math.ceil(steps / per_epoch)),
            batch_size=self.config.batch_size,
            lr=self.config.lr,
            val_fraction=0.0,  # every finished trial is worth training on; steps are fixed instead
            freeze_encoder=True,  # so the cached encoder states of candidates stay valid
            seed=self._fits if self._seed is None else self._seed + self._fits,
            progress=False,
        )
        texts = [self._text(t.params) for t in finished]
        self.surrogate.fit(texts, targets, config, raw_text=True)
        self._fits += 1

    # --- proposing -------------------------------------------------------------------------------
    def _pool(self, front_params: list[dict[str, Any]], busy: set) -> list[dict[str, Any]]:
        seen = set(busy)
        pool: list[dict[str, Any]] = []

        def add(params: dict[str, Any]) -> None:
            key = _key(params)
            if key not in seen:
                seen.add(key)
                pool.append(params)

        mutations: list[dict[str, Any]] = []
        for params in front_params:
            mutations.extend(_neighbours(params, self.search_space, self._rng))
        self._rng.shuffle(mutations)
        for params in mutations[: self.config.pool_mutations]:
            add(params)
        tries = 0
        while len(pool) < self.config.pool_mutations and front_params and tries < 4 * self.config.pool_mutations:
            tries += 1  # two-step mutations fill the rest of the mutation share
            start = front_params[self._rng.integers(len(front_params))]
            first = _neighbours(start, self.search_space, self._rng)
            second = _neighbours(first[self._rng.integers(len(first))], self.search_space, self._rng)
            add(second[self._rng.integers(len(second))])
        target = len(pool) + self.config.pool_random
        tries = 0
        while len(pool) < target and tries < 4 * self.config.pool_random:
            tries += 1
            add({name: _random_value(d, self._rng) for name, d in self.search_space.items()})
        return pool

    @staticmethod
    def _reference(front: np.ndarray) -> np.ndarray:
        nadir, ideal = front.max(0), front.min(0)
        return nadir + 0.1 * np.maximum(nadir - ideal, 1e-9 + 0.1 * np.abs(nadir))

    def _propose(self, study: Study, finished: list[FrozenTrial], busy: set) -> list[tuple[dict, dict]]:
        import time

        started = time.perf_counter()
        names = self._names(study)
        maximize = [d == StudyDirection.MAXIMIZE for d in study.directions]
        self._fit(names, finished)
        fitted = time.perf_counter()

        observed = to_minimization(np.array([t.values for t in finished]), maximize)
        constraint_keys = self._constraint_keys(finished)
        feasible = np.array([all(t.constraints[k] <= 0 for k in constraint_keys) for t in finished])
        front_rows = np.flatnonzero(feasible)[pareto_mask(observed[feasible])] if feasible.any() else np.array([], int)
        front = observed[front_rows] if len(front_rows) else np.zeros((0, len(names)))
        if self.config.reference_point is not None:
            reference = to_minimization(np.asarray(self.config.reference_point, dtype=np.float64), maximize)
        else:
            reference = self._reference(front if len(front) else observed)

        # Candidates: one text each; networks equal to a finished or running one are not worth a query.
        pool = self._pool([dict(finished[i].params) for i in front_rows], busy)
        known = {self._text(t.params) for t in finished}
        candidates, texts, seen_texts = [], [], set(known)
        for params in pool:
            text = self._text(params)
            if text not in seen_texts:
                seen_texts.add(text)
                candidates.append(params)
                texts.append(text)
        if not candidates:
            return []
        decode = list(names) + [f"constraint:{key}" for key in constraint_keys]
        if len(self._states) > self.config.state_cache_size:
            self._states.clear()
        samples = self.surrogate.sample(
            texts,
            num_samples=self.config.num_samples,
            objectives=decode,
            raw_text=True,
            seed=int(self._rng.integers(2**31)),
            temperature=self.config.temperature,
            state_cache=self._states,
        )  # [N, S, K + constraints]
        points = to_minimization(samples[:, :, : len(names)], maximize)
        sample_feasible = np.all(samples[:, :, len(names) :] <= 0, axis=2) if len(decode) > len(names) else None
        medians = np.median(points, axis=1)
        if self.config.acquisition == "median":
            points = medians[:, None, :]
            sample_feasible = None if sample_feasible is None else (sample_feasible.mean(1, keepdims=True) >= 0.5)

        chosen: list[int] = []
        for _ in range(min(self.config.proposals_per_fit, len(candidates))):
            gain = hypervolume_improvement(points, front, reference)  # [N, S]
            if sample_feasible is not None:
                gain = gain * sample_feasible
            score = gain.mean(axis=1)
            score[chosen] = -np.inf
            if score.max() <= 0:  # nothing is expected to improve: take the best random scalarization
                weights = self._rng.dirichlet(np.ones(len(names)))
                scale = np.maximum(medians.max(0) - medians.min(0), 1e-12)
                score = -np.max(weights * (medians - medians.min(0)) / scale, axis=1)
                score[chosen] = -np.inf
            best = int(np.argmax(score))
            chosen.append(best)
            front = np.vstack([front, medians[best]])  # believe the median while picking the rest

        def summary(i: int) -> dict[str, Any]:
            raw = samples[i, :, : len(names)]
            return {
                name: {
                    "median": float(np.median(raw[:, k])),
                    "q05": float(np.quantile(raw[:, k], 0.05)),
                    "q95": float(np.quantile(raw[:, k], 0.95)),
                }
                for k, name in enumerate(names)
            }

        self.last_round = {
            "finished": len(finished),
            "candidates": len(candidates),
            "fit_s": fitted - started,
            "score_s": time.perf_counter() - fitted,
        }
        optuna.logging.get_logger(__name__).debug(f"RLM round: {self.last_round}")
        return [(candidates[i], summary(i)) for i in chosen]
