"""``nasrlm query``: benchmark metrics of architectures given as arch strings or indices."""

from __future__ import annotations

import argparse

from nasrlm.cli._common import add_space_argument, load_space, metric_names, parse_arch, query_metric
from search_spaces import is_tabular


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("archs", nargs="+", metavar="ARCH")
    add_space_argument(parser)
    parser.add_argument("--metrics", default="acc,latency_pixel3")


def run(args: argparse.Namespace) -> int:
    space = load_space(args.space)
    metrics = metric_names(space, args.metrics)
    for text in args.archs:
        arch = parse_arch(space, text)
        values = ", ".join(f"{m}={query_metric(space, arch, m):.6g}" for m in metrics)
        print(f"{space.index(arch) if is_tabular(space) else '-'}\t{arch}\t{values}")
    return 0
