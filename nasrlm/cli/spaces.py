"""``nasrlm spaces``: the search spaces and their metrics."""

from __future__ import annotations

import argparse

from nasrlm.cli._common import load_space, valid_metrics


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("space", nargs="?", help="only this space")
    parser.add_argument("-v", "--verbose", action="store_true", help="also print each metric's description")


def run(args: argparse.Namespace) -> int:
    from search_spaces import available_spaces, is_tabular

    names = [args.space] if args.space else available_spaces()
    for name in names:
        space = load_space(name)
        print(f"{name}: {f'{space.size:,} architectures' if is_tabular(space) else 'not a tabular benchmark'}")
        for metric in map(space.metric, valid_metrics(space)):  # shipped, then devices measured here
            if args.verbose:
                print(f"  {metric.name:<28} {metric.direction:<9} {metric.unit:<7} {metric.description}")
            else:
                print(f"  {metric.name:<28} {metric.direction:<9} {metric.unit}")
    return 0
