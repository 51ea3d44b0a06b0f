"""Load the vendored benchmark tables, verifying each file's checksum first.

The tables ship inside the package (``search_spaces/nb201/data/*.csv.xz``) so that a fresh install needs no
download. ``manifest.json`` records the sha256 of every compressed file and of the original CSV it
decompresses to; a missing, truncated or altered file raises :class:`BenchmarkDataError` naming it,
instead of silently producing wrong metrics.
"""

from __future__ import annotations

import functools
import io
import json
from importlib import resources
from pathlib import Path

import pandas as pd

from search_spaces.vendored import BenchmarkDataError, decompress_entry, verify_file

__all__ = ["BenchmarkDataError", "data_dir", "load_table", "table_names", "verify_file"]


def data_dir() -> Path:
    """Folder that holds the vendored tables and their manifest."""
    return Path(str(resources.files("search_spaces.nb201") / "data"))


@functools.cache
def _manifest() -> dict[str, dict[str, object]]:
    path = data_dir() / "manifest.json"
    if not path.is_file():
        raise BenchmarkDataError(f"benchmark manifest missing: {path} (reinstall nasrlm)")
    return json.loads(path.read_text())


def table_names() -> list[str]:
    """Names of the vendored tables, e.g. ``nb201_latency_help`` (without ``.csv.xz``)."""
    return sorted(name.removesuffix(".csv.xz") for name in _manifest())


@functools.cache
def load_table(name: str) -> pd.DataFrame:
    """Load one vendored table by name (see :func:`table_names`), checksum-verified, cached.

    The returned frame is shared between callers: treat it as read-only.
    """
    filename = f"{name}.csv.xz"
    entry = _manifest().get(filename)
    if entry is None:
        raise BenchmarkDataError(f"unknown benchmark table {name!r}; valid: {', '.join(table_names())}")
    raw = decompress_entry(data_dir(), filename, entry)
    frame = pd.read_csv(io.BytesIO(raw))
    if len(frame) != entry["rows"]:
        raise BenchmarkDataError(f"benchmark file {filename} has {len(frame)} rows, expected {entry['rows']}")
    return frame
