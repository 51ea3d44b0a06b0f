"""Networks of every search space with free labels: pretraining data for one RLM across spaces.

Usage: python experiments/space_networks.py [--spaces nb101,fbnet,ofa_mbv3,transnas_macro]
           [--networks 2000] [--seed 0] [--out runs/space_networks.jsonl] [--latency-repeats 5] [--check]

For each space, ``--networks`` architectures drawn uniformly from the WHOLE space (random Optuna
parameters; draws that are not valid architectures are redrawn), not only from its benchmark table,
each labelled with what anyone can compute without training: its parameters and FLOPs (the space's
free metrics), the node and convolution counts and the graph-structure labels of its ONNX graph
(``nasrlm.rlm.free_labels.graph_labels``: longest paths, input-to-output paths, dead nodes), and,
with ``--latency-repeats`` > 0, its onnxruntime latency measured here (batch 1, one thread, the
median of that many runs after 2 warm-up runs; random weights). Never accuracy or benchmark latency.

Rows have the format of experiments/random_networks.py (``text`` plus label columns), so
``experiments/pretrain_default.py --random-networks`` reads them. Resumable: each network is one JSON
line appended to ``--out``; a rerun skips (space, seed, index) triples already there.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from random_networks import load_rows  # the rows of both scripts are read alike

DEFAULT_SPACES = ("nb101", "fbnet", "ofa_mbv3", "transnas_macro")
LABELS = (
    "params",
    "flops",
    "onnx_nodes",
    "onnx_convs",
    "longest_path_convs",
    "longest_path_nodes",
    "num_paths_log10",
    "dead_nodes",
    "output_reachable",
    "ort_latency_ms",
)


def random_arch(space: Any, rng: np.random.Generator, tries: int = 1000) -> Any:
    """A uniformly random architecture of the whole space (random parameters; invalid draws redrawn)."""
    import optuna

    for _ in range(tries):
        params = {}
        for name, distribution in space.distributions().items():
            if isinstance(distribution, optuna.distributions.CategoricalDistribution):
                params[name] = distribution.choices[int(rng.integers(len(distribution.choices)))]
            elif isinstance(distribution, optuna.distributions.IntDistribution):
                steps = (distribution.high - distribution.low) // distribution.step
                params[name] = distribution.low + distribution.step * int(rng.integers(steps + 1))
            else:
                params[name] = float(rng.uniform(distribution.low, distribution.high))
        try:
            return space.from_params(params)
        except ValueError:
            continue
    raise RuntimeError(f"no valid architecture of {space.name} in {tries} random draws")


def label(space: Any, index: int, seed: int, latency_repeats: int) -> dict[str, Any]:
    """One network of ``space``: its arch, canonical ONNX text and free labels."""
    from nasrlm.rlm.free_labels import graph_labels
    from nasrlm.text.onnx_text import parse_text

    arch = random_arch(space, np.random.default_rng([seed, index, sum(map(ord, space.name))]))
    text = space.onnx_text(arch)
    structure = graph_labels(parse_text(text, check=False))
    row: dict[str, Any] = {
        "space": space.name,
        "index": index,
        "seed": seed,
        "arch": str(arch),
        "text": text,
        "params": space.query(arch, "params"),
        "flops": space.query(arch, "flops"),
        "onnx_nodes": structure["num_nodes"],
        "onnx_convs": structure["count_conv"],
        "longest_path_convs": structure["longest_path_convs"],
        "longest_path_nodes": structure["longest_path_nodes"],
        "num_paths_log10": math.log10(1.0 + structure["num_paths"]),
        "dead_nodes": structure["dead_nodes"],
        "output_reachable": structure["output_reachable"],
    }
    if latency_repeats > 0:
        from nasrlm.hardware.latency import LatencyConfig, measure_one

        started = time.perf_counter()
        latency = measure_one(space, arch, LatencyConfig(warmup=2, repeats=latency_repeats, threads=1))
        row["ort_latency_ms"] = latency.median_ms
        row["measure_s"] = round(time.perf_counter() - started, 3)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spaces", default=",".join(DEFAULT_SPACES))
    parser.add_argument("--networks", type=int, default=2000, help="per space")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latency-repeats", type=int, default=5, help="0: no onnxruntime latency label")
    parser.add_argument("--out", type=Path, default=Path("runs/space_networks.jsonl"))
    parser.add_argument("--check", action="store_true", help="print label statistics of the rows done and exit")
    args = parser.parse_args()
    import torch
    from tqdm.auto import tqdm

    from search_spaces import UnknownSpaceError, get_space

    torch.set_num_threads(1)
    try:
        spaces = [get_space(name) for name in args.spaces.split(",") if name]
    except UnknownSpaceError as exc:
        parser.error(str(exc))
    rows = load_rows(args.out)
    if not args.check:
        done = {(r["space"], r["seed"], r["index"]) for r in rows}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a") as handle:
            for space in spaces:
                todo = [i for i in range(args.networks) if (space.name, args.seed, i) not in done]
                for index in tqdm(todo, desc=space.name):
                    row = label(space, index, args.seed, args.latency_repeats)
                    handle.write(json.dumps(row) + "\n")
                    handle.flush()
                    rows.append(row)
    for space in spaces:
        ours = [r for r in rows if r["space"] == space.name]
        print(f"{space.name}: {len(ours)} networks in {args.out}, {len({r['text'] for r in ours})} distinct texts")
        for name in LABELS:
            values = np.array([r[name] for r in ours if name in r], dtype=float)
            if len(values):
                low, median, high = values.min(), np.median(values), values.max()
                print(f"  {name:<20} min {low:10.3f}  median {median:10.3f}  max {high:10.3f}")


if __name__ == "__main__":
    main()
