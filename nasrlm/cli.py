"""The ``nasrlm`` command line.

Each subcommand is a small function taking the parsed arguments; errors a user can fix (an
unknown space, metric or architecture) are printed as one clear line with exit status 2, not as a
traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nasrlm import __version__


class CliError(Exception):
    """A problem with the user's input: printed without a traceback."""


def _space(name: str):
    from search_spaces import UnknownSpaceError, get_space

    try:
        return get_space(name)
    except UnknownSpaceError as exc:
        raise CliError(str(exc)) from None


def _metric_names(space, text: str) -> list[str]:
    names = [m.strip() for m in text.split(",") if m.strip()]
    if not names:
        raise CliError("no metric given; e.g. --metrics acc,latency_pixel3")
    valid = space.metrics
    for name in names:
        if name not in valid:
            try:
                space.metric(name)
            except KeyError as exc:
                raise CliError(str(exc).strip("'\"")) from None
    return names


def cmd_spaces(args: argparse.Namespace) -> None:
    from search_spaces import available_spaces

    names = [args.space] if args.space else available_spaces()
    for name in names:
        space = _space(name)
        print(f"{name}: {space.size:,} architectures")
        for metric in space.metrics.values():
            if args.verbose:
                print(f"  {metric.name:<28} {metric.direction:<9} {metric.unit:<7} {metric.description}")
            else:
                print(f"  {metric.name:<28} {metric.direction:<9} {metric.unit}")


def cmd_demo(args: argparse.Namespace) -> None:
    """Architectures of a space with a few metrics and the size of their ONNX text."""
    import time

    space = _space(args.space)
    metrics = _metric_names(space, args.metrics)
    rng = np.random.default_rng(args.seed)
    archs = [space.sample(rng) for _ in range(args.n)]
    started = time.perf_counter()
    texts = space.onnx_texts(archs, progress=False)
    text_seconds = time.perf_counter() - started
    header = (
        f"{'index':>6}  " + "  ".join(f"{m:>16}" for m in metrics) + f"  {'ONNX chars':>10}  architecture"
    )
    print(header)
    for arch, text in zip(archs, texts, strict=True):
        values = "  ".join(f"{space.query(arch, m):>16.4f}" for m in metrics)
        print(f"{arch.index:>6}  {values}  {len(text):>10,}  {arch}")
    units = ", ".join(f"{m} [{space.metrics[m].unit}]" for m in metrics)
    print(f"\nunits: {units}; ONNX text of {len(archs)} archs made in {text_seconds:.2f} s")
    if args.show_text:
        print("\nONNX text of the first architecture:\n")
        print(texts[0])


def cmd_query(args: argparse.Namespace) -> None:
    space = _space(args.space)
    metrics = _metric_names(space, args.metrics)
    for text in args.archs:
        try:
            arch = space.arch(int(text)) if text.isdigit() else space.arch(text)
        except (ValueError, IndexError) as exc:
            raise CliError(str(exc)) from None
        values = ", ".join(f"{m}={space.query(arch, m):.6g}" for m in metrics)
        print(f"{arch.index}\t{arch}\t{values}")


def cmd_onnx_text(args: argparse.Namespace) -> None:
    from nasrlm.onnx_text import to_onnx_text

    source = args.source
    if source.endswith(".onnx") or Path(source).is_file():
        try:
            text = to_onnx_text(source)
        except (FileNotFoundError, ValueError) as exc:
            raise CliError(str(exc)) from None
    else:
        space = _space(args.space)
        try:
            text = space.onnx_text(int(source) if source.isdigit() else source)
        except (ValueError, IndexError) as exc:
            raise CliError(str(exc)) from None
    if args.out:
        from nasrlm.cache import atomic_write_text

        atomic_write_text(args.out, text)
        print(f"wrote {len(text):,} characters to {args.out}")
    else:
        print(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nasrlm",
        description="Neural architecture search with a Regression Language Model that reads ONNX text.",
    )
    parser.add_argument("--version", action="version", version=f"nasrlm {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = commands.add_parser("spaces", help="list search spaces and their metrics")
    p.add_argument("space", nargs="?", help="only this space")
    p.add_argument("-v", "--verbose", action="store_true", help="also print each metric's description")
    p.set_defaults(run=cmd_spaces)

    p = commands.add_parser("demo", help="sample architectures; print metrics and ONNX-text sizes")
    p.add_argument("--space", default="nb201")
    p.add_argument("--metrics", default="acc,test_acc,latency_pixel3,params,flops")
    p.add_argument("-n", type=int, default=5, help="number of architectures (default 5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--show-text", action="store_true", help="print the ONNX text of the first one")
    p.set_defaults(run=cmd_demo)

    p = commands.add_parser("query", help="benchmark metrics of architectures (strings or indices)")
    p.add_argument("archs", nargs="+", metavar="ARCH")
    p.add_argument("--space", default="nb201")
    p.add_argument("--metrics", default="acc,latency_pixel3")
    p.set_defaults(run=cmd_query)

    p = commands.add_parser("onnx-text", help="canonical ONNX text of an architecture or an .onnx file")
    p.add_argument("source", help="an arch string or index of --space, or the path of an .onnx file")
    p.add_argument("--space", default="nb201")
    p.add_argument("--out", help="write to this file instead of printing")
    p.set_defaults(run=cmd_onnx_text)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except CliError as exc:
        print(f"nasrlm {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. piped into `head`
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
