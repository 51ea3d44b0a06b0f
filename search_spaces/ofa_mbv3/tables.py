"""HELP's OFA-MobileNetV3 latency table: 5,000 subnets measured on 4 GPUs at batch sizes 1, 32 and 64.

Read from the vendored ``ofa_mbv3_latency_help.csv`` (see ``data/PROVENANCE.md``): one row per subnet
(``index`` 0..4999, OFA's ``ks`` / ``e`` / ``d`` lists as space-separated ints, resolution ``r``), one
column per device setting, in ms. Row order is the table's index order. The 5,000 rows are 5,000
distinct networks once unused layer slots are normalized away (checked on load).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..vendored import BenchmarkDataError, VendoredData
from .arch import OfaMbv3Arch

__all__ = ["DEVICES", "GPU_NAMES", "OfaTable", "load_table"]

TABLE = "ofa_mbv3_latency_help"
GPU_NAMES = {
    "2080ti": "NVIDIA GeForce RTX 2080 Ti",
    "titan_rtx": "NVIDIA Titan RTX",
    "titan_xp": "NVIDIA Titan Xp",
    "v100": "NVIDIA Tesla V100",
}
BATCH_SIZES = (1, 32, 64)
# The table's latency columns, in its order: <gpu>_<batch>.
DEVICES: tuple[str, ...] = tuple(f"{gpu}_{batch}" for gpu in GPU_NAMES for batch in BATCH_SIZES)


@dataclass(frozen=True)
class OfaTable:
    archs: tuple[OfaMbv3Arch, ...]
    latency: dict[str, np.ndarray]  # device column -> ms per table arch (read-only)


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split())


@functools.cache
def load_table() -> OfaTable:
    """The table, verified by checksum (once per process)."""
    frame = VendoredData("search_spaces.ofa_mbv3").table(TABLE)
    if list(frame["index"]) != list(range(len(frame))):
        raise BenchmarkDataError(f"{TABLE}: rows are not in index order")
    archs = tuple(
        OfaMbv3Arch(_ints(ks), _ints(e), _ints(d), int(r))
        for ks, e, d, r in zip(frame["ks"], frame["e"], frame["d"], frame["r"], strict=True)
    )
    if len(set(archs)) != len(archs):  # two rows of one network would make index() ambiguous
        raise BenchmarkDataError(f"{TABLE}: two rows describe the same network")
    latency = {}
    for device in DEVICES:
        values = frame[device].to_numpy(dtype=np.float64).copy()
        values.setflags(write=False)
        latency[device] = values
    return OfaTable(archs, latency)
