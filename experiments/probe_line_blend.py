"""Would a blend of the decoder alone and the line alone rank better than either? On transfer targets
where neither clearly wins (experiments/results/screen_rank_line.txt), Kendall-tau on the test archs
of the decoder fitted alone (no line prior), of the line alone (``LinePrior.select``), and of blends of
their standardized predictions.

Usage: python experiments/probe_line_blend.py [--targets nb201:acc,nb101:acc,transnas_macro:class_scene_acc]
                                             [--shots 16,100] [--seeds 10,11,12]
                                             [--surrogate experiments/checkpoints/c7] [--test-size 300]

Splits are experiments/bench_transfer.py's (validation seeds by default). The decoder is fitted as the
recipe fits it, without a line (``line_prior_min_r2=inf``), and predicts the median of the recipe's
samples. A blend of weight w ranks ``w * z(line) + (1 - w) * z(decoder)``, each side standardized
over the test archs (the line in its fitting scale: the log where every target is positive).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

WEIGHTS = (0.25, 0.5, 0.75)


def standardized(values: np.ndarray) -> np.ndarray:
    spread = float(values.std())
    return (values - values.mean()) / spread if spread > 0 else np.zeros_like(values)


def main() -> None:
    from bench_transfer import split

    from nasrlm.core.metrics import kendall_tau
    from nasrlm.rlm.line_prior import LinePrior
    from nasrlm.rlm.recipe import DEFAULT_RECIPE
    from nasrlm.rlm.surrogate import Surrogate
    from search_spaces import get_space

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="nb201:acc,nb101:acc,transnas_macro:class_scene_acc")
    parser.add_argument("--shots", default="16,100")
    parser.add_argument("--seeds", default="10,11,12")
    parser.add_argument("--surrogate", type=Path, default=Path("experiments/checkpoints/c7"))
    parser.add_argument("--test-size", type=int, default=300)
    args = parser.parse_args()
    recipe = DEFAULT_RECIPE
    columns = ["decoder", "line", *(f"blend {w}" for w in WEIGHTS)]
    print(f"| target | shots | seed | {' | '.join(columns)} |")
    print(f"|---|---|---|{'---|' * len(columns)}")
    totals: dict[str, list[float]] = {name: [] for name in columns}
    for target in args.targets.split(","):
        space_name, metric = target.split(":")
        space = get_space(space_name)
        values = np.asarray(space.values(metric), dtype=np.float64)
        for shots in (int(s) for s in args.shots.split(",")):
            for seed in (int(s) for s in args.seeds.split(",")):
                train, test = split(space, metric, shots, seed, args.test_size)
                train_texts, test_texts = space.to_texts(train.tolist()), space.to_texts(test.tolist())
                surrogate = Surrogate.load(args.surrogate)
                surrogate.fit(
                    train_texts,
                    {metric: values[train]},
                    recipe.train_config(seed=seed, progress=False),
                    target_transform=recipe.target_transform,
                    init_like=recipe.init_like,
                    line_prior_min_r2=math.inf,
                )
                decoded = surrogate.predict(
                    test_texts, num_samples=recipe.num_samples, objectives=[metric], seed=seed, progress=False
                ).point[metric]
                features = surrogate.line_features([*train_texts, *test_texts])
                if features is None:
                    raise SystemExit("probe_line_blend.py: --surrogate must read the costs line (value states)")
                line = LinePrior.select(values[train], features[: len(train)])
                lined = line.mean(features[len(train) :])
                scale = np.log if line.log else (lambda x: x)
                by_decoder = standardized(scale(np.maximum(decoded, 1e-300)) if line.log else decoded)
                by_line = standardized(scale(lined))
                taus = {
                    "decoder": kendall_tau(values[test], decoded),
                    "line": kendall_tau(values[test], lined),
                    **{f"blend {w}": kendall_tau(values[test], w * by_line + (1 - w) * by_decoder) for w in WEIGHTS},
                }
                for name, tau in taus.items():
                    totals[name].append(tau)
                print(f"| {target} | {shots} | {seed} | {' | '.join(f'{taus[c]:.3f}' for c in columns)} |", flush=True)
    print(f"| mean | | | {' | '.join(f'{np.mean(totals[c]):.3f}' for c in columns)} |")


if __name__ == "__main__":
    main()
