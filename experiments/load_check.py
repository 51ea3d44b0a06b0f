"""Load check of shared studies: several `nasrlm search` processes on one study, on PostgreSQL and on SQLite.

Usage: python experiments/load_check.py [--workers 4] [--trials 200] [--storages postgres,sqlite]
           [--sampler random] [--space nb201]

Each worker is the real command (`python -m nasrlm search ... --storage URL --study-name load`),
started together; the study's budget is workers x trials finished queries. A NAS-Bench-201 query is
a table lookup, so what is measured is the storage and the coordination between workers: per
storage, the finished trials per second (first trial's start to last trial's end, and wall time
including the workers' start-up), architectures stored twice (must be 0), failed trials (must be 0),
pruned trials (an architecture another worker held, or the budget spent meanwhile) and how far the
finished trials overshoot the budget (queries that finish at the same moment). PostgreSQL is a
throwaway server from the pgserver wheel (the [dev] extra); the SQLite file lives in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def start_postgres(folder: str) -> tuple[object, str]:
    """A throwaway PostgreSQL server (stopped with ``server.cleanup()``) and the URL of an empty database."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns where XDG_RUNTIME_DIR is unset
        import pgserver

        server = pgserver.get_server(folder, cleanup_mode="stop")
        server.psql("CREATE DATABASE load_check;")
        return server, server.get_uri("load_check").replace("postgresql://", "postgresql+psycopg://", 1)


def run_workers(url: str, args: argparse.Namespace, folder: str) -> float:
    """Start ``args.workers`` searches on one study at once; wait for all; return the wall seconds."""
    budget = args.workers * args.trials
    common = [
        sys.executable, "-m", "nasrlm", "search", "--space", args.space, "--sampler", args.sampler,
        "--budget", str(budget), "--storage", url, "--study-name", "load", "--quiet",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    workers = []
    for seed in range(args.workers):
        out = Path(folder) / f"worker-{seed}"
        log = (Path(folder) / f"worker-{seed}.log").open("w")
        argv = [*common, "--seed", str(seed), "--out", str(out)]
        workers.append((subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT), log.name))
    for worker, log in workers:
        if worker.wait() != 0:
            print(f"a worker exited with status {worker.returncode}; its output:\n{Path(log).read_text()}")
    return time.perf_counter() - started


def measure(url: str, args: argparse.Namespace, folder: str) -> dict[str, object]:
    import optuna

    from nasrlm.search.runner import open_storage

    wall = run_workers(url, args, folder)
    study = optuna.load_study(study_name="load", storage=open_storage(url))
    trials = study.get_trials(deepcopy=False)
    states = Counter(t.state.name for t in trials)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    archs = Counter(t.user_attrs.get("arch") for t in complete)
    first = min(t.datetime_start for t in complete)
    last = max(t.datetime_complete for t in complete)
    return {
        "finished": len(complete),
        "budget": args.workers * args.trials,
        "per_second": len(complete) / max((last - first).total_seconds(), 1e-9),
        "per_second_wall": len(complete) / wall,
        "duplicates": sum(count - 1 for count in archs.values()),
        "failed": states.get("FAIL", 0),
        "pruned": states.get("PRUNED", 0),
        "running_left": states.get("RUNNING", 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--trials", type=int, default=200, help="per worker: the budget is workers x trials")
    parser.add_argument("--storages", default="postgres,sqlite")
    parser.add_argument("--sampler", default="random")
    parser.add_argument("--space", default="nb201")
    args = parser.parse_args()

    rows = []
    for name in args.storages.split(","):
        folder = tempfile.mkdtemp(prefix=f"nasrlm-load-{name}-")
        server = None
        try:
            if name == "postgres":
                server, url = start_postgres(os.path.join(folder, "pg"))
            elif name == "sqlite":
                url = f"sqlite:///{folder}/study.db"
            else:
                raise SystemExit(f"unknown storage {name!r}; valid: postgres, sqlite")
            print(f"{name}: {args.workers} workers x {args.trials} trials ...", flush=True)
            rows.append((name, measure(url, args, folder)))
        finally:
            if server is not None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    server.cleanup()
            shutil.rmtree(folder, ignore_errors=True)

    print(f"\n{args.workers} workers, sampler {args.sampler}, space {args.space}, budget {args.workers * args.trials}")
    header = f"{'storage':<10}{'finished':>9}{'trials/s':>10}{'(wall)':>8}{'duplicates':>12}{'failed':>8}{'pruned':>8}"
    print(header + f"{'overshoot':>11}{'running':>9}")
    for name, row in rows:
        print(
            f"{name:<10}{row['finished']:>9}{row['per_second']:>10.1f}{row['per_second_wall']:>8.1f}"
            f"{row['duplicates']:>12}{row['failed']:>8}{row['pruned']:>8}"
            f"{row['finished'] - row['budget']:>11}{row['running_left']:>9}"
        )


if __name__ == "__main__":
    main()
