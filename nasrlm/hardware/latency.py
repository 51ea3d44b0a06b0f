"""Measured inference latency of architectures, the way latency benchmarks measure it.

Each network is run ``warmup`` times untimed (allocations, caches, autotuning), then ``repeats``
timed rounds of one forward pass each; the latency is the median round, which a stray interruption
by another process cannot move much. On the CPU the runtime gets ``threads`` threads (1 by default:
single-thread latency does not depend on what else the machine is running on its other cores, and
it is what most CPU latency tables report). On a GPU each round is timed with a pair of CUDA events,
which time the device work itself and not the host's launch overhead around it.

Backends: ``onnxruntime`` (the network's ONNX graph on the CPU execution provider), ``torch`` (the
eager PyTorch module, CPU or CUDA) and ``triton`` (the network with the fused candidate ops its space
gives through the ``fused_module`` hook, e.g. :mod:`search_spaces.nb201.triton_ops`; CUDA only). What is
timed comes from the space: ``onnx_model`` for onnxruntime, ``build_model`` for torch.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from nasrlm.core.errors import NasrlmError

__all__ = [
    "BACKENDS",
    "LatencyConfig",
    "LatencyError",
    "Measurement",
    "measure",
    "measure_one",
    "onnx_with_weights",
    "ort_latency_ms",
]

Backend = Literal["onnxruntime", "torch", "triton"]
BACKENDS: tuple[str, ...] = ("onnxruntime", "torch", "triton")
DEVICES: tuple[str, ...] = ("cpu", "cuda")


class LatencyError(NasrlmError, ValueError):
    """A measurement that cannot be made as asked (backend, device or settings); the message says why."""


@dataclass(frozen=True)
class LatencyConfig:
    """How to measure. The defaults are a batch-1, single-thread CPU measurement with onnxruntime."""

    backend: Backend = "onnxruntime"
    device: str = "cpu"
    threads: int = 1
    warmup: int = 10
    repeats: int = 30
    batch_size: int = 1
    seed: int = 0  # random weights and input
    # GPU only: replay the forward pass as one captured CUDA graph. Times the device's work without
    # the host's per-kernel launch cost, which dominates small networks at small batches.
    cuda_graph: bool = False

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise LatencyError(f"unknown backend {self.backend!r}; valid backends: {', '.join(BACKENDS)}")
        if self.device not in DEVICES:
            raise LatencyError(f"unknown device {self.device!r}; valid devices: {', '.join(DEVICES)}")
        if self.backend == "onnxruntime" and self.device != "cpu":
            raise LatencyError("the onnxruntime backend measures on the CPU; use --backend torch or triton for a GPU")
        if self.backend == "triton" and self.device != "cuda":
            raise LatencyError(
                "the triton backend measures compiled kernels on a CUDA GPU (device 'cuda'); "
                "on the CPU, Triton only has its interpreter, whose speed says nothing about latency"
            )
        for name in ("threads", "repeats", "batch_size"):
            if getattr(self, name) < 1:
                raise LatencyError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.warmup < 0:
            raise LatencyError(f"warmup must be at least 0, got {self.warmup}")
        if self.cuda_graph and self.device != "cuda":
            raise LatencyError("cuda_graph needs device 'cuda'")


@dataclass(frozen=True)
class Measurement:
    """The timed rounds of one network (ms) and their median, the reported latency."""

    times_ms: tuple[float, ...]

    @property
    def median_ms(self) -> float:
        return float(np.median(self.times_ms))

    @property
    def min_ms(self) -> float:
        return float(np.min(self.times_ms))

    @property
    def iqr_ms(self) -> float:
        """Interquartile range of the rounds: the spread that the median is robust to."""
        low, high = np.percentile(self.times_ms, [25, 75])
        return float(high - low)


# --- models to time ------------------------------------------------------------------------------
def onnx_with_weights(model: Any, rng: np.random.Generator) -> Any:
    """``model`` with every initializer filled with small random values (in place; returned)."""
    from onnx import numpy_helper

    for tensor in model.graph.initializer:
        if tensor.raw_data or tensor.float_data:
            continue  # a real exported weight: keep it
        values = rng.standard_normal(tuple(tensor.dims)).astype(np.float32) * 0.1
        tensor.CopyFrom(numpy_helper.from_array(values, tensor.name))
    return model


@contextlib.contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _ort_runner(model: Any, threads: int, rng: np.random.Generator) -> Callable[[], object]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    graph_input = model.graph.input[0]
    shape = tuple(d.dim_value or 1 for d in graph_input.type.tensor_type.shape.dim)
    feed = {graph_input.name: rng.standard_normal(shape).astype(np.float32)}
    return lambda: session.run(None, feed)


def _torch_runner(module: Any, example: Any) -> Callable[[], object]:
    import torch

    def run() -> object:
        with torch.inference_mode():
            return module(example)

    return run


# --- timing --------------------------------------------------------------------------------------
def _time_cpu(run: Callable[[], object], warmup: int, repeats: int) -> Measurement:
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(1000 * (time.perf_counter() - started))
    return Measurement(tuple(times))


def _time_cuda(run: Callable[[], object], warmup: int, repeats: int) -> Measurement:
    import torch

    for _ in range(warmup):
        run()
    torch.cuda.synchronize()
    pairs = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        run()
        end.record()
        pairs.append((start, end))
        # Each round waits for the last: rounds must not overlap on the device, or their events
        # would time queueing as well as work.
        end.synchronize()
    return Measurement(tuple(float(s.elapsed_time(e)) for s, e in pairs))


def _as_cuda_graph(run: Callable[[], object], warmup: int) -> Callable[[], object]:
    import torch

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm up (compile, autotune, allocate) outside the capture
        for _ in range(max(warmup, 1)):
            run()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        run()
    return graph.replay


def measure_one(space: Any, arch: Any, config: LatencyConfig = LatencyConfig()) -> Measurement:
    """Latency of one architecture of ``space`` (networks get random weights from ``config.seed``)."""
    rng = np.random.default_rng(config.seed)
    if config.backend == "onnxruntime":
        run = _ort_runner(onnx_with_weights(space.onnx_model(arch, config.batch_size), rng), config.threads, rng)
        return _time_cpu(run, config.warmup, config.repeats)
    import torch

    if config.device == "cuda" and not torch.cuda.is_available():
        raise LatencyError(f"no CUDA device is available for the {config.backend} backend; use --device cpu")
    torch.manual_seed(config.seed)
    module = space.build_model(arch).eval()
    # A space whose architectures fix their own input (OFA's resolution) says so in example_input_for.
    example_for = getattr(space, "example_input_for", None)
    example = example_for(arch, config.batch_size) if example_for else space.example_input(config.batch_size)
    if config.backend == "triton":
        try:
            module = space.fused_module(module.to("cuda"))
        except NotImplementedError as exc:  # UnsupportedBySpaceError: the space has no fused ops
            raise LatencyError(f"the triton backend needs fused ops: {exc}") from None
    else:
        module = module.to(config.device)
    run = _torch_runner(module, example.to(config.device))
    if config.device == "cuda":
        if config.cuda_graph:
            run = _as_cuda_graph(run, config.warmup)
        return _time_cuda(run, config.warmup, config.repeats)
    with _torch_threads(config.threads):
        return _time_cpu(run, config.warmup, config.repeats)


def measure(
    space: Any,
    archs: Sequence[Any],
    config: LatencyConfig = LatencyConfig(),
    *,
    progress: bool = False,
    on_result: Callable[[int, Measurement], None] | None = None,
) -> list[Measurement]:
    """Latency of each architecture, measured one after another in this process.

    Never in parallel: concurrent measurements would slow each other down. ``on_result(i, m)`` is
    called after each one (to save progress, say).
    """
    from tqdm.auto import tqdm

    results = []
    for i, arch in enumerate(tqdm(archs, desc=f"{config.backend} latency", unit="arch", disable=not progress)):
        result = measure_one(space, arch, config)
        results.append(result)
        if on_result is not None:
            on_result(i, result)
    return results


def ort_latency_ms(space: Any, arch: Any, runs: int = 10, warmup: int = 3) -> float:
    """The ``ort_latency_ms`` label the shipped pretrained model learned (batch 1, 1 thread, median of 10).

    Kept exactly as measured for pretraining (weights and input drawn from seed 0, 3 warm-up runs),
    so the labels stay reproducible.
    """
    config = LatencyConfig(warmup=warmup, repeats=runs, seed=0)
    return measure_one(space, arch, config).median_ms
