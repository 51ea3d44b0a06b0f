"""Load the vendored benchmark tables, verifying each file's checksum first.

The tables ship inside the package (``search_spaces/nb201/data/*.csv.xz``) so that a fresh install needs no
download. ``manifest.json`` records the sha256 of every compressed file and of the original CSV it
decompresses to; a missing, truncated or altered file raises :class:`BenchmarkDataError` naming it,
instead of silently producing wrong metrics.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import lzma
from importlib import resources
from pathlib import Path

import pandas as pd

from nasrlm.core.errors import NasrlmError

__all__ = ["BenchmarkDataError", "data_dir", "load_table", "table_names", "verify_file"]


class BenchmarkDataError(NasrlmError, RuntimeError):
    """A vendored benchmark file is missing, truncated or altered."""


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


def verify_file(path: Path, expected_sha256: str, expected_bytes: int) -> bytes:
    """Read ``path`` and return its bytes, or raise if it differs from what the manifest says."""
    if not path.is_file():
        raise BenchmarkDataError(f"benchmark file missing: {path} (reinstall nasrlm)")
    blob = path.read_bytes()
    if len(blob) != expected_bytes:
        raise BenchmarkDataError(
            f"benchmark file {path.name} has {len(blob)} bytes, expected {expected_bytes}: "
            "it is truncated or altered (reinstall nasrlm)"
        )
    digest = hashlib.sha256(blob).hexdigest()
    if digest != expected_sha256:
        raise BenchmarkDataError(
            f"benchmark file {path.name} fails its checksum (sha256 {digest[:16]}..., expected "
            f"{expected_sha256[:16]}...): it is corrupted or altered (reinstall nasrlm)"
        )
    return blob


@functools.cache
def load_table(name: str) -> pd.DataFrame:
    """Load one vendored table by name (see :func:`table_names`), checksum-verified, cached.

    The returned frame is shared between callers: treat it as read-only.
    """
    filename = f"{name}.csv.xz"
    entry = _manifest().get(filename)
    if entry is None:
        raise BenchmarkDataError(f"unknown benchmark table {name!r}; valid: {', '.join(table_names())}")
    blob = verify_file(data_dir() / filename, str(entry["sha256"]), int(str(entry["bytes"])))
    try:
        raw = lzma.decompress(blob)
    except lzma.LZMAError as exc:  # checksum passed, so only a bad manifest gets here
        raise BenchmarkDataError(f"benchmark file {filename} is not valid xz data: {exc}") from exc
    if hashlib.sha256(raw).hexdigest() != entry["source_sha256"]:
        raise BenchmarkDataError(f"benchmark file {filename} does not decompress to its source CSV")
    frame = pd.read_csv(io.BytesIO(raw))
    if len(frame) != entry["rows"]:
        raise BenchmarkDataError(f"benchmark file {filename} has {len(frame)} rows, expected {entry['rows']}")
    return frame
