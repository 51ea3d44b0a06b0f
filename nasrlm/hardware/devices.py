"""User-measured device latencies: one small table per device, served as the metric ``latency_<NAME>``.

``nasrlm verify --device-name NAME`` (or :func:`record`) stores each measured architecture's median
latency in ``cache_dir()/devices/<space>/latency_<NAME>.csv``, with how it was measured in the JSON
file beside it. A search space asked for ``latency_<NAME>`` that its benchmark does not have looks
here (see :func:`find_table`), so searches, ``nasrlm query`` and surrogate fitting use the new
device like any benchmark device; an architecture that was never measured raises
:class:`UnmeasuredArchError` naming it rather than getting a made-up value.

A table elsewhere (shared by a colleague, say) is made known with :func:`register_table`.
"""

from __future__ import annotations

import io
import json
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from nasrlm.core.cache import atomic_write_text, cache_dir
from nasrlm.core.errors import NasrlmError

__all__ = [
    "DeviceTable",
    "UnmeasuredArchError",
    "device_metric_name",
    "find_table",
    "load_table",
    "record",
    "register_table",
    "registered_metrics",
    "save_table",
    "table_path",
]

PREFIX = "latency_"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_COLUMNS = ("index", "arch", "latency_ms", "iqr_ms", "repeats")


class UnmeasuredArchError(NasrlmError, KeyError):
    """Architectures asked for a device metric they were never measured on; the message names them."""

    def __init__(self, metric: str, indices: Sequence[int], path: Path | None) -> None:
        super().__init__(metric)
        shown = ", ".join(str(i) for i in list(indices)[:10]) + (", ..." if len(indices) > 10 else "")
        where = f" ({path})" if path else ""
        self.indices = list(indices)
        self.message = (
            f"{metric} was not measured for {len(indices)} architecture(s) (index {shown}); the table{where} "
            f"has what `nasrlm verify --device-name {metric.removeprefix(PREFIX)}` measured"
        )

    def __str__(self) -> str:
        return self.message


def device_metric_name(device: str) -> str:
    """``latency_<device>`` after checking that ``device`` is a plain name (it becomes a file name)."""
    device = device.removeprefix(PREFIX)
    if not _NAME.fullmatch(device):
        raise ValueError(
            f"invalid device name {device!r}: use 1-64 letters, digits, '_' or '-', starting with a letter or digit"
        )
    return PREFIX + device


@dataclass(frozen=True)
class DeviceTable:
    """Median latency (ms) per architecture index of one space on one device, and how it was measured."""

    space: str
    metric: str
    latency_ms: Mapping[int, float]
    arch: Mapping[int, str] = field(default_factory=dict)
    iqr_ms: Mapping[int, float] = field(default_factory=dict)
    repeats: Mapping[int, int] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def __post_init__(self) -> None:
        device_metric_name(self.metric)  # refuses names that cannot be files
        for name in ("latency_ms", "arch", "iqr_ms", "repeats", "meta"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))
        bad = [(i, v) for i, v in self.latency_ms.items() if not (np.isfinite(v) and v > 0)]
        if bad:
            raise ValueError(
                f"{self.metric}: latencies must be positive and finite; index {bad[0][0]} has {bad[0][1]!r}"
            )

    @property
    def device(self) -> str:
        return self.metric.removeprefix(PREFIX)

    @property
    def description(self) -> str:
        how = self.meta.get("measurement", {})
        summary = ", ".join(f"{k}={v}" for k, v in how.items()) if isinstance(how, Mapping) else str(how)
        return f"Latency (ms) measured with nasrlm verify for {len(self.latency_ms)} architectures ({summary})."

    def value(self, index: int) -> float:
        try:
            return float(self.latency_ms[int(index)])
        except KeyError:
            raise UnmeasuredArchError(self.metric, [int(index)], self.path) from None

    def values_for(self, indices: Sequence[int]) -> np.ndarray:
        missing = [int(i) for i in indices if int(i) not in self.latency_ms]
        if missing:
            raise UnmeasuredArchError(self.metric, missing, self.path)
        return np.array([self.latency_ms[int(i)] for i in indices], dtype=np.float64)

    def to_csv(self) -> str:
        rows = sorted(self.latency_ms)
        out = io.StringIO()
        out.write(",".join(_COLUMNS) + "\n")
        for i in rows:
            iqr = self.iqr_ms.get(i)
            repeats = self.repeats.get(i)
            out.write(
                f"{i},{self.arch.get(i, '')},{self.latency_ms[i]!r},"
                f"{'' if iqr is None else repr(float(iqr))},{'' if repeats is None else int(repeats)}\n"
            )
        return out.getvalue()


def table_path(space: str, metric: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Where the table of ``metric`` lives: ``<root or cache_dir()/devices>/<space>/latency_<NAME>.csv``."""
    base = Path(root) if root is not None else cache_dir() / "devices"
    return base / space / f"{device_metric_name(metric)}.csv"


def _meta_path(path: Path) -> Path:
    return path.with_suffix(".json")


def save_table(table: DeviceTable, path: str | os.PathLike[str] | None = None) -> Path:
    """Write the CSV and its metadata JSON atomically (metadata last, so a table never lacks its rows)."""
    target = Path(path) if path is not None else table_path(table.space, table.metric)
    atomic_write_text(target, table.to_csv())
    meta = {**table.meta, "space": table.space, "metric": table.metric, "archs": len(table.latency_ms)}
    atomic_write_text(_meta_path(target), json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return target


def load_table(path: str | os.PathLike[str]) -> DeviceTable:
    """A table written by :func:`save_table`; raises ``ValueError`` naming the file if it is malformed."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no device table at {path}")
    meta_file = _meta_path(path)
    meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    frame = pd.read_csv(path, dtype={"arch": str}, keep_default_na=False)
    if list(frame.columns[:3]) != list(_COLUMNS[:3]):
        raise ValueError(f"{path} is not a device table: columns {list(frame.columns)}, expected {list(_COLUMNS)}")
    indices = [int(i) for i in frame["index"]]
    if len(set(indices)) != len(indices):
        raise ValueError(f"{path} lists an architecture index twice")

    def column(name: str, kind: type) -> dict[int, Any]:
        if name not in frame.columns:
            return {}
        return {i: kind(v) for i, v in zip(indices, frame[name], strict=True) if v != ""}

    return DeviceTable(
        space=str(meta.get("space") or path.parent.name),
        metric=str(meta.get("metric") or path.stem),
        latency_ms=column("latency_ms", float),
        arch=column("arch", str),
        iqr_ms=column("iqr_ms", float),
        repeats=column("repeats", int),
        meta={k: v for k, v in meta.items() if k not in ("space", "metric", "archs")},
        path=path,
    )


def record(
    space: str,
    metric: str,
    results: Mapping[int, tuple[str, float, float | None, int | None]],
    meta: Mapping[str, Any],
    path: str | os.PathLike[str] | None = None,
) -> DeviceTable:
    """Add measurements ``index -> (arch string, median ms, IQR ms, repeats)`` to the device's table.

    Earlier rows of other architectures are kept; a re-measured architecture gets its new value.
    Measurements made differently (other ``meta["measurement"]``) are refused: one table, one protocol.
    """
    metric = device_metric_name(metric)
    target = Path(path) if path is not None else table_path(space, metric)
    old = load_table(target) if target.is_file() else None
    if old is not None:
        if old.space != space:
            raise ValueError(f"{target} holds space {old.space!r}, not {space!r}")
        old_how, new_how = old.meta.get("measurement"), meta.get("measurement")
        if old_how is not None and new_how is not None and old_how != new_how:
            raise ValueError(
                f"{target} was measured with {old_how}, not {new_how}: "
                "use another device name for another way of measuring"
            )
    columns: list[dict[int, Any]] = [dict(getattr(old, n)) if old else {} for n in ("arch", "latency_ms")]
    iqr, repeats = (dict(old.iqr_ms), dict(old.repeats)) if old else ({}, {})
    for index, (arch, median, spread, count) in results.items():
        columns[0][int(index)], columns[1][int(index)] = arch, float(median)
        if spread is not None:
            iqr[int(index)] = float(spread)
        if count is not None:
            repeats[int(index)] = int(count)
    merged_meta = {**(dict(old.meta) if old else {}), **meta, "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ")}
    table = DeviceTable(space, metric, columns[1], columns[0], iqr, repeats, merged_meta, target)
    save_table(table, target)
    return table


# --- lookup by the spaces ------------------------------------------------------------------------
_REGISTERED: dict[tuple[str, str], Path] = {}
_LOADED: dict[Path, tuple[int, DeviceTable]] = {}


def register_table(path: str | os.PathLike[str]) -> DeviceTable:
    """Serve the table at ``path`` (any folder) for its space and metric in this process."""
    table = load_table(path)
    _REGISTERED[(table.space, table.metric)] = Path(path)
    return table


def _load_fresh(path: Path) -> DeviceTable:
    # Re-read when the file changed, so a measurement recorded by this process is seen at once.
    stamp = path.stat().st_mtime_ns
    cached = _LOADED.get(path)
    if cached is None or cached[0] != stamp:
        cached = (stamp, load_table(path))
        _LOADED[path] = cached
    return cached[1]


def find_table(space: str, metric: str) -> DeviceTable | None:
    """The table serving ``metric`` for ``space``: a registered one, else one in the cache folder."""
    if not metric.startswith(PREFIX) or not _NAME.fullmatch(metric.removeprefix(PREFIX)):
        return None
    path = _REGISTERED.get((space, metric)) or table_path(space, metric)
    return _load_fresh(path) if path.is_file() else None


def registered_metrics(space: str) -> list[str]:
    """Device metrics with a table for ``space`` (registered or in the cache folder)."""
    folder = cache_dir() / "devices" / space
    found = {p.stem for p in folder.glob(f"{PREFIX}*.csv")} if folder.is_dir() else set()
    found |= {metric for (s, metric) in _REGISTERED if s == space}
    return sorted(found)
