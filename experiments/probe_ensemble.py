"""Do ensembles of fine-tuned RLMs rank NAS-Bench-201 better than one? A screen before building them in.

Usage: python experiments/probe_ensemble.py --surrogate DIR [--size 156] [--seeds 100,101,102,103]
                                            [--members 4] [--test-size 1500] --out F.jsonl

For each split seed, fits ``--members`` copies of the surrogate on the same training archs with the
shipped recipe (nasrlm.rlm.recipe), each with its own training seed (the order of its batches, its
dropout), and predicts the same test archs with each. Prints, per split, the Kendall-tau of acc
(Spearman of the latencies) of member 0 alone, of the mean of the members' points
(``Prediction.point``: the medians of their samples when this screen was run, decoded medians since),
of the median of their pooled samples, and of the median of samples / k of each, for k = 1, ..., members.
Each member's test predictions are appended to --out as they come (a rerun skips members already
there), so the screen resumes after an interruption. Validation seeds only (the report's are 0-2).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from nasrlm.core.metrics import kendall_tau, spearman_rho

OBJECTIVES = ("acc", "latency_pixel3", "latency_eyeriss")


def fit_member(args: argparse.Namespace, seed: int, member: int) -> dict:
    from baselines.splits import random_split
    from nasrlm.rlm.recipe import DEFAULT_RECIPE
    from nasrlm.rlm.surrogate import Surrogate
    from search_spaces import get_space

    space = get_space("nb201")
    train_idx, test_idx = random_split(space.size, args.size, seed)
    test_idx = np.sort(np.random.default_rng(1000 + seed).choice(test_idx, args.test_size, replace=False))
    surrogate = Surrogate.load(args.surrogate)
    recipe = DEFAULT_RECIPE
    started = time.perf_counter()
    surrogate.fit(
        space.to_texts(train_idx.tolist()),
        {name: space.values(name)[train_idx] for name in OBJECTIVES},
        recipe.train_config(seed=seed * 100 + member),
        members=1,  # the members are made here, one fit each
    )
    fit_s = time.perf_counter() - started
    prediction = surrogate.predict(
        space.to_texts(test_idx.tolist()),
        num_samples=recipe.num_samples,
        objectives=OBJECTIVES,
        seed=seed * 100 + member,
        joint=recipe.joint,
        temperature=recipe.temperature,
    )
    return {
        "seed": seed,
        "member": member,
        "fit_s": fit_s,
        "test_idx": test_idx.tolist(),
        "point": {name: prediction.point[name].tolist() for name in OBJECTIVES},
        "samples": {
            name: np.round(
                (prediction.samples if prediction.decoded is None else prediction.decoded)[:, :, k], 6
            ).tolist()
            for k, name in enumerate(prediction.objectives)
            if name in OBJECTIVES
        },
    }


def report(rows: list[dict], seeds: list[int], members: int) -> None:
    from search_spaces import get_space

    space = get_space("nb201")
    # mean: the mean of the members' points; pool: the median of all their samples; budget: the
    # median of samples / k of each member's (what one prediction of the usual cost would draw).
    print(f"{'seed':>5} {'k':>2} " + " ".join(f"{n[:14]:>20}" for n in OBJECTIVES) + "  (mean/pool/budget)")
    totals: dict[tuple[int, str], list[float]] = {}
    for seed in seeds:
        have = sorted((r for r in rows if r["seed"] == seed), key=lambda r: r["member"])[:members]
        if not have:
            continue
        idx = np.array(have[0]["test_idx"])
        for k in range(1, len(have) + 1):
            cells = []
            for name in OBJECTIVES:
                truth = space.values(name)[idx]
                samples = [np.array(r["samples"][name]) for r in have[:k]]  # each [N, S]
                mean_point = np.mean([np.array(r["point"][name]) for r in have[:k]], axis=0)
                pooled = np.median(np.concatenate(samples, axis=1), axis=1)
                share = samples[0].shape[1] // k  # the same sample budget as one model, split among k
                budget = np.median(np.concatenate([s[:, :share] for s in samples], axis=1), axis=1)
                score = kendall_tau if name == "acc" else spearman_rho
                a, b, c = score(truth, mean_point), score(truth, pooled), score(truth, budget)
                for label, value in (("mean", a), ("pool", b), ("budget", c)):
                    totals.setdefault((k, f"{name} {label}"), []).append(value)
                cells.append(f"{a:>8.3f}/{b:.3f}/{c:.3f}")
            print(f"{seed:>5} {k:>2} " + " ".join(cells))
    for k in range(1, members + 1):
        line = [f"{key[1]} {np.mean(v):.3f}" for key, v in totals.items() if key[0] == k]
        if line:
            print(f"mean over splits, k={k}: " + ", ".join(line))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--surrogate", required=True)
    parser.add_argument("--size", type=int, default=156)
    parser.add_argument("--seeds", default="100,101,102,103")
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--test-size", type=int, default=1500)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = [json.loads(line) for line in args.out.read_text().splitlines()] if args.out.is_file() else []
    done = {(r["seed"], r["member"]) for r in rows}
    for seed in seeds:
        for member in range(args.members):
            if (seed, member) in done:
                continue
            row = fit_member(args, seed, member)
            with args.out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            rows.append(row)
            print(f"split {seed} member {member}: fitted in {row['fit_s']:.1f} s", flush=True)
    report(rows, seeds, args.members)


if __name__ == "__main__":
    main()
