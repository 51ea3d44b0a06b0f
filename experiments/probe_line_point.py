"""Where a fit keeps a line prior, does the decoder's residual help? The line's point alone against the
line with the residual the decoder learned (``LinePrior.point_from_line`` off), on one transfer target.

Usage: python experiments/probe_line_point.py [--target nb101:acc] [--shots 16,100] [--seeds 10,11,12]
                                             [--surrogate experiments/checkpoints/c7] [--test-size 300]

Each (shots, seed) fits the surrogate as the recipe does (experiments/bench_transfer.py's split), then
prints the fit's decision (the line's values, or none) and, where a line was kept, Kendall-tau on the
test archs of its point alone and of the line plus the decoded residual (the recipe's 32 samples at its
temperature, and greedy).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np


def main() -> None:
    from bench_transfer import split

    from nasrlm.core.metrics import kendall_tau
    from nasrlm.rlm.recipe import DEFAULT_RECIPE
    from nasrlm.rlm.surrogate import Surrogate
    from search_spaces import get_space

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="nb101:acc")
    parser.add_argument("--shots", default="16,100")
    parser.add_argument("--seeds", default="10,11,12")
    parser.add_argument("--surrogate", type=Path, default=Path("experiments/checkpoints/c7"))
    parser.add_argument("--test-size", type=int, default=300)
    args = parser.parse_args()
    space_name, metric = args.target.split(":")
    space = get_space(space_name)
    values = np.asarray(space.values(metric), dtype=np.float64)
    recipe = DEFAULT_RECIPE
    for shots in (int(s) for s in args.shots.split(",")):
        for seed in (int(s) for s in args.seeds.split(",")):
            train, test = split(space, metric, shots, seed, args.test_size)
            surrogate = Surrogate.load(args.surrogate)
            surrogate.fit(
                space.to_texts(train.tolist()),
                {metric: values[train]},
                recipe.train_config(seed=seed),
                line_prior_min_r2=recipe.line_prior_min_r2,
                line_prior_folds=recipe.line_prior_folds,
            )
            prior = surrogate.line_priors.get(metric)
            if prior is None:
                print(f"{args.target} {shots} shots seed {seed}: no line (the decoder won)", flush=True)
                continue
            texts = space.to_texts(test.tolist())
            alone = kendall_tau(values[test], prior.mean(surrogate.line_features(texts)))
            surrogate.meta["line_priors"][metric] = dataclasses.replace(prior, point_from_line=False).to_dict()
            taus = []
            for temperature, samples in ((recipe.temperature, recipe.num_samples), (0.0, 1)):
                point = surrogate.predict(
                    texts, num_samples=samples, objectives=[metric], seed=seed, temperature=temperature
                )
                taus.append(kendall_tau(values[test], point.point[metric]))
            print(
                f"{args.target} {shots} shots seed {seed}: line on {', '.join(prior.names)}; tau alone {alone:.3f}, "
                f"with the residual {taus[0]:.3f} (greedy {taus[1]:.3f})",
                flush=True,
            )


if __name__ == "__main__":
    main()
