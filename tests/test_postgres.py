"""Several `nasrlm search` workers on one study in a real PostgreSQL database, one of them killed mid-trial.

The server is a throwaway one from the ``pgserver`` wheel (binaries included), so this runs wherever
the ``[dev]`` extra installs; where it cannot start, the test is skipped and says why. Nothing here
waits for a fixed time: each step waits for the state it needs (a file, a database row), with
generous deadlines only as a safety net.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import pytest

from nasrlm.cli import main
from nasrlm.search.pareto import hypervolume, pareto_mask, to_minimization

REPO = Path(__file__).resolve().parents[1]
REFERENCE = (85.0, 40.0)
T = TypeVar("T")
SAFETY_NET = 300  # seconds: only a broken run takes this long, however busy the machine

# `nasrlm search` as the console script runs it, with its benchmark queries logged (one file per
# worker) and, by role, held at the first query: "dies" blocks there until it is killed, "waits"
# until the test opens the gate, "free" never.
WORKER = textwrap.dedent(
    """
    import pathlib, sys, threading, time

    import nasrlm.search.runner
    from nasrlm.cli import main

    role, log, gate = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
    benchmark_evaluate = nasrlm.search.runner._benchmark_evaluate

    def held_and_logged(space, metrics):
        evaluate = benchmark_evaluate(space, metrics)
        first = [True]

        def query(arch):
            if first.pop() if first else False:
                if role == "dies":
                    held = log.with_suffix(".held")
                    held.with_suffix(".tmp").write_text(str(arch))
                    held.with_suffix(".tmp").rename(held)  # the test never reads half a name
                    threading.Event().wait()  # mid-trial, its heartbeat beating, until SIGKILL
                deadline = time.monotonic() + 300
                while role == "waits" and not gate.exists():
                    if time.monotonic() > deadline:
                        raise SystemExit("the gate never opened")
                    time.sleep(0.05)
            values = evaluate(arch)
            with log.open("a") as handle:
                handle.write(f"{arch}\\n")
            return values

        return query

    nasrlm.search.runner._benchmark_evaluate = held_and_logged
    sys.exit(main(sys.argv[4:]))
    """
)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A URL of an empty database on a PostgreSQL server that lives as long as this module's tests."""
    try:
        import psycopg  # noqa: F401  (the driver SQLAlchemy uses for postgresql+psycopg://)

        pgserver = _quietly(lambda: importlib.import_module("pgserver"))
    except ImportError as exc:
        pytest.skip(f"PostgreSQL tests need the [dev] extra's pgserver and psycopg: {exc}")
    # A short path: the server's Unix socket lives in its data folder, and socket paths are limited to ~100 bytes.
    data = tempfile.mkdtemp(prefix="nasrlm-pg-")
    try:
        server = _quietly(lambda: pgserver.get_server(data, cleanup_mode="stop"))
    except Exception as exc:  # whatever stops the server from starting is the skip reason
        shutil.rmtree(data, ignore_errors=True)
        pytest.skip(f"pgserver could not start a PostgreSQL server: {type(exc).__name__}: {exc}")
    try:
        _quietly(lambda: server.psql("CREATE DATABASE nasrlm_test;"))
        yield _quietly(lambda: server.get_uri("nasrlm_test")).replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        _quietly(server.cleanup)
        shutil.rmtree(data, ignore_errors=True)


def _quietly(call: Callable[[], T]) -> T:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pgserver's platformdirs warns where XDG_RUNTIME_DIR is unset (CI, containers)
        return call()


def _wait_for(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + SAFETY_NET
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


@pytest.mark.postgres
@pytest.mark.slow
def test_three_workers_on_postgres_survive_one_killed_mid_trial(postgres_url, tmp_path):
    import optuna
    import sqlalchemy

    from nasrlm.search.runner import open_storage

    budget, heartbeat, study_name = 15, 10, "shared"
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    gate = tmp_path / "gate"
    search_args = [
        "search", "--space", "nb201", "--objectives", "acc,latency_pixel3", "--sampler", "random",
        "--budget", str(budget), "--storage", postgres_url, "--study-name", study_name,
        "--reference", ",".join(map(str, REFERENCE)), "--heartbeat", str(heartbeat), "--quiet",
    ]  # fmt: skip

    def start(name: str, role: str, seed: int) -> subprocess.Popen:
        argv = [sys.executable, str(script), role, str(tmp_path / f"{name}.log"), str(gate)]
        argv += [*search_args, "--seed", str(seed), "--out", str(tmp_path / f"out-{name}")]
        stdout = (tmp_path / f"{name}.stdout").open("w")
        return subprocess.Popen(argv, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=stdout)

    doomed = start("doomed", "dies", seed=0)
    survivors = [start(name, "waits", seed) for seed, name in enumerate(("b", "c"), start=1)]
    held_file = tmp_path / "doomed.held"
    try:
        _wait_for(held_file.exists, "the doomed worker to reach its first query")
        held = held_file.read_text()
        storage = open_storage(postgres_url, heartbeat=heartbeat)
        study = optuna.load_study(study_name=study_name, storage=storage)

        (killed,) = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("arch") == held]
        assert killed.state == optuna.trial.TrialState.RUNNING

        def has_beaten() -> bool:  # killed before its first heartbeat, a trial would never be found stale
            with storage.engine.connect() as connection:
                query = sqlalchemy.text("SELECT count(*) FROM trial_heartbeats WHERE trial_id = :id")
                return connection.execute(query, {"id": killed._trial_id}).scalar() == 1

        _wait_for(has_beaten, "the doomed trial's first heartbeat")
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=SAFETY_NET)
        # Optuna's own test for a dead worker (the one the survivors run before each trial), read-only here.
        _wait_for(
            lambda: killed._trial_id in storage._get_stale_trial_ids(study._study_id),
            f"the killed trial to be silent for {heartbeat} s",
        )
        gate.touch()  # the survivors go on: the first to start another trial fails the killed one
        for worker in survivors:
            assert worker.wait(timeout=SAFETY_NET) == 0
    finally:
        for worker in (doomed, *survivors):
            if worker.poll() is None:
                worker.kill()

    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    stdouts = [(tmp_path / f"{name}.stdout").read_text() for name in ("b", "c")]
    # The budget is met exactly, or the overshoot (queries in flight together) is reported.
    assert len(complete) >= budget
    if len(complete) > budget:
        assert any(f"{len(complete) - budget} more than the budget of {budget}" in out for out in stdouts)

    # Every finished query was stored, and no architecture was queried twice, whichever worker drew it.
    queried = [line for name in ("doomed", "b", "c") for line in _lines(tmp_path / f"{name}.log")]
    assert sorted(queried) == sorted(t.user_attrs["arch"] for t in complete)
    assert len(set(queried)) == len(queried)

    # The killed trial was failed by the heartbeat and queued again; the retry queried its architecture,
    # unless another worker had meanwhile drawn and queried it (then the retry was pruned, not repeated).
    assert trials[killed.number].state == optuna.trial.TrialState.FAIL
    (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == killed.number]
    assert retry.params == killed.params
    assert retry.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    if retry.state == optuna.trial.TrialState.PRUNED:
        assert any(t.user_attrs["arch"] == held for t in complete if t.number != retry.number)
    assert queried.count(held) == 1

    # The front a later run writes is the one the stored trials give.
    out = tmp_path / "final"
    assert main([*search_args, "--out", str(out)]) == 0
    values = np.array([t.values for t in complete])
    points = to_minimization(values, [True, False])
    expected = {t.number for t, on_front in zip(complete, pareto_mask(points), strict=True) if on_front}
    assert set(pd.read_csv(out / "front.csv")["trial"]) == expected
    summary = json.loads((out / "summary.json").read_text())
    assert summary["finished"] == len(complete)
    reference = to_minimization(np.array(REFERENCE), [True, False])
    assert summary["hypervolume"] == pytest.approx(hypervolume(points, reference))


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []
