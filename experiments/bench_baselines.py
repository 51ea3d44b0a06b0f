"""Baseline predictor benchmark on NAS-Bench-201: rank correlation on every arch not trained on.

Usage: nice -n 10 python experiments/bench_baselines.py [--predictors gin,gcn,mlp,gbdt,flops]
       [--train-sizes 78,156,469,781,1563] [--seeds 3] [--objectives acc,latency_pixel3,latency_eyeriss]
       [--epochs N] [--results results.jsonl]

Protocol: for each train size N and seed s, ``baselines.random_split(15625, N, s)`` picks the training
archs (identical for every predictor); the predictor is fitted on all objectives at once (one model
per objective) and scored on all remaining archs by Kendall's tau-b and Spearman's rho; the table
shows mean ± std over seeds. Fit time covers all objectives of one fit; predict time is for all test
archs. With ``--results`` each finished run is appended to a JSON-lines file, and runs already there
(same predictor, size, seed, objectives, epochs) are not repeated, so an interrupted run can resume.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from baselines import available_predictors, get_predictor, random_split
from nasrlm.core.metrics import kendall_tau, spearman_rho
from search_spaces import get_space

DEFAULT_PREDICTORS = ("gin", "gcn", "brp", "mlp", "gbdt", "flops", "params")
DEFAULT_SIZES = (78, 156, 469, 781, 1563)
DEFAULT_OBJECTIVES = ("acc", "latency_pixel3", "latency_eyeriss")
_TRAINED = {"gin", "gcn", "brp", "mlp"}  # the predictors that take an ``epochs`` setting


def _csv(kind: type) -> Any:
    return lambda text: [kind(part) for part in text.split(",") if part]


def run_one(name: str, size: int, seed: int, objectives: list[str], epochs: int | None) -> dict[str, Any]:
    space = get_space("nb201")
    archs = space.archs()
    train, test = random_split(len(archs), size, seed)
    values = {objective: space.values(objective) for objective in objectives}
    config: dict[str, Any] = {"seed": seed}
    if epochs is not None and name in _TRAINED:
        config["epochs"] = epochs
    predictor = get_predictor(name, **config)
    started = time.perf_counter()
    predictor.fit([archs[i] for i in train], {k: v[train] for k, v in values.items()})
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    predicted = predictor.predict([archs[i] for i in test])
    predict_s = time.perf_counter() - started
    scores = {
        objective: {
            "kendall": kendall_tau(values[objective][test], predicted[objective]),
            "spearman": spearman_rho(values[objective][test], predicted[objective]),
        }
        for objective in objectives
    }
    return {
        "predictor": name,
        "size": size,
        "seed": seed,
        "objectives": objectives,
        "epochs": epochs,
        "fit_s": fit_s,
        "predict_s": predict_s,
        "scores": scores,
    }


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return row["predictor"], row["size"], row["seed"], tuple(row["objectives"]), row["epochs"]


def print_table(rows: list[dict[str, Any]], objectives: list[str]) -> None:
    header = (
        f"{'predictor':<9} {'objective':<16} {'N':>5}  {'Kendall tau':>13}  {'Spearman':>13}  "
        f"{'fit s':>6}  {'pred s':>6}  seeds"
    )
    print(header)
    print("-" * len(header))
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["predictor"], row["size"]), []).append(row)
    for (name, size), group in groups.items():
        for objective in objectives:
            tau = np.array([row["scores"][objective]["kendall"] for row in group])
            rho = np.array([row["scores"][objective]["spearman"] for row in group])
            fit = np.mean([row["fit_s"] for row in group])
            predict = np.mean([row["predict_s"] for row in group])
            print(
                f"{name:<9} {objective:<16} {size:>5}  {tau.mean():.3f} ± {tau.std():.3f}  "
                f"{rho.mean():.3f} ± {rho.std():.3f}  {fit:>6.1f}  {predict:>6.2f}  {len(group)}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictors", type=_csv(str), default=list(DEFAULT_PREDICTORS))
    parser.add_argument("--train-sizes", type=_csv(int), default=list(DEFAULT_SIZES))
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0 .. SEEDS-1")
    parser.add_argument("--objectives", type=_csv(str), default=list(DEFAULT_OBJECTIVES))
    parser.add_argument("--epochs", type=int, default=None, help="override epochs (quick runs only)")
    parser.add_argument("--results", type=Path, default=None, help="JSON-lines file to append to and resume from")
    args = parser.parse_args()
    unknown = sorted(set(args.predictors) - set(available_predictors()))
    if unknown:
        parser.error(f"unknown predictor(s) {', '.join(unknown)}; valid: {', '.join(available_predictors())}")

    done: dict[tuple[Any, ...], dict[str, Any]] = {}
    if args.results and args.results.is_file():
        for line in args.results.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                done[_key(row)] = row
    rows = []
    for name in args.predictors:
        for size in args.train_sizes:
            for seed in range(args.seeds):
                key = (name, size, seed, tuple(args.objectives), args.epochs)
                if key not in done:
                    done[key] = run_one(name, size, seed, args.objectives, args.epochs)
                    if args.results:
                        with args.results.open("a") as handle:
                            handle.write(json.dumps(done[key]) + "\n")
                    scores = ", ".join(f"{o} {s['kendall']:.3f}" for o, s in done[key]["scores"].items())
                    print(
                        f"# {name} N={size} seed={seed}: tau {scores} ({done[key]['fit_s']:.1f} s)",
                        flush=True,
                    )
                rows.append(done[key])
    print()
    print_table(rows, args.objectives)


if __name__ == "__main__":
    main()
