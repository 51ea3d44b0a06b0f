"""Prediction throughput of a fitted RLM on NAS-Bench-201, by batch size and arithmetic precision.

Usage: python experiments/bench_predict_speed.py [--surrogate DIR] [--train-archs 156] [--epochs N]
                                                [--test-archs 1500] [--batch-sizes 64,128,256,512]
                                                [--precisions auto,float32] [--repeats 3] [--fitted DIR]

Fits the surrogate (the shipped recipe, two members; --epochs shortens the fit: throughput does not
depend on how well the model ranks) on --train-archs random archs, or loads a fit saved in --fitted
by an earlier run, then times ``Surrogate.predict`` on --test-archs others (3 objectives, 32
samples each, the decoded median too: what bench_rlm times) at each batch size and precision.
Prints archs/s, the best of --repeats runs (the least disturbed by other work on the machine).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

OBJECTIVES = ["acc", "latency_pixel3", "latency_eyeriss"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--surrogate", default=None, help="a saved surrogate to fit (default: the shipped one)")
    parser.add_argument("--fitted", default=None, help="a folder: the fit is saved there, and reused when present")
    parser.add_argument("--train-archs", type=int, default=156)
    parser.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--test-archs", type=int, default=1500)
    parser.add_argument("--batch-sizes", default="64,128,256,512")
    parser.add_argument("--precisions", default="auto,float32")
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    import torch

    from nasrlm.rlm.precision import native_bfloat16
    from nasrlm.rlm.recipe import DEFAULT_RECIPE
    from nasrlm.rlm.surrogate import Surrogate
    from search_spaces import get_space

    if args.threads:
        torch.set_num_threads(args.threads)
    space = get_space("nb201")
    order = np.random.default_rng(0).permutation(space.size)
    train, test = order[: args.train_archs], order[args.train_archs : args.train_archs + args.test_archs]
    if args.fitted and Path(args.fitted).exists():
        surrogate = Surrogate.load(args.fitted)
        print(f"loaded the fit in {args.fitted}")
    else:
        surrogate = Surrogate.pretrained() if args.surrogate is None else Surrogate.load(args.surrogate)
        overrides = {} if args.epochs is None else {"epochs": args.epochs}
        started = time.perf_counter()
        surrogate.fit(
            space.to_texts(train.tolist()),
            {name: space.values(name)[train] for name in OBJECTIVES},
            DEFAULT_RECIPE.train_config(seed=0, **overrides),
            members=DEFAULT_RECIPE.members,
        )
        print(f"fitted on {len(train)} archs in {time.perf_counter() - started:.1f} s")
        if args.fitted:
            surrogate.save(args.fitted)
    texts = space.to_texts(test.tolist())
    surrogate.predict(texts[:64], num_samples=args.samples, objectives=OBJECTIVES)  # warm up
    print(
        f"{len(texts)} archs, {args.samples} samples, {len(surrogate.members)} member(s), "
        f"{torch.get_num_threads()} threads, native bfloat16: {native_bfloat16()}"
    )
    print(f"{'batch':>6} {'precision':>10} {'archs/s':>8}")
    for precision in args.precisions.split(","):
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            best = 0.0
            for _ in range(args.repeats):
                started = time.perf_counter()
                surrogate.predict(
                    texts, num_samples=args.samples, objectives=OBJECTIVES, batch_size=batch, precision=precision
                )
                best = max(best, len(texts) / (time.perf_counter() - started))
            print(f"{batch:>6} {precision:>10} {best:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
