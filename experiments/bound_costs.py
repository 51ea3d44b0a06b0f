"""How well the costs line of the costed text form ranks each space's metrics on its own.

Usage: python experiments/bound_costs.py [--archs 1000] [--seed 0] [--targets nb201:acc,fbnet:latency_pixel3,...]

The costed form (nasrlm.text.graph_costs) writes a network's MACs, parameters and activation elements
before its ONNX text. Each is a function of the text, so a model that reads it can do at least this
well with a monotone map; this script prints Kendall-tau (and Spearman) of each number, alone, with the
metric on --archs archs drawn at random (--seed) from the archs with a value. Few-shot baselines
(GIN at 16 / 100 archs, experiments/bench_transfer.py) are the reference for what reading the
graph's structure adds.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from nasrlm.core.metrics import kendall_tau, spearman_rho

DEFAULT_TARGETS = (
    "nb201:acc",
    "nb201:latency_pixel3",
    "nb201:latency_eyeriss",
    "nb101:acc",
    "fbnet:latency_pixel3",
    "fbnet:latency_raspi4",
    "ofa_mbv3:latency_v100_1",
    "ofa_mbv3:latency_v100_64",
    "transnas_macro:class_scene_acc",
    "transnas_macro:class_object_acc",
)
COSTS = ("macs", "params", "activations")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--targets", default=",".join(DEFAULT_TARGETS))
    args = parser.parse_args()

    from nasrlm.text.graph_costs import graph_costs
    from nasrlm.text.onnx_text import parse_text
    from search_spaces import get_space

    print(f"{'target':34} {'archs':>5}  " + "  ".join(f"{c + ' tau (rho)':>20}" for c in COSTS))
    for target in [t for t in args.targets.split(",") if t]:
        space_name, metric = target.split(":", 1)
        space = get_space(space_name)
        values = np.asarray(space.values(metric), dtype=np.float64)
        pool = np.flatnonzero(~np.isnan(values))
        chosen = np.sort(np.random.default_rng(args.seed).permutation(pool)[: args.archs])
        started = time.perf_counter()
        costs = [graph_costs(parse_text(text, check=False)) for text in space.to_texts(chosen.tolist())]
        seconds = time.perf_counter() - started
        truth = values[chosen]
        cells = []
        for name in COSTS:
            column = [getattr(c, name) for c in costs]
            cells.append(f"{kendall_tau(column, truth):+.3f} ({spearman_rho(column, truth):+.3f})")
        print(f"{target:34} {len(chosen):5}  " + "  ".join(f"{cell:>20}" for cell in cells), end="")
        print(f"   [{seconds / len(chosen) * 1000:.1f} ms per network, text included]", flush=True)


if __name__ == "__main__":
    main()
