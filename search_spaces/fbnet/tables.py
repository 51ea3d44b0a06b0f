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
from ..vendored import BenchmarkDataError, VendoredData
from .arch import FbnetArch

__all__ = ["DEVICES", "LATENCY_METRICS", "FbnetTable", "load_table"]

_SOURCE = "Source: HayeonLee/HELP data/fbnet/latency (MIT), 5,000 FBNet archs, CIFAR-100 networks."
_GPUS = {
    "1080ti": "NVIDIA GeForce GTX 1080 Ti",
    "2080ti": "NVIDIA GeForce RTX 2080 Ti",
    "titan_rtx": "NVIDIA Titan RTX",
    "titanx": "NVIDIA Titan X",
    "titanxp": "NVIDIA Titan Xp",
}
_GPU_BATCHES = (1, 32, 64)
_CPUS = {
    "gold_6226": "Intel Xeon Gold 6226",
    "gold_6240": "Intel Xeon Gold 6240",
    "silver_4114": "Intel Xeon Silver 4114",
    "silver_4210r": "Intel Xeon Silver 4210R",
}
_PHONES = {
    # "_1" here is part of the phone's model name, not a batch size.
    "essential_ph_1": "Essential Phone PH-1",
    "pixel2": "Google Pixel 2",
    "samsung_a50": "Samsung Galaxy A50",
    "samsung_s7": "Samsung Galaxy S7",
}
_HW_NAS_BENCH = {
    "pixel3": "Google Pixel 3 phone (measured)",
    "raspi4": "Raspberry Pi 4 (measured)",
    "eyeriss": "Eyeriss ASIC (estimated)",
    "fpga": "FPGA (estimated)",
}


def _device_descriptions() -> dict[str, str]:
    """What each latency column measures; the table's columns are checked against these keys on load."""
    out: dict[str, str] = {}
    for key, name in _GPUS.items():
        for batch in _GPU_BATCHES:
            out[f"{key}_{batch}"] = (
                f"Latency (ms) on the desktop GPU {name}, batch size {batch}, measured by the HELP authors. " + _SOURCE
            )
    for key, name in _CPUS.items():
        out[key] = (
            f"Latency (ms) on the CPU {name}, measured by the HELP authors; the batch size is not part of the "
            "column name or the source data. " + _SOURCE
        )
    for key, name in _PHONES.items():
        out[key] = (
            f"Latency (ms, whole milliseconds) on the phone {name}; believed to come from BRP-NAS/Eagle "
            "(SamsungLabs/eagle), not verified; batch size not recorded. " + _SOURCE
        )
    for key, name in _HW_NAS_BENCH.items():
        out[key] = (
            f"Latency (ms) on {name}, batch size 1: HW-NAS-Bench's FBNet value, per HELP; presumably its "
            "CIFAR-100 setting (32x32 input), which HELP's FBNet metainfo names, but not checked against "
            "HW-NAS-Bench itself (its FBNet tables were not available). " + _SOURCE
        )
    return dict(sorted(out.items()))


DEVICES: dict[str, str] = _device_descriptions()
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
