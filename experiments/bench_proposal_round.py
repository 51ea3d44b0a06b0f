"""Time of the RLM sampler's proposal rounds on a user's torch space, with the README's defaults.

Usage: python experiments/bench_proposal_round.py [--space example|wide] [--rounds 2] [--pool RANDOM,MUTATIONS]

The space is the CNN family of ``examples/own_space_search.py`` (216 networks), or ``wide``, the
same family with widths 4..64 and kernels up to 7 (1,152 networks, more than a round's pool).
``--pool 300,600`` gives the pool every network had before issue 15 (now only ONNX text has it). The 10
start-up trials get made-up values (a round's cost does not depend on them); then each round is
one ``study.ask()`` that fits and scores, timed as a whole and split into the ONNX exports of
networks not seen before, the surrogate's fit and its sampling of the candidates. One torch thread.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import own_space_search as example  # an example script, not a package

from nasrlm.rlm.surrogate import Surrogate
from nasrlm.search.sampler import RLMSampler, RLMSamplerConfig
from nasrlm.text.convert import OnnxConverter


def space(name: str) -> dict[str, optuna.distributions.BaseDistribution]:
    chosen = dict(example.SPACE)
    if name == "wide":
        chosen["width"] = optuna.distributions.IntDistribution(4, 64, step=4)
        chosen["kernel"] = optuna.distributions.CategoricalDistribution([1, 3, 5, 7])
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", choices=("example", "wide"), default="example")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pool", help="RANDOM,MUTATIONS candidates (default: the sampler's default for torch modules)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    seconds: dict[str, float] = {}

    def timed(owner: object, name: str, label: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def wrapper(*a: object, **k: object) -> object:
            started = time.perf_counter()
            try:
                return original(*a, **k)
            finally:
                seconds[label] = seconds.get(label, 0.0) + time.perf_counter() - started

        setattr(owner, name, wrapper)

    timed(OnnxConverter, "one", "export")
    timed(Surrogate, "fit", "fit")
    timed(Surrogate, "sample", "sample")

    distributions = space(args.space)
    pool = tuple(int(n) for n in args.pool.split(",")) if args.pool else (None, None)
    config = RLMSamplerConfig(progress=False, pool_random=pool[0], pool_mutations=pool[1])
    sampler = RLMSampler(distributions, example.to_network, objectives=["toy_acc", "toy_params"], config=config)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    rng = np.random.default_rng(0)

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        params = {}
        for name, d in distributions.items():
            if isinstance(d, optuna.distributions.IntDistribution):
                params[name] = trial.suggest_int(name, d.low, d.high, step=d.step)
            else:
                params[name] = trial.suggest_categorical(name, d.choices)
        return float(rng.uniform(30, 90)), float(sum(p.numel() for p in example.build(params).parameters()))

    study.optimize(objective, n_trials=10)
    print(f"space {args.space}; pool {config.pool_sizes(exported=True)} (random, mutations); other settings default")
    for number in range(args.rounds):
        seconds.clear()
        started = time.perf_counter()
        trial = study.ask()  # the round runs here: fit, pool, exports, sampling, scoring
        values = objective(trial)
        round_seconds = time.perf_counter() - started
        study.tell(trial, values)
        parts = ", ".join(f"{label} {value:.1f} s" for label, value in seconds.items())
        print(f"round {number}: {round_seconds:.1f} s ({parts}; {sampler.last_round['candidates']} candidates)")
        for _ in range(config.proposals_per_fit - 1):  # the rest of the round's proposals
            trial = study.ask()
            study.tell(trial, objective(trial))


if __name__ == "__main__":
    main()
