"""Multi-objective architecture search: an Optuna study over a search space, steered by a sampler.

>>> from nasrlm.search.runner import SearchConfig, run_search
>>> result = run_search(SearchConfig(space="nb201", objectives=("acc", "latency_pixel3"), budget=100))
>>> result.front  # doctest: +SKIP

For a benchmark space a query is a table lookup, counted against the budget; pass ``evaluate`` to
measure architectures your own way (e.g. real training). Every objective value, constraint metric
and the architecture string of each trial are stored in the study, so any Optuna storage works:
an interrupted search resumes from its storage, and several processes (or machines, on a shared
PostgreSQL or MySQL database) can work on one study. The budget counts finished trials in the
study; a worker checks it before each query, so the study never holds more than the budget
(save for queries that finish at the same moment in different workers).
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from optuna.samplers import BaseSampler

from nasrlm.core.errors import NasrlmError
from nasrlm.hardware.devices import registered_metrics
from nasrlm.search.results import SearchResult, summarize, write_results
from nasrlm.search.sampler import RLMSampler, RLMSamplerConfig
from search_spaces.base import SearchSpace, TabularSpace

__all__ = [
    "SAMPLERS",
    "Constraint",
    "SearchConfig",
    "SearchError",
    "SearchResult",
    "WorkerSeededSampler",
    "claim_architecture",
    "load_surrogate",
    "make_sampler",
    "open_storage",
    "parse_constraint",
    "run_search",
    "worker_seed",
]

SAMPLERS = ("rlm", "nsga2", "tpe", "random", "gp")
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][\w.-]*)\s*(<=|>=|<|>)\s*([-+]?[\d.]+(?:[eE][-+]?\d+)?)\s*$")


class SearchError(NasrlmError, ValueError):
    """A search asked for something that does not exist; the message lists what does."""


@dataclass(frozen=True)
class Constraint:
    """``metric <= bound`` (or ``>=``): feasible when :meth:`violation` is at most 0."""

    metric: str
    op: str
    bound: float

    def violation(self, value: float) -> float:
        return value - self.bound if self.op in ("<=", "<") else self.bound - value

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.bound:g}"


def parse_constraint(text: str) -> Constraint:
    match = _CONSTRAINT.match(text)
    if not match:
        raise SearchError(
            f"malformed constraint {text!r}; write METRIC<=VALUE or METRIC>=VALUE, e.g. 'latency_pixel3<=10'"
        )
    return Constraint(match.group(1), match.group(2), float(match.group(3)))


@dataclass(frozen=True)
class SearchConfig:
    space: str = "nb201"
    objectives: tuple[str, ...] = ("acc", "latency_pixel3")
    budget: int = 100  # finished trials (benchmark queries) in the study
    sampler: str = "rlm"
    seed: int = 0
    storage: str | None = None  # an Optuna URL (sqlite:///..., postgresql://...) or journal:///path; None: in out/
    study_name: str | None = None  # default: space, objectives, sampler and seed
    surrogate: str | None = None  # a saved surrogate for the RLM sampler (default: the shipped one)
    constraints: tuple[str, ...] = ()  # e.g. ("latency_pixel3<=10",)
    reference: tuple[float, ...] | None = None  # hypervolume reference, one value per objective
    out: str | None = None  # results folder; None writes nothing (and keeps the study in memory)
    # Database storages: a running trial whose worker has been silent this long (seconds) is failed and
    # retried once. Long, because a silent worker may only be busy: the evaluation holding the GIL.
    heartbeat: int = 300
    progress: bool = True
    rlm: RLMSamplerConfig = field(default_factory=RLMSamplerConfig)

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise SearchError(f"unknown sampler {self.sampler!r}; valid samplers: {', '.join(SAMPLERS)}")
        if self.budget < 1:
            raise SearchError(f"budget must be at least 1, got {self.budget}")
        if not 0 <= self.seed < 2**32:  # what numpy's and Optuna's samplers take
            raise SearchError(f"seed must be from 0 to {2**32 - 1}, got {self.seed}")
        if self.heartbeat < 1:
            raise SearchError(f"heartbeat must be at least 1 second, got {self.heartbeat}")
        if not self.objectives:
            raise SearchError("give at least one objective")
        if len(set(self.objectives)) != len(self.objectives):
            raise SearchError(f"objectives repeat: {', '.join(self.objectives)}")
        if self.reference is not None and len(self.reference) != len(self.objectives):
            raise SearchError(f"reference has {len(self.reference)} values for {len(self.objectives)} objectives")
        for text in self.constraints:
            parse_constraint(text)

    @property
    def default_study_name(self) -> str:
        return self.study_name or f"{self.space}-{'-'.join(self.objectives)}-{self.sampler}-seed{self.seed}"


def open_storage(url: str | None, *, heartbeat: int = 300) -> Any:
    """An Optuna storage for ``url``; RDB storages get heartbeats so a killed worker's trial is retried.

    ``heartbeat``: seconds of silence after which another worker fails a running trial and queues
    it again (once). Workers beat ten times in that span, so one late beat is no death.
    """
    import warnings

    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

    if url is None:
        return optuna.storages.InMemoryStorage()
    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        path = url.removeprefix("journal:").removeprefix("//")
        _check_storage_folder(url, path)
        return JournalStorage(JournalFileBackend(path))
    if "://" not in url:
        raise SearchError(
            f"storage {url!r} is not a URL; use e.g. sqlite:///study.db, postgresql://user:pass@host/db "
            "or journal:///path/to/study.log"
        )
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        _check_storage_folder(url, url.removeprefix("sqlite:///").split("?", 1)[0])
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    import sqlalchemy.exc

    attempts = 8
    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(
                url,
                engine_kwargs=engine,
                heartbeat_interval=max(1, heartbeat // 10),  # Optuna takes whole seconds
                # A trial beats from the start of its evaluation: a surrogate fit, which runs before
                # (in study.ask), is never taken for a dead worker, however long it lasts.
                grace_period=heartbeat,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1),
            )
        except sqlalchemy.exc.DBAPIError as exc:
            # Workers that start together race to create the schema: each checks which tables are
            # missing, then creates them, so the loser's CREATE TABLE (or its insert of the schema
            # version row) fails on what the winner made. Creation is idempotent, so a retry finds
            # the schema complete and goes on; any other database error is the user's to see.
            if attempt == attempts - 1 or not _lost_schema_creation_race(exc):
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def _check_storage_folder(url: str, path: str) -> None:
    """A file storage's folder must exist and be writable: the database file is made there."""
    import os
    from pathlib import Path

    folder = Path(path).parent
    if not folder.is_dir():
        raise SearchError(f"storage {url!r}: folder {folder} does not exist; create it or choose another path")
    if not os.access(folder, os.W_OK | os.X_OK) and not Path(path).is_file():
        raise SearchError(f"storage {url!r}: folder {folder} is not writable; choose another path")


def _lost_schema_creation_race(exc: Exception) -> bool:
    """Whether ``exc`` is what a database raises when another worker created the same schema first."""
    import sqlalchemy.exc

    if isinstance(exc, sqlalchemy.exc.IntegrityError):  # the schema version row, inserted twice
        return True
    message = str(getattr(exc, "orig", exc)).lower()
    # SQLite: "table studies already exists"; PostgreSQL: 'relation "studies" already exists';
    # MySQL: "Table 'studies' already exists".
    return "already exists" in message


def _network_fn(space: SearchSpace) -> Callable[[dict[str, Any]], str]:
    """Trial parameters -> the text the RLM reads, through the space's converter."""

    def to_network(params: dict[str, Any]) -> str:
        return space.to_texts([space.from_params(params)])[0]

    return to_network


def load_surrogate(config: SearchConfig) -> Any:
    """The saved surrogate ``config.surrogate`` names, loaded (and checked) before any trial; else None."""
    if config.sampler != "rlm" or config.surrogate is None:
        return None
    from nasrlm.rlm.surrogate import Surrogate, SurrogateLoadError

    try:
        return Surrogate.load(config.surrogate)
    except SurrogateLoadError as exc:
        raise SearchError(f"surrogate {config.surrogate}: {exc}") from None


def make_sampler(config: SearchConfig, space: SearchSpace, *, seed: int, surrogate: Any = None) -> Any:
    """The Optuna sampler ``config.sampler`` names, seeded with ``seed``.

    ``surrogate``: the RLM sampler's surrogate, already loaded (default: ``config.surrogate``).
    """
    import optuna

    if config.sampler == "rlm":
        rlm = config.rlm
        if config.reference is not None and rlm.reference_point is None:
            rlm = dataclasses.replace(rlm, reference_point=tuple(config.reference))
        if not config.progress:  # --quiet: no bar for the first fit either
            rlm = dataclasses.replace(rlm, progress=False)
        return RLMSampler(
            space.distributions(),
            _network_fn(space),
            objectives=config.objectives,
            surrogate=surrogate if surrogate is not None else config.surrogate,
            config=rlm,
            seed=seed,
            valid_ranges={name: space.metric(name).valid_range for name in config.objectives},
            candidates=_candidates_with_data(space, config),
        )
    # Constraints reach every sampler through the trials (``trial.set_constraint``, Optuna 5).
    if config.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if config.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    if config.sampler == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


def is_partial_table(space: SearchSpace) -> bool:
    """Whether ``space`` is a benchmark table that holds only part of its space (FBNet's 5,000 archs)."""
    return isinstance(space, TabularSpace) and not getattr(space, "complete", True)


def _metrics_with_data(space: SearchSpace, config: SearchConfig) -> list[str]:
    """The shipped metrics a trial queries: an arch must have each of them to be evaluated."""
    wanted = [*config.objectives, *(parse_constraint(text).metric for text in config.constraints)]
    return [name for name in dict.fromkeys(wanted) if name in space.metrics]


def _candidates_with_data(space: SearchSpace, config: SearchConfig) -> list[dict[str, Any]] | None:
    """For a partial table, the parameters of every arch with data for the search's metrics (else None)."""
    if not is_partial_table(space):
        return None
    assert isinstance(space, TabularSpace)
    metrics = _metrics_with_data(space, config)
    return [space.to_params(arch) for arch in space.archs() if space.has_data(arch, metrics)]


def _send_to_nearest_with_data(
    trial: Any, space: Any, params: dict[str, Any], arch: Any, metrics: list[str], why: str
) -> None:
    """Queue the arch with data nearest to a proposal that has none (or is not an arch), and prune the
    proposal: every finished trial's parameters are then those of the arch it evaluated."""
    import optuna
    from optuna.trial import TrialState

    taken = [
        t.user_attrs[ARCH_ATTR]
        for t in trial.study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.COMPLETE))
        if ARCH_ATTR in t.user_attrs and t.number != trial.number
    ]
    try:
        if arch is None:
            nearest = space.nearest_to_params(params, exclude=taken, metrics=metrics)
        else:
            nearest = space.nearest_with_data(arch, exclude=taken, metrics=metrics)
    except ValueError as exc:
        raise SearchError(f"{exc}: the search has queried every architecture with data") from None
    trial.study.enqueue_trial(space.to_params(nearest))
    trial.set_user_attr("sent_to", str(nearest))
    raise optuna.TrialPruned(f"{why}; queued the nearest architecture with data, {nearest}")


def worker_seed(seed: int, first_trial: int) -> int:
    """The seed of a worker whose first trial in the study is number ``first_trial``.

    A lone worker on a new study keeps ``seed``; any other first trial mixes its number in, so
    workers on one study never share a seed, whatever ``seed`` each was given.
    """
    if first_trial == 0:
        return seed
    return int(np.random.SeedSequence([seed, first_trial]).generate_state(1)[0])


class WorkerSeededSampler(BaseSampler):
    """A worker's sampler, made at the worker's first trial with a seed that trial's number decides.

    Workers that start together see the same study, so a seed derived from what they see (their
    ``--seed`` and the trials there) can be the same in two of them: they would draw the same
    architectures, claim them together and back off together, trial after trial. A trial number is
    the one thing the storage hands out once, so the first one a worker gets makes its seed unique.
    Optuna calls ``before_trial`` first for every trial, so the sampler exists for every other call.
    """

    def __init__(self, make: Callable[[int], Any], seed: int) -> None:
        self._make = make
        self._seed = seed
        self.sampler: Any = None  # the worker's sampler, once its first trial began

    def before_trial(self, study: Any, trial: Any) -> None:
        if self.sampler is None:
            self.sampler = self._make(worker_seed(self._seed, trial.number))
        self.sampler.before_trial(study, trial)

    def infer_relative_search_space(self, study: Any, trial: Any) -> Any:
        return self.sampler.infer_relative_search_space(study, trial)

    def sample_relative(self, study: Any, trial: Any, search_space: Any) -> Any:
        return self.sampler.sample_relative(study, trial, search_space)

    def sample_independent(self, study: Any, trial: Any, param_name: str, param_distribution: Any) -> Any:
        return self.sampler.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        self.sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        if self.sampler is not None:
            self.sampler.reseed_rng()


def _suggest(trial: Any, name: str, distribution: Any) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(
            name, distribution.low, distribution.high, step=distribution.step, log=distribution.log
        )
    if isinstance(distribution, FloatDistribution):
        return trial.suggest_float(
            name, distribution.low, distribution.high, step=distribution.step, log=distribution.log
        )
    raise TypeError(f"unsupported distribution {type(distribution).__name__} for parameter {name!r}")


def _benchmark_evaluate(space: SearchSpace, metrics: Sequence[str]) -> Callable[[Any], dict[str, float]]:
    def evaluate(arch: Any) -> dict[str, float]:
        return {name: float(space.query(arch, name)) for name in metrics}

    return evaluate


def _check_metrics(space: SearchSpace, names: Sequence[str], what: str) -> None:
    """Every name is a metric of ``space``: shipped, or a device the user measured (``nasrlm verify``)."""
    unknown = []
    for name in names:
        try:
            space.metric(name)
        except KeyError:  # UnknownMetricError
            unknown.append(name)
    if unknown:
        measured = registered_metrics(space.name)
        raise SearchError(
            f"unknown {what} {', '.join(map(repr, unknown))} for space {space.name!r}; "
            f"valid metrics: {', '.join([*space.metrics, *(m for m in measured if m not in space.metrics)])}"
        )


ARCH_ATTR = "arch"  # trial user attr: the architecture the trial queries, set before the query


def claim_architecture(trial: Any, arch: str) -> bool:
    """Mark ``trial`` as querying ``arch``; False when another running or finished trial has it.

    Workers share nothing but the storage, which has no compare-and-set, so a claim is written
    first and checked second. Of two workers that claim one architecture together, at least one
    sees the other's claim (whichever checks last), so at most one goes on: never two queries of
    one architecture. Both may see each other and both back off, which costs a proposal, not a query.
    """
    from optuna.trial import TrialState

    trial.set_user_attr(ARCH_ATTR, arch)
    others = trial.study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.COMPLETE))
    return not any(other.number != trial.number and other.user_attrs.get(ARCH_ATTR) == arch for other in others)


def default_reference(space: SearchSpace, objectives: Sequence[str]) -> tuple[float, ...] | None:
    """For a tabular space: the worst decile of each objective over the whole space (None elsewhere).

    A measured device covers only the archs measured on it: its decile is over those.
    """
    if not isinstance(space, TabularSpace):
        return None
    reference = []
    for name in objectives:
        if name in space.metrics:
            values = np.asarray(space.values(name), dtype=np.float64)
        else:
            values = np.asarray(_measured_values(space, name), dtype=np.float64)
        maximize = space.metric(name).direction == "maximize"
        reference.append(float(np.nanquantile(values, 0.1 if maximize else 0.9)))
    return tuple(reference)


def _measured_values(space: SearchSpace, metric: str) -> list[float]:
    """Every value a user-measured device table holds for ``metric`` (the archs measured on it)."""
    from nasrlm.hardware.devices import find_table

    table = find_table(space.name, metric)
    return [] if table is None else list(table.latency_ms.values())


def run_search(
    config: SearchConfig,
    *,
    evaluate: Callable[[Any], Mapping[str, float]] | None = None,
    sampler: Any = None,
) -> SearchResult:
    """Run (or resume) the study of ``config`` until it holds ``config.budget`` finished trials."""
    import optuna

    from search_spaces import UnknownSpaceError, get_space

    try:
        space = get_space(config.space)
    except UnknownSpaceError as exc:
        raise SearchError(str(exc)) from None
    _check_metrics(space, config.objectives, "objective")
    size = space.size if isinstance(space, TabularSpace) else None
    if size is not None and config.budget > size:  # no architecture is queried twice, so it could never finish
        raise SearchError(
            f"budget {config.budget:,} is more than the {size:,} architectures of space {space.name!r}; give at most "
            f"{size:,}"
        )
    constraints = [parse_constraint(text) for text in config.constraints]
    _check_metrics(space, [c.metric for c in constraints], "constraint metric")
    reference = config.reference or default_reference(space, config.objectives)
    if reference is None:
        raise SearchError("give a hypervolume reference point (one value per objective) for this space")
    directions = [space.metric(name).direction for name in config.objectives]
    if evaluate is None:
        if not isinstance(space, TabularSpace):
            raise SearchError(f"space {space.name!r} has no benchmark table: pass an evaluate function")
        extra = [c.metric for c in constraints if c.metric not in config.objectives]
        evaluate = _benchmark_evaluate(space, [*config.objectives, *dict.fromkeys(extra)])

    # A bad surrogate path fails now, not at the first fit after the random start-up trials.
    surrogate = load_surrogate(config) if sampler is None else None

    storage_url = config.storage
    if storage_url is None and config.out is not None:
        from pathlib import Path

        Path(config.out).mkdir(parents=True, exist_ok=True)
        storage_url = f"sqlite:///{Path(config.out).resolve() / 'study.db'}"
    storage = open_storage(storage_url, heartbeat=config.heartbeat)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=storage, study_name=config.default_study_name, directions=directions, load_if_exists=True
    )
    if [d.name.lower() for d in study.directions] != directions:
        raise SearchError(f"study {config.default_study_name!r} exists with other directions; choose another name")
    if study.metric_names is None:
        study.set_metric_names(list(config.objectives))
    elif list(study.metric_names) != list(config.objectives):
        raise SearchError(
            f"study {config.default_study_name!r} optimizes {', '.join(study.metric_names)}, not "
            f"{', '.join(config.objectives)}; choose another --study-name"
        )

    study.sampler = sampler or WorkerSeededSampler(
        lambda seed: make_sampler(config, space, seed=seed, surrogate=surrogate), config.seed
    )
    distributions = space.distributions()
    # A partial table: proposals without data for these metrics go to the nearest arch that has it.
    partial = is_partial_table(space)
    data_metrics = _metrics_with_data(space, config) if partial else []

    def finished() -> int:
        return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))

    def objective(trial: optuna.Trial) -> tuple[float, ...]:
        params = {name: _suggest(trial, name, d) for name, d in distributions.items()}
        if finished() >= config.budget:  # another worker spent the budget meanwhile: no query
            trial.study.stop()
            raise optuna.TrialPruned("budget spent")
        if partial and isinstance(space, TabularSpace):
            try:
                arch = space.from_params(params)
            except ValueError as exc:
                _send_to_nearest_with_data(trial, space, params, None, data_metrics, f"not an architecture: {exc}")
            if not space.has_data(arch, data_metrics):
                _send_to_nearest_with_data(trial, space, params, arch, data_metrics, f"{arch} has no benchmark data")
        else:
            arch = space.from_params(params)
        if not claim_architecture(trial, str(arch)):  # another worker queries or queried it: spend no query
            raise optuna.TrialPruned(f"{arch} is queried by another trial of the study")
        values = dict(evaluate(arch))
        missing = [n for n in (*config.objectives, *(c.metric for c in constraints)) if n not in values]
        if missing:
            raise SearchError(
                f"evaluate({arch}) returned no value for {', '.join(missing)}; it returned {sorted(values)}"
            )
        for name, value in values.items():
            trial.set_user_attr(name, float(value))
        for constraint in constraints:
            trial.set_constraint(str(constraint), constraint.violation(float(values[constraint.metric])))
        return tuple(float(values[name]) for name in config.objectives)

    from tqdm.auto import tqdm

    started = time.perf_counter()
    done_before = finished()
    bar = tqdm(
        total=config.budget, initial=min(done_before, config.budget), desc="queries", disable=not config.progress
    )

    def on_trial(study: optuna.Study, trial: Any) -> None:
        count = finished()
        bar.update(max(0, min(count, config.budget) - bar.n))
        if config.progress and count:
            summary = summarize(study, space, config.objectives, reference, exact=False)
            bar.set_postfix(front=summary["front_size"], hv=f"{summary['hypervolume']:.4g}")
        if count >= config.budget:
            study.stop()

    if done_before < config.budget:
        study.optimize(objective, callbacks=[on_trial], gc_after_trial=False)
    bar.close()
    seconds = time.perf_counter() - started
    new_trials = max(1, finished() - done_before)
    result = write_results(
        study,
        space,
        config,
        reference=tuple(reference),
        seconds=seconds,
        seconds_per_trial=seconds / new_trials if finished() > done_before else math.nan,
    )
    return result
