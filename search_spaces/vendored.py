"""Benchmark data shipped inside a space's package, verified by checksum on every load.

Each space keeps its tables in ``search_spaces/<space>/data/`` as xz-compressed files with a
``manifest.json`` that records the sha256 of every compressed file and of the original file it
decompresses to, and a ``PROVENANCE.md`` that says where the data comes from and under which license
(``experiments/vendor_data.py`` writes all three from the shared benchmark folder, values unchanged).
A missing, truncated or altered file raises :class:`BenchmarkDataError` naming it, instead of
silently producing wrong metrics.

>>> data = VendoredData("search_spaces.fbnet")
>>> frame = data.table("fbnet_latency_help")          # a pandas frame, read-only by convention
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import lzma
from importlib import resources
from pathlib import Path
from typing import Any

from nasrlm.core.errors import NasrlmError

__all__ = ["BenchmarkDataError", "VendoredData", "decompress_entry", "verify_file"]


class BenchmarkDataError(NasrlmError, RuntimeError):
    """A vendored benchmark file is missing, truncated or altered."""


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


def decompress_entry(folder: Path, filename: str, entry: dict[str, Any]) -> bytes:
    """The original bytes of the manifest entry ``filename`` in ``folder``, every checksum verified."""
    blob = verify_file(folder / filename, str(entry["sha256"]), int(str(entry["bytes"])))
    try:
        raw = lzma.decompress(blob)
    except lzma.LZMAError as exc:  # checksum passed, so only a bad manifest gets here
        raise BenchmarkDataError(f"benchmark file {filename} is not valid xz data: {exc}") from exc
    if hashlib.sha256(raw).hexdigest() != entry["source_sha256"]:
        raise BenchmarkDataError(f"benchmark file {filename} does not decompress to its source file")
    return raw


class VendoredData:
    """The verified data files of one space package (``search_spaces.<space>``, folder ``data/``)."""

    def __init__(self, package: str) -> None:
        self.package = package

    @property
    def data_dir(self) -> Path:
        return Path(str(resources.files(self.package) / "data"))

    @functools.cached_property
    def manifest(self) -> dict[str, dict[str, Any]]:
        path = self.data_dir / "manifest.json"
        if not path.is_file():
            raise BenchmarkDataError(f"benchmark manifest missing: {path} (reinstall nasrlm)")
        return json.loads(path.read_text())

    def names(self) -> list[str]:
        """The shipped files, without ``.xz`` (e.g. ``fbnet_latency_help.csv``)."""
        return sorted(name.removesuffix(".xz") for name in self.manifest)

    def read(self, filename: str) -> bytes:
        """The original bytes of a shipped file (``name.csv`` or ``name.json``), checksum-verified."""
        entry = self.manifest.get(f"{filename}.xz")
        if entry is None:
            raise BenchmarkDataError(
                f"unknown benchmark file {filename!r} in {self.package}; valid: {', '.join(self.names())}"
            )
        return decompress_entry(self.data_dir, f"{filename}.xz", entry)

    @functools.cache  # noqa: B019 - one instance per space package, alive as long as the process
    def table(self, name: str) -> Any:
        """The shipped CSV ``name`` (without ``.csv``) as a pandas frame, row count checked; cached: read-only."""
        import pandas as pd

        frame = pd.read_csv(io.BytesIO(self.read(f"{name}.csv")))
        rows = self.manifest[f"{name}.csv.xz"].get("rows")
        if rows is not None and len(frame) != rows:
            raise BenchmarkDataError(f"benchmark file {name}.csv.xz has {len(frame)} rows, expected {rows}")
        return frame

    @functools.cache  # noqa: B019
    def json(self, name: str) -> Any:
        """The shipped JSON ``name`` (without ``.json``), parsed; cached: read-only."""
        return json.loads(self.read(f"{name}.json"))

    def __repr__(self) -> str:
        return f"VendoredData({self.package!r})"
