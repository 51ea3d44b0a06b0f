"""At what temperature should the decoded median be taken? A screen on NAS-Bench-201's validation splits.

Usage: python experiments/probe_median_temperature.py [--surrogate DIR] [--size 156] [--seeds 100,101,102,103]
                                                      [--temperatures 0.5,1,1.5,2,2.5] [--members 1]

Fits the surrogate with the shipped recipe on each split (``--members`` models), then decodes the
median of acc, latency_pixel3 and latency_eyeriss on 1,500 test archs at each temperature
(``Surrogate.predict``'s point, one sample each: the median does not depend on the samples), and
prints Kendall-tau (acc) and Spearman (latencies) per temperature, per split and on average. The
recipe's sampling temperature (2.5) was chosen for the samples' intervals; the point need not share it.
Validation seeds only (the report's are 0-2).
"""

from __future__ import annotations

import argparse

import numpy as np

from nasrlm.core.metrics import kendall_tau, spearman_rho

OBJECTIVES = ("acc", "latency_pixel3", "latency_eyeriss")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--surrogate", default=None)
    parser.add_argument("--size", type=int, default=156)
    parser.add_argument("--seeds", default="100,101,102,103")
    parser.add_argument("--temperatures", default="0.5,1,1.5,2,2.5")
    parser.add_argument("--members", type=int, default=1)
    parser.add_argument("--test-size", type=int, default=1500)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import torch

    from baselines.splits import random_split
    from nasrlm.rlm.recipe import DEFAULT_RECIPE
    from nasrlm.rlm.surrogate import Surrogate
    from search_spaces import get_space

    torch.set_num_threads(args.threads)
    space = get_space("nb201")
    temperatures = [float(t) for t in args.temperatures.split(",")]
    scores: dict[tuple[float, str], list[float]] = {}
    for seed in (int(s) for s in args.seeds.split(",")):
        train_idx, test_idx = random_split(space.size, args.size, seed)
        test_idx = np.sort(np.random.default_rng(1000 + seed).choice(test_idx, args.test_size, replace=False))
        surrogate = Surrogate.pretrained() if args.surrogate is None else Surrogate.load(args.surrogate)
        surrogate.fit(
            space.to_texts(train_idx.tolist()),
            {name: space.values(name)[train_idx] for name in OBJECTIVES},
            DEFAULT_RECIPE.train_config(seed=seed),
            members=args.members,
        )
        texts = space.to_texts(test_idx.tolist())
        for temperature in temperatures:
            point = surrogate.predict(texts, num_samples=1, objectives=OBJECTIVES, temperature=temperature).point
            cells = []
            for name in OBJECTIVES:
                score = kendall_tau if name == "acc" else spearman_rho
                value = score(space.values(name)[test_idx], point[name])
                scores.setdefault((temperature, name), []).append(value)
                cells.append(f"{name} {value:.3f}")
            print(f"split {seed} temperature {temperature:>4}: " + ", ".join(cells), flush=True)
    print("mean over splits (acc tau, latency rho):")
    for temperature in temperatures:
        print(
            f"  temperature {temperature:>4}: "
            + ", ".join(f"{name} {np.mean(scores[(temperature, name)]):.3f}" for name in OBJECTIVES)
        )


if __name__ == "__main__":
    main()
