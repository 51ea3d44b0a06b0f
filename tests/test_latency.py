"""Latency measurement: plausible, positive, ordered by network size, reported by the median of its rounds."""

from __future__ import annotations

import numpy as np
import pytest

from nasrlm.hardware.latency import LatencyConfig, LatencyError, Measurement, measure, measure_one, ort_latency_ms
from search_spaces import get_space
from search_spaces.nb201 import Nb201Arch

ALL_CONV3 = ("nor_conv_3x3",) * 6
ALL_NONE = ("none",) * 6
FAST = LatencyConfig(warmup=3, repeats=15)


@pytest.fixture(scope="module")
def space():
    return get_space("nb201")


def test_measurement_statistics():
    m = Measurement((1.0, 2.0, 3.0, 4.0, 100.0))
    assert m.median_ms == 3.0 and m.min_ms == 1.0
    assert m.iqr_ms == pytest.approx(4.0 - 2.0)  # the outlier moves neither the median nor the IQR


def test_onnxruntime_times_the_network_it_was_given(space, monkeypatch):
    """Plausible and ordered, without timing assumptions: load on a shared machine moves any time, so
    what is checked is which network each session runs, how often, and that every round is reported."""
    import onnx
    import onnxruntime

    sessions = []

    class RecordingSession(onnxruntime.InferenceSession):
        def __init__(self, model: bytes, *args, **kwargs) -> None:
            super().__init__(model, *args, **kwargs)
            self.convs = sum(node.op_type == "Conv" for node in onnx.load_from_string(model).graph.node)
            self.runs = 0
            sessions.append(self)

        def run(self, *args, **kwargs):
            self.runs += 1
            return super().run(*args, **kwargs)

    monkeypatch.setattr(onnxruntime, "InferenceSession", RecordingSession)
    small, large = measure(space, [Nb201Arch(ALL_NONE), Nb201Arch(ALL_CONV3)], FAST)
    for m, session in zip((small, large), sessions, strict=True):
        assert len(m.times_ms) == FAST.repeats and session.runs == FAST.warmup + FAST.repeats
        assert all(np.isfinite(t) and t > 0 for t in m.times_ms)
        assert min(m.times_ms) <= m.median_ms <= max(m.times_ms)
    # The larger network is the one timed second: six 3x3 convs in each of the 15 cells, against none.
    assert sessions[1].convs - sessions[0].convs == 6 * 15
    assert space.query(Nb201Arch(ALL_CONV3), "flops") > 10 * space.query(Nb201Arch(ALL_NONE), "flops")


def test_repeated_measurements_are_complete_and_reported_by_their_median(space):
    # What a measurement reports, not how fast this machine is: load on a shared machine moves the
    # times, so no test compares them with each other or with a bound of its own.
    arch = Nb201Arch(("nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3", "skip_connect", "nor_conv_3x3", "none"))
    config = LatencyConfig(warmup=2, repeats=9)
    for m in (measure_one(space, arch, config) for _ in range(2)):
        times = np.asarray(m.times_ms)
        assert len(times) == config.repeats and np.all(np.isfinite(times)) and np.all(times > 0)
        assert m.median_ms == float(np.median(times)) and m.min_ms <= m.median_ms <= times.max()


def test_torch_backend_on_cpu(space):
    m = measure_one(space, 6111, LatencyConfig(backend="torch", warmup=2, repeats=5))
    assert 0.01 < m.median_ms < 2000


def test_results_are_reported_as_they_come(space):
    seen = []
    measure(space, [0, 1], LatencyConfig(warmup=1, repeats=3), on_result=lambda i, m: seen.append((i, m.median_ms)))
    assert [i for i, _ in seen] == [0, 1] and all(v > 0 for _, v in seen)


def test_pretraining_label_function(space):
    # The measurement that made the shipped default's ort_latency_ms labels: batch 1, 1 thread, median of 10.
    value = ort_latency_ms(space, space.arch(6111))
    assert isinstance(value, float) and 0.01 < value < 1000


def test_same_seed_same_network(space):
    from nasrlm.hardware.latency import onnx_with_weights

    def weights(seed: int) -> np.ndarray:
        model = onnx_with_weights(space.onnx_model(6111, 1), np.random.default_rng(seed))
        return np.frombuffer(model.graph.initializer[0].raw_data, dtype=np.float32)

    assert np.array_equal(weights(0), weights(0)) and not np.array_equal(weights(0), weights(1))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"backend": "tvm"}, "valid backends: onnxruntime, torch, triton"),
        ({"device": "tpu"}, "valid devices: cpu, cuda"),
        ({"backend": "triton"}, "CUDA GPU"),
        ({"device": "cuda"}, "onnxruntime backend measures on the CPU"),
        ({"repeats": 0}, "repeats must be at least 1"),
        ({"warmup": -1}, "warmup must be at least 0"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(LatencyError, match=message):
        LatencyConfig(**kwargs)
