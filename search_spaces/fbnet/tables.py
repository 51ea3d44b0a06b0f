"""The vendored FBNet latency table (HELP's 5,000 FBNet archs, 27 devices) and its metrics.

``fbnet_latency_help.csv`` (see ``data/PROVENANCE.md``): one row per architecture, ``op_idx_list``
(HW-NAS-Bench op indices) and ``ops`` (the same as names), then one latency column (ms) per device.
There is no accuracy column: HELP's FBNet data holds latencies only.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..base import NON_NEGATIVE, Metric
from ..help_devices import device_descriptions
from ..vendored import BenchmarkDataError, VendoredData
from .arch import FbnetArch

__all__ = ["DEVICES", "LATENCY_METRICS", "FbnetTable", "load_table"]

_SOURCE = "Source: HayeonLee/HELP data/fbnet/latency (MIT), 5,000 FBNet archs, CIFAR-100 networks."
DEVICES: dict[str, str] = device_descriptions(
    source=_SOURCE,
    gpu_batches=(1, 32, 64),
    hw_nas_bench=(
        ", batch size 1: HW-NAS-Bench's FBNet value, per HELP; presumably its CIFAR-100 setting (32x32 input), "
        "which HELP's FBNet metainfo names, but not checked against HW-NAS-Bench itself (its FBNet tables "
        "were not available)."
    ),
)
LATENCY_METRICS: dict[str, Metric] = {
    f"latency_{device}": Metric(f"latency_{device}", "minimize", "ms", description, NON_NEGATIVE)
    for device, description in DEVICES.items()
}


@dataclass(frozen=True)
class FbnetTable:
    """The table's architectures (row order = index) and each latency metric's read-only values."""

    archs: tuple[FbnetArch, ...]
    index: dict[FbnetArch, int]
    values: dict[str, np.ndarray]


@functools.cache
def load_table() -> FbnetTable:
    """Read and check the vendored table (once per process)."""
    frame = VendoredData("search_spaces.fbnet").table("fbnet_latency_help")
    if list(frame["index"]) != list(range(len(frame))):
        raise BenchmarkDataError("fbnet_latency_help.csv: the index column is not 0..n-1 in row order")
    devices = [c for c in frame.columns if c not in ("index", "op_idx_list", "ops")]
    if sorted(devices) != sorted(DEVICES):
        raise BenchmarkDataError(
            f"fbnet_latency_help.csv has device columns {sorted(devices)}, expected {sorted(DEVICES)}"
        )
    archs = []
    for row, (indices, names) in enumerate(zip(frame["op_idx_list"], frame["ops"], strict=True)):
        arch = FbnetArch.from_indices(int(i) for i in str(indices).split())
        if arch != FbnetArch.from_str(str(names)):  # the two columns must agree (HW-NAS-Bench's order)
            raise BenchmarkDataError(f"fbnet_latency_help.csv row {row}: op_idx_list and ops disagree")
        archs.append(arch)
    index = {arch: i for i, arch in enumerate(archs)}
    if len(index) != len(archs):
        raise BenchmarkDataError("fbnet_latency_help.csv lists an architecture twice")
    values = {}
    for device in devices:
        array = frame[device].to_numpy(dtype=np.float64, copy=True)
        array.setflags(write=False)
        values[f"latency_{device}"] = array
    return FbnetTable(tuple(archs), index, values)
