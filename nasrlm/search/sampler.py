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

The sampler knows nothing of search spaces: it takes the names (and default distributions) of the
parameters that describe a network and a function from those parameters to the network (ONNX
text, an ``onnx.ModelProto`` or a ``(module, input)`` pair), so it drops into anyone's study. It
proposes only the network's parameters, over the distributions the study's objective suggests them
with now; any other parameter of the objective (a learning rate, a dropout) is sampled
independently, at random. Constraints are Optuna's (``trial.set_constraint(name, value)``, feasible
when every value is <= 0): the RLM learns each constraint's value as one more objective and weighs
each sample's improvement by whether that sample is feasible.

What the surrogate predicted for a proposed network is kept in the study (read it with
:func:`stored_predictions`), for the trials that evaluated exactly the network it was made for.
The sampler is safe to share between the threads of ``study.optimize(..., n_jobs=...)``: proposing
and fitting are serialized, and a network handed to one thread is not handed to another.
"""

from __future__ import annotations

import math
import os
import threading
import time
import warnings
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

from nasrlm.rlm.recipe import DEFAULT_RECIPE
from nasrlm.rlm.training import TrainConfig
from nasrlm.search.pareto import hypervolume_improvement, pareto_mask, to_minimization
from nasrlm.text.convert import OnnxConverter

__all__ = ["PREDICTION_ATTR", "RLMSampler", "RLMSamplerConfig", "stored_predictions"]

# Prefix of the study user attrs "nasrlm:prediction:<trial number>": what the surrogate predicted
# for the network that trial evaluated, when it proposed it.
PREDICTION_ATTR = "nasrlm:prediction"
_CONVERT = OnnxConverter()  # what to_network returns (ONNX text, a ModelProto, (module, input)...) as text

# Trials whose network is taken: being evaluated, evaluated, or waiting in the queue. A failed
# trial's network is free again (a heartbeat retry, or a fix to the objective, may evaluate it).
_TAKEN_STATES = (TrialState.RUNNING, TrialState.WAITING, TrialState.COMPLETE, TrialState.PRUNED)


@dataclass(frozen=True)
class RLMSamplerConfig:
    n_startup_trials: int = 10  # random trials before the first fit
    proposals_per_fit: int = 4  # trials served by one fit-and-score round
    # Candidates scored per round: random points, and neighbours of the current front (all one-step
    # ones first, then two-step). None: the pool for the kind of network to_network returns (below).
    pool_random: int | None = None
    pool_mutations: int | None = None
    num_samples: int = 16  # joint samples per candidate for the EHVI estimate
    temperature: float = 1.0  # of the RLM's sampling; below 1 trusts its most likely values more
    # ehvi: mean improvement over the samples; median: improvement of the median prediction (greedier)
    acquisition: Literal["ehvi", "median"] = "ehvi"
    first_fit_steps: int = 120  # optimizer steps of the first fit (new objectives start untrained)
    refit_steps: int = 60  # later fits continue from the previous weights
    batch_size: int = 16
    lr: float = 1e-3
    # The recipe's dropout (0.2) suits its 30 epochs; these fits are a few dozen steps each. bench_search,
    # 10 seeds, hypervolume ratio at 50 / 100 queries: .839 / .909 with it and .844 / .903 without
    # (both fits reusing the bfloat16 encoder states cached while sampling), .859 / .937 without
    # either (fits encode their rows in float32, as now).
    dropout: float = 0.0
    # In objective units, one value per objective; None: the front's nadir pushed out by 10 % of its range.
    reference_point: tuple[float, ...] | None = None
    state_cache_size: int = 8192  # encoder states kept between rounds (the encoder is frozen)
    # Models fitted per round (Surrogate.fit's members). One, not the recipe's ensemble: a search refits
    # every few trials and scores hundreds of candidates per round by their samples, where an ensemble
    # multiplies the fits' time; its gain was measured on point predictions (recipe.py).
    members: int = 1
    # Candidates decoded together when scoring a pool (Surrogate.sample's batch_size). The batch changes
    # which random draws each sample gets, not their distribution, yet bench_search (10 seeds, one
    # machine, stop 38) measured hypervolume ratio .852 / .894 at 50 / 100 queries with batches of 256
    # (prediction's default in bfloat16) against .879 / .940 with 64 (the code before: .875 / .935),
    # lower on 8 of 10 seeds at 100; the cause is not found, so the search keeps the batch it was tuned with.
    decode_batch: int = 64
    progress: bool = True  # a progress bar while the first fit runs (new objectives: the longest step)

    def __post_init__(self) -> None:
        for name in (
            "n_startup_trials",
            "proposals_per_fit",
            "num_samples",
            "batch_size",
            "first_fit_steps",
            "members",
            "decode_batch",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.acquisition not in ("ehvi", "median"):
            raise ValueError(f"unknown acquisition {self.acquisition!r}; valid: ehvi, median")
        for name in ("pool_random", "pool_mutations"):
            if getattr(self, name) is not None and getattr(self, name) < 0:
                raise ValueError(f"{name} must be at least 0 (or None for the default), got {getattr(self, name)}")
        if min(sum(self.pool_sizes(exported=True)), sum(self.pool_sizes(exported=False))) < 1:
            raise ValueError("the candidate pool is empty: pool_random + pool_mutations must be at least 1")

    def pool_sizes(self, exported: bool) -> tuple[int, int]:
        """(random, mutations) candidates per round; ``exported``: each candidate is a torch module to export."""
        random, mutations = POOL_EXPORTED if exported else POOL_TEXT
        return (
            random if self.pool_random is None else self.pool_random,
            mutations if self.pool_mutations is None else self.pool_mutations,
        )


# Default pools. A network given as ONNX text (a benchmark's cached table, a direct builder) costs
# nothing to read, and 900 candidates find the front's gaps best (experiments/bench_search.py). A
# torch module costs an ONNX export (~15 ms on one core) and its text has never been encoded: with
# 900 of them a round took half a minute (issue 15), with 200 a few seconds; mutations of the front
# keep the larger share, since with few candidates the front's neighbourhood matters most.
POOL_TEXT = (300, 600)
POOL_EXPORTED = (60, 140)


def stored_predictions(study: Study) -> dict[int, dict[str, dict[str, float]]]:
    """Trial number -> the RLM sampler's prediction for the network that trial evaluated.

    Each prediction maps an objective name to its predicted ``median``, ``q05`` and ``q95``. Trials
    the sampler did not propose (random start-up trials, enqueued networks) have none.
    """
    prefix = f"{PREDICTION_ATTR}:"
    out = {int(key[len(prefix) :]): value for key, value in study.user_attrs.items() if key.startswith(prefix)}
    for trial in study.get_trials(deepcopy=False):  # studies written by nasrlm 0.1 kept them on the trial
        if PREDICTION_ATTR in trial.system_attrs:
            out.setdefault(trial.number, trial.system_attrs[PREDICTION_ATTR])
    return out


def _key(params: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((name, repr(value)) for name, value in params.items()))


def _random_value(distribution: BaseDistribution, rng: np.random.Generator) -> Any:
    """A uniform draw (log-uniform for log distributions) as the plain Python value Optuna stores."""
    if isinstance(distribution, CategoricalDistribution):
        return distribution.choices[int(rng.integers(len(distribution.choices)))]
    if not isinstance(distribution, (IntDistribution, FloatDistribution)):
        raise TypeError(f"unsupported distribution {type(distribution).__name__}")
    low, high, step = distribution.low, distribution.high, distribution.step
    if distribution.log:
        value = math.exp(rng.uniform(math.log(low), math.log(high)))
    elif step is not None:
        value = low + step * int(rng.integers(round((high - low) / step) + 1))
    else:
        value = rng.uniform(low, high)
    # exp(log(high)) and low + k * step can land a rounding error outside the range
    value = min(max(value, low), high)
    return round(float(value)) if isinstance(distribution, IntDistribution) else float(value)


def _contains(distribution: BaseDistribution, value: Any) -> bool:
    """Whether ``distribution`` can produce ``value`` (a finished trial's value may lie outside a new range)."""
    if isinstance(distribution, CategoricalDistribution):
        return any(type(value) is type(choice) and value == choice for choice in distribution.choices)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return False
    if not isinstance(distribution, (FloatDistribution, IntDistribution)):
        return False
    if not distribution.low <= value <= distribution.high:
        return False
    step = getattr(distribution, "step", None)
    if step is None or getattr(distribution, "log", False):
        return True
    steps = (value - distribution.low) / step
    return abs(steps - round(steps)) < 1e-8


def _is_module(network: Any) -> bool:
    """Whether ``to_network`` gave a torch module (alone or with its input): text only after an export."""
    if isinstance(network, tuple) and network:
        network = network[0]
    return isinstance(network, torch.nn.Module)


def _neighbours(
    params: Mapping[str, Any], space: Mapping[str, BaseDistribution], rng: np.random.Generator
) -> list[dict[str, Any]]:
    """Every one-step change of a categorical parameter of ``space``; two random redraws of each numeric one."""
    out: list[dict[str, Any]] = []
    for name, distribution in space.items():
        if isinstance(distribution, CategoricalDistribution):
            values = [c for c in distribution.choices if c != params.get(name)]
        else:
            values = [_random_value(distribution, rng) for _ in range(2)]
        out.extend({**params, name: value} for value in values)
    return out


@dataclass(frozen=True)
class _Finished:
    """A finished trial the surrogate can learn from: its network's parameters and text."""

    trial: FrozenTrial
    params: dict[str, Any]
    text: str


class RLMSampler(BaseSampler):
    """Optuna sampler that proposes trials by the RLM surrogate's expected hypervolume improvement.

    Args:
        search_space: the parameters that describe one network, with the distributions to use until
            the study's trials say otherwise (the sampler follows the distributions the objective
            suggests, so a widened range is explored). None: every parameter the study's finished
            trials all have describes the network.
        to_network: the network's parameters -> the network (ONNX text, ``onnx.ModelProto`` or
            ``(module, input)``). A candidate it raises for is skipped, with one warning.
        objectives: names the surrogate decodes the study's values as (default: the study's metric
            names, else ``objective_0``, ...); reusing a name the surrogate knows reuses what it learned.
        surrogate: a :class:`nasrlm.rlm.surrogate.Surrogate`, the path of a saved one, or None for the default.
        valid_ranges: objective name -> the (low, high) its values can take (an accuracy in % lies in
            0..100); the RLM's samples are clipped to it, so neither the scores nor the stored 90 %
            intervals count values that cannot occur.
        candidates: the only networks worth proposing, by their parameters (a benchmark table that
            covers part of its space: the architectures it has data for). Each round's pool then
            draws from them: those nearest the front (fewest differing parameters) in place of
            mutations, and random ones. None: any point of the search space.
    """

    def __init__(
        self,
        search_space: Mapping[str, BaseDistribution] | None,
        to_network: Callable[[dict[str, Any]], Any],
        *,
        objectives: Sequence[str] | None = None,
        surrogate: Any = None,
        config: RLMSamplerConfig = RLMSamplerConfig(),
        seed: int | None = None,
        valid_ranges: Mapping[str, tuple[float, float]] | None = None,
        candidates: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        if search_space is not None and not search_space:
            raise ValueError(
                "search_space is empty: give the Optuna distributions that describe a network, or None to "
                "model every parameter the study's trials share"
            )
        self.search_space = dict(search_space) if search_space is not None else None
        self.to_network = to_network
        self.objective_names = tuple(objectives) if objectives else None
        self.config = config
        self.valid_ranges = dict(valid_ranges or {})
        if candidates is not None and not candidates:
            raise ValueError("candidates is empty: give the networks worth proposing, or None for any")
        self.candidates = [dict(params) for params in candidates] if candidates is not None else None
        self._candidate_matrix: tuple[list[str], np.ndarray] | None = None
        self._surrogate_source = surrogate
        self._surrogate: Any = None
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        self._random = RandomSampler(seed=seed)
        self._texts: dict[tuple, str | None] = {}  # None: to_network raised for these parameters
        self._exported = False  # to_network returns torch modules, which cost an export each
        self._states: dict[str, torch.Tensor] = {}
        self._queue: list[tuple[dict[str, Any], dict[str, Any]]] = []  # (network parameters, prediction)
        self._queued_from = -1  # how many finished trials the current queue was made from
        self._fitted_on: tuple | None = None  # the study and trial numbers of the last fit
        self._fits = 0
        # Proposals handed out and not yet told: trial number -> (network parameters, prediction).
        self._pending: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
        self._warned: set[str] = set()
        # One thread at a time proposes or fits (the surrogate's weights are trained in place);
        # independent draws have their own lock, so they do not wait for a fit.
        self._lock = threading.RLock()
        self._random_lock = threading.Lock()
        self.last_round: dict[str, float] = {}

    # --- Optuna's sampler contract ---------------------------------------------------------------
    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        """The network's parameters, each with the distribution the latest finished trial suggested it with.

        Like Optuna's ``IntersectionSearchSpace``, without a ``search_space`` only the parameters
        every finished trial has are modelled; unlike it, a parameter whose range changed stays
        modelled (with its newest range): the surrogate reads networks, so trials from the old
        range remain good training data, and the new range is where the objective now looks.
        """
        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not complete:
            return {}
        newest_first = sorted(complete, key=lambda t: t.number, reverse=True)
        if self.search_space is not None:
            names = list(self.search_space)
        else:
            shared = set.intersection(*(set(t.distributions) for t in complete))
            names = sorted(shared)
        space: dict[str, BaseDistribution] = {}
        for name in names:
            latest = next((t.distributions[name] for t in newest_first if name in t.distributions), None)
            if latest is None and self.search_space is not None:
                latest = self.search_space[name]
            if latest is not None:
                space[name] = latest
        return space

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        names = self._names(study)  # a misconfiguration is reported at the first trial, not after the start-up
        if not search_space:
            return {}
        with self._lock:
            return self._sample_relative(study, trial, search_space, names)

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        with self._random_lock:
            return self._random.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        with self._lock:
            proposal = self._pending.pop(trial.number, None)
        if proposal is None:
            return
        params, prediction = proposal
        # A value fixed outside the sampler (enqueue_trial, PartialFixedSampler) may have replaced a
        # proposed one: the prediction is kept only for the network it was made for.
        if all(name in trial.params and trial.params[name] == value for name, value in params.items()):
            study.set_user_attr(f"{PREDICTION_ATTR}:{trial.number}", prediction)

    def reseed_rng(self) -> None:
        with self._lock, self._random_lock:
            self._rng = np.random.default_rng()
            self._random.reseed_rng()

    # --- proposing, one thread at a time -----------------------------------------------------------
    def _sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution], names: list[str]
    ) -> dict[str, Any]:
        network_names = list(self.search_space) if self.search_space is not None else list(search_space)
        if all(name in trial.params for name in network_names):
            return {}  # a retried or fully enqueued trial: its network is set already
        # enqueue_trial keeps its values here; a proposal must agree with them, or the prediction
        # stored for the trial would be of another network.
        fixed = {k: v for k, v in trial.system_attrs.get("fixed_params", {}).items() if k in network_names}
        if len(fixed) == len(network_names):
            return {}  # the whole network is enqueued: nothing to propose
        undecided = [name for name in network_names if name not in search_space and name not in fixed]
        if undecided:
            self._warn_once(
                "undecided",
                f"RLMSampler: network parameter(s) {', '.join(undecided)} are not in the relative search space "
                "(another sampler, e.g. PartialFixedSampler, decides them), so no network can be proposed; "
                "these trials are sampled at random. Fix values with study.enqueue_trial instead.",
            )
            return {}
        finished = self._finished(study, network_names)
        if len(finished) < self.config.n_startup_trials:
            return {}  # random start, through sample_independent
        space = {name: search_space[name] for name in network_names if name in search_space and name not in fixed}
        busy = self._taken(study, trial, network_names)

        def usable(params: dict[str, Any]) -> bool:
            return (
                _key(params) not in busy
                and all(params.get(name) == value for name, value in fixed.items())
                and all(_contains(distribution, params.get(name)) for name, distribution in space.items())
            )

        if fixed:  # a round of its own, for this trial's fixed values; the shared queue stays as it is
            proposals = self._propose(study, names, finished, busy, space, fixed)
        else:
            stale = len(finished) - self._queued_from >= self.config.proposals_per_fit
            if stale or not any(usable(params) for params, _ in self._queue):
                self._queue = self._propose(study, names, finished, busy, space, fixed)
                self._queued_from = len(finished)
            proposals = self._queue
        for position, (params, prediction) in enumerate(proposals):
            if usable(params):
                del proposals[position]
                self._pending[trial.number] = (params, prediction)
                return {name: value for name, value in params.items() if name in search_space}
        # Every network the pool found is taken: a random point, as an independent sampler would
        # draw, but for every parameter of the relative space (Optuna's samplers all do so).
        return {name: _random_value(distribution, self._rng) for name, distribution in space.items()}

    def _taken(self, study: Study, trial: FrozenTrial, network_names: list[str]) -> set:
        """Keys of the networks other trials hold (running, waiting, finished) or were handed."""
        taken = {
            _key({name: t.params[name] for name in network_names})
            for t in study.get_trials(deepcopy=False, states=_TAKEN_STATES)
            if t.number != trial.number and all(name in t.params for name in network_names)
        }
        taken |= {_key(params) for number, (params, _) in self._pending.items() if number != trial.number}
        return taken

    def _warn_once(self, what: str, message: str) -> None:
        if what not in self._warned:
            self._warned.add(what)
            warnings.warn(message, stacklevel=4)

    # --- the surrogate ---------------------------------------------------------------------------
    @property
    def surrogate(self) -> Any:
        """The surrogate as last fine-tuned (loaded on first use)."""
        with self._lock:
            if self._surrogate is None:
                from nasrlm.rlm.surrogate import Surrogate

                source = self._surrogate_source
                if source is None:
                    self._surrogate = Surrogate.pretrained()
                elif isinstance(source, (str, os.PathLike)):
                    self._surrogate = Surrogate.load(source)
                else:  # a Surrogate, or anything with its fit/sample (an oracle in a benchmark)
                    self._surrogate = source
            return self._surrogate

    def _names(self, study: Study) -> list[str]:
        names = list(self.objective_names or study.metric_names or [])
        if not names:
            names = [f"objective_{i}" for i in range(len(study.directions))]
        if len(names) != len(study.directions):
            raise ValueError(
                f"RLMSampler has {len(names)} objective names ({', '.join(names)}) for a study of "
                f"{len(study.directions)} objectives; give one name per objective"
            )
        reference = self.config.reference_point
        if reference is not None and len(reference) != len(names):
            raise ValueError(
                f"RLMSamplerConfig.reference_point has {len(reference)} values for {len(names)} objectives "
                f"({', '.join(names)}); give one value per objective"
            )
        return names

    def _text(self, params: Mapping[str, Any]) -> str | None:
        """The network's text, or None when ``to_network`` (or reading its result) fails for ``params``."""
        key = _key(params)
        if key not in self._texts:
            try:
                network = self.to_network(dict(params))
                self._exported = self._exported or _is_module(network)
                self._texts[key] = _CONVERT.one(network)
            except Exception as exc:  # a user's function: one bad network must not stop the study
                self._texts[key] = None
                self._warn_once(
                    "to_network",
                    f"RLMSampler: to_network raised {type(exc).__name__}: {exc} (for {dict(params)}); "
                    "such networks are not proposed or learned from (warned once)",
                )
        return self._texts[key]

    def _finished(self, study: Study, network_names: list[str]) -> list[_Finished]:
        trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        out = []
        for t in trials:
            usable = t.values is not None and all(math.isfinite(v) for v in t.values)
            if not usable or not all(name in t.params for name in network_names):
                continue
            params = {name: t.params[name] for name in network_names}
            text = self._text(params)
            if text is not None:
                out.append(_Finished(t, params, text))
        return out

    def _fit(self, study: Study, names: list[str], finished: list[_Finished]) -> None:
        numbers = (study.study_name, *(f.trial.number for f in finished))
        if numbers == self._fitted_on:
            return  # nothing new to learn since the last fit
        values = np.array([f.trial.values for f in finished], dtype=np.float64)
        targets = {name: values[:, k] for k, name in enumerate(names)}
        # A constraint some trials lack (they were added by a warm start) is learned from the trials
        # that report it, in a second pass over those rows only: a missing value is not a zero.
        partial: dict[str, list[int]] = {}
        for key in self._constraint_keys(finished):
            rows = [i for i, f in enumerate(finished) if key in f.trial.constraints]
            if len(rows) == len(finished):
                targets[f"constraint:{key}"] = np.array([finished[i].trial.constraints[key] for i in rows])
            else:
                partial[f"constraint:{key}"] = rows
        steps = self.config.first_fit_steps if self._fits == 0 else self.config.refit_steps
        members = self.config.members
        self.surrogate.fit(
            [f.text for f in finished], targets, self._train_config(steps, len(finished)), members=members
        )
        for objective, rows in partial.items():
            key = objective.removeprefix("constraint:")
            known = objective in self.surrogate.objectives
            column = {objective: np.array([finished[i].trial.constraints[key] for i in rows], dtype=np.float64)}
            config = self._train_config(self.config.refit_steps if known else self.config.first_fit_steps, len(rows))
            self.surrogate.fit([finished[i].text for i in rows], column, config, members=members)
        self._fits += 1
        self._fitted_on = numbers

    def _train_config(self, steps: int, rows: int) -> TrainConfig:
        return DEFAULT_RECIPE.train_config(
            steps=steps,
            rows=rows,
            batch_size=self.config.batch_size,
            lr=self.config.lr,
            dropout=self.config.dropout,
            val_fraction=0.0,  # every finished trial is worth training on; steps are fixed instead
            freeze_encoder=True,  # so the cached encoder states of candidates stay valid
            seed=self._fits if self._seed is None else self._seed + self._fits,
            # The first fit teaches new objectives from scratch: long enough (tens of seconds on a
            # busy core) that a silent wait looks like a hang. Later fits are short and stay quiet.
            progress=self.config.progress and self._fits == 0,
        )

    @staticmethod
    def _constraint_keys(finished: list[_Finished]) -> list[str]:
        """Constraints any finished trial reports (``trial.set_constraint``)."""
        return sorted(set().union(*(f.trial.constraints for f in finished)))

    # --- proposing -------------------------------------------------------------------------------
    def _pool(
        self,
        front_params: list[dict[str, Any]],
        taken: set,
        space: Mapping[str, BaseDistribution],
        fixed: Mapping[str, Any],
    ) -> list[dict[str, Any]]:
        """Candidates: mutations of the front, then random points; over ``space``, with ``fixed`` values."""
        if self.candidates is not None:
            return self._pool_of_candidates(front_params, taken, space, fixed)
        seen = set(taken)
        pool: list[dict[str, Any]] = []
        pool_random, pool_mutations = self.config.pool_sizes(self._exported)

        def add(params: dict[str, Any]) -> None:
            key = _key(params)
            if key not in seen and all(_contains(d, params.get(name)) for name, d in space.items()):
                seen.add(key)
                pool.append(params)

        if space:
            starts = [{**params, **fixed} for params in front_params]
            mutations: list[dict[str, Any]] = []
            for params in starts:
                mutations.extend(_neighbours(params, space, self._rng))
            self._rng.shuffle(mutations)
            for params in mutations[:pool_mutations]:
                add(params)
            tries = 0
            while len(pool) < pool_mutations and starts and tries < 4 * pool_mutations:
                tries += 1  # two-step mutations fill the rest of the mutation share
                start = starts[self._rng.integers(len(starts))]
                first = _neighbours(start, space, self._rng)
                if not first:
                    break
                second = _neighbours(first[self._rng.integers(len(first))], space, self._rng)
                add(second[self._rng.integers(len(second))])
        target = len(pool) + pool_random
        tries = 0
        while len(pool) < target and tries < 4 * pool_random:
            tries += 1
            add({**{name: _random_value(d, self._rng) for name, d in space.items()}, **fixed})
        return pool

    def _pool_of_candidates(
        self,
        front_params: list[dict[str, Any]],
        taken: set,
        space: Mapping[str, BaseDistribution],
        fixed: Mapping[str, Any],
    ) -> list[dict[str, Any]]:
        """The pool drawn from ``self.candidates``: those nearest each front point, then random ones."""
        assert self.candidates is not None
        if self._candidate_matrix is None:
            names = sorted(set().union(*self.candidates))
            rows = [[repr(params.get(name)) for name in names] for params in self.candidates]
            self._candidate_matrix = names, np.array(rows, dtype=object).reshape(len(rows), len(names))
        names, matrix = self._candidate_matrix
        usable = np.array(
            [
                _key(params) not in taken
                and all(params.get(name) == value for name, value in fixed.items())
                and all(_contains(d, params.get(name)) for name, d in space.items())
                for params in self.candidates
            ]
        )
        pool_random, pool_mutations = self.config.pool_sizes(self._exported)
        chosen: list[int] = []
        if front_params and pool_mutations:
            # Each front point's nearest usable candidates, taken in turn, so every point gets its share.
            orders = []
            for params in front_params:
                point = np.array([repr(params.get(name)) for name in names], dtype=object)
                distance = (matrix != point).sum(axis=1) + self._rng.random(len(matrix))  # random tie-break
                distance[~usable] = np.inf
                orders.append(np.argsort(distance)[:pool_mutations])
            picked: set[int] = set()
            for rank in range(pool_mutations):
                for order in orders:
                    if len(chosen) >= pool_mutations:
                        break
                    if rank < len(order) and usable[order[rank]] and int(order[rank]) not in picked:
                        picked.add(int(order[rank]))
                        chosen.append(int(order[rank]))
        rest = np.flatnonzero(usable)
        rest = rest[~np.isin(rest, chosen)]
        chosen.extend(int(i) for i in self._rng.permutation(rest)[:pool_random])
        return [dict(self.candidates[i]) for i in chosen]

    @staticmethod
    def _reference(front: np.ndarray) -> np.ndarray:
        nadir, ideal = front.max(0), front.min(0)
        return nadir + 0.1 * np.maximum(nadir - ideal, 1e-9 + 0.1 * np.abs(nadir))

    def _propose(
        self,
        study: Study,
        names: list[str],
        finished: list[_Finished],
        taken: set,
        space: Mapping[str, BaseDistribution],
        fixed: Mapping[str, Any],
    ) -> list[tuple[dict, dict]]:
        started = time.perf_counter()
        maximize = [d == StudyDirection.MAXIMIZE for d in study.directions]
        self._fit(study, names, finished)
        fitted = time.perf_counter()

        observed = to_minimization(np.array([f.trial.values for f in finished]), maximize)
        constraint_keys = self._constraint_keys(finished)
        # Optuna's rule: a trial is feasible when every constraint it reports is <= 0.
        feasible = np.array([all(v <= 0 for v in f.trial.constraints.values()) for f in finished])
        front_rows = np.flatnonzero(feasible)[pareto_mask(observed[feasible])] if feasible.any() else np.array([], int)
        front = observed[front_rows] if len(front_rows) else np.zeros((0, len(names)))
        if self.config.reference_point is not None:
            reference = to_minimization(np.asarray(self.config.reference_point, dtype=np.float64), maximize)
        else:
            reference = self._reference(front if len(front) else observed)

        # Candidates: one text each; networks equal to a finished or taken one are not worth a query.
        pool = self._pool([finished[i].params for i in front_rows], taken, space, fixed)
        seen_texts = {f.text for f in finished}
        candidates, texts = [], []
        for params in pool:
            text = self._text(params)
            if text is not None and text not in seen_texts:
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
            seed=int(self._rng.integers(2**31)),
            temperature=self.config.temperature,
            state_cache=self._states,
            batch_size=self.config.decode_batch,
        )
        samples = np.array(samples, dtype=np.float64)  # [N, S, K + constraints], ours to clip
        for k, name in enumerate(names):
            if name in self.valid_ranges:
                low, high = self.valid_ranges[name]
                samples[:, :, k] = np.clip(samples[:, :, k], low, high)
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
