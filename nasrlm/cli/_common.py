"""Helpers shared by the ``nasrlm`` commands.

The CLI's own error (:class:`CliError`), argparse types for counts, sizes, seeds and learning rates,
the one parser of comma-separated options (:func:`comma_list`), the ``--space`` option
(:func:`add_space_argument`, :func:`load_space`), checks of output paths made before any work, and
options whose defaults come from a config dataclass (:func:`config_option`).

Heavy libraries (numpy, pandas, torch, the search spaces) are imported inside the helpers that need
them: every command module imports this one, and ``nasrlm --help`` should stay fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from nasrlm.core.errors import NasrlmError

__all__ = [
    "CliError",
    "add_space_argument",
    "check_output_file",
    "check_output_folder",
    "column_names",
    "comma_list",
    "config_option",
    "learning_rate",
    "load_space",
    "metric_names",
    "non_negative_int",
    "parse_arch",
    "positive_int",
    "query_metric",
    "read_table",
    "samples_int",
    "seed_int",
    "shown",
    "threads_int",
    "usable_cpus",
    "whole_number",
    "write_text",
]

DEFAULT_SPACE = "nb201"


class CliError(NasrlmError):
    """A problem with the user's input found by the CLI itself: printed as one line, exit status 2."""


def shown(text: str, limit: int = 40) -> str:
    """``text`` quoted for an error message, cut short: a 5,000-digit number is not echoed whole."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text):,} characters)"


# --- argparse types -----------------------------------------------------------------------------------
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
samples_int = whole_number(1, 10_000)


def usable_cpus(limit: int = 4) -> int:
    """The CPUs this process may run on (its affinity, e.g. a container's share), at most ``limit``."""
    import os

    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        count = os.cpu_count() or 1
    return max(1, min(limit, count))  # samples decoded per input: memory grows with them


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


def comma_list(text: str) -> list[str]:
    """The items of a comma-separated option, stripped, empty ones dropped: ``"a, b,"`` -> ``["a", "b"]``."""
    return [part.strip() for part in text.split(",") if part.strip()]


def config_option(
    parser: Any,
    flag: str,
    config: type,
    field: str | None = None,
    **kwargs: Any,
) -> argparse.Action:
    """Add ``flag`` with the default of the dataclass ``config``'s field (named like the flag, e.g.
    ``--batch-size`` -> ``batch_size``, unless ``field`` is given), so that the CLI and the library
    cannot disagree on it. A tuple default is written comma-separated; without a ``type``, a number's
    own type parses the value."""
    name = field or flag.lstrip("-").replace("-", "_")
    spec = next((f for f in dataclasses.fields(config) if f.name == name), None)
    if spec is None:
        raise TypeError(f"{config.__name__} has no field {name!r} for option {flag}")
    default = spec.default if spec.default_factory is dataclasses.MISSING else spec.default_factory()
    if default is dataclasses.MISSING:
        raise TypeError(f"{config.__name__}.{name} has no default for option {flag}")
    if isinstance(default, tuple):
        default = ",".join(map(str, default))
    elif type(default) in (int, float) and "type" not in kwargs and "action" not in kwargs:
        kwargs["type"] = type(default)
    return parser.add_argument(flag, default=default, **kwargs)


# --- search spaces, metrics and architectures -------------------------------------------------------------
def add_space_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--space`` option every command that reads a search space takes."""
    parser.add_argument("--space", default=DEFAULT_SPACE)


def load_space(name: str) -> Any:
    """The search space called ``name``; an unknown name is a one-line error listing the valid ones."""
    from search_spaces import UnknownSpaceError, get_space

    try:
        return get_space(name)
    except UnknownSpaceError as exc:
        raise CliError(str(exc)) from None


def metric_names(space: Any, text: str, option: str = "--metrics") -> list[str]:
    """The metrics of ``space`` (shipped, or devices measured by ``nasrlm verify``) named in a
    comma-separated option."""
    names = list(dict.fromkeys(comma_list(text)))
    if not names:
        raise CliError(f"no metric given; e.g. {option} acc,latency_pixel3")
    for name in names:
        try:
            space.metric(name)
        except KeyError as exc:  # UnknownMetricError, which lists the valid ones
            raise CliError(str(exc).strip("'\"")) from None
    return names


def is_metric(space: Any, name: str) -> bool:
    """Whether ``name`` is a metric of ``space``: shipped, or a device measured by ``nasrlm verify``."""
    try:
        space.metric(name)
    except KeyError:  # UnknownMetricError
        return False
    return True


def valid_metrics(space: Any) -> list[str]:
    """The shipped metrics of ``space`` and the devices measured on it."""
    from nasrlm.hardware.devices import registered_metrics

    return [*space.metrics, *(m for m in registered_metrics(space.name) if m not in space.metrics)]


def load_tabular_space(name: str, command: str) -> Any:
    """``--space`` for a command that needs every architecture's values (a tabular benchmark)."""
    from search_spaces import is_tabular

    space = load_space(name)
    if not is_tabular(space):
        raise CliError(f"{command} needs a tabular benchmark space; {name!r} is not one")
    return space


def query_metric(space: Any, arch: Any, metric: str) -> float:
    """``metric`` of ``arch``; NaN where the space's table has no value of it for this arch (a partial table)."""
    from search_spaces import NoBenchmarkDataError

    try:
        return space.query(arch, metric)
    except NoBenchmarkDataError:
        return math.nan
    except KeyError as exc:  # a measured device's table lacks this architecture (UnmeasuredArchError)
        raise CliError(str(exc).strip("'\"")) from None


def default_metrics(space: Any, preferred: str) -> str:
    """The ``preferred`` metrics (comma-separated) the space has; for a space with none of them, its
    first three shipped metrics besides ``params`` and ``flops``, then those two."""
    names = [name for name in comma_list(preferred) if name in space.metrics]
    if not names:
        measured = [name for name in space.metrics if name not in ("params", "flops")]
        names = [*measured[:3], *(name for name in ("params", "flops") if name in space.metrics)]
    return ",".join(dict.fromkeys(names))


def parse_arch(space: Any, text: str) -> Any:
    """The architecture of ``space`` a user typed: its index, or its arch string."""
    try:
        if text.isascii() and text.isdigit():  # "²" and "٣" are digits to Python, not indices to a user
            if len(text) > 18:  # no space is that large; int() would refuse past 4,300 digits anyway
                raise IndexError(f"index {shown(text)} out of range; valid indices are 0..{space.size - 1}")
            return space.arch(int(text))
        return space.arch(text)
    except (ValueError, IndexError) as exc:
        raise CliError(str(exc)) from None


# --- output paths -------------------------------------------------------------------------------------------
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


def write_text(path: str, text: str) -> None:
    """Write ``--out`` atomically; a failure (a full disk, a vanished folder) is a one-line error."""
    from nasrlm.core.cache import atomic_write_text

    try:
        atomic_write_text(path, text)
    except OSError as exc:  # checked before the work; the disk may still fill up or vanish
        raise CliError(f"--out {path}: cannot write ({exc.strerror or exc})") from None


# --- data tables ----------------------------------------------------------------------------------------------
def column_names(columns: Iterable[Any]) -> str:
    """Column names for a one-line message: quoted, since a file may name a column with a line break."""
    names = [shown(str(name), 30) for name in columns]
    return ", ".join(names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "") or "(none)"


def read_table(path: str, text_column: str) -> tuple[list[str], dict[str, Any], list[str]]:
    """Rows of a JSONL or CSV file: the text column, numeric columns (float64 arrays), all column names."""
    import numpy as np
    import pandas as pd

    file = Path(path)
    if not file.is_file():
        raise CliError(f"data file not found: {path}")
    try:
        frame = pd.read_json(file, lines=True) if file.suffix in (".jsonl", ".json") else pd.read_csv(file)
    except ValueError as exc:
        raise CliError(f"cannot read {path} as {'JSON lines' if file.suffix != '.csv' else 'CSV'}: {exc}") from None
    if text_column not in frame.columns:
        raise CliError(f"{path} has no column {text_column!r}; columns: {column_names(frame.columns)}")
    numeric = {
        c: frame[c].to_numpy(dtype=np.float64)
        for c in frame.columns
        if c != text_column and pd.api.types.is_numeric_dtype(frame[c])
    }
    texts = frame[text_column]
    missing = [i + 1 for i, text in enumerate(texts) if not isinstance(text, str) or not text.strip()]
    if missing:  # NaN would otherwise train (or predict) on the literal text "nan"
        rows = ", ".join(map(str, missing[:10])) + (", ..." if len(missing) > 10 else "")
        raise CliError(
            f"{path}: {len(missing)} row(s) have no text in column {text_column!r} (row {rows}, counting "
            "data rows from 1); give every row a non-empty text"
        )
    return list(texts), numeric, list(frame.columns)
