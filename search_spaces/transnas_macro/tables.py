"""The vendored TransNAS-Bench-101 macro table (NASLib's zero-cost benchmark file) as metric arrays.

The file has one row per (task, architecture): the task's validation metric, NASLib's FLOPs and
parameter counts of its model for that task, and zero-cost proxies. The seven tasks measured 662
(class_scene, class_object) or 725 (the other five) architectures; the 662 are a subset of the
725, so the union is 725. Index ``i`` is the file's own ``idx`` column (0..724, one per
architecture, the same in every task). A metric is NaN where its task did not measure the arch.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from ..base import PERCENT, Metric
from .arch import TransnasMacroArch

__all__ = ["TASKS", "ZC_PROXIES", "TableData", "load_table", "table_metrics"]

TABLE = "transnas101_macro_zc_valacc_naslib"
SSIM_RANGE = (-1.0, 1.0)


@dataclass(frozen=True)
class Task:
    name: str  # the table's task name
    metric: str  # our metric name for its validation metric
    unit: str
    valid_range: tuple[float, float]
    description: str


TASKS: tuple[Task, ...] = (
    Task(
        "class_scene",
        "class_scene_acc",
        "%",
        PERCENT,
        "Scene classification (Taskonomy, 47 scene classes): validation top-1 accuracy (TransNAS-Bench-101's "
        "valid_top1) of the network trained on the task.",
    ),
    Task(
        "class_object",
        "class_object_acc",
        "%",
        PERCENT,
        "Object classification (Taskonomy, 75 object classes): validation top-1 accuracy (valid_top1).",
    ),
    Task(
        "jigsaw",
        "jigsaw_acc",
        "%",
        PERCENT,
        "Jigsaw (self-supervised: which of 1,000 permutations shuffled the 9 tiles of an image, the encoder "
        "reading each tile): validation top-1 accuracy (valid_top1).",
    ),
    Task(
        "room_layout",
        "room_layout_neg_loss",
        "-loss",
        (-math.inf, 0.0),
        "Room layout (regression of the 9 layout parameters): negative validation loss (valid_neg_loss, "
        "minus the task's regression loss); larger is better, 0 is perfect.",
    ),
    Task(
        "segmentsemantic",
        "segmentsemantic_acc",
        "%",
        PERCENT,
        "Semantic segmentation (17 classes): validation pixel accuracy (valid_acc; top-1 over pixels, not mIoU).",
    ),
    Task(
        "normal",
        "normal_ssim",
        "SSIM",
        SSIM_RANGE,
        "Surface-normal prediction (pixel-to-pixel): validation SSIM between predicted and true normal maps "
        "(valid_ssim).",
    ),
    Task(
        "autoencoder",
        "autoencoder_ssim",
        "SSIM",
        SSIM_RANGE,
        "Autoencoding (reconstruct the input image): validation SSIM of the reconstruction (valid_ssim).",
    ),
)

# The file's proxies, less epe_nas: it holds NASLib's failure value -1e8 for every arch of six tasks,
# and -1e8 or 0 for 609 of the 725 jigsaw archs, so it ranks nothing.
ZC_PROXIES: tuple[str, ...] = ("grasp", "fisher", "grad_norm", "l2_norm", "plain", "nwot", "jacov", "snip")


def zc_metric(task: str, proxy: str) -> str:
    return f"{task}_zc_{proxy}"


def table_metrics() -> dict[str, Metric]:
    """Every tabulated metric: one per task's validation metric, then the zero-cost proxies."""
    metrics = {
        t.metric: Metric(
            t.metric,
            "maximize",
            t.unit,
            t.description + " NaN / no data where the task did not measure the arch.",
            t.valid_range,
        )
        for t in TASKS
    }
    for t in TASKS:
        for proxy in ZC_PROXIES:
            name = zc_metric(t.name, proxy)
            metrics[name] = Metric(
                name,
                "maximize",
                "score",
                f"Zero-cost proxy {proxy} of the untrained network with the {t.name} head on the task's data "
                "(NASLib's zero-cost benchmark): a cheap proxy of trainability, not a measured accuracy.",
            )
    return metrics


@dataclass(frozen=True)
class TableData:
    archs: tuple[TransnasMacroArch, ...]
    index: dict[TransnasMacroArch, int]
    values: dict[str, np.ndarray]  # metric -> read-only float64 array over ``archs``
    table_flops: dict[str, np.ndarray]  # task -> NASLib's MFLOPs of its model for the task (NaN: unmeasured)
    table_params: dict[str, np.ndarray]  # task -> NASLib's parameter count of the task's model, millions


@functools.cache
def load_table() -> TableData:
    from ..vendored import VendoredData

    frame = VendoredData("search_spaces.transnas_macro").table(TABLE)
    by_idx = frame.drop_duplicates("idx").sort_values("idx")
    if list(by_idx["idx"]) != list(range(len(by_idx))) or frame.groupby("idx")["arch"].nunique().max() != 1:
        raise ValueError(f"{TABLE}: the idx column must number the archs 0..n-1, one arch each")
    archs = tuple(TransnasMacroArch.from_str(text) for text in by_idx["arch"])
    n = len(archs)

    def column(task: str, name: str) -> np.ndarray:
        rows = frame[frame["task"] == task]
        array = np.full(n, np.nan)
        array[rows["idx"].to_numpy()] = rows[name].to_numpy(dtype=np.float64)
        array.setflags(write=False)
        return array

    values = {}
    for t in TASKS:
        values[t.metric] = column(t.name, "val_accuracy")
        for proxy in ZC_PROXIES:
            values[zc_metric(t.name, proxy)] = column(t.name, proxy)
    return TableData(
        archs=archs,
        index={a: i for i, a in enumerate(archs)},
        values=values,
        table_flops={t.name: column(t.name, "flops") for t in TASKS},
        table_params={t.name: column(t.name, "params") for t in TASKS},
    )
