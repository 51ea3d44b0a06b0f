"""Pretrain the default RLM shipped with nasrlm, on labels anyone can compute for free.

Usage: python experiments/pretrain_default.py [--minutes 25] [--out nasrlm/pretrained/default]
                                              [--work runs/pretrain] [--latency-archs 2000]

Labels, over every NAS-Bench-201 architecture (no accuracy and no benchmark latency, which are
what the model is later evaluated on):
  flops, params           exact counts of the network;
  onnx_nodes, onnx_convs  nodes and Conv nodes the flat ONNX graph executes;
  ort_latency_ms          batch-1 latency measured here with onnxruntime (1 thread, median of 10
                          runs), for a random subset of --latency-archs architectures: rows without
                          it simply train the other objectives.
Everything is resumable: labels are cached in --work, and training checkpoints there, so an
interrupted run picks up where it stopped when run again with the same arguments.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from nasrlm.cache import atomic_write_text
from nasrlm.latency import ort_latency_ms
from nasrlm.rlm_model import DecoderConfig, EncoderConfig

# The shipped model's size: inputs cut to their last 128 tokens (the cell function, at the end of
# the text, is all that differs between NB201 networks), 2 + 2 layers of width 128.
DEFAULT_MAX_LENGTH = 128
DEFAULT_ENCODER = EncoderConfig(d_model=128, n_layers=2, n_heads=4, d_ff=256, max_length=DEFAULT_MAX_LENGTH)
DEFAULT_DECODER = DecoderConfig(d_model=128, n_layers=2, n_heads=4, d_ff=256)
FREE_OBJECTIVES = ("flops", "params", "onnx_nodes", "onnx_convs", "ort_latency_ms")


def _graph_counts(ops: tuple[str, ...]) -> tuple[int, int]:
    from search_spaces.nb201.onnx_builder import build_onnx

    nodes = build_onnx(ops).graph.node
    return len(nodes), sum(node.op_type == "Conv" for node in nodes)


def free_labels(work: Path, latency_archs: int, seed: int = 0) -> dict[str, list[float | None]]:
    """All free labels for all archs (None where not measured), cached in ``work/labels.json``."""
    from tqdm.auto import tqdm

    from search_spaces import get_space

    path = work / "labels.json"
    labels = json.loads(path.read_text()) if path.is_file() else {}
    space = get_space("nb201")
    cells = [a.ops for a in space.archs()]
    n = len(cells)
    if "onnx_nodes" not in labels:
        with ProcessPoolExecutor(2) as pool:
            counts = list(tqdm(pool.map(_graph_counts, cells, chunksize=200), total=n, desc="graph counts"))
        labels["flops"] = space.values("flops").tolist()
        labels["params"] = space.values("params").tolist()
        labels["onnx_nodes"] = [float(c[0]) for c in counts]
        labels["onnx_convs"] = [float(c[1]) for c in counts]
        atomic_write_text(path, json.dumps(labels))
    latency = labels.get("ort_latency_ms") or [None] * n
    chosen = np.random.default_rng(seed).permutation(n)[:latency_archs]
    todo = [int(i) for i in chosen if latency[i] is None]
    # Measured one at a time in this process (parallel runs would disturb each other's timings);
    # saved every 100 archs so an interruption loses little.
    for start in tqdm(range(0, len(todo), 100), desc="onnxruntime latency (x100 archs)"):
        for i in todo[start : start + 100]:
            latency[i] = ort_latency_ms(cells[i])
        labels["ort_latency_ms"] = latency
        atomic_write_text(path, json.dumps(labels))
    labels["ort_latency_ms"] = latency
    return labels


def write_note(folder: Path, info: dict, stage1_loss: float, stage2_loss: float) -> None:
    """How the shipped model was made, next to it."""
    text = f"""# The default nasrlm RLM

Made by `python experiments/pretrain_default.py` (see its docstring): {info["minutes"]} minutes of training on a
2-core CPU, after the labels were computed (about 2 minutes).

- Inputs: canonical ONNX text of all {info["archs"]:,} NAS-Bench-201 networks, BPE (4,096 symbols) learned on
  4,000 of them, each cut to its last {DEFAULT_MAX_LENGTH} tokens (the cell function is at the end).
- Model: built-in transformer encoder, 2 layers of width 128, and a 2-layer number decoder.
- Objectives (labels anyone can compute; no accuracy and no benchmark latency): {", ".join(info["objectives"])}.
  `ort_latency_ms` was measured here with onnxruntime for {info["ort_latency_archs"]:,} random architectures.
- Stage 1: all architectures, the four exact labels, {info["stage1_steps"]} steps, validation loss {stage1_loss:.3f}.
- Stage 2: the measured subset, all five labels, {info["stage2_steps"]} steps, validation loss {stage2_loss:.3f}.

Fine-tuning adds the objectives a user needs (e.g. `acc`, `latency_pixel3`) as new decoder objectives.
"""
    atomic_write_text(folder / "NOTE.md", text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=25.0, help="training time budget")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--latency-archs", type=int, default=1000)
    parser.add_argument("--work", type=Path, default=Path("runs/pretrain"))
    parser.add_argument("--out", type=Path, default=Path("nasrlm/pretrained/default"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads; 1 is fastest for this small model on a 2-core machine"
    )
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    import torch

    torch.set_num_threads(args.threads)

    from nasrlm.surrogate import Surrogate
    from nasrlm.text_tokenizer import TextTokenizerConfig
    from nasrlm.training import TrainConfig
    from search_spaces import get_space

    started = time.perf_counter()
    labels = free_labels(args.work, args.latency_archs, args.seed)
    print(f"labels ready in {time.perf_counter() - started:.0f} s")
    space = get_space("nb201")
    texts = space.onnx_texts(progress=True)
    rng = np.random.default_rng(args.seed)
    tokenizer_texts = [texts[i] for i in rng.choice(len(texts), 4000, replace=False)]
    surrogate = Surrogate.new(
        FREE_OBJECTIVES,
        tokenizer_texts,
        space="nb201",
        tokenizer=TextTokenizerConfig(vocab_size=4096, max_length=DEFAULT_MAX_LENGTH, truncation="tail"),
        encoder=DEFAULT_ENCODER,
        decoder=DEFAULT_DECODER,
        seed=args.seed,
    )
    # Rows with an onnxruntime latency carry all five objectives; the others four. Training on the
    # two groups separately keeps every batch's objectives uniform, so fit() gets one group at a time:
    # first all archs on the four exact labels, then the measured subset on all five.
    exact = {name: np.array(labels[name]) for name in FREE_OBJECTIVES[:4]}
    measured = np.array([i for i, v in enumerate(labels["ort_latency_ms"]) if v is not None])
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=32,
        lr=1e-3,
        patience=3,
        val_fraction=0.05,
        max_minutes=args.minutes * 0.75,
        checkpoint_dir=str(args.work / "stage1"),
        seed=args.seed,
    )
    first = surrogate.fit(space.archs(), exact, config)
    print(
        f"stage 1 (all archs, exact labels): {first.steps} steps, {first.seconds:.0f} s, {first.stopped}, "
        f"val loss {first.best_val_loss:.3f}"
    )
    with_latency = {name: np.array(labels[name])[measured] for name in FREE_OBJECTIVES[:4]}
    with_latency["ort_latency_ms"] = np.array([labels["ort_latency_ms"][i] for i in measured])
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=32,
        lr=5e-4,
        patience=3,
        val_fraction=0.1,
        max_minutes=args.minutes * 0.25,
        checkpoint_dir=str(args.work / "stage2"),
        seed=args.seed,
    )
    second = surrogate.fit([space.archs()[i] for i in measured], with_latency, config)
    print(
        f"stage 2 (+ onnxruntime latency, {len(measured)} archs): {second.steps} steps, {second.seconds:.0f} s, "
        f"{second.stopped}, val loss {second.best_val_loss:.3f}"
    )
    surrogate.meta["pretraining"] = {
        "script": "experiments/pretrain_default.py",
        "objectives": list(FREE_OBJECTIVES),
        "archs": len(texts),
        "ort_latency_archs": len(measured),
        "stage1_steps": first.steps,
        "stage2_steps": second.steps,
        # Training time over all runs of this command (a resumed run counts the time before its interruption).
        "minutes": round((first.seconds + second.seconds) / 60, 1),
    }
    surrogate.save(args.out)
    write_note(args.out, surrogate.meta["pretraining"], first.best_val_loss, second.best_val_loss)
    print(
        f"saved {args.out} ({sum(f.stat().st_size for f in args.out.rglob('*') if f.is_file()) / 1e6:.1f} MB) "
        f"after {(time.perf_counter() - started) / 60:.1f} min"
    )


if __name__ == "__main__":
    main()
