"""The vendored NB101 data as metric arrays over the space's table archs.

Two files (see ``data/PROVENANCE.md``):

* NASLib's zero-cost table: 500 rows of randomly sampled, un-pruned cells with the 108-epoch
  validation accuracy and 9 zero-cost proxies (and NASLib's params/FLOPs of the sampled ordering,
  which :mod:`.costs` reproduces and the tests check). NASLib sampled random matrices and kept the
  valid ones, which favours small pruned cells: the 500 rows are only **292 distinct cells** (the
  input-to-output cell alone is 55 rows). Rows of one cell are repeated measurements (the accuracy
  is one of NB101's 3 runs, picked at random per query; the proxies come from a fresh random
  initialization), so a cell's values are the **mean over its rows**; ``rows`` says how many.
* 30 full NB101 records (3 runs each): their cells' test accuracy, training time and halfway
  (epoch 54) validation accuracy, means over the 3 runs. One of them is among the 292; the other 29
  join the table after them, with ``acc`` the mean final validation accuracy of their 3 runs.

Archs are ordered as the table lists them: the 292 by first row, then the 29 in record order.
A metric is NaN where its source does not cover an arch (proxies for the 29, records' metrics for
the 291).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import numpy as np

from ..base import NON_NEGATIVE, PERCENT, Metric
from .arch import Nb101Arch, make_arch

__all__ = ["RECORDS", "TABLE", "ZC_PROXIES", "TableData", "load_table", "table_metrics"]

TABLE = "nb101_500_zc_valacc_naslib"
RECORDS = "nb101_sample30_naslib"
ZC_PROXIES: tuple[str, ...] = (
    "snip",
    "jacov",
    "grad_norm",
    "plain",
    "epe_nas",
    "fisher",
    "grasp",
    "l2_norm",
    "synflow",
)
_EPOCHS = "108"


def table_metrics() -> dict[str, Metric]:
    """Every tabulated metric (the free ones, params and FLOPs, are the space's)."""
    metrics = {
        "acc": Metric(
            "acc",
            "maximize",
            "%",
            "CIFAR-10 validation accuracy after 108 epochs (NB101). For the 292 cells of NASLib's table: "
            "the table's val_accuracy (one of NB101's 3 runs per row), averaged over the cell's rows; for "
            "the 29 cells only in the full records: the mean over their 3 runs.",
            PERCENT,
        ),
        "test_acc": Metric(
            "test_acc",
            "maximize",
            "%",
            "CIFAR-10 test accuracy after 108 epochs, mean over NB101's 3 runs (30 cells of the full "
            "records only; NaN elsewhere).",
            PERCENT,
        ),
        "acc_halfway": Metric(
            "acc_halfway",
            "maximize",
            "%",
            "Validation accuracy at epoch 54 of the 108-epoch schedule, mean over 3 runs (30 cells only).",
            PERCENT,
        ),
        "train_time": Metric(
            "train_time",
            "minimize",
            "s",
            "Time to train 108 epochs on NB101's TPU v2 (final_training_time), mean over 3 runs (30 cells only).",
            NON_NEGATIVE,
        ),
    }
    for proxy in ZC_PROXIES:
        name = f"zc_{proxy}"
        metrics[name] = Metric(
            name,
            "maximize",
            "score",
            f"Zero-cost proxy {proxy} of the untrained network on CIFAR-10 (NASLib's zero-cost benchmark, "
            "mean over the cell's rows): a cheap proxy of trainability, not a measured accuracy; NaN for "
            "the 29 cells outside NASLib's table.",
        )
    return metrics


@dataclass(frozen=True)
class TableData:
    archs: tuple[Nb101Arch, ...]
    index: dict[Nb101Arch, int]
    values: dict[str, np.ndarray]  # metric -> read-only float64 array over ``archs``
    rows: np.ndarray  # how many rows of NASLib's table each arch has (0: records only)
    row_archs: tuple[Nb101Arch, ...]  # the canonical arch of each of the 500 rows


def _record_means(record: dict) -> dict[str, float]:
    runs = record["epochs"][_EPOCHS]

    def mean(key: str, scale: float = 1.0) -> float:
        return float(np.mean([run[key] for run in runs])) * scale

    return {
        "acc": mean("final_validation_accuracy", 100.0),
        "test_acc": mean("final_test_accuracy", 100.0),
        "acc_halfway": mean("halfway_validation_accuracy", 100.0),
        "train_time": mean("final_training_time"),
    }


@functools.cache
def load_table() -> TableData:
    from ..vendored import VendoredData

    data = VendoredData("search_spaces.nb101")
    frame = data.table(TABLE)
    row_archs = tuple(
        make_arch(json.loads(matrix), ops.split("|"))
        for matrix, ops in zip(frame["adjacency_7x7"], frame["ops"], strict=True)
    )
    archs: list[Nb101Arch] = list(dict.fromkeys(row_archs))
    index = {arch: i for i, arch in enumerate(archs)}
    records = {make_arch(r["module_adjacency"], r["module_operations"]): r for r in data.json(RECORDS)}
    for arch in records:
        if arch not in index:
            index[arch] = len(archs)
            archs.append(arch)

    n = len(archs)
    rows_of = np.array([index[arch] for arch in row_archs])
    rows = np.bincount(rows_of, minlength=n).astype(np.int64)

    def row_mean(column: str) -> np.ndarray:
        sums = np.bincount(rows_of, weights=frame[column].to_numpy(dtype=np.float64), minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(rows > 0, sums / np.maximum(rows, 1), np.nan)

    values = {"acc": row_mean("val_accuracy")}
    for name in ("test_acc", "acc_halfway", "train_time"):
        values[name] = np.full(n, np.nan)
    for arch, record in records.items():
        means = _record_means(record)
        i = index[arch]
        if rows[i] == 0:
            values["acc"][i] = means["acc"]
        for name in ("test_acc", "acc_halfway", "train_time"):
            values[name][i] = means[name]
    for proxy in ZC_PROXIES:
        values[f"zc_{proxy}"] = row_mean(proxy)
    for array in (*values.values(), rows):
        array.setflags(write=False)
    return TableData(tuple(archs), index, values, rows, row_archs)
