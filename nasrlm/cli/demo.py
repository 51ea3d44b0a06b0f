"""``nasrlm demo``: architectures of a space with a few metrics and the size of their ONNX text."""

from __future__ import annotations

import argparse

from nasrlm.cli._common import (
    CliError,
    add_space_argument,
    default_metrics,
    load_space,
    metric_names,
    positive_int,
    query_metric,
    seed_int,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_space_argument(parser)
    parser.add_argument(
        "--metrics",
        default=None,
        help="comma-separated (default: acc,test_acc,latency_pixel3,params,flops, or the space's first metrics)",
    )
    parser.add_argument("-n", type=positive_int, default=5, help="number of architectures (default 5)")
    parser.add_argument("--seed", type=seed_int, default=0)
    parser.add_argument("--show-text", action="store_true", help="print the ONNX text of the first one")


def run(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    space = load_space(args.space)
    metrics = metric_names(space, args.metrics or default_metrics(space, "acc,test_acc,latency_pixel3,params,flops"))
    if args.n > space.size:
        raise CliError(f"-n {args.n:,} is more than the {space.size:,} architectures of {space.name}; give fewer")
    rng = np.random.default_rng(args.seed)
    archs = [space.sample(rng) for _ in range(args.n)]
    started = time.perf_counter()
    texts = space.to_texts(archs)
    text_seconds = time.perf_counter() - started
    header = f"{'index':>6}  " + "  ".join(f"{m:>16}" for m in metrics) + f"  {'ONNX chars':>10}  architecture"
    print(header)
    for arch, text in zip(archs, texts, strict=True):
        values = "  ".join(f"{query_metric(space, arch, m):>16.4f}".replace("nan", "n/a") for m in metrics)
        print(f"{space.index(arch):>6}  {values}  {len(text):>10,}  {arch}")
    units = ", ".join(f"{m} [{space.metric(m).unit}]" for m in metrics)
    print(f"\nunits: {units}; ONNX text of {len(archs)} archs made in {text_seconds:.2f} s")
    if args.show_text:
        print("\nONNX text of the first architecture:\n")
        print(texts[0])
    return 0
