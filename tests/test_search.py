from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nasrlm.cli import main
from nasrlm.search.pareto import hypervolume, pareto_mask, to_minimization
from nasrlm.search.runner import SearchConfig, SearchError, parse_constraint, run_search
from nasrlm.search.sampler import RLMSamplerConfig, stored_predictions
from search_spaces import get_space

REFERENCE = (85.0, 40.0)
REPO = Path(__file__).resolve().parents[1]


def test_random_search_writes_front_plot_and_exact_ratio(tmp_path):
    result = run_search(
        SearchConfig(sampler="random", budget=25, reference=REFERENCE, out=str(tmp_path), progress=False)
    )
    assert len(result.trials) == 25
    for name in ("front.csv", "front.json", "front.png", "trials.csv", "summary.json"):
        assert (tmp_path / name).stat().st_size > 0
    space = get_space("nb201")
    # Every stored value is the benchmark's, and the front and hypervolume follow from them.
    for _, row in result.trials.iterrows():
        assert row["acc"] == space.query(row["arch"], "acc")
        assert row["latency_pixel3"] == space.query(row["arch"], "latency_pixel3")
    points = to_minimization(result.trials[["acc", "latency_pixel3"]].to_numpy(), [True, False])
    expected_front = set(result.trials["trial"][pareto_mask(points)])
    assert set(result.front["trial"]) == expected_front
    ref = to_minimization(np.array(REFERENCE), [True, False])
    assert result.hypervolume == pytest.approx(hypervolume(points, ref))
    all_points = to_minimization(np.stack([space.values("acc"), space.values("latency_pixel3")], 1), [True, False])
    assert result.exact_hypervolume == pytest.approx(hypervolume(all_points, ref))
    assert 0 < result.hypervolume_ratio < 1
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["hypervolume_ratio"] == pytest.approx(result.hypervolume_ratio)
    assert pd.read_csv(tmp_path / "front.csv")["trial"].tolist() == result.front["trial"].tolist()


def test_rerun_resumes_the_study_to_a_larger_budget(tmp_path):
    first = run_search(SearchConfig(sampler="tpe", budget=8, reference=REFERENCE, out=str(tmp_path), progress=False))
    again = run_search(SearchConfig(sampler="tpe", budget=8, reference=REFERENCE, out=str(tmp_path), progress=False))
    assert len(again.trials) == 8 and again.trials["trial"].tolist() == first.trials["trial"].tolist()
    more = run_search(SearchConfig(sampler="tpe", budget=12, reference=REFERENCE, out=str(tmp_path), progress=False))
    assert len(more.trials) == 12
    assert more.trials["arch"].tolist()[:8] == first.trials["arch"].tolist()


def test_constraint_metrics_are_stored_and_the_front_is_feasible(tmp_path):
    result = run_search(
        SearchConfig(
            sampler="nsga2",
            budget=20,
            objectives=("acc", "params"),
            constraints=("latency_pixel3<=8",),
            reference=(85.0, 2.0),
            out=str(tmp_path),
            progress=False,
        )
    )
    assert "latency_pixel3" in result.trials
    assert (result.front["latency_pixel3"] <= 8).all()
    assert (result.trials["feasible"] == (result.trials["latency_pixel3"] <= 8)).all()


def test_rlm_sampler_search_stores_its_predictions(tmp_path):
    small = RLMSamplerConfig(
        n_startup_trials=6,
        proposals_per_fit=3,
        pool_random=30,
        pool_mutations=30,
        num_samples=8,
        first_fit_steps=20,
        refit_steps=10,
    )
    result = run_search(SearchConfig(budget=12, reference=REFERENCE, out=str(tmp_path), progress=False, rlm=small))
    study = result.study
    proposed = [t for t in study.trials if t.number in stored_predictions(study)]
    assert len(proposed) >= 5
    assert result.trials["pred_acc_median"].notna().sum() == len(proposed)
    assert len(set(result.trials["arch"])) == len(result.trials)  # the RLM never asks for a network twice


def test_constraint_parsing_and_bad_arguments():
    assert parse_constraint("latency_pixel3<=10").violation(12.0) == 2.0
    assert parse_constraint("acc >= 90").violation(91.0) == -1.0
    with pytest.raises(SearchError, match="malformed constraint"):
        parse_constraint("latency < ten")
    with pytest.raises(SearchError, match="valid samplers: rlm, nsga2, tpe, random, gp"):
        SearchConfig(sampler="bohb")
    with pytest.raises(SearchError, match="valid metrics: .*latency_pixel3"):
        run_search(SearchConfig(objectives=("acc", "latency_pixel9"), progress=False))
    with pytest.raises(SearchError, match="valid spaces: .*nb201"):
        run_search(SearchConfig(space="nb999", progress=False))
    with pytest.raises(SearchError, match="not a URL"):
        run_search(SearchConfig(sampler="random", storage="study.db", progress=False))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--space", "nb999"], "valid spaces"),
        (["--objectives", "acc,bogus"], "valid metrics"),
        (["--constraint", "latency_pixel3=<3"], "malformed constraint"),
        (["--reference", "acc=85"], "missing: latency_pixel3"),
    ],
)
def test_cli_errors_name_valid_choices(capsys, tmp_path, argv, message):
    code = main(["search", "--budget", "3", "--out", str(tmp_path), "-q", *argv])
    assert code == 2
    assert message in capsys.readouterr().err


def test_cli_rejects_unknown_sampler(capsys):
    with pytest.raises(SystemExit):
        main(["search", "--sampler", "bohb"])
    assert "rlm,nsga2,tpe,random,gp" in capsys.readouterr().err


def test_cli_search_prints_front_and_hypervolume(capsys, tmp_path):
    code = main(
        ["search", "--sampler", "random", "--budget", "10", "--reference", "85,40", "--out", str(tmp_path), "-q"]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "Pareto front" in out and "ratio" in out and (tmp_path / "front.png").is_file()


WORKER = textwrap.dedent(
    """
    import pathlib, sys, threading, time
    from nasrlm.search.runner import SearchConfig, run_search
    from search_spaces import get_space

    storage, log, budget, seed, workers = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    hold_at = int(sys.argv[6])  # this query blocks until the worker is killed (0: none does)
    space = get_space("nb201")
    ready = pathlib.Path(log).with_suffix(".ready")
    queries = []

    def wait_for_the_other_workers():  # so each worker queries something, however late it starts
        ready.touch()
        deadline = time.time() + 300
        while len(list(ready.parent.glob("*.ready"))) < workers:
            if time.time() > deadline:
                raise SystemExit("the other workers never started")
            time.sleep(0.05)

    def evaluate(arch):  # a slow evaluation, logged so the test can count queries
        if not ready.exists():
            wait_for_the_other_workers()
        queries.append(arch)
        if len(queries) == hold_at:
            pathlib.Path(log).with_suffix(".held").write_text(str(arch))
            threading.Event().wait()  # mid-query, until the test kills this worker
        time.sleep(0.15)
        with open(log, "a") as handle:
            handle.write(str(arch) + "\\n")
        return {"acc": space.query(arch, "acc"), "latency_pixel3": space.query(arch, "latency_pixel3")}

    run_search(SearchConfig(sampler="random", budget=budget, seed=seed, storage=storage, study_name="shared",
                            reference=(85.0, 40.0), progress=False), evaluate=evaluate)
    """
)


def _complete(db: Path) -> int:
    if not db.is_file():
        return 0
    with sqlite3.connect(db) as connection:
        try:
            return connection.execute("select count(*) from trials where state = 'COMPLETE'").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


def _worker(tmp_path: Path, log: Path, budget: int, seed: int, workers: int = 1, hold_at: int = 0) -> subprocess.Popen:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, str(script), storage, str(log), str(budget), str(seed), str(workers), str(hold_at)]
    return subprocess.Popen(argv, env=env)


def test_killed_search_resumes_without_losing_or_repeating_trials(tmp_path):
    log = tmp_path / "queries.log"
    # The worker is killed in the middle of its sixth query: it waits there for the kill, so no
    # timing decides where the kill lands. The generous deadlines are a safety net only.
    worker = _worker(tmp_path, log, budget=30, seed=0, hold_at=6)
    held = log.with_suffix(".held")
    deadline = time.time() + 300
    while not held.exists():
        assert time.time() < deadline and worker.poll() is None, "the worker never reached its sixth query"
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=60)
    assert _complete(tmp_path / "study.db") == 5  # the five queries before it, each stored
    resumed = _worker(tmp_path, log, budget=30, seed=0)
    assert resumed.wait(timeout=300) == 0
    assert _complete(tmp_path / "study.db") == 30
    queries = log.read_text().splitlines()
    # Every finished query was stored and none was repeated: the killed query's architecture stays
    # claimed by its trial (or, had that trial's heartbeat gone stale meanwhile, by its one retry).
    assert len(queries) == 30 and len(set(queries)) == 30


def test_two_workers_share_one_study(tmp_path):
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    workers = [_worker(tmp_path, log, budget=24, seed=seed, workers=2) for seed, log in enumerate(logs)]
    for worker in workers:
        assert worker.wait(timeout=180) == 0
    counts = [len(log.read_text().splitlines()) for log in logs]
    assert all(count > 0 for count in counts)  # both did work
    assert 24 <= _complete(tmp_path / "study.db") <= 25 and sum(counts) == _complete(tmp_path / "study.db")
    queried = [line for log in logs for line in log.read_text().splitlines()]
    assert len(set(queried)) == len(queried)  # no architecture twice, whichever worker drew it


def test_an_evaluation_missing_an_objective_is_named():
    with pytest.raises(SearchError, match="no value for latency_pixel3"):
        run_search(SearchConfig(sampler="random", budget=2, progress=False), evaluate=lambda arch: {"acc": 90.0})


def test_a_worker_that_loses_the_schema_creation_race_joins_the_study(tmp_path):
    """Force the race two workers starting together run: the other one creates the schema between
    this one's check for missing tables and its CREATE TABLE, which then fails on an existing table."""
    import optuna
    import sqlalchemy
    import sqlalchemy.event

    from nasrlm.search.runner import open_storage

    url = f"sqlite:///{tmp_path / 'study.db'}"
    interleaved = []

    def other_worker_creates_the_schema_first(conn, cursor, statement, *args):
        if not interleaved and statement.lstrip().upper().startswith("CREATE TABLE STUDIES"):
            interleaved.append(statement)
            open_storage(url)  # the other worker, start to end, before this CREATE TABLE runs

    hook = ("before_cursor_execute", other_worker_creates_the_schema_first)
    sqlalchemy.event.listen(sqlalchemy.engine.Engine, *hook)
    try:
        storage = open_storage(url)
    finally:
        sqlalchemy.event.remove(sqlalchemy.engine.Engine, *hook)
    assert interleaved  # the interleaving happened: this worker's first CREATE TABLE met an existing table

    study = optuna.create_study(storage=storage, study_name="joined")
    assert [s.study_name for s in optuna.get_all_study_summaries(storage)] == ["joined"]
    assert study.study_name == "joined"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("journal:///no/such/dir/x.log", "folder /no/such/dir does not exist"),
        ("sqlite:////no/such/dir/x.db", "folder /no/such/dir does not exist"),
    ],
)
def test_file_storages_in_missing_folders_are_named(url, message):
    from nasrlm.search.runner import open_storage

    with pytest.raises(SearchError, match=message):
        open_storage(url)


def test_claims_let_at_most_one_trial_query_an_architecture():
    import optuna

    from nasrlm.search.runner import ARCH_ATTR, claim_architecture

    study = optuna.create_study()
    first, second, third = study.ask(), study.ask(), study.ask()
    # One after the other: the second sees the first's claim.
    assert claim_architecture(first, "A")
    assert not claim_architecture(second, "A")
    # Interleaved: the third writes its claim on B, then the first claims B before the third checks.
    third.set_user_attr(ARCH_ATTR, "B")
    study.tell(second, state=optuna.trial.TrialState.PRUNED)
    fourth = study.ask()
    assert not claim_architecture(fourth, "B")  # sees the third's claim
    assert not claim_architecture(third, "B")  # and the third sees the fourth's: both back off, neither queries
    # A finished trial's architecture stays taken; a failed one is free for a retry.
    study.tell(first, 1.0)
    assert not claim_architecture(study.ask(), "A")
    failed = study.ask()
    failed.set_user_attr(ARCH_ATTR, "C")
    study.tell(failed, state=optuna.trial.TrialState.FAIL)
    assert claim_architecture(study.ask(), "C")


def test_search_prunes_a_trial_whose_architecture_another_trial_holds(tmp_path):
    import optuna

    from nasrlm.search.runner import ARCH_ATTR

    space = get_space("nb201")
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    config = SearchConfig(
        sampler="random", budget=3, seed=0, storage=storage, study_name="s", reference=REFERENCE, progress=False
    )
    first = run_search(config)
    # A worker left running (it holds an architecture it has not finished querying) ...
    study = optuna.load_study(study_name="s", storage=storage)
    held = space.arch(7)
    running = study.ask()
    running.set_user_attr(ARCH_ATTR, str(held))
    queried = []

    def evaluate(arch):
        queried.append(str(arch))
        return {"acc": space.query(arch, "acc"), "latency_pixel3": space.query(arch, "latency_pixel3")}

    # ... and a sampler that proposes it and then every finished architecture: none is queried again.
    proposals = [held, *(space.arch(a) for a in first.trials["arch"])]
    fresh = space.arch(8)

    class Proposes(optuna.samplers.BaseSampler):
        def infer_relative_search_space(self, study, trial):
            return space.distributions()

        def sample_relative(self, study, trial, search_space):
            return space.to_params(proposals.pop(0) if proposals else fresh)

        def sample_independent(self, study, trial, name, distribution):
            raise AssertionError("every parameter is proposed")

    result = run_search(dataclasses.replace(config, budget=4), evaluate=evaluate, sampler=Proposes())
    assert queried == [str(fresh)]
    assert len(result.trials) == 4 and result.trials["arch"].is_unique


def test_the_rlm_sampler_of_a_search_knows_each_objective_s_valid_range():
    from nasrlm.search.runner import make_sampler

    sampler = make_sampler(SearchConfig(objectives=("acc", "latency_pixel3")), get_space("nb201"), seed=0)
    assert sampler.valid_ranges == {"acc": (0.0, 100.0), "latency_pixel3": (0.0, math.inf)}


def test_heartbeat_is_the_silence_after_which_a_trial_is_retried(tmp_path):
    from nasrlm.search.runner import open_storage

    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}", heartbeat=20)
    assert (storage.grace_period, storage.heartbeat_interval) == (20, 2)  # ten beats per grace period
    assert open_storage(f"sqlite:///{tmp_path / 'study.db'}", heartbeat=3).heartbeat_interval == 1  # whole seconds
    with pytest.raises(SearchError, match="heartbeat must be at least 1 second, got 0"):
        SearchConfig(heartbeat=0)


def test_a_study_past_its_budget_says_so(capsys, tmp_path):
    args = ["search", "--sampler", "random", "-q", "--out", str(tmp_path), "--reference", "85,40"]
    assert main([*args, "--budget", "3"]) == 0
    assert "more than the budget" not in capsys.readouterr().out
    assert main([*args, "--budget", "2"]) == 0
    assert "the study holds 3 finished trials, 1 more than the budget of 2" in capsys.readouterr().out


def test_workers_that_start_together_get_their_own_seeds():
    """Two workers with one --seed that start on the same study draw different architectures."""
    import optuna

    from nasrlm.search.runner import WorkerSeededSampler, worker_seed

    space = get_space("nb201")
    storage = optuna.storages.InMemoryStorage()
    seeds: list[int] = []

    def random_sampler(seed: int) -> optuna.samplers.RandomSampler:
        seeds.append(seed)
        return optuna.samplers.RandomSampler(seed=seed)

    def worker(sampler: optuna.samplers.BaseSampler) -> optuna.Study:
        return optuna.create_study(storage=storage, study_name="shared", sampler=sampler, load_if_exists=True)

    def draw(study: optuna.Study) -> str:
        trial = study.ask()  # both ask before either tells: they start together
        params = {name: trial.suggest_categorical(name, d.choices) for name, d in space.distributions().items()}
        return str(space.from_params(params))

    first, second = worker(WorkerSeededSampler(random_sampler, 0)), worker(WorkerSeededSampler(random_sampler, 0))
    assert draw(first) != draw(second)
    assert seeds == [0, worker_seed(0, 1)] and seeds[1] != 0  # a lone worker keeps its seed
    # What they avoid: one seed in both, as a seed taken from the study's state gave them.
    storage = optuna.storages.InMemoryStorage()
    same = [worker(optuna.samplers.RandomSampler(seed=0)) for _ in range(2)]
    assert draw(same[0]) == draw(same[1])


def test_a_lone_worker_is_reproducible():
    runs = [run_search(SearchConfig(sampler="random", budget=6, seed=3, reference=REFERENCE, progress=False))]
    runs.append(run_search(SearchConfig(sampler="random", budget=6, seed=3, reference=REFERENCE, progress=False)))
    assert runs[0].trials["arch"].tolist() == runs[1].trials["arch"].tolist()
