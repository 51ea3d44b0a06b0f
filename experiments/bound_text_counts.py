"""How well can the ops a text shows rank NB201's measured latencies? A ceiling per text form.

Usage: python experiments/bound_text_counts.py [--devices eyeriss,fpga,pixel3,...] [--workers 2]

Many devices' latency is a sum of per-op costs over the ops the network runs (on NB201, eyeriss and
fpga latency are exactly linear in the counts of 3x3 convs, 1x1 convs and pools over all six edges).
A model reading a text can only learn what the text shows, so this script groups the 15,625
architectures by the op counts of their ONNX graph (nodes, convs, 1x1 convs, pools:
nasrlm.rlm.free_labels.executed_op_counts) in three forms of the graph, predicts each architecture's
latency as the mean of its group, and prints the Spearman of that prediction with the truth: the
best any predictor of counts can do (a ceiling on counting, not on reading structure).

- ``exported``: what ``torch.onnx.export`` gives: dead edges dropped, one ReLU and one pool per
  input (the exporter merges identical ops on identical inputs);
- ``dead_kept``: dead edges kept, ops merged (the space's text before the change);
- ``as_run``: every op the network runs, each edge's own ReLU and pool (the space's text now).
"""

from __future__ import annotations

import argparse
import collections
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from nasrlm.core.metrics import spearman_rho

FORMS = {"exported": (False, True), "dead_kept": (True, True), "as_run": (True, False)}  # keep_dead, merge


def _counts(job: tuple[tuple[str, ...], str]) -> tuple[float, ...]:
    from nasrlm.rlm.free_labels import executed_op_counts
    from search_spaces.nb201.onnx_builder import build_onnx

    ops, form = job
    keep_dead, merge = FORMS[form]
    return tuple(executed_op_counts(build_onnx(ops, keep_dead=keep_dead, merge_identical=merge)).values())


def group_mean_ceiling(keys: list[tuple[float, ...]], values: np.ndarray) -> float:
    """Spearman of each arch's group mean (archs grouped by ``keys``) with its own value."""
    groups: dict[tuple[float, ...], list[float]] = collections.defaultdict(list)
    for key, value in zip(keys, values, strict=True):
        groups[key].append(float(value))
    means = {key: np.mean(group) for key, group in groups.items()}
    return spearman_rho(values, np.array([means[key] for key in keys]))


def main() -> None:
    from search_spaces import get_space

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", default="", help="comma-separated (default: every latency column)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    space = get_space("nb201")
    devices = [d for d in args.devices.split(",") if d] or [
        m.removeprefix("latency_") for m in space.metrics if m.startswith("latency_")
    ]
    cells = [arch.ops for arch in space.archs()]
    keys = {}
    with ProcessPoolExecutor(args.workers) as pool:
        for form in FORMS:
            keys[form] = list(pool.map(_counts, [(ops, form) for ops in cells], chunksize=250))
    print(
        f"{'device':16} "
        + " ".join(f"{form:>10}" for form in FORMS)
        + "   (distinct count vectors: "
        + ", ".join(f"{form} {len(set(k))}" for form, k in keys.items())
        + ")"
    )
    for device in devices:
        values = space.values(f"latency_{device}")
        print(f"{device:16} " + " ".join(f"{group_mean_ceiling(keys[form], values):10.3f}" for form in FORMS))


if __name__ == "__main__":
    main()
