"""The ``nasrlm`` command line.

Each subcommand is a small function taking the parsed arguments; errors a user can fix (an
unknown space, metric or architecture) are printed as one clear line with exit status 2, not as a
traceback.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from nasrlm import __version__


class CliError(Exception):
    """A problem with the user's input: printed without a traceback."""


def shown(text: str, limit: int = 40) -> str:
    """``text`` quoted for an error message, cut short: a 5,000-digit number is not echoed whole."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text):,} characters)"


def whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """argparse type of a count or size: a whole number from ``low`` (up to ``high``, where more
    cannot work: memory that grows with it, or a library's own limit)."""
    bounds = f"at least {low}" if high is None else f"from {low:,} to {high:,}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            expected = f"a whole number {'of ' if high is None else ''}{bounds}"
            raise argparse.ArgumentTypeError(f"expected {expected}, got {shown(text)}") from None
        if value < low or (high is not None and value > high):
            digits = str(value)
            got = digits if len(digits) <= 40 else f"{digits[:20]}... ({len(digits):,} digits)"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {got}")
        return value

    return parse


positive_int = whole_number(1)  # counts and sizes: epochs, samples, budget, ...
non_negative_int = whole_number(0)  # counts that may be zero: warm-up runs
# numpy's and Optuna's samplers take seeds of 32 bits; a negative one is an error there, not here.
seed_int = whole_number(0, 2**32 - 1)
threads_int = whole_number(1, 1024)  # torch and onnxruntime fail to start absurd numbers of threads
samples_int = whole_number(1, 10_000)  # samples decoded per input: memory grows with them


def learning_rate(text: str) -> float:
    """argparse type of a learning rate: above 0 and at most 1 (Adam diverges long before 1)."""
    try:
        value = float(text)
    except ValueError:
        message = f"expected a number above 0 and at most 1, e.g. 1e-3, got {shown(text)}"
        raise argparse.ArgumentTypeError(message) from None
    if not (math.isfinite(value) and 0 < value <= 1):
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 1, e.g. 1e-3, got {shown(text)}")
    return value


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_writable_folder(folder: Path, option: str, given: str | Path) -> None:
    """Create and remove a file in ``folder``: permission bits do not tell (root, read-only mounts)."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise CliError(
            f"{option} {given}: cannot write in {folder} ({exc.strerror}); choose a writable location"
        ) from None


def check_output_file(path: str | Path, option: str = "--out") -> Path:
    """Where a command may write one file: not a folder, in an existing writable folder.

    Checked before the work, so a bad path costs the user nothing; an existing file is replaced.
    """
    target = Path(path)
    if target.is_dir():
        raise CliError(f"{option} {path} is a folder; give the path of a file to write")
    if not target.parent.is_dir():
        raise CliError(f"{option} {path}: folder {target.parent} does not exist; create it or choose another path")
    _check_writable_folder(target.parent, option, path)
    return target


def check_output_folder(path: str | Path, option: str = "--out") -> Path:
    """Where a command may write its folder of results: an existing folder, or a new one it can create."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise CliError(f"{option} {path} is an existing file, not a folder; choose a folder path")
    existing = _nearest_existing(target.absolute())
    if not existing.is_dir():
        raise CliError(f"{option} {path}: {existing} is a file, so no folder can be made under it")
    _check_writable_folder(existing, option, path)
    return target


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
    if args.n > space.size:
        raise CliError(f"-n {args.n:,} is more than the {space.size:,} architectures of {space.name}; give fewer")
    rng = np.random.default_rng(args.seed)
    archs = [space.sample(rng) for _ in range(args.n)]
    started = time.perf_counter()
    texts = space.onnx_texts(archs, progress=False)
    text_seconds = time.perf_counter() - started
    header = f"{'index':>6}  " + "  ".join(f"{m:>16}" for m in metrics) + f"  {'ONNX chars':>10}  architecture"
    print(header)
    for arch, text in zip(archs, texts, strict=True):
        values = "  ".join(f"{_query(space, arch, m):>16.4f}" for m in metrics)
        print(f"{arch.index:>6}  {values}  {len(text):>10,}  {arch}")
    units = ", ".join(f"{m} [{space.metrics[m].unit}]" for m in metrics)
    print(f"\nunits: {units}; ONNX text of {len(archs)} archs made in {text_seconds:.2f} s")
    if args.show_text:
        print("\nONNX text of the first architecture:\n")
        print(texts[0])


def _query(space, arch, metric: str) -> float:
    try:
        return space.query(arch, metric)
    except KeyError as exc:  # a measured device's table lacks this architecture (UnmeasuredArchError)
        raise CliError(str(exc).strip("'\"")) from None


def _arch(space, text: str):
    """The architecture of ``space`` a user typed: its index, or its arch string."""
    try:
        if text.isascii() and text.isdigit():  # "²" and "٣" are digits to Python, not indices to a user
            if len(text) > 18:  # no space is that large; int() would refuse past 4,300 digits anyway
                raise IndexError(f"index {shown(text)} out of range; valid indices are 0..{space.size - 1}")
            return space.arch(int(text))
        return space.arch(text)
    except (ValueError, IndexError) as exc:
        raise CliError(str(exc)) from None


def cmd_query(args: argparse.Namespace) -> None:
    space = _space(args.space)
    metrics = _metric_names(space, args.metrics)
    for text in args.archs:
        arch = _arch(space, text)
        values = ", ".join(f"{m}={_query(space, arch, m):.6g}" for m in metrics)
        print(f"{arch.index}\t{arch}\t{values}")


def cmd_onnx_text(args: argparse.Namespace) -> None:
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
        space = _space(args.space)
        text = space.onnx_text(_arch(space, source))
    if args.out:
        _write(args.out, text)
        print(f"wrote {len(text):,} characters to {args.out}")
    else:
        print(text)


def _write(path: str, text: str) -> None:
    from nasrlm.core.cache import atomic_write_text

    try:
        atomic_write_text(path, text)
    except OSError as exc:  # checked before the work; the disk may still fill up or vanish
        raise CliError(f"--out {path}: cannot write ({exc.strerror or exc})") from None


def _names(columns) -> str:
    """Column names for a one-line message: quoted, since a file may name a column with a line break."""
    names = [shown(str(name), 30) for name in columns]
    return ", ".join(names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "") or "(none)"


def _read_table(path: str, text_column: str) -> tuple[list[str], dict[str, np.ndarray], list[str]]:
    """Rows of a JSONL or CSV file: the text column, numeric columns, other column names."""
    import pandas as pd

    file = Path(path)
    if not file.is_file():
        raise CliError(f"data file not found: {path}")
    try:
        frame = pd.read_json(file, lines=True) if file.suffix in (".jsonl", ".json") else pd.read_csv(file)
    except ValueError as exc:
        raise CliError(f"cannot read {path} as {'JSON lines' if file.suffix != '.csv' else 'CSV'}: {exc}") from None
    if text_column not in frame.columns:
        raise CliError(f"{path} has no column {text_column!r}; columns: {_names(frame.columns)}")
    numeric = {
        c: frame[c].to_numpy(dtype=np.float64)
        for c in frame.columns
        if c != text_column and pd.api.types.is_numeric_dtype(frame[c])
    }
    texts = frame[text_column]
    missing = [i + 1 for i, text in enumerate(texts) if not isinstance(text, str) or not text.strip()]
    if missing:  # NaN would otherwise train (or predict) on the literal text "nan"
        shown = ", ".join(map(str, missing[:10])) + (", ..." if len(missing) > 10 else "")
        raise CliError(
            f"{path}: {len(missing)} row(s) have no text in column {text_column!r} (row {shown}, counting "
            "data rows from 1); give every row a non-empty text"
        )
    return list(texts), numeric, list(frame.columns)


def cmd_fit(args: argparse.Namespace) -> None:
    """Train (or fine-tune) an RLM on any text -> numbers table."""
    from nasrlm.rlm.surrogate import Surrogate, SurrogateLoadError, SurrogateSaveError, check_save_target
    from nasrlm.rlm.text_tokenizer import TextTokenizerConfig
    from nasrlm.rlm.training import TrainConfig

    try:  # before training: a bad --out must not cost the user a whole fit
        check_save_target(args.out)
    except SurrogateSaveError as exc:
        raise CliError(f"--out: {exc}") from None
    check_output_folder(args.out)
    texts, numeric, _ = _read_table(args.data, args.text_column)
    targets = [t.strip() for t in args.targets.split(",")] if args.targets else list(numeric)
    missing = [t for t in targets if t not in numeric]
    if missing or not targets:
        raise CliError(
            f"target column(s) {missing or '(none)'} not numeric columns of {args.data}; "
            f"numeric columns: {_names(numeric)}"
        )
    if args.init:
        try:
            surrogate = Surrogate.load(args.init)
        except SurrogateLoadError as exc:
            raise CliError(f"--init {args.init}: {exc}") from None
    else:
        surrogate = Surrogate.new(
            targets, texts, tokenizer=TextTokenizerConfig(max_length=args.max_length), seed=args.seed
        )
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        freeze_encoder=args.freeze_encoder,
        checkpoint_dir=args.checkpoint_dir,
    )
    try:
        result = surrogate.fit(texts, {t: numeric[t] for t in targets}, config, raw_text=True)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    try:
        surrogate.save(args.out)
    except (SurrogateSaveError, OSError) as exc:
        raise CliError(f"--out: cannot save the model: {exc}") from None
    print(
        f"trained on {len(texts)} rows for {result.epochs} epochs ({result.stopped}) in {result.seconds:.1f} s; "
        f"best validation loss {result.best_val_loss:.4f}; "
        f"{100 * surrogate.meta['truncated_share']:.1f}% of inputs truncated; saved to {args.out}"
    )


def cmd_predict(args: argparse.Namespace) -> None:
    """Predict every objective of a saved RLM for each row's text; write CSV with uncertainty."""
    import pandas as pd

    from nasrlm.rlm.surrogate import Surrogate, SurrogateLoadError

    if args.out:
        check_output_file(args.out)
    texts, _, _ = _read_table(args.data, args.text_column)
    try:
        surrogate = Surrogate.load(args.model)
    except SurrogateLoadError as exc:
        raise CliError(str(exc)) from None
    prediction = surrogate.predict(texts, num_samples=args.samples, raw_text=True, progress=True, seed=args.seed)
    columns: dict[str, np.ndarray] = {}
    low_high = prediction.interval(0.9)
    for name in prediction.objectives:
        columns[name] = prediction.point[name]
        columns[f"{name}_std"] = prediction.std[name]
        columns[f"{name}_q05"], columns[f"{name}_q95"] = low_high[name]
    frame = pd.DataFrame(columns)
    if args.out:
        _write(args.out, frame.to_csv(index=False))
        print(f"wrote {len(frame)} predictions to {args.out}")
    else:
        print(frame.to_csv(index=False), end="")


# Modules that each define ``register(commands)``; they import their heavy dependencies lazily.
_COMMAND_MODULES: tuple[str, ...] = ("nasrlm.cli.search", "nasrlm.report.runner", "nasrlm.hardware.verify")


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
    p.add_argument("-n", type=positive_int, default=5, help="number of architectures (default 5)")
    p.add_argument("--seed", type=seed_int, default=0)
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

    p = commands.add_parser("fit", help="train an RLM on a JSONL/CSV of (text, y1..yk): any text-to-number task")
    p.add_argument("--data", required=True, help="a .jsonl or .csv file")
    p.add_argument("--text-column", default="text")
    p.add_argument("--targets", help="comma-separated numeric columns (default: all numeric columns)")
    p.add_argument("--out", required=True, help="folder to save the trained model in")
    p.add_argument("--init", help="fine-tune this saved model instead of starting from scratch")
    p.add_argument("--epochs", type=positive_int, default=60)
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument("--lr", type=learning_rate, default=1e-3)
    p.add_argument(
        "--max-length",
        type=whole_number(5, 65_536),  # <s>, </s> and a cut marker leave room for text from 5 on
        default=512,
        help="input tokens kept per text (new models)",
    )
    p.add_argument("--freeze-encoder", action="store_true", help="train the decoder only (fast fine-tuning)")
    p.add_argument("--checkpoint-dir", help="resumable training state is kept here")
    p.add_argument("--seed", type=seed_int, default=0)
    p.set_defaults(run=cmd_fit)

    p = commands.add_parser("predict", help="predict with a saved RLM for each row of a JSONL/CSV")
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--text-column", default="text")
    p.add_argument("--samples", type=samples_int, default=32)
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--out", help="CSV to write (default: print)")
    p.set_defaults(run=cmd_predict)

    # Larger commands live in their own modules; each adds its subparser through ``register``.
    import importlib

    for module in _COMMAND_MODULES:
        importlib.import_module(module).register(commands)
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
