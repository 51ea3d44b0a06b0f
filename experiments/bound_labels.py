"""How much of NB201's accuracy ranking the free pretraining labels hold, with groups of them left out.

Usage: python experiments/bound_labels.py [--labels runs/pretrain_v5/labels_used.csv] [--size 156]
                                          [--seeds 100,101,102] [--test-size 1500]

LightGBM (the settings of experiments/bound_rlm.py's ``gbdt_true``) learns ``acc`` from the true free
labels of N random archs (the pretraining labels of experiments/pretrain_default.py: counts, graph
structure, zero-cost proxies) and is scored by Kendall-tau on --test-size other archs, for the full set
and with ``jacob_cov`` (which an RLM cannot decode from text: a score of one random initialization),
then every proxy, left out. It bounds what a model that decodes those labels perfectly can reach.
Split seeds are not the final table's 0-2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

COUNTS = ["flops", "params", "onnx_nodes", "onnx_convs"]
GRAPH = ["longest_path_convs", "longest_path_nodes", "num_paths_log10", "dead_nodes", "output_reachable"]
PROXIES = ["synflow_log10", "naswot", "grad_norm_log10", "snip_log10", "jacob_cov"]
SETS = {
    "all free labels": COUNTS + GRAPH + PROXIES,
    "without jacob_cov": COUNTS + GRAPH + PROXIES[:-1],
    "without any proxy": COUNTS + GRAPH,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, default=Path("runs/pretrain_v5/labels_used.csv"))
    parser.add_argument("--size", type=int, default=156)
    parser.add_argument("--seeds", default="100,101,102")
    parser.add_argument("--test-size", type=int, default=1500)
    args = parser.parse_args()
    if not args.labels.is_file():
        parser.error(f"{args.labels} does not exist; make it with experiments/pretrain_default.py (labels_used.csv)")
    import pandas as pd
    from bound_rlm import gbdt

    from baselines.splits import random_split
    from nasrlm.core.metrics import kendall_tau
    from search_spaces import get_space

    labels = pd.read_csv(args.labels)
    acc = get_space("nb201").values("acc")
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"acc Kendall-tau of LightGBM on true free labels, {args.size} train archs, {args.test_size} test archs")
    for name, columns in SETS.items():
        taus = []
        for seed in seeds:
            train, rest = random_split(len(acc), args.size, seed)
            test = np.random.default_rng(seed).choice(rest, args.test_size, replace=False)
            features = labels[columns].to_numpy(dtype=float)
            taus.append(kendall_tau(acc[test], gbdt(features, train, test, acc, seed)))
        shown = " ".join(f"{t:.3f}" for t in taus)
        print(f"  {name:<20} {np.mean(taus):.3f} +- {np.std(taus):.3f}  (seeds {args.seeds}: {shown})")


if __name__ == "__main__":
    main()
