"""The ``nasrlm`` command line.

Each command is a module of this package (:data:`COMMANDS` maps its name to it) with two functions,
in the style of Optuna's CLI:

* ``add_arguments(parser)`` adds the command's options to its subparser;
* ``run(args) -> int`` does the work and returns the exit status;

and optionally a longer ``DESCRIPTION`` for ``nasrlm COMMAND --help``. Modules are imported only for
the command that runs, so ``nasrlm --help`` imports neither torch nor any command's dependencies.

Errors a user can fix (an unknown space, metric or architecture, a bad output path) are
:class:`~nasrlm.core.errors.NasrlmError` subclasses, raised by the libraries or, as
:class:`CliError`, by the commands: :func:`main` prints them as one line,
``nasrlm COMMAND: error: MESSAGE``, with exit status 2 and no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from types import ModuleType

from nasrlm import __version__
from nasrlm.cli._common import CliError
from nasrlm.core.errors import NasrlmError

__all__ = ["COMMANDS", "CliError", "Command", "build_parser", "main"]


@dataclass(frozen=True)
class Command:
    """A registered command: the module that implements it and its one-line summary for ``nasrlm --help``."""

    module: str
    help: str

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)


# The commands, in the order ``nasrlm --help`` lists them.
COMMANDS: dict[str, Command] = {
    "spaces": Command("nasrlm.cli.spaces", "list search spaces and their metrics"),
    "demo": Command("nasrlm.cli.demo", "sample architectures; print metrics and ONNX-text sizes"),
    "query": Command("nasrlm.cli.query", "benchmark metrics of architectures (strings or indices)"),
    "onnx-text": Command("nasrlm.cli.onnx_text", "canonical ONNX text of an architecture or an .onnx file"),
    "fit": Command("nasrlm.cli.fit", "train an RLM on a JSONL/CSV of (text, y1..yk): any text-to-number task"),
    "predict": Command("nasrlm.cli.predict", "predict with a saved RLM for each row of a JSONL/CSV"),
    "search": Command(
        "nasrlm.cli.search",
        "multi-objective architecture search (RLM-steered by default); writes the Pareto front",
    ),
    "report": Command(
        "nasrlm.cli.report",
        "compare the RLM with baseline predictors on identical splits; write report.md and report.html",
    ),
    "verify": Command("nasrlm.cli.verify", "measure candidates' latency; compare with the surrogate; store the device"),
}


def build_parser(commands: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The ``nasrlm`` parser: a subparser per command, with the options of the named ``commands``, or
    of every command when ``commands`` is None (which imports every command module)."""
    parser = argparse.ArgumentParser(
        prog="nasrlm",
        description="Neural architecture search with a Regression Language Model that reads ONNX text.",
    )
    parser.add_argument("--version", action="version", version=f"nasrlm {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in COMMANDS.items():
        subparser = subparsers.add_parser(name, help=command.help)
        if commands is None or name in commands:
            module = command.load()
            subparser.description = getattr(module, "DESCRIPTION", None)
            module.add_arguments(subparser)
    return parser


def _command_in(argv: Sequence[str]) -> str | None:
    """The command named in ``argv``: its first word that is not an option (``nasrlm`` itself has only
    ``--help`` and ``--version``, which take no value)."""
    return next((word for word in argv if not word.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    name = _command_in(argv)
    # An unknown (or no) command needs no command's options: argparse names the valid commands.
    args = build_parser([name] if name in COMMANDS else []).parse_args(argv)
    try:
        return COMMANDS[args.command].load().run(args)
    except NasrlmError as exc:
        print(f"nasrlm {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. piped into `head`
        return 0
