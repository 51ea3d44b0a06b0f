"""``nasrlm onnx-text``: the canonical ONNX text of an architecture of a space, or of an .onnx file."""

from __future__ import annotations

import argparse
from pathlib import Path

from nasrlm.cli._common import CliError, add_space_argument, check_output_file, load_space, parse_arch, write_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="an arch string or index of --space, or the path of an .onnx file")
    add_space_argument(parser)
    parser.add_argument("--out", help="write to this file instead of printing")


def run(args: argparse.Namespace) -> int:
    from nasrlm.text.onnx_text import to_onnx_text

    source = args.source
    if args.out:
        check_output_file(args.out)
    if source.endswith(".onnx") or Path(source).is_file():
        try:
            text = to_onnx_text(source)
        except (FileNotFoundError, ValueError) as exc:
            raise CliError(str(exc)) from None
    else:
        space = load_space(args.space)
        text = space.onnx_text(parse_arch(space, source))
    if args.out:
        write_text(args.out, text)
        print(f"wrote {len(text):,} characters to {args.out}")
    else:
        print(text)
    return 0
