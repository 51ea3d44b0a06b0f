"""Metrics from the official NAS-Bench-201 benchmark file, read through the ``nas_201_api`` package.

The shipped tables (:mod:`search_spaces.nb201.benchmark`) hold final, seed-averaged numbers. Users
with the official file (e.g. ``NAS-Bench-201-v1_1-096897.pth``) get everything else from
:class:`OfficialNb201`: any epoch, any seed, hp ``"12"`` or ``"200"``, every dataset and split, plus
FLOPs, parameters and the latency stored in the file. Results come back as flat dicts with the stable
names of :data:`OFFICIAL_METRICS` (``valid_acc``, ``test_loss``, ``train_time_s``, ``flops_m``, ...).

**Trust.** The official file is a pickle, and unpickling can run arbitrary code. By default
(``trusted=True``) the file is read with ``torch.load(..., weights_only=False)``, so only open files
from a source you trust (the official NAS-Bench-201 release). This is explicit on purpose: since torch
2.6 ``torch.load`` defaults to ``weights_only=True``, under which ``nas_201_api`` cannot load its own
files, so we load the file ourselves and hand the dict to the API. ``trusted=False`` uses torch's
restricted unpickler instead (builtins, ``OrderedDict`` and numpy scalars only; needs torch >= 2.6): safe
against malicious pickles, but much slower on the multi-GB official file, and it refuses files holding
other types.

Requires the optional ``nas-bench-201`` package (``pip install 'nasrlm[nb201]'``).
"""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nasrlm.core.errors import NasrlmError
from search_spaces.base import NON_NEGATIVE, PERCENT, Direction, Metric, UnknownMetricError

if TYPE_CHECKING:
    from nas_201_api import ArchResults, NASBench201API

__all__ = [
    "DATASETS",
    "HPS",
    "OFFICIAL_METRICS",
    "TABLE_EQUIVALENTS",
    "OfficialBenchmarkError",
    "OfficialNb201",
    "load_official_file",
]

DATASETS = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
# '12' = the file's 'less' results (12-epoch schedule), '200' = its 'full' results (200 epochs).
HPS = ("12", "200")
_REQUIRED_KEYS = ("meta_archs", "arch2infos", "evaluated_indexes")
_SPACE = "nb201-official"

_SPLITS = {
    "train": "on the training set of the chosen dataset (for 'cifar10': train+valid)",
    "valid": (
        "on the 'x-valid' split (cifar10-valid: the held-out half of the CIFAR-10 training set; cifar100 / "
        "ImageNet16-120: half of the original test / validation set); absent for 'cifar10'"
    ),
    "test": (
        "on the test split ('ori-test', the original CIFAR-10 test set, for cifar10 and cifar10-valid; "
        "'x-test', the other half, for cifar100 / ImageNet16-120)"
    ),
    "valtest": "on 'ori-test' = x-valid + x-test, for cifar100 / ImageNet16-120 only",
}
# get_more_info field -> (our suffix, direction, unit, what it is)
_FIELDS: dict[str, tuple[str, Direction, str, str]] = {
    "accuracy": ("acc", "maximize", "%", "top-1 accuracy after the requested epoch"),
    "loss": ("loss", "minimize", "", "cross-entropy loss after the requested epoch"),
    "all-time": ("time_s", "minimize", "s", "time summed over epochs 0..epoch, as recorded by NB201"),
    "per-time": ("epoch_time_s", "minimize", "s", "time per epoch: time_s / (epoch + 1)"),
}
_COSTS = {
    "flops_m": Metric(
        "flops_m", "minimize", "MFLOPs", "FLOPs in millions, as stored by NB201 (its own counter)", NON_NEGATIVE
    ),
    "params_m": Metric("params_m", "minimize", "M", "parameters in millions (NB201 calls this 'MB')", NON_NEGATIVE),
    "latency_ms": Metric(
        "latency_ms",
        "minimize",
        "ms",
        "latency stored in the file, converted from seconds; mean over the trials that recorded one. "
        "The API documents it as batch size 256; the device is not recorded.",
        NON_NEGATIVE,
    ),
}


def _build_metrics() -> dict[str, Metric]:
    metrics: dict[str, Metric] = {}
    for split, where in _SPLITS.items():
        for suffix, direction, unit, what in _FIELDS.values():
            name = f"{split}_{suffix}"
            valid_range = PERCENT if unit == "%" else NON_NEGATIVE  # accuracies; losses and times
            metrics[name] = Metric(name, direction, unit, f"{what}, {where}", valid_range)
    metrics.update(_COSTS)
    return metrics


OFFICIAL_METRICS: dict[str, Metric] = _build_metrics()

# Project metric name -> (dataset, hp, official key): how each shipped-table metric reads in the file.
# The shipped 200-epoch numbers come from NATS-Bench-TSS, which can average over a different set of seeds
# than NB201 v1.1, so the two can differ slightly for some archs.
TABLE_EQUIVALENTS: dict[str, tuple[str, str, str]] = {
    "acc": ("cifar10-valid", "200", "valid_acc"),
    "test_acc": ("cifar10", "200", "test_acc"),
    "cifar100_acc": ("cifar100", "200", "valtest_acc"),
    "imagenet16_acc": ("ImageNet16-120", "200", "valtest_acc"),
    "cifar100_test_acc": ("cifar100", "200", "test_acc"),
    "imagenet16_test_acc": ("ImageNet16-120", "200", "test_acc"),
    "acc_12ep": ("cifar10-valid", "12", "valid_acc"),
    "test_acc_12ep": ("cifar10", "12", "test_acc"),
    "cifar100_acc_12ep": ("cifar100", "12", "valid_acc"),
    "cifar100_test_acc_12ep": ("cifar100", "12", "test_acc"),
    "imagenet16_acc_12ep": ("ImageNet16-120", "12", "valid_acc"),
    "imagenet16_test_acc_12ep": ("ImageNet16-120", "12", "test_acc"),
    "train_time": ("cifar10-valid", "200", "train_time_s"),
}


class OfficialBenchmarkError(NasrlmError, RuntimeError):
    """The official benchmark file is missing, unreadable, or not in the NAS-Bench-201 format."""


class _HandOverDict(dict):
    """A dict that ``copy.deepcopy`` returns as is.

    ``NASBench201API`` deep-copies the dict it is given; for the multi-GB official file that doubles
    peak memory and takes minutes. We loaded the dict ourselves and keep no reference, so we hand it over.
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> _HandOverDict:
        return self


def _numpy_safe_globals() -> list[Any]:
    """numpy scalar types for the restricted unpickler, under both numpy 1 and numpy 2 module names."""
    core = getattr(np, "_core", None) or np.core
    scalar = core.multiarray.scalar
    dtypes = sorted({type(np.dtype(code)) for code in ("f8", "f4", "i8", "i4", "u1", "?")}, key=str)
    return [
        scalar,
        np.dtype,
        *dtypes,
        (scalar, "numpy.core.multiarray.scalar"),
        (scalar, "numpy._core.multiarray.scalar"),
    ]


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}"


def load_official_file(path: str | Path, *, trusted: bool = True) -> dict[str, Any]:
    """The raw dict stored in an official NAS-Bench-201 file (see the module doc about ``trusted``)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise OfficialBenchmarkError(f"NAS-Bench-201 benchmark file not found: {path}")
    context: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    if not trusted:
        if torch.__version__ < "2.6":
            raise OfficialBenchmarkError("trusted=False needs torch >= 2.6; upgrade torch or pass trusted=True")
        context = torch.serialization.safe_globals(_numpy_safe_globals())
    try:
        with context:
            data = torch.load(path, map_location="cpu", weights_only=not trusted)
    # Unpickling a damaged or foreign file can raise almost any exception type.
    except Exception as exc:
        if not trusted:
            raise OfficialBenchmarkError(
                f"cannot read {path} with the restricted unpickler (trusted=False): {_short(exc)}. If the "
                "file is the official NAS-Bench-201 release from a source you trust, pass trusted=True."
            ) from exc
        raise OfficialBenchmarkError(f"cannot read {path} as a torch/pickle file: {_short(exc)}") from exc
    _check_format(data, str(path))
    return data


def _check_format(data: object, where: str) -> None:
    """Fail with a clear message on anything that is not the NB201 dict (NATS-Bench files are not)."""
    expected = (
        "expected a dict with keys meta_archs, arch2infos, evaluated_indexes, as in "
        "NAS-Bench-201-v1_1-096897.pth (NATS-Bench files are a different format)"
    )
    if not isinstance(data, Mapping):
        raise OfficialBenchmarkError(
            f"{where} is not a NAS-Bench-201 file: it holds a {type(data).__name__}; {expected}"
        )
    missing = [key for key in _REQUIRED_KEYS if key not in data]
    if missing:
        raise OfficialBenchmarkError(f"{where} is not a NAS-Bench-201 file: missing {missing}; {expected}")
    archs = data["meta_archs"]
    if not isinstance(archs, (list, tuple)) or not all(isinstance(arch, str) for arch in archs):
        raise OfficialBenchmarkError(f"{where}: meta_archs must be a list of arch strings")
    infos = data["arch2infos"]
    if not isinstance(infos, Mapping):
        raise OfficialBenchmarkError(f"{where}: arch2infos must be a dict, not {type(infos).__name__}")
    for index, info in infos.items():
        if not (isinstance(info, Mapping) and "less" in info and "full" in info):
            raise OfficialBenchmarkError(f"{where}: arch2infos[{index!r}] lacks the 'less'/'full' results")


def _check_hp(hp: str | int) -> str:
    text = str(hp)
    if text not in HPS:
        raise ValueError(f"hp must be one of {', '.join(HPS)} (12- or 200-epoch schedule), not {hp!r}")
    return text


class OfficialNb201:
    """Read access to an official NAS-Bench-201 file through ``NASBench201API``.

    ``source`` is the file's path, or an already loaded dict in the same format (the API copies it).
    Architectures are given by official index or arch string; ``epoch`` counts from 0 (None = last
    epoch); ``seed`` None averages over the trials, an int picks one trial.
    """

    def __init__(self, source: str | Path | Mapping[str, Any], *, trusted: bool = True) -> None:
        try:
            from nas_201_api import NASBench201API
        except ImportError as exc:
            raise ImportError(
                "reading the official NAS-Bench-201 file needs the nas-bench-201 package: pip install 'nasrlm[nb201]'"
            ) from exc
        if isinstance(source, Mapping):
            self.source = "<dict>"
            _check_format(source, self.source)
            data: dict[str, Any] = dict(source)
        else:
            self.source = str(source)
            data = _HandOverDict(load_official_file(source, trusted=trusted))
        try:
            self._api: NASBench201API = NASBench201API(data, verbose=False)
        except Exception as exc:  # the API reports format problems as asserts, KeyErrors, ...
            raise OfficialBenchmarkError(f"{self.source}: NASBench201API rejected the data: {_short(exc)}") from exc

    def __len__(self) -> int:
        return len(self._api)

    def __repr__(self) -> str:
        return f"OfficialNb201({self.source!r}, {len(self.evaluated_indexes)}/{len(self)} evaluated)"

    @property
    def evaluated_indexes(self) -> list[int]:
        """Indexes of the architectures that have results in the file."""
        return list(self._api.evaluated_indexes)

    @property
    def metrics(self) -> dict[str, Metric]:
        """Every key :meth:`query` can return, with direction, unit and meaning."""
        return dict(OFFICIAL_METRICS)

    def metric_names(self) -> list[str]:
        """Names of every key :meth:`query` can return (which ones it does depends on the dataset)."""
        return list(OFFICIAL_METRICS)

    def index(self, arch: int | str) -> int:
        """Official index of ``arch`` (an index or an arch string)."""
        if isinstance(arch, bool):
            raise TypeError(f"arch must be an index or an arch string, not {arch!r}")
        if not isinstance(arch, str):
            arch = operator.index(arch)  # numpy ints too; the API only recognises built-in ints
            if not 0 <= arch < len(self):
                raise ValueError(f"arch index {arch} out of range 0..{len(self) - 1}")
            return arch
        index = self._api.query_index_by_arch(arch)
        if index < 0:
            raise ValueError(f"architecture {arch!r} is not in {self.source}")
        return int(index)

    def arch_str(self, arch: int | str) -> str:
        """Official arch string of ``arch``."""
        return str(self._api[self.index(arch)])

    def datasets(self, arch: int | str, hp: str | int = "200") -> list[str]:
        """Datasets the file has results for, for ``arch`` under ``hp``."""
        return list(self._results(self.index(arch), _check_hp(hp)).get_dataset_names())

    def seeds(self, arch: int | str, dataset: str = "cifar10-valid", hp: str | int = "200") -> list[int]:
        """Seeds of the trials recorded for ``arch`` on ``dataset`` under ``hp``."""
        index, hp = self.index(arch), _check_hp(hp)
        results = self._results(index, hp)
        self._check_dataset(results, index, dataset, hp)
        return [int(seed) for seed in results.get_dataset_seeds(dataset)]

    def num_epochs(self, arch: int | str, dataset: str = "cifar10-valid", hp: str | int = "200") -> int:
        """Number of training epochs recorded for ``arch`` on ``dataset`` under ``hp``."""
        index, hp = self.index(arch), _check_hp(hp)
        results = self._results(index, hp)
        self._check_dataset(results, index, dataset, hp)
        return int(results.get_total_epoch(dataset))

    def query(
        self,
        arch: int | str,
        dataset: str = "cifar10-valid",
        hp: str | int = "200",
        epoch: int | None = None,
        seed: int | None = None,
    ) -> dict[str, float]:
        """Every metric the file has for this arch/dataset/hp/epoch/seed, by :data:`OFFICIAL_METRICS` name.

        Splits the dataset lacks (``valid`` on 'cifar10', ``valtest`` on CIFAR-10) and values the file
        does not record are absent. Costs (``flops_m``, ``params_m``, ``latency_ms``) are per arch and
        dataset, averaged over trials whatever ``seed`` is.
        """
        index, hp = self.index(arch), _check_hp(hp)
        results = self._results(index, hp)
        self._check_dataset(results, index, dataset, hp)
        iepoch = None if epoch is None else self._check_epoch(results, dataset, epoch)
        is_random: bool | int = False if seed is None else self._check_seed(results, dataset, seed)
        try:
            info = self._api.get_more_info(index, dataset, iepoch=iepoch, hp=hp, is_random=is_random)
        except (KeyError, AssertionError, ValueError, TypeError) as exc:
            raise ValueError(
                f"{self.source} has no complete record for arch {index} on {dataset} "
                f"(hp={hp}, epoch={epoch}, seed={seed}): {_short(exc)}"
            ) from exc
        out: dict[str, float] = {}
        for key, value in info.items():
            split, _, field = key.partition("-")
            spec = _FIELDS.get(field)
            # Unknown keys (a newer API) are skipped rather than given unstable names.
            if spec is not None and split in _SPLITS and value is not None:
                out[f"{split}_{spec[0]}"] = float(value)
        out.update(self._costs(results, dataset))
        return out

    def curve(
        self, arch: int | str, dataset: str = "cifar10-valid", hp: str | int = "200", seed: int | None = None
    ) -> dict[str, np.ndarray]:
        """Per-epoch values of every split metric (``train_acc``, ``valid_loss``, ...), as float64 arrays."""
        epochs = self.num_epochs(arch, dataset, hp)
        rows = [self.query(arch, dataset, hp, epoch=epoch, seed=seed) for epoch in range(epochs)]
        names = [name for name in OFFICIAL_METRICS if name not in _COSTS and any(name in row for row in rows)]
        return {name: np.array([row.get(name, np.nan) for row in rows], dtype=np.float64) for name in names}

    def value(self, arch: int | str, metric: str) -> float:
        """A shipped-table metric (``acc``, ``test_acc``, ``cifar100_acc_12ep``, ...) read from the file."""
        spec = TABLE_EQUIVALENTS.get(metric)
        if spec is None:
            raise UnknownMetricError(metric, _SPACE, list(TABLE_EQUIVALENTS))
        dataset, hp, key = spec
        info = self.query(arch, dataset, hp)
        if key not in info:
            raise ValueError(f"{self.source} records no {key} for arch {self.index(arch)} on {dataset} (hp={hp})")
        return info[key]

    def _results(self, index: int, hp: str) -> ArchResults:
        # Read the API's table directly: query_meta_info_by_index deep-copies the record on every call.
        by_hp = self._api.arch2infos_dict.get(index)
        if by_hp is None:
            raise ValueError(f"arch {index} has no results in {self.source} (it is not evaluated)")
        return by_hp[hp]

    def _check_dataset(self, results: ArchResults, index: int, dataset: str, hp: str) -> None:
        names = results.get_dataset_names()
        if dataset not in names:
            raise ValueError(f"no {dataset!r} results for arch {index} under hp={hp}; available: {', '.join(names)}")

    @staticmethod
    def _check_epoch(results: ArchResults, dataset: str, epoch: int) -> int:
        total = int(results.get_total_epoch(dataset))
        if isinstance(epoch, bool) or not 0 <= operator.index(epoch) < total:
            raise ValueError(f"epoch must be an int in 0..{total - 1} (counted from 0), not {epoch!r}")
        return operator.index(epoch)

    @staticmethod
    def _check_seed(results: ArchResults, dataset: str, seed: int) -> int:
        seeds = [int(s) for s in results.get_dataset_seeds(dataset)]
        if isinstance(seed, bool) or operator.index(seed) not in seeds:
            raise ValueError(f"no trial with seed {seed!r} on {dataset}; seeds: {', '.join(map(str, seeds))}")
        return operator.index(seed)

    @staticmethod
    def _costs(results: ArchResults, dataset: str) -> dict[str, float]:
        costs = results.get_compute_costs(dataset)
        out = {"flops_m": float(costs["flops"]), "params_m": float(costs["params"])}
        latency = costs.get("latency")
        if latency is not None and latency > 0:
            out["latency_ms"] = float(latency) * 1000.0
        return out
