"""How well the costs line's prior (nasrlm.rlm.line_prior) fits each target, before any decoder is trained.

Usage: python experiments/line_prior_fit.py [--surrogate DIR] [--targets nb201:acc:156,fbnet:latency_pixel3:16,...]
           [--seeds 100,101] [--test-size 300]

For each target (space:metric:rows) and seed, ``rows`` archs with a value are drawn (seed) from the
space's table and the line is fitted on them as ``Surrogate.fit`` fits it; printed are its leave-one-out
R^2 on those rows (what the recipe's ``line_prior_min_r2`` is compared with) and the Kendall-tau of the
line alone on ``--test-size`` other archs. The surrogate only supplies the text form and the tokenizer
that reads the line's values; nothing is trained.
"""

from __future__ import annotations

import argparse

import numpy as np

from nasrlm.core.metrics import kendall_tau

DEFAULT_TARGETS = (
    "nb201:acc:156",
    "nb201:latency_pixel3:156",
    "nb201:latency_eyeriss:156",
    "nb201:acc:781",
    "nb201:latency_pixel3:781",
    "nb201:latency_eyeriss:781",
    "nb201:acc:16",
    "nb201:acc:100",
    "nb101:acc:16",
    "nb101:acc:100",
    "fbnet:latency_pixel3:16",
    "fbnet:latency_pixel3:100",
    "ofa_mbv3:latency_v100_1:16",
    "ofa_mbv3:latency_v100_1:100",
    "transnas_macro:class_scene_acc:16",
    "transnas_macro:class_scene_acc:100",
    "transnas_macro:class_object_acc:16",
    "transnas_macro:class_object_acc:100",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--surrogate", default="experiments/checkpoints/c7")
    parser.add_argument("--targets", default=",".join(DEFAULT_TARGETS))
    parser.add_argument("--seeds", default="100,101")
    parser.add_argument("--test-size", type=int, default=300)
    args = parser.parse_args()

    from nasrlm.rlm.line_prior import LinePrior
    from nasrlm.rlm.surrogate import Surrogate
    from search_spaces import get_space

    surrogate = Surrogate.load(args.surrogate)
    print(f"{'target':<36} {'rows':>5} {'seed':>5} {'loo R2':>7} {'line tau':>9}  (test archs)")
    for target in args.targets.split(","):
        space_name, metric, rows_text = target.split(":")
        rows = int(rows_text)
        space = get_space(space_name)
        values = np.asarray(space.values(metric), dtype=np.float64)
        with_value = np.flatnonzero(np.isfinite(values))
        for seed in (int(s) for s in args.seeds.split(",")):
            chosen = np.random.default_rng(seed).choice(
                with_value, min(len(with_value), rows + args.test_size), replace=False
            )
            features = surrogate.line_values(space.to_texts(chosen.tolist()))
            if features is None:
                raise SystemExit(f"{args.surrogate} reads no costs line (a costed, value-state model is needed)")
            prior = LinePrior.fit(values[chosen[:rows]], features[:rows])
            tau = kendall_tau(prior.mean(features[rows:]), values[chosen[rows:]])
            print(
                f"{space_name + ':' + metric:<36} {rows:>5} {seed:>5} {prior.loo_r2:>7.2f} {tau:>9.3f}  "
                f"({len(chosen) - rows})",
                flush=True,
            )


if __name__ == "__main__":
    main()
