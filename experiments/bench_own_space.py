"""Does the RLM read networks of a space it has never seen? A CNN family defined only in this file.

Usage: python experiments/bench_own_space.py [--networks 240] [--train 40] [--seeds 0,1,2]
                                             [--family-seed 0] [--surrogate DIR ...] [--repeats 20]
                                             [--cache runs/bench_own_space_rows.jsonl]
                                             [--params-unit 1e6] [--retest 40]

``--surrogate`` is a saved surrogate folder, or ``default`` (the shipped ``Surrogate.pretrained()``,
also what is used when the flag is not given); give it more than once to compare checkpoints.

The family (issue 11, "Other spaces"): a 3x3 stem, then 3-5 stages; each stage has a block type
(plain conv-BN-ReLU, residual, or residual with squeeze-excite), 1-3 blocks, a width from
WIDTHS and a kernel of 3 or 5; every stage after the first halves the resolution (stride 2 in its
first block); global average pooling and a linear layer give 10 classes of a 32x32 RGB image.
Nothing here is registered with nasrlm: networks reach it as a (module, example input) exported to
ONNX text with ``nasrlm.text.onnx_text.to_onnx_text``, the way a user's own NAS loop would.

Protocol:
1. ``--networks`` distinct architectures are drawn with ``--family-seed`` (the first k of a larger
   draw are the same k networks). For each: its ONNX text, its exact parameter count (from the
   module, BatchNorm included), its MACs (convolutions and the linear layer) and its onnxruntime
   latency, measured here with ``nasrlm.hardware.latency.measure_one`` (batch 1, one thread, ``--warmup``
   untimed runs, the median of ``--repeats`` timed runs). Rows are cached in ``--cache`` (JSON
   lines, appended as measured): a rerun, or an interrupted run, reuses them. ``--retest`` networks
   are measured again to show how well the cached latencies agree with a fresh measurement.
2. Token statistics of the texts with each surrogate's tokenizer: token counts, and the share of
   each text the surrogate reads (its ``max_length`` and truncation mode).
3. For each seed: ``--train`` networks drawn at random with that seed; a fresh copy of the surrogate
   is fine-tuned on their ``params`` and ``ort_latency_ms`` (names the shipped default already
   decodes, as a user would reuse them) with the shipped recipe
   (``DEFAULT_RECIPE.train_config(seed=seed)``); ``params`` is given in millions (``--params-unit``),
   the unit the shipped checkpoints learned it in from NB201 (a reused name keeps the unit, and the
   target transform, the checkpoint learned); the other networks are predicted (the recipe's
   samples and decoding). Printed per objective: Spearman with the truth and the median of
   predicted/true (1 = no scale bias), and the Spearman of the surrogate's predictions before
   fine-tuning (what its pretraining alone knows of the family). Reference points on the same test
   networks: Spearman of MACs and of the parameter count with latency (no model, no training).
4. A final table: mean +- std over seeds per surrogate, and the baselines.

Latencies are measured on whatever else the machine is running; on a busy machine they are noisier
than the median of 20 runs suggests, and this bounds any predictor's Spearman with them. Run
``nice``d and with nothing else heavy to get clean labels (delete the cache to measure again).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from nasrlm.core.metrics import spearman_rho

WIDTHS = (8, 16, 24, 32, 48)
KERNELS = (3, 5)
BLOCKS = ("plain", "residual", "se")
OBJECTIVES = ("params", "ort_latency_ms")
INPUT_SHAPE = (3, 32, 32)
CLASSES = 10
STEM_WIDTH = 16


# --- the family ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stage:
    block: str  # plain | residual | se
    depth: int  # blocks in the stage
    width: int
    kernel: int


def sample_archs(n: int, seed: int) -> list[tuple[Stage, ...]]:
    """``n`` distinct architectures, deterministic in ``seed`` (a prefix of a longer draw)."""
    rng = random.Random(seed)
    archs: list[tuple[Stage, ...]] = []
    seen = set()
    while len(archs) < n:
        arch = tuple(
            Stage(rng.choice(BLOCKS), rng.randint(1, 3), rng.choice(WIDTHS), rng.choice(KERNELS))
            for _ in range(rng.randint(3, 5))
        )
        if arch not in seen:
            seen.add(arch)
            archs.append(arch)
    return archs


def arch_string(arch: tuple[Stage, ...]) -> str:
    return "|".join(f"{s.block}x{s.depth}-w{s.width}-k{s.kernel}" for s in arch)


def conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(c_out))


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = max(4, channels // 4)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class Residual(nn.Module):
    """conv-BN-ReLU-conv-BN (+ squeeze-excite), plus the input (a 1x1 conv-BN when the shape changes), ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, se: bool) -> None:
        super().__init__()
        body = [conv_bn(c_in, c_out, kernel, stride), nn.ReLU(), conv_bn(c_out, c_out, kernel)]
        if se:
            body.append(SqueezeExcite(c_out))
        self.body = nn.Sequential(*body)
        self.shortcut = conv_bn(c_in, c_out, 1, stride) if (stride != 1 or c_in != c_out) else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


def build(arch: tuple[Stage, ...]) -> nn.Module:
    layers: list[nn.Module] = [conv_bn(INPUT_SHAPE[0], STEM_WIDTH, 3), nn.ReLU()]
    channels = STEM_WIDTH
    for s, stage in enumerate(arch):
        for b in range(stage.depth):
            stride = 2 if (s > 0 and b == 0) else 1
            if stage.block == "plain":
                layers += [conv_bn(channels, stage.width, stage.kernel, stride), nn.ReLU()]
            else:
                layers.append(Residual(channels, stage.width, stage.kernel, stride, se=stage.block == "se"))
            channels = stage.width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, CLASSES)]
    return nn.Sequential(*layers).eval()


def example_input(batch_size: int = 1) -> torch.Tensor:
    return torch.zeros(batch_size, *INPUT_SHAPE)


def count_macs(module: nn.Module) -> int:
    """Multiply-accumulates of one forward pass (convolutions and linear layers)."""
    total = [0]

    def hook(layer: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        if isinstance(layer, nn.Conv2d):
            k = layer.kernel_size[0] * layer.kernel_size[1] * layer.in_channels // layer.groups
            total[0] += output.numel() * k
        elif isinstance(layer, nn.Linear):
            total[0] += output.numel() * layer.in_features

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        module(example_input())
    for handle in handles:
        handle.remove()
    return total[0]


class _Family:
    """What ``nasrlm.hardware.latency.measure_one`` needs of a space: a module for an arch, an input."""

    name = "bench_own_space"

    def build_model(self, arch: tuple[Stage, ...]) -> nn.Module:
        torch.manual_seed(0)
        return build(arch)

    def example_input(self, batch_size: int = 1) -> torch.Tensor:
        return example_input(batch_size)

    def onnx_model(self, arch: tuple[Stage, ...], batch_size: int = 1) -> object:
        """The exported network, as onnxruntime runs it (the backend ``measure_one`` times by default)."""
        from nasrlm.text.onnx_text import export_module

        return export_module(self.build_model(arch), self.example_input(batch_size))


# --- measuring (cached) --------------------------------------------------------------------------
def measure_row(arch: tuple[Stage, ...], warmup: int, repeats: int) -> dict:
    from nasrlm.hardware.latency import LatencyConfig, measure_one
    from nasrlm.text.onnx_text import to_onnx_text

    torch.manual_seed(0)
    module = build(arch)
    started = time.perf_counter()
    text = to_onnx_text(module, example_input())
    export_s = time.perf_counter() - started
    started = time.perf_counter()
    latency = measure_one(_Family(), arch, LatencyConfig(warmup=warmup, repeats=repeats, threads=1))
    return {
        "arch": arch_string(arch),
        "params": int(sum(p.numel() for p in module.parameters())),
        "macs": count_macs(module),
        "ort_latency_ms": latency.median_ms,
        "latency_iqr_ms": latency.iqr_ms,
        "export_s": export_s,
        "measure_s": time.perf_counter() - started,
        "text_sha": hashlib.sha256(text.encode()).hexdigest()[:16],
        "text": text,
    }


def load_rows(archs: list[tuple[Stage, ...]], cache: Path, warmup: int, repeats: int) -> list[dict]:
    """One row per arch, from the cache where it has one (same arch and settings), else measured and appended."""
    settings = {"warmup": warmup, "repeats": repeats}
    cached: dict[str, dict] = {}
    if cache.is_file():
        for line in cache.read_text().splitlines():
            try:
                row = json.loads(line)
            except ValueError:  # a line cut by an interrupted write
                continue
            if row.get("settings") == settings:
                cached[row["arch"]] = row
    missing = [a for a in archs if arch_string(a) not in cached]
    if missing:
        print(f"measuring {len(missing)} networks ({len(archs) - len(missing)} cached in {cache}) ...", flush=True)
        cache.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        with cache.open("a") as handle:
            for i, arch in enumerate(missing):
                row = measure_row(arch, warmup, repeats) | {"settings": settings}
                handle.write(json.dumps(row) + "\n")
                handle.flush()
                cached[row["arch"]] = row
                if (i + 1) % 40 == 0 or i + 1 == len(missing):
                    print(f"  {i + 1}/{len(missing)} in {time.perf_counter() - started:.0f} s", flush=True)
    rows = [cached[arch_string(a)] for a in archs]
    export = np.array([r["export_s"] for r in rows])
    measure = np.array([r["measure_s"] for r in rows])
    print(
        f"measuring step (as recorded per network): export {export.sum():.1f} s "
        f"(median {1000 * np.median(export):.0f} ms), latency {measure.sum():.1f} s "
        f"(median {1000 * np.median(measure):.0f} ms) for {len(rows)} networks"
    )
    return rows


def retest(archs: list[tuple[Stage, ...]], latency: np.ndarray, n: int, warmup: int, repeats: int) -> None:
    """Measure ``n`` networks again: how well the cached latencies agree with themselves bounds any predictor."""
    from nasrlm.hardware.latency import LatencyConfig, measure_one

    picked = np.sort(np.random.default_rng(12345).choice(len(archs), min(n, len(archs)), replace=False))
    config = LatencyConfig(warmup=warmup, repeats=repeats, threads=1)
    again = np.array([measure_one(_Family(), archs[i], config).median_ms for i in picked])
    ratio = again / latency[picked]
    print(
        f"retest of {len(picked)} networks: Spearman {spearman_rho(latency[picked], again):.3f} with the cached "
        f"latencies, new/cached median x{np.median(ratio):.2f} (5-95%: x{np.quantile(ratio, 0.05):.2f}-"
        f"x{np.quantile(ratio, 0.95):.2f})"
    )


# --- the benchmark -------------------------------------------------------------------------------
def load_surrogate(name: str):
    from nasrlm.rlm.surrogate import Surrogate

    return Surrogate.pretrained() if name == "default" else Surrogate.load(name)


def token_stats(name: str, texts: list[str]) -> float:
    """Print token counts and the share of each text the surrogate reads; return the mean share."""
    surrogate = load_surrogate(name)
    tokenizer = surrogate.tokenizer
    lengths = tokenizer.token_lengths(surrogate.texts(texts))  # in the form the surrogate reads
    limit, mode = tokenizer.config.max_length, tokenizer.config.truncation
    # Rows are <s> tokens </s>; a cut text keeps max_length - 3 tokens (one <sep> marks the cut).
    kept = np.where(lengths + 2 <= limit, lengths, limit - 3)
    share = kept / lengths
    print(
        f"[{name}] tokens per text: min {lengths.min()}, median {np.median(lengths):.0f}, max {lengths.max()}; "
        f"reads {limit} tokens ({mode} truncation): {100 * share.mean():.0f}% of a text on average "
        f"(min {100 * share.min():.0f}%), {100 * np.mean(share < 1):.0f}% of texts cut"
    )
    return float(share.mean())


def recipe_with(overrides: list[str]) -> Any:
    """The shipped fine-tuning recipe with ``KEY=VALUE`` changes (``freeze_encoder=false``, ``epochs=60``)."""
    from nasrlm.rlm.recipe import DEFAULT_RECIPE

    try:
        return DEFAULT_RECIPE.with_settings(overrides)
    except ValueError as error:
        raise SystemExit(f"--recipe: {error}") from None


def run_seed(
    name: str,
    texts: list[str],
    truth: dict[str, np.ndarray],
    n_train: int,
    seed: int,
    params_unit: float,
    recipe: Any = None,
) -> dict:
    from nasrlm.rlm.recipe import DEFAULT_RECIPE

    recipe = recipe or DEFAULT_RECIPE

    units = {"params": params_unit, "ort_latency_ms": 1.0}
    order = np.random.default_rng(seed).permutation(len(texts))
    train, test = np.sort(order[:n_train]), np.sort(order[n_train:])
    surrogate = load_surrogate(name)
    # Before fine-tuning: what the pretraining alone knows of this family (both names are pretrained labels).
    before = surrogate.predict([texts[i] for i in test], num_samples=16, objectives=list(OBJECTIVES), seed=seed)
    zero_shot = {k: spearman_rho(truth[k][test], before.point[k]) for k in OBJECTIVES}
    started = time.perf_counter()
    result = surrogate.fit(
        [texts[i] for i in train],
        {k: truth[k][train] / units[k] for k in OBJECTIVES},
        recipe.train_config(seed=seed),
        target_transform=recipe.target_transform,
        init_like=recipe.init_like,
        line_prior_min_r2=recipe.line_prior_min_r2,
        line_prior_folds=recipe.line_prior_folds,
        members=recipe.members,
    )
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    prediction = surrogate.predict(
        [texts[i] for i in test],
        num_samples=recipe.num_samples,
        objectives=list(OBJECTIVES),
        joint=recipe.joint,
        temperature=recipe.temperature,
        seed=seed,
    )
    predict_s = time.perf_counter() - started
    row = {"fit_s": fit_s, "epochs": result.epochs, "stopped": result.stopped, "predict_s": predict_s}
    row.update({f"{k}_zero_shot_rho": v for k, v in zero_shot.items()})
    parts = []
    for k in OBJECTIVES:
        point, true = prediction.point[k] * units[k], truth[k][test]
        row[f"{k}_rho"] = spearman_rho(true, point)
        row[f"{k}_ratio"] = float(np.median(point / true))
        for level in (0.5, 0.9):  # how often the truth falls in the predicted interval
            low, high = prediction.interval(level)[k]
            row[f"{k}_cover{int(100 * level)}"] = float(np.mean((low * units[k] <= true) & (true <= high * units[k])))
        parts.append(
            f"{k} rho {row[f'{k}_rho']:.3f} (pred/true x{row[f'{k}_ratio']:.2f}; before fine-tuning rho "
            f"{zero_shot[k]:.3f})"
        )
    for proxy in ("macs", "params"):
        row[f"{proxy}_vs_latency_rho"] = spearman_rho(truth["ort_latency_ms"][test], truth[proxy][test])
    print(
        f"[{name}] seed {seed}: {', '.join(parts)}; baselines on the same {len(test)}: "
        f"MACs rho {row['macs_vs_latency_rho']:.3f}, params rho {row['params_vs_latency_rho']:.3f} with latency; "
        f"fit {fit_s:.0f} s ({result.epochs} epochs, {result.stopped}), predict {predict_s:.1f} s",
        flush=True,
    )
    return row


def mean_std(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=240)
    parser.add_argument("--train", type=int, default=40)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--family-seed", type=int, default=0)
    parser.add_argument("--surrogate", action="append", help="a saved surrogate folder or 'default' (repeatable)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--cache", type=Path, default=Path("runs/bench_own_space_rows.jsonl"))
    parser.add_argument(
        "--params-unit",
        type=float,
        default=1e6,
        help="unit of the params given to the surrogate (the shipped checkpoints learned `params` in millions)",
    )
    parser.add_argument("--retest", type=int, default=40, help="networks measured again now (0: none)")
    parser.add_argument(
        "--recipe",
        action="append",
        default=[],
        help="KEY=VALUE: a change to the shipped fine-tuning recipe (repeatable), e.g. freeze_encoder=false",
    )
    args = parser.parse_args()
    recipe = recipe_with(args.recipe)
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",") if s]
    names = args.surrogate or ["default"]

    archs = sample_archs(args.networks, args.family_seed)
    rows = load_rows(archs, args.cache, args.warmup, args.repeats)
    texts = [r["text"] for r in rows]
    truth = {k: np.array([float(r[k]) for r in rows]) for k in ("params", "macs", "ort_latency_ms")}
    iqr = np.array([r["latency_iqr_ms"] for r in rows]) / truth["ort_latency_ms"]
    print(
        f"{len(rows)} networks ({len(set(texts))} distinct texts): params {truth['params'].min():.0f}-"
        f"{truth['params'].max():.0f}, MACs {truth['macs'].min() / 1e6:.1f}-{truth['macs'].max() / 1e6:.1f} M, "
        f"latency {truth['ort_latency_ms'].min():.3f}-{truth['ort_latency_ms'].max():.3f} ms "
        f"(median {np.median(truth['ort_latency_ms']):.3f}; runs' IQR a median {100 * np.median(iqr):.0f}% of it); "
        f"MACs vs latency rho {spearman_rho(truth['ort_latency_ms'], truth['macs']):.3f} on all"
    )
    if args.retest:
        retest(archs, truth["ort_latency_ms"], args.retest, args.warmup, args.repeats)

    table = []
    for name in names:
        share = token_stats(name, texts)
        results = [run_seed(name, texts, truth, args.train, seed, args.params_unit, recipe) for seed in seeds]
        table.append((name, share, results))

    if args.recipe:
        print(f"recipe: the shipped one with {', '.join(args.recipe)}")
    print(
        f"\nfine-tuned on {args.train} networks (params in units of {args.params_unit:g}), "
        f"tested on the other {args.networks - args.train}, seeds {seeds}"
    )
    columns = ("surrogate", "seeds", "tokens read", "Spearman params", "Spearman latency", "pred/true params")
    header = "| " + " | ".join((*columns, "pred/true latency", "before fine-tuning: params, latency")) + " |"
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for name, share, results in table:
        print(
            f"| {name} | {len(results)} | {100 * share:.0f}% | "
            + " | ".join(mean_std([r[f"{k}_rho"] for r in results]) for k in OBJECTIVES)
            + " | "
            + " | ".join(f"x{np.mean([r[f'{k}_ratio'] for r in results]):.2f}" for k in OBJECTIVES)
            + " | "
            + ", ".join(f"{np.mean([r[f'{k}_zero_shot_rho'] for r in results]):.3f}" for k in OBJECTIVES)
            + " |"
        )
    for name, _, results in table:
        share = {(k, q): np.mean([r[f"{k}_cover{q}"] for r in results]) for k in OBJECTIVES for q in (50, 90)}
        cover = ", ".join(f"{k} {share[k, 50]:.2f} / {share[k, 90]:.2f}" for k in OBJECTIVES)
        print(f"[{name}] truths inside the 50 % / 90 % intervals: {cover}")
    results = table[0][2]
    for proxy, label in (("macs", "MACs"), ("params", "parameter count")):
        rho = mean_std([r[f"{proxy}_vs_latency_rho"] for r in results])
        print(f"| baseline: {label} as latency predictor (no training) | {len(results)} | — | — | {rho} | — | — | — |")


if __name__ == "__main__":
    main()
