"""Nb201Benchmark: names, metadata, known reference values, per-seed values and error messages."""

from __future__ import annotations

import numpy as np
import pytest

from search_spaces.base import UnknownMetricError
from search_spaces.nb201 import benchmark as benchmark_module
from search_spaces.nb201 import tables as benchmark_data
from search_spaces.nb201.benchmark import NUM_ARCHS, Nb201Benchmark, UnknownDeviceError

ACCURACIES = [
    "acc",
    "test_acc",
    "cifar100_acc",
    "imagenet16_acc",
    "cifar100_test_acc",
    "imagenet16_test_acc",
    "acc_12ep",
    "test_acc_12ep",
    "cifar100_acc_12ep",
    "cifar100_test_acc_12ep",
    "imagenet16_acc_12ep",
    "imagenet16_test_acc_12ep",
]
HW_NAS_BENCH_ARCH0 = {"pixel3": 3.60585, "raspi4": 10.48198, "eyeriss": 3.64562, "fpga": 2.57296}


@pytest.fixture(scope="module")
def bench() -> Nb201Benchmark:
    return Nb201Benchmark()


def test_metric_names_and_metadata(bench: Nb201Benchmark) -> None:
    metrics = bench.metrics
    assert len(bench.devices) == 27
    expected = {*ACCURACIES, "train_time", *(f"latency_{d}" for d in bench.devices)}
    assert set(metrics) == expected
    assert not any("param" in name for name in metrics)  # the unreliable *_params_mb columns stay out
    for name, metric in metrics.items():
        assert metric.name == name
        assert metric.description
    for name in ACCURACIES:
        assert (metrics[name].direction, metrics[name].unit) == ("maximize", "%")
    assert (metrics["train_time"].direction, metrics["train_time"].unit) == ("minimize", "s")
    for device in bench.devices:
        metric = metrics[f"latency_{device}"]
        assert (metric.direction, metric.unit) == ("minimize", "ms")
        assert "HELP" in metric.description


def test_descriptions_name_split_and_epochs(bench: Nb201Benchmark) -> None:
    metrics = bench.metrics
    assert "'x-valid'" in metrics["acc"].description and "200 epochs" in metrics["acc"].description
    assert "'ori-test'" in metrics["test_acc"].description
    assert "'ori-test' = x-valid + x-test" in metrics["cifar100_acc"].description
    assert "'x-test'" in metrics["imagenet16_test_acc"].description
    assert "12 epochs" in metrics["acc_12ep"].description
    assert "'x-valid' half" in metrics["cifar100_acc_12ep"].description
    assert "batch size 1 " in metrics["latency_pixel3"].description
    assert "HW-NAS-Bench" in metrics["latency_eyeriss"].description
    assert "batch size 256" in metrics["latency_1080ti_256"].description
    assert "GTX 1080 Ti" in metrics["latency_1080ti_256"].description


def test_construction_and_metadata_load_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded: list[str] = []

    def spy(name: str):
        loaded.append(name)
        return benchmark_data.load_table(name)

    monkeypatch.setattr(benchmark_module, "load_table", spy)
    bench = Nb201Benchmark()
    assert bench.metrics and bench.devices and bench.seed_metrics
    assert loaded == []
    bench.values("latency_pixel3")
    # The latency table plus the reference table its arch strings are checked against.
    assert sorted(loaded) == ["nb201_200ep_valacc_ctpe", "nb201_latency_help"]


def test_every_metric_has_15625_finite_read_only_values(bench: Nb201Benchmark) -> None:
    for name in bench.metrics:
        values = bench.values(name)
        assert values.shape == (NUM_ARCHS,) and values.dtype == np.float64, name
        assert np.isfinite(values).all(), name
        assert not values.flags.writeable, name
        with pytest.raises(ValueError):
            values[0] = 0.0
        assert bench.values(name) is values  # cached


def test_reference_optima(bench: Nb201Benchmark) -> None:
    test_acc, acc = bench.values("test_acc"), bench.values("acc")
    assert int(np.argmax(test_acc)) == 6111 and round(float(test_acc.max()), 4) == 94.3733
    assert int(np.argmax(acc)) == 6111 and round(float(acc.max()), 4) == 91.6067
    assert bench.value(0, "acc") == pytest.approx(81.98266666, abs=1e-6)
    # 12-epoch training is a low fidelity: its best CIFAR-10 test accuracy is 89.16 (mini-bench README).
    assert float(bench.values("test_acc_12ep").max()) == pytest.approx(89.16, abs=1e-6)
    assert float(np.mean(bench.values("acc_12ep"))) < float(np.mean(acc))


# Arch 0 in every table, to 4 decimals: pins each name to its column (a swapped split would show here).
ARCH0 = {
    "acc": 81.9827,
    "test_acc": 85.8633,
    "cifar100_acc": 52.8067,
    "imagenet16_acc": 27.4222,
    "cifar100_test_acc": 52.9133,
    "imagenet16_test_acc": 26.6333,
    "acc_12ep": 63.364,
    "test_acc_12ep": 69.55,
    "cifar100_acc_12ep": 31.84,
    "cifar100_test_acc_12ep": 31.26,
    "imagenet16_acc_12ep": 18.4667,
    "imagenet16_test_acc_12ep": 17.0,
    "train_time": 1444.2186,
}


def test_arch_0_values(bench: Nb201Benchmark) -> None:
    assert {name: round(bench.value(0, name), 4) for name in ARCH0} == ARCH0


def test_accuracies_are_percentages(bench: Nb201Benchmark) -> None:
    for name in ACCURACIES:
        values = bench.values(name)
        assert values.min() >= 0.0 and values.max() <= 100.0, name
        assert values.max() > 30.0, name  # a fraction in [0, 1] would fail here


def test_hw_nas_bench_latencies_of_arch_0(bench: Nb201Benchmark) -> None:
    for device, expected in HW_NAS_BENCH_ARCH0.items():
        assert bench.value(0, f"latency_{device}") == pytest.approx(expected, abs=5e-6), device


def test_value_matches_values_and_checks_index(bench: Nb201Benchmark) -> None:
    assert bench.value(np.int64(6111), "test_acc") == float(bench.values("test_acc")[6111])
    assert bench.value(NUM_ARCHS - 1, "latency_fpga") == float(bench.values("latency_fpga")[-1])
    for bad in (-1, NUM_ARCHS):
        with pytest.raises(IndexError, match="out of range"):
            bench.value(bad, "acc")
    with pytest.raises(TypeError):
        bench.value(1.0, "acc")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        bench.value(True, "acc")


def test_arch_strs_follow_official_order(bench: Nb201Benchmark) -> None:
    strs = bench.arch_strs
    assert len(strs) == NUM_ARCHS == len(set(strs))
    # Arch 0 of the official API (``api[0]``).
    arch0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
    assert strs[0] == arch0


def test_seed_values(bench: Nb201Benchmark) -> None:
    assert bench.seed_metrics == ["acc", "cifar100_acc", "imagenet16_acc"]
    for name in bench.seed_metrics:
        seeds = bench.seed_values(name)
        assert seeds.shape == (NUM_ARCHS, 3) and seeds.dtype == np.float64
        assert not seeds.flags.writeable
        counts = np.isfinite(seeds).sum(axis=1)
        assert set(np.unique(counts)) == {2, 3}
        # Padding is at the end of each row only.
        assert np.isfinite(seeds[:, :2]).all()
        np.testing.assert_allclose(np.nanmean(seeds, axis=1), bench.values(name), atol=1e-6)
    first = bench.seed_values("acc")[0]
    np.testing.assert_allclose(first, [82.09199998291015, 81.61599997314453, 82.24000001], atol=1e-6)


def test_seed_values_errors(bench: Nb201Benchmark) -> None:
    with pytest.raises(ValueError, match=r"no per-seed values.*per-seed metrics: acc, cifar100_acc"):
        bench.seed_values("test_acc")
    with pytest.raises(UnknownMetricError):
        bench.seed_values("accuracy")


def test_unknown_metric_lists_valid_names(bench: Nb201Benchmark) -> None:
    with pytest.raises(UnknownMetricError) as info:
        bench.values("params")
    message = str(info.value)
    assert message.startswith("unknown metric 'params' for space 'nb201'; valid metrics: acc, test_acc")
    assert "latency_pixel3" in message and "train_time" in message


def test_unknown_device_lists_valid_devices(bench: Nb201Benchmark) -> None:
    with pytest.raises(UnknownDeviceError) as info:
        bench.value(0, "latency_xxx")
    assert isinstance(info.value, UnknownMetricError)  # callers catching the general error still catch it
    assert str(info.value).startswith("unknown device 'xxx'; valid devices: 1080ti_1, ")
    assert "pixel3" in str(info.value) and "titanxp_32" in str(info.value)
