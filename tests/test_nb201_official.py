"""OfficialNb201 reads a tiny file written here in the official NAS-Bench-201 format.

The file is built from the package's own ``ArchResults``/``ResultsCount`` objects and saved the way the
official file is (``meta_archs``, ``arch2infos`` with 'less' = hp 12 and 'full' = hp 200,
``evaluated_indexes``). Expected values are recomputed from the generating formula, independently of
the code under test.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("nas_201_api")
torch = pytest.importorskip("torch")

from nas_201_api import ArchResults, ResultsCount  # noqa: E402

from search_spaces.base import UnknownMetricError  # noqa: E402
from search_spaces.nb201.official import (  # noqa: E402
    OFFICIAL_METRICS,
    TABLE_EQUIVALENTS,
    OfficialBenchmarkError,
    OfficialNb201,
)

ARCHS = [
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",  # listed but not evaluated
]
# dataset -> (eval splits, seeds under hp 200, seeds under hp 12, number of classes)
DATASETS = {
    "cifar10-valid": (("x-valid", "ori-test"), (777, 888, 999), (777, 888), 10),
    "cifar10": (("ori-test",), (777, 888), (777,), 10),
    "cifar100": (("x-valid", "x-test", "ori-test"), (777, 888, 999), (777,), 100),
    "ImageNet16-120": (("x-valid", "x-test", "ori-test"), (777, 888), (777,), 120),
}
SPLIT_OFFSET = {"train": 5.0, "x-valid": 0.0, "x-test": -0.5, "ori-test": -0.25}
EPOCHS = {"12": 12, "200": 200}
TRAIN_EPOCH_TIME = {"cifar10-valid": 7.0, "cifar10": 14.0, "cifar100": 7.5, "ImageNet16-120": 21.0}
EVAL_EPOCH_TIME = 0.5


def acc(arch: int, dataset: str, split: str, seed: int, epoch: int, epochs: int) -> float:
    """Made-up but plausible learning curve: rises to a dataset-dependent plateau."""
    ceiling = {"cifar10-valid": 90.0, "cifar10": 93.0, "cifar100": 70.0, "ImageNet16-120": 45.0}[dataset]
    final = ceiling - 3.0 * arch + SPLIT_OFFSET[split] + (seed - 888) / 100.0
    return final * (1.0 - math.exp(-5.0 * (epoch + 1) / epochs))


def loss(arch: int, dataset: str, split: str, seed: int, epoch: int, epochs: int) -> float:
    return 0.02 * (100.0 - acc(arch, dataset, split, seed, epoch, epochs))


def flops(arch: int, dataset: str) -> float:
    return 15.0 + 40.0 * arch + DATASETS[dataset][3] / 100.0


def params(arch: int, dataset: str) -> float:
    return 0.13 + 0.3 * arch + DATASETS[dataset][3] / 1000.0


def latency_s(arch: int, seed: int) -> float:
    return 0.010 + 0.005 * arch + (seed - 777) / 1e6


def _trial(arch: int, dataset: str, seed: int, hp: str) -> ResultsCount:
    epochs = EPOCHS[hp]
    splits, *_, classes = DATASETS[dataset]
    config = {
        "name": "infer.tiny",
        "channel": 16,
        "num_cells": 5,
        "arch_str": ARCHS[arch],
        "class_num": classes,
    }
    trial = ResultsCount(
        dataset, None, None, None, params(arch, dataset), flops(arch, dataset), config, seed, epochs, None
    )
    curve = range(epochs)
    trial.update_train_info(
        OrderedDict((e, acc(arch, dataset, "train", seed, e, epochs)) for e in curve),
        None,
        OrderedDict((e, loss(arch, dataset, "train", seed, e, epochs)) for e in curve),
        OrderedDict((e, TRAIN_EPOCH_TIME[dataset]) for e in curve),
    )
    keys = [(split, e) for split in splits for e in curve]
    trial.update_eval(
        {f"{s}@{e}": acc(arch, dataset, s, seed, e, epochs) for s, e in keys},
        {f"{s}@{e}": loss(arch, dataset, s, seed, e, epochs) for s, e in keys},
        {f"{s}@{e}": EVAL_EPOCH_TIME for s, e in keys},
    )
    trial.update_latency([latency_s(arch, seed)])
    return trial


def _arch_results(arch: int, hp: str) -> dict:
    results = ArchResults(arch, ARCHS[arch])
    for dataset, (_, seeds200, seeds12, _) in DATASETS.items():
        for seed in seeds200 if hp == "200" else seeds12:
            results.update(dataset, seed, _trial(arch, dataset, seed, hp))
    return results.state_dict()


def official_dict() -> dict:
    evaluated = [0, 1]
    return {
        "meta_archs": list(ARCHS),
        "arch2infos": {i: {"less": _arch_results(i, "12"), "full": _arch_results(i, "200")} for i in evaluated},
        "evaluated_indexes": evaluated,
    }


@pytest.fixture(scope="module")
def bench_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("nb201") / "NAS-Bench-201-tiny.pth"
    torch.save(official_dict(), path)
    return path


@pytest.fixture(scope="module")
def official(bench_file: Path) -> OfficialNb201:
    return OfficialNb201(bench_file)


def test_archs_and_indexes(official: OfficialNb201) -> None:
    assert len(official) == 3
    assert official.evaluated_indexes == [0, 1]
    assert official.index(ARCHS[1]) == 1 and official.index(np.int64(1)) == 1
    assert official.arch_str(1) == ARCHS[1]
    assert official.datasets(0) == list(DATASETS)
    assert official.seeds(0, "cifar100") == [777, 888, 999]
    assert official.seeds(0, "cifar100", hp=12) == [777]
    assert official.num_epochs(0, "cifar10-valid", "12") == 12
    assert official.num_epochs(0, "cifar10-valid", "200") == 200


def test_final_epoch_mean_over_seeds(official: OfficialNb201) -> None:
    info = official.query(ARCHS[1], "cifar10-valid", "200")
    seeds = DATASETS["cifar10-valid"][1]
    assert info["valid_acc"] == pytest.approx(np.mean([acc(1, "cifar10-valid", "x-valid", s, 199, 200) for s in seeds]))
    assert info["test_acc"] == pytest.approx(np.mean([acc(1, "cifar10-valid", "ori-test", s, 199, 200) for s in seeds]))
    assert info["train_loss"] == pytest.approx(np.mean([loss(1, "cifar10-valid", "train", s, 199, 200) for s in seeds]))
    assert info["train_time_s"] == pytest.approx(200 * TRAIN_EPOCH_TIME["cifar10-valid"])
    assert info["train_epoch_time_s"] == pytest.approx(TRAIN_EPOCH_TIME["cifar10-valid"])
    assert info["valid_time_s"] == pytest.approx(200 * EVAL_EPOCH_TIME)
    assert info["flops_m"] == pytest.approx(flops(1, "cifar10-valid"))
    assert info["params_m"] == pytest.approx(params(1, "cifar10-valid"))
    assert info["latency_ms"] == pytest.approx(1000 * np.mean([latency_s(1, s) for s in seeds]))
    assert "valtest_acc" not in info


def test_one_seed_one_epoch(official: OfficialNb201) -> None:
    info = official.query(0, "cifar100", "200", epoch=10, seed=888)
    assert info["valid_acc"] == pytest.approx(acc(0, "cifar100", "x-valid", 888, 10, 200))
    assert info["test_acc"] == pytest.approx(acc(0, "cifar100", "x-test", 888, 10, 200))
    assert info["valtest_acc"] == pytest.approx(acc(0, "cifar100", "ori-test", 888, 10, 200))
    assert info["valtest_loss"] == pytest.approx(loss(0, "cifar100", "ori-test", 888, 10, 200))
    assert info["train_time_s"] == pytest.approx(11 * TRAIN_EPOCH_TIME["cifar100"])
    # Every split exists on cifar100, so every documented name comes back.
    assert set(info) == set(official.metric_names()) == set(OFFICIAL_METRICS)


def test_hp_12_and_cifar10(official: OfficialNb201) -> None:
    low = official.query(0, "cifar10-valid", hp="12")
    assert low["valid_acc"] == pytest.approx(
        np.mean([acc(0, "cifar10-valid", "x-valid", s, 11, 12) for s in (777, 888)])
    )
    assert low["valid_acc"] != pytest.approx(official.query(0, "cifar10-valid", hp="200")["valid_acc"])
    c10 = official.query(0, "cifar10")
    assert c10["test_acc"] == pytest.approx(np.mean([acc(0, "cifar10", "ori-test", s, 199, 200) for s in (777, 888)]))
    assert not any(key.startswith(("valid_", "valtest_")) for key in c10)


def test_curve(official: OfficialNb201) -> None:
    curve = official.curve(1, "ImageNet16-120", "12", seed=777)
    assert set(curve) == {name for name in OFFICIAL_METRICS if not name.endswith(("_m", "_ms"))}
    expected = [acc(1, "ImageNet16-120", "x-valid", 777, e, 12) for e in range(12)]
    np.testing.assert_allclose(curve["valid_acc"], expected)
    np.testing.assert_allclose(curve["train_time_s"], TRAIN_EPOCH_TIME["ImageNet16-120"] * np.arange(1, 13))


def test_table_equivalents(official: OfficialNb201) -> None:
    from search_spaces.nb201.benchmark import Nb201Benchmark

    assert set(TABLE_EQUIVALENTS) <= set(Nb201Benchmark().metrics)
    assert official.value(0, "acc") == official.query(0, "cifar10-valid", "200")["valid_acc"]
    assert official.value(0, "cifar100_acc") == pytest.approx(
        np.mean([acc(0, "cifar100", "ori-test", s, 199, 200) for s in (777, 888, 999)])
    )
    assert official.value(0, "cifar100_acc_12ep") == pytest.approx(acc(0, "cifar100", "x-valid", 777, 11, 12))
    assert official.value(1, "train_time") == pytest.approx(200 * TRAIN_EPOCH_TIME["cifar10-valid"])
    with pytest.raises(UnknownMetricError, match="valid metrics: acc, test_acc"):
        official.value(0, "latency_pixel3")


def test_query_errors(official: OfficialNb201) -> None:
    with pytest.raises(ValueError, match="is not in"):
        official.query("|none~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|")
    with pytest.raises(ValueError, match=r"out of range 0\.\.2"):
        official.query(3)
    with pytest.raises(ValueError, match="not evaluated"):
        official.query(2)
    with pytest.raises(ValueError, match="available: cifar10-valid, cifar10, cifar100, ImageNet16-120"):
        official.query(0, "imagenet")
    with pytest.raises(ValueError, match="seeds: 777, 888"):
        official.query(0, "cifar10", seed=999)
    with pytest.raises(ValueError, match=r"0\.\.11"):
        official.query(0, hp="12", epoch=12)
    with pytest.raises(ValueError, match="hp must be one of 12, 200"):
        official.query(0, hp="90")
    with pytest.raises(TypeError):
        official.query(True)


@pytest.mark.parametrize("trusted", [True, False])
@pytest.mark.parametrize("zip_format", [True, False])
def test_numpy_scalars_and_legacy_format(tmp_path: Path, trusted: bool, zip_format: bool) -> None:
    data = official_dict()
    # Numpy scalars are common in such pickles; the restricted loader must accept them.
    data["arch2infos"][0]["full"]["all_results"][("cifar10", 777)]["flop"] = np.float64(99.5)
    path = tmp_path / "numpy.pth"
    # The official files date from torch 1.4, before the zip format became the default.
    torch.save(data, path, _use_new_zipfile_serialization=zip_format)
    official = OfficialNb201(path, trusted=trusted)
    expected = np.mean([99.5, flops(0, "cifar10")])
    assert official.query(0, "cifar10")["flops_m"] == pytest.approx(expected)


class Arbitrary:
    """Stands in for an object a malicious pickle could smuggle in."""


def test_restricted_unpickler_refuses_other_objects(tmp_path: Path) -> None:
    data = official_dict()
    data["extra"] = Arbitrary()
    path = tmp_path / "foreign.pth"
    torch.save(data, path)
    with pytest.raises(OfficialBenchmarkError, match=r"trusted=False.*pass trusted=True"):
        OfficialNb201(path, trusted=False)
    assert len(OfficialNb201(path, trusted=True)) == 3  # loads when the user vouches for the file


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    missing = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    with pytest.raises(OfficialBenchmarkError, match=f"not found: {missing}"):
        OfficialNb201(missing)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"this is not a pickle at all" * 10)
    with pytest.raises(OfficialBenchmarkError, match=r"cannot read .*garbage\.pth as a torch/pickle file"):
        OfficialNb201(garbage)
    with pytest.raises(OfficialBenchmarkError, match=r"garbage\.pth"):
        OfficialNb201(garbage, trusted=False)


def test_wrong_format(tmp_path: Path) -> None:
    nats_like = tmp_path / "nats.pth"
    torch.save({"meta_archs": list(ARCHS), "arch2infos": {}}, nats_like)
    with pytest.raises(OfficialBenchmarkError, match=r"not a NAS-Bench-201 file: missing \['evaluated_indexes'\]"):
        OfficialNb201(nats_like)
    a_list = tmp_path / "list.pth"
    torch.save([1, 2, 3], a_list)
    with pytest.raises(OfficialBenchmarkError, match="holds a list"):
        OfficialNb201(a_list)
    broken = official_dict()
    del broken["arch2infos"][1]["less"]
    with pytest.raises(OfficialBenchmarkError, match=r"arch2infos\[1\] lacks the 'less'/'full' results"):
        OfficialNb201(broken)


def test_from_dict_does_not_alias_the_callers_data() -> None:
    data = official_dict()
    official = OfficialNb201(data)
    before = official.query(0)["valid_acc"]
    data["arch2infos"][0]["full"]["all_results"][("cifar10-valid", 777)]["eval_acc1es"]["x-valid@199"] = 0.0
    assert official.query(0)["valid_acc"] == before
