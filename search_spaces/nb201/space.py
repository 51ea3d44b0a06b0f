"""NAS-Bench-201 as a :class:`~search_spaces.base.TabularSpace`: one object for architectures,
networks, ONNX text and every metric, tabulated (accuracy, latency) or computed (params, FLOPs), with
its hooks: the direct ONNX builder, the cell DAG that graph predictors read, the fused Triton ops."""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nasrlm.core.cache import atomic_write_bytes, cache_dir

from ..base import NON_NEGATIVE, BaseTabularSpace, DagSpec, Metric, UnknownMetricError
from . import arch as _arch
from .arch import NUM_ARCHS, Nb201Arch
from .benchmark import Nb201Benchmark
from .costs import INPUT_SHAPE, count_flops, count_params
from .text import build_texts, text_of_ops

# torch and onnx are imported where networks or text are made: asking for metrics needs neither.

ArchLike = Nb201Arch | str | int

_COMPUTED_METRICS = {
    "params": Metric(
        "params",
        "minimize",
        "M",
        "Trainable parameters of the CIFAR-10 network (10 classes), in millions, counted from the "
        "network built here (C=16, N=5); the benchmark tables' params column is not used.",
        NON_NEGATIVE,
    ),
    "flops": Metric(
        "flops",
        "minimize",
        "MFLOPs",
        "FLOPs of one forward pass of one 32x32 image, in millions, counted as "
        "torch.utils.flop_counter does (2 per multiply-accumulate of convs and linear layers).",
        NON_NEGATIVE,
    ),
}


@functools.cache
def _text_format_key() -> str:
    """Changes whenever the code or onnx version that makes the text changes (invalidates the cache)."""
    import onnx

    from .text_table import code_digest

    return hashlib.sha256(f"{code_digest()}/{onnx.__version__}".encode()).hexdigest()[:16]


class Nb201Space(BaseTabularSpace):
    """NAS-Bench-201 (15,625 cells, official index order) with its shipped benchmark metrics."""

    name = "nb201"
    arch_type = Nb201Arch

    def __init__(self) -> None:
        self.benchmark = Nb201Benchmark()
        self._computed: dict[str, np.ndarray] = {}
        # The whole-space text, once read (a sampler asks for a few texts at a time, thousands of
        # times: each call must not decompress the 15,625 texts again).
        self._every_text: list[str] | None = None
        self._looked_for_texts = False  # the disk cache and the shipped table are read at most once

    # --- architectures -----------------------------------------------------------------------
    @property
    def size(self) -> int:
        return NUM_ARCHS

    def archs(self) -> list[Nb201Arch]:
        """All architectures in official index order."""
        return _arch.all_archs()

    def parse(self, text: str) -> Nb201Arch:
        return Nb201Arch.from_str(text)

    def arch(self, key: ArchLike) -> Nb201Arch:
        """An :class:`Nb201Arch` from an arch, an arch string or an official index."""
        if isinstance(key, Nb201Arch):
            return key
        if isinstance(key, str):
            return Nb201Arch.from_str(key)
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            return Nb201Arch.from_index(int(key))
        raise TypeError(f"expected an Nb201Arch, an NB201 arch string or an index, got {type(key).__name__}")

    def index(self, arch: ArchLike) -> int:
        return self.arch(arch).index

    def sample(self, rng: np.random.Generator) -> Nb201Arch:
        return _arch.sample_arch(rng)

    def mutate(self, arch: ArchLike, rng: np.random.Generator) -> Nb201Arch:
        return _arch.mutate_arch(self.arch(arch), rng)

    def distributions(self) -> dict[str, Any]:
        return _arch.optuna_distributions()

    def to_params(self, arch: ArchLike) -> dict[str, str]:
        return _arch.to_optuna_params(self.arch(arch))

    def from_params(self, params: Mapping[str, Any]) -> Nb201Arch:
        return _arch.from_optuna_params(params)

    # --- networks ------------------------------------------------------------------------------
    def build_model(self, arch: ArchLike, num_classes: int = 10) -> Any:
        """The PyTorch network (official NB201 macro structure), in eval mode."""
        from .model import build_network

        return build_network(self.arch(arch).ops, num_classes=num_classes)

    def example_input(self, batch_size: int = 1) -> Any:
        import torch

        return torch.randn(batch_size, *INPUT_SHAPE)

    @property
    def function_modules(self) -> tuple[type, ...]:  # type: ignore[override]
        """Module classes folded into ONNX local functions when one of this space's networks is exported."""
        from .model import Nb201Cell

        return (Nb201Cell,)

    def onnx_model(self, arch: ArchLike, batch_size: int = 1) -> Any:
        """The graph the exporter would write (every edge, dead ones included), built directly in ~10 ms."""
        from .onnx_builder import build_onnx

        model = build_onnx(self.arch(arch).ops)
        if batch_size != 1:
            model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = batch_size
            model.graph.output[0].type.tensor_type.shape.dim[0].dim_value = batch_size
        return model

    def onnx_text(self, arch: ArchLike) -> str:
        """Canonical ONNX text (cells as one local function), built directly (~10 ms)."""
        return text_of_ops(self.arch(arch).ops)

    def _make_text(self, arch: Any) -> str:
        return text_of_ops(arch.ops)

    def _texts_of_archs(self, archs: list[Any]) -> list[str]:
        return self.onnx_texts(archs)

    def onnx_text_exported(self, arch: ArchLike) -> str:
        """The same text through the general path: build the torch module and export it (~0.2 s)."""
        from nasrlm.text.onnx_text import to_onnx_text

        return to_onnx_text(self.build_model(arch), self.example_input(), functions=self.function_modules)

    def onnx_texts(
        self,
        archs: Iterable[ArchLike] | None = None,
        *,
        use_cache: bool = True,
        workers: int | None = None,
        progress: bool = False,
    ) -> list[str]:
        """ONNX text of many architectures (all of them by default), cached on disk.

        The texts ship with the package (:mod:`search_spaces.nb201.text_table`, used when this code and
        the installed ``onnx`` make them identically). Otherwise the first call builds the text of all
        15,625 architectures in ``workers`` processes (default: all cores) and saves it under
        :func:`nasrlm.core.cache.cache_dir`; later calls load it. A few architectures asked for before
        then are built without building the rest.
        """
        if archs is not None:
            chosen = [self.arch(a) for a in archs]
            every = self._ready_texts(use_cache)
            if every is None and len(chosen) < NUM_ARCHS // 10:
                return build_texts([a.ops for a in chosen], workers=workers or 1, progress=progress)
            every = every or self._all_texts(use_cache, workers, progress)
            return [every[a.index] for a in chosen]
        return list(self._all_texts(use_cache, workers, progress))

    def text_cache_path(self) -> Path:
        return cache_dir() / f"nb201_onnx_text_{_text_format_key()}.json.gz"

    def _ready_texts(self, use_cache: bool) -> list[str] | None:
        """Every arch's text if it needs no building: read before, in the disk cache, or shipped."""
        if not use_cache:
            return None
        if self._every_text is not None or self._looked_for_texts:
            return self._every_text
        self._looked_for_texts = True
        path = self.text_cache_path()
        if path.is_file():
            try:
                loaded = json.loads(gzip.decompress(path.read_bytes()))
                if isinstance(loaded, list) and len(loaded) == len(self.archs()):
                    self._every_text = loaded
            except (OSError, ValueError, EOFError):
                pass  # a damaged cache is rebuilt, not trusted
        if self._every_text is None:
            from .text_table import shipped_texts

            shipped = shipped_texts()
            if shipped is not None and len(shipped) == len(self.archs()):
                self._every_text = shipped
        return self._every_text

    def _all_texts(self, use_cache: bool, workers: int | None, progress: bool) -> list[str]:
        texts = self._ready_texts(use_cache)
        if texts is None:
            texts = build_texts([a.ops for a in self.archs()], workers=workers, progress=progress)
            if use_cache:
                atomic_write_bytes(self.text_cache_path(), gzip.compress(json.dumps(texts).encode(), compresslevel=6))
                self._every_text = texts
        return texts

    # --- metrics -------------------------------------------------------------------------------
    @property
    def metrics(self) -> dict[str, Metric]:
        return {**self.benchmark.metrics, **_COMPUTED_METRICS}

    def _unknown_metric(self, name: str) -> UnknownMetricError:
        try:
            self.benchmark.values(name)  # the benchmark's error lists its devices for latency_*
        except UnknownMetricError as exc:
            if name.startswith("latency_"):
                return exc
        return super()._unknown_metric(name)

    def _values(self, metric: str) -> np.ndarray:
        """All 15,625 values of a shipped metric (read-only), entry ``i`` = official index ``i``."""
        if metric in _COMPUTED_METRICS:
            if metric not in self._computed:
                # Both costs depend only on how many 1x1 and 3x3 convs the cell has: count them in
                # the arch strings and look the 49 possible answers up (~10 ms for all archs).
                count = count_params if metric == "params" else count_flops
                by_convs = {}
                values = []
                for text in self.benchmark.arch_strs:
                    key = (text.count("nor_conv_1x1"), text.count("nor_conv_3x3"))
                    if key not in by_convs:
                        ops = ("nor_conv_1x1",) * key[0] + ("nor_conv_3x3",) * key[1]
                        by_convs[key] = count(ops + ("none",) * (6 - len(ops))) / 1e6
                    values.append(by_convs[key])
                array = np.array(values, dtype=np.float64)
                array.setflags(write=False)
                self._computed[metric] = array
            return self._computed[metric]
        return self.benchmark.values(metric)

    def _query(self, arch: Any, metric: str) -> float:
        if metric in _COMPUTED_METRICS:
            count = count_params if metric == "params" else count_flops
            return count(arch.ops) / 1e6
        return self.benchmark.value(arch.index, metric)

    # --- hooks ---------------------------------------------------------------------------------
    def graph_spec(self) -> DagSpec:
        from .graph import NB201_DAG_SPEC

        return NB201_DAG_SPEC

    def fused_module(self, module: Any) -> Any:
        """The network with each cell's candidate ops fused into one Triton kernel (CUDA)."""
        from .triton_ops import TritonNb201

        return TritonNb201(module)
