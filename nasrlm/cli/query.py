"""``nasrlm query``: benchmark metrics of architectures given as arch strings or indices."""

from __future__ import annotations

import argparse

from nasrlm.cli._common import (
    add_space_argument,
    default_metrics,
    load_space,
    metric_names,
    parse_arch,
    query_metric,
)
from search_spaces import is_tabular


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("archs", nargs="+", metavar="ARCH")
    add_space_argument(parser)
    parser.add_argument(
        "--metrics", default=None, help="comma-separated (default: acc,latency_pixel3, or the space's first metrics)"
    )


def run(args: argparse.Namespace) -> int:
    space = load_space(args.space)
    metrics = metric_names(space, args.metrics or default_metrics(space, "acc,latency_pixel3"))
    for text in args.archs:
        arch = parse_arch(space, text)
        # n/a: a partial table has no value of that metric for this arch (free metrics it always has)
        values = ", ".join(f"{m}={_shown(query_metric(space, arch, m))}" for m in metrics)
        index = space.index(arch) if is_tabular(space) and space.has_data(arch) else "-"
        print(f"{index}\t{arch}\t{values}")
    return 0


def _shown(value: float) -> str:
    return "n/a" if value != value else f"{value:.6g}"
