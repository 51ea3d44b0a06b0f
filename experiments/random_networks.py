"""Random convolutional networks with free labels: pretraining data beyond NAS-Bench-201.

Usage: python experiments/random_networks.py [--networks 2000] [--seed 0] [--out runs/random_networks.jsonl]
                                             [--repeats 10] [--check]

The shipped RLM must read networks of spaces it has never seen (a user's own CNN family, the other
benchmark spaces). NAS-Bench-201 alone shows it one macro skeleton; this script draws networks from
a broad generator of image classifiers and labels each with what anyone can compute, no training:
its parameter count, its multiply-accumulates, the node and convolution counts of its ONNX graph,
and its onnxruntime latency measured here (batch 1, one thread, the median of ``--repeats`` runs;
``--repeats 0`` leaves latency out, for many more networks in the same time).

The generator (``sample_spec``): input resolution 32-96; a stem convolution (kernel 3/5/7,
stride 1/2); 2-6 stages, each of 1-4 blocks of one kind: plain conv-BN-act, a basic residual
block, a bottleneck (1x1, kxk, 1x1), an inverted residual (expand ratio 1/3/6, depthwise kxk,
optional squeeze-excite), a depthwise-separable conv, or a grouped conv; kernels 1/3/5/7;
widths 8-160; downsampling by a strided first block or by max/average pooling; activations ReLU,
ReLU6, SiLU, Hardswish or GELU; a head of global pooling, an optional 1x1 conv, and a linear
layer to 10/100/1000 classes. It is deliberately wider than any one NAS space.

Resumable: each network is one JSON line appended to ``--out`` (seed index, spec, canonical ONNX
text, labels); a rerun skips indices already there, so an interrupted run continues.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

BLOCKS = ("plain", "basic", "bottleneck", "inverted", "separable", "grouped")
ACTIVATIONS = {"relu": nn.ReLU, "relu6": nn.ReLU6, "silu": nn.SiLU, "hardswish": nn.Hardswish, "gelu": nn.GELU}
LABELS = ("params", "flops", "onnx_nodes", "onnx_convs", "ort_latency_ms")


@dataclass(frozen=True)
class StageSpec:
    block: str
    depth: int
    width: int
    kernel: int
    expand: int  # inverted and bottleneck blocks: hidden width ratio
    se: bool
    downsample: str  # "stride", "maxpool", "avgpool" or "none" (first stage only may keep resolution)


@dataclass(frozen=True)
class NetworkSpec:
    resolution: int
    stem_width: int
    stem_kernel: int
    stem_stride: int
    activation: str
    stages: tuple[StageSpec, ...]
    head_width: int  # 0: no 1x1 conv before pooling
    classes: int


def sample_spec(rng: random.Random) -> NetworkSpec:
    resolution = rng.choice((32, 32, 48, 64, 96))
    stem_stride = rng.choice((1, 1, 2))
    size = resolution // stem_stride  # feature map side, to keep every downsampling possible
    stages = []
    for s in range(rng.randint(2, 6)):
        block = rng.choice(BLOCKS)
        downsample = "none" if s == 0 and rng.random() < 0.5 else rng.choice(("stride", "stride", "maxpool", "avgpool"))
        if size < 4:
            downsample = "none"
        size = size // 2 if downsample != "none" else size
        stages.append(
            StageSpec(
                block=block,
                depth=rng.randint(1, 4),
                width=rng.choice((8, 12, 16, 24, 32, 40, 48, 64, 80, 96, 128, 160)),
                kernel=rng.choice((1, 3, 3, 5, 7)) if block in ("plain", "grouped") else rng.choice((3, 5, 7)),
                expand=rng.choice((1, 3, 6)) if block == "inverted" else rng.choice((2, 4)),
                se=rng.random() < 0.3,
                downsample=downsample,
            )
        )
    return NetworkSpec(
        resolution=resolution,
        stem_width=rng.choice((8, 16, 24, 32, 48, 64)),
        stem_kernel=rng.choice((3, 5, 7)),
        stem_stride=stem_stride,
        activation=rng.choice(tuple(ACTIVATIONS)),
        stages=tuple(stages),
        head_width=rng.choice((0, 0, 128, 256, 512)),
        classes=rng.choice((10, 100, 1000)),
    )


def _conv(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out)
    )


class _SqueezeExcite(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, max(4, channels // 4), 1),
            nn.ReLU(),
            nn.Conv2d(max(4, channels // 4), channels, 1),
            nn.Hardsigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class _Block(nn.Module):
    """One block of a stage; a residual sum where input and output shapes agree (or a projection)."""

    def __init__(self, stage: StageSpec, c_in: int, stride: int, act: type[nn.Module]) -> None:
        super().__init__()
        c_out, k = stage.width, stage.kernel
        if stage.block == "plain":
            layers, residual = [_conv(c_in, c_out, k, stride), act()], False
        elif stage.block == "basic":
            layers, residual = [_conv(c_in, c_out, k, stride), act(), _conv(c_out, c_out, k)], True
        elif stage.block == "bottleneck":
            hidden = max(8, c_out // stage.expand)
            layers = [_conv(c_in, hidden, 1), act(), _conv(hidden, hidden, k, stride), act(), _conv(hidden, c_out, 1)]
            residual = True
        elif stage.block == "inverted":
            hidden = c_in * stage.expand
            layers = ([_conv(c_in, hidden, 1), act()] if stage.expand > 1 else []) + [
                _conv(hidden, hidden, k, stride, groups=hidden),
                act(),
                _conv(hidden, c_out, 1),
            ]
            residual = True
        elif stage.block == "separable":
            layers, residual = [_conv(c_in, c_in, k, stride, groups=c_in), act(), _conv(c_in, c_out, 1), act()], False
        else:  # grouped
            groups = next(g for g in (4, 2, 1) if c_in % g == 0 and c_out % g == 0)
            layers, residual = [_conv(c_in, c_out, k, stride, groups=groups), act()], False
        if stage.se:
            layers.append(_SqueezeExcite(c_out))
        self.body = nn.Sequential(*layers)
        self.shortcut: nn.Module | None = None
        if residual:
            self.shortcut = nn.Identity() if (stride == 1 and c_in == c_out) else _conv(c_in, c_out, 1, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return y if self.shortcut is None else y + self.shortcut(x)


def build(spec: NetworkSpec) -> nn.Module:
    act = ACTIVATIONS[spec.activation]
    layers: list[nn.Module] = [_conv(3, spec.stem_width, spec.stem_kernel, spec.stem_stride), act()]
    channels = spec.stem_width
    for stage in spec.stages:
        for b in range(stage.depth):
            stride = 1
            if b == 0 and stage.downsample == "stride":
                stride = 2
            elif b == 0 and stage.downsample in ("maxpool", "avgpool"):
                pool = nn.MaxPool2d if stage.downsample == "maxpool" else nn.AvgPool2d
                layers.append(pool(2))
            layers.append(_Block(stage, channels, stride, act))
            channels = stage.width
    if spec.head_width:
        layers += [_conv(channels, spec.head_width, 1), act()]
        channels = spec.head_width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, spec.classes)]
    return nn.Sequential(*layers).eval()


def example_input(spec: NetworkSpec, batch_size: int = 1) -> torch.Tensor:
    return torch.zeros(batch_size, 3, spec.resolution, spec.resolution)


def count_macs(module: nn.Module, example: torch.Tensor) -> int:
    total = [0]

    def hook(layer: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        if isinstance(layer, nn.Conv2d):
            total[0] += output.numel() * layer.kernel_size[0] * layer.kernel_size[1] * layer.in_channels // layer.groups
        elif isinstance(layer, nn.Linear):
            total[0] += output.numel() * layer.in_features

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        module(example)
    for handle in handles:
        handle.remove()
    return total[0]


class _Specs:
    """What ``nasrlm.hardware.latency.measure_one`` needs of a space: a module and an input for an arch."""

    name = "random_networks"

    def build_model(self, spec: NetworkSpec) -> nn.Module:
        torch.manual_seed(0)
        return build(spec)

    def example_input(self, spec: NetworkSpec, batch_size: int = 1) -> torch.Tensor:
        return example_input(spec, batch_size)


def label(index: int, seed: int, repeats: int) -> dict:
    """One network: its spec, canonical ONNX text and free labels."""
    from nasrlm.hardware.latency import LatencyConfig, measure_one
    from nasrlm.text.onnx_text import export_module, to_onnx_text

    spec = sample_spec(random.Random(f"{seed}:{index}"))
    torch.manual_seed(0)
    module = build(spec)
    example = example_input(spec)
    text = to_onnx_text(module, example)
    graph = export_module(module, example).graph
    row = {
        "index": index,
        "seed": seed,
        "spec": asdict(spec),
        "text": text,
        "params": sum(p.numel() for p in module.parameters()) / 1e6,
        "flops": count_macs(module, example) / 1e6,
        "onnx_nodes": float(len(graph.node)),
        "onnx_convs": float(sum(n.op_type == "Conv" for n in graph.node)),
    }
    if repeats == 0:  # counts only: many more networks in the time one latency takes
        return row
    started = time.perf_counter()

    class Space(_Specs):  # measure_one calls example_input(batch_size) without the arch
        def example_input(self, batch_size: int = 1) -> torch.Tensor:  # type: ignore[override]
            return example_input(spec, batch_size)

        def onnx_model(self, spec: NetworkSpec, batch_size: int = 1) -> Any:  # what onnxruntime times
            return export_module(self.build_model(spec), self.example_input(batch_size))

    latency = measure_one(Space(), spec, LatencyConfig(warmup=3, repeats=repeats, threads=1))
    return row | {"ort_latency_ms": latency.median_ms, "measure_s": round(time.perf_counter() - started, 3)}


def load_rows(path: Path) -> list[dict]:
    """The rows written so far (a line cut short by an interruption is skipped)."""
    rows = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=10, help="timed onnxruntime runs (0: no latency label)")
    parser.add_argument("--out", type=Path, default=Path("runs/random_networks.jsonl"))
    parser.add_argument("--check", action="store_true", help="print label statistics of the rows done and exit")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = load_rows(args.out)
    if not args.check:
        from tqdm.auto import tqdm

        done = {(r["seed"], r["index"]) for r in rows}
        todo = [i for i in range(args.networks) if (args.seed, i) not in done]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a") as handle:
            for index in tqdm(todo, desc="random networks"):
                row = label(index, args.seed, args.repeats)
                handle.write(json.dumps(row) + "\n")
                handle.flush()
                rows.append(row)
    import numpy as np

    print(f"{len(rows)} networks in {args.out}")
    for name in LABELS:
        values = np.array([r[name] for r in rows if name in r])
        if not len(values):
            continue
        print(f"  {name:<15} min {values.min():10.3f}  median {np.median(values):10.3f}  max {values.max():10.3f}")


if __name__ == "__main__":
    main()
