"""Pretrain the default RLM shipped with nasrlm, on labels anyone can compute for free.

Usage: python experiments/pretrain_default.py [--minutes 60] [--labels counts,graph,proxies,ort] [--epochs 30]
           [--work runs/pretrain] [--out runs/pretrain/model] [--max-length 128] [--truncation tail] [--layers 2]
           [--text-form onnx|reading|compact|costed] [--random-networks runs/random_networks.jsonl] [--random-repeats 1]
           [--init-from runs/pretrain_x1/model] [--device cpu]

Labels, for every NAS-Bench-201 architecture (never accuracy and never benchmark latency, which are
what the model is later evaluated on):
  counts   flops, params (of the network), onnx_nodes, onnx_convs (of the flat exported graph);
  graph    structure of the full graph, every op the network runs (nasrlm.rlm.free_labels.graph_labels):
           longest path in convs and in nodes, number of input-to-output paths, dead nodes, whether
           the output depends on the input;
  proxies  zero-cost proxies of the untrained network on synthetic inputs (synflow, NASWOT,
           grad_norm, SNIP, jacob_cov), from experiments/free_labels_nb201.py's table for the archs
           it has done so far (rows without them train the other labels);
  ort      onnxruntime latency measured here (search_spaces/nb201/data/nb201_latency_ort_epyc_1t.csv.xz, 1,000 archs);
  executed nodes, convolutions, 1x1 convolutions and pools of every op the network runs, dead edges
           included (nasrlm.rlm.free_labels.executed_op_counts): the counts many devices' latency is a
           sum over (``onnx_nodes`` and ``onnx_convs`` count only the ops that reach the output).
Each label gets a target transform (nasrlm.rlm.targets, fitted on its values) and objective dropout,
so every label is decodable alone and the encoder, not the decoder's context, must carry it.

Beyond NB201: --text-form reading trains on the compact reading form of each text
(nasrlm.text.reading_text: whole networks in a few hundred tokens; --text-form compact the shorter
nasrlm.text.compact_text, which holds an FBNet in ~500; --text-form costed the canonical text and a
line stating its MACs, parameters and activations, nasrlm.text.graph_costs, which a model reading
windows encoded alone cannot add up itself), and --random-networks adds the rows
of experiments/random_networks.py (random image classifiers with params, flops, node and conv counts
and onnxruntime latency; the NB201-only labels are missing there) and of experiments/space_networks.py
(random networks of the other search spaces, with their graph-structure labels too), each seen
--random-repeats times an epoch; batches then group texts of similar length.

The shipped default (nasrlm/rlm/pretrained/default, v12) is this script's defaults with two threads,
then five more stages, each a fresh schedule continuing the stage before:
  python experiments/free_labels_nb201.py        # zero-cost proxies of every arch, about 25 minutes with 2 workers;
                                                 # kept as experiments/data/nb201_free_labels.csv.xz
  python experiments/pretrain_default.py --threads 2 --minutes 120 --work runs/pretrain_v5
  python experiments/pretrain_default.py --threads 2 --init-from runs/pretrain_v5/model \
      --refit-transforms jacob_cov --epochs 8 --work runs/pretrain_v7
  python experiments/pretrain_default.py --threads 2 --init-from runs/pretrain_v7/model \
      --epochs 16 --work runs/pretrain_v8
  python experiments/pretrain_default.py --threads 2 --init-from runs/pretrain_v8/model \
      --epochs 16 --work runs/pretrain_v9
  # then NB201's text became the text as run (each edge's own ReLU and pool; bound_text_counts.py):
  python experiments/pretrain_default.py --threads 2 --labels counts,graph,proxies,ort,executed \
      --init-from runs/pretrain_v9/model --epochs 8 --work runs/pretrain_v11
  python experiments/pretrain_default.py --threads 2 --labels counts,graph,proxies,ort,executed \
      --init-from runs/pretrain_v11/model --epochs 16 --work runs/pretrain_v12
30 epochs of 464 steps, about 117 minutes on a 2-core CPU (run in resumed parts here), then 8 more
(3,712 steps, 16.5 minutes), then 16 and 16 (7,424 steps each, about 30 minutes each), then 8 and
16 on the new text (16 and 32 minutes), then
cp -r runs/pretrain_v12/model/* nasrlm/rlm/pretrained/default/ (its NOTE.md lists every stage; stages
2 and 3 ran with --init-from nasrlm/rlm/pretrained/default while that held v5 and v7). The first
stage (v5) ran when the target transform ``auto`` still mapped jacob_cov affinely: a few degenerate
networks at -7e5 crowded every other one into the 4th digit, and v5 decoded it at Spearman .25; the
second stage spreads it by quantiles (decoded at .88). Run today, the first stage would spread it
from the start. Each stage was kept on split seeds 100-103 (experiments/bench_rlm.py; the screens in
experiments/results/screen_v7.txt, screen_v8.txt, screen_v9.txt, screen_v11.txt), never on the final
table's 0-2: `acc` tau at 781 archs .718 (v7), .720 (v8), .739 (v9), .740 (v10, v9 + 16 epochs, not
shipped: level with v9, and below it at 156 archs); on the new text .691 (v9 as it was), .721 (v11),
.744 (v12), with `latency_eyeriss` Spearman .919 (v9, old text) -> .967 -> .991 -> .995.

On a GPU: --device cuda trains there (the model is saved for the CPU as always); an NVIDIA H200
ran about 50 steps a second per run, three runs side by side, where this 2-core CPU runs about 4
(experiments/results/screen_gpu.txt: a 4-layer encoder pretrained 34 epochs from scratch there in
5.4 minutes ranked NB201's `acc` level with v12).

A second stage: --init-from DIR continues a saved model (its tokenizer, weights and label transforms)
on this run's data with a fresh schedule of --epochs, e.g. after more random networks were made;
--refit-transforms NAMES fits those labels' target transforms again (v7: v5 with jacob_cov spread
over the digits by the quantile transform that ``auto`` now picks for it).

Resumable: labels are cached in --work, and training checkpoints there, so an interrupted run picks up
where it stopped when run again with the same arguments; --minutes bounds this run's training time
(a rerun continues the same schedule). The model is written to --out, with a NOTE.md on how it was made.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from nasrlm.core.cache import atomic_write_text
from nasrlm.rlm.model import DecoderConfig, EncoderConfig
from search_spaces.nb201.tables import load_table

LABEL_SETS = {
    "counts": ("flops", "params", "onnx_nodes", "onnx_convs"),
    "graph": ("longest_path_convs", "longest_path_nodes", "num_paths_log10", "dead_nodes", "output_reachable"),
    "proxies": ("synflow_log10", "naswot", "grad_norm_log10", "snip_log10", "jacob_cov"),
    "ort": ("ort_latency_ms",),
    "executed": ("executed_nodes", "executed_convs", "executed_convs_1x1", "executed_pools"),
}
# The zero-cost proxies of every arch cost an hour of CPU (experiments/free_labels_nb201.py, whose
# --out this is); its full output is kept in the repo, so a fresh clone pretrains without redoing it.
PROXY_TABLE = Path(__file__).resolve().parent / "data" / "nb201_free_labels.csv.xz"


def _structure(ops: tuple[str, ...]) -> dict[str, float]:
    from nasrlm.rlm.free_labels import graph_labels
    from search_spaces.nb201.onnx_builder import build_onnx

    live = build_onnx(ops).graph.node
    full = graph_labels(build_onnx(ops, keep_dead=True, merge_identical=False))
    return {
        "onnx_nodes": float(len(live)),
        "onnx_convs": float(sum(node.op_type == "Conv" for node in live)),
        "longest_path_convs": full["longest_path_convs"],
        "longest_path_nodes": full["longest_path_nodes"],
        "num_paths_log10": float(np.log10(1.0 + full["num_paths"])),
        "dead_nodes": full["dead_nodes"],
        "output_reachable": full["output_reachable"],
    }


def _executed(ops: tuple[str, ...]) -> dict[str, float]:
    from nasrlm.rlm.free_labels import executed_op_counts
    from search_spaces.nb201.onnx_builder import build_onnx

    return executed_op_counts(build_onnx(ops, keep_dead=True, merge_identical=False))


def _cached_per_arch(path: Path, function: Callable[[tuple[str, ...]], dict[str, float]], desc: str) -> pd.DataFrame:
    """``function`` of every NB201 cell (2 worker processes), cached as a CSV at ``path``."""
    from concurrent.futures import ProcessPoolExecutor

    from tqdm.auto import tqdm

    from search_spaces import get_space

    if path.is_file():
        return pd.read_csv(path)
    cells = [a.ops for a in get_space("nb201").archs()]
    with ProcessPoolExecutor(2) as pool:
        rows = list(tqdm(pool.map(function, cells, chunksize=100), total=len(cells), desc=desc))
    frame = pd.DataFrame(rows)
    atomic_write_text(path, frame.to_csv(index=False))
    return frame


def free_labels(work: Path, proxies: Path = PROXY_TABLE) -> pd.DataFrame:
    """Every label for every arch (NaN where not measured), the structural ones cached in ``work``.

    ``proxies``: a table of experiments/free_labels_nb201.py (its rows' zero-cost proxies are used).
    """
    from search_spaces import get_space

    space = get_space("nb201")
    frame = _cached_per_arch(work / "structure.csv", _structure, "graph labels")
    executed = _cached_per_arch(work / "executed.csv", _executed, "executed op counts")
    frame[list(executed.columns)] = executed.to_numpy()
    frame["flops"] = space.values("flops")
    frame["params"] = space.values("params")
    for name in LABEL_SETS["proxies"] + LABEL_SETS["ort"]:
        frame[name] = np.nan
    if proxies.is_file():
        table = pd.read_csv(proxies).drop_duplicates("index").set_index("index")
        for name in LABEL_SETS["proxies"]:
            frame.loc[table.index, name] = table[name].to_numpy()
    ort = load_table("nb201_latency_ort_epyc_1t")  # checksum-verified, as every shipped table
    frame.loc[ort["index"].to_numpy(), "ort_latency_ms"] = ort["latency_ms"].to_numpy()
    return frame


def _stages(info: dict) -> list[dict]:
    """The pretraining stages that made a model, oldest first (each ``first_stage`` is the one before)."""
    stages = []
    while info:
        stages.append(info)
        info = info.get("first_stage") or {}
    return stages[::-1]


def _where(stage: dict) -> str:
    """Where a stage trained: a GPU by name, else the CPU threads it had."""
    if stage.get("gpu"):
        return f"on one {stage['gpu']}"
    return f"on a 2-core CPU with {stage.get('threads', 1)} torch thread(s)"


def write_note(folder: Path, info: dict) -> None:
    """How the shipped model was made, next to it."""
    counts = ", ".join(f"`{name}` ({n:,} networks)" for name, n in info["label_counts"].items())
    form = {
        "reading": "the reading form (`nasrlm.text.reading_text`) of the canonical ONNX text",
        "compact": "the compact form (`nasrlm.text.compact_text`) of the canonical ONNX text",
        "costed": "canonical ONNX text, then a line of its MACs, parameters and activations (`graph_costs`)",
    }.get(info.get("text_form", "onnx"), "canonical ONNX text")
    extra = extra_bpe = ""
    if info.get("random_networks"):
        extra = (
            f", and {info['random_networks']:,} random image classifiers from `experiments/random_networks.py` "
            "and `experiments/space_networks.py` (each labelled with what it has of params, flops, node and conv "
            "counts, graph structure and onnxruntime latency)"
        )
        extra_bpe = " and the random networks"
    shapes = ", each dimension of a weight shape its own piece" if info.get("split_shapes") else ""
    reading = f"up to {info['max_length']} tokens ({info['truncation']} of a longer text)"
    if info.get("window"):
        reading = (
            f"whole texts of up to {info['max_length']:,} tokens ({info['truncation']} of a longer one), "
            f"read as windows of {info['window']} tokens, each encoded alone (the last one is the text's end)"
        )
    stages = _stages(info)
    bpe_from = max((i for i, stage in enumerate(stages, 1) if stage.get("new_bpe")), default=1)
    bpe_stage = f" (those of stage {bpe_from})" if len(stages) > 1 else ""
    # Each stage's command names the folder it continued as it was then (often this default).
    lines = "\n".join(
        f"{i}. `{stage['command']}`: {stage['minutes']} minutes of training {_where(stage)}, "
        f"{stage['steps']:,} steps, best validation loss {stage['val_loss']:.4f} ({stage['stopped']})"
        for i, stage in enumerate(stages, 1)
    )
    how = (
        "in one stage"
        if len(stages) == 1
        else f"in {len(stages)} stages, each continuing the one before with a fresh schedule"
    )
    text = f"""# The default nasrlm RLM

Made {how} (see `experiments/pretrain_default.py`'s docstring), on the zero-cost
proxies kept in `experiments/data/nb201_free_labels.csv.xz` (made by
`python experiments/free_labels_nb201.py`, about 25 minutes with 2 workers):

{lines}

- Inputs: {form} of all {info["archs"]:,} NAS-Bench-201 networks, every op the network runs
  (dead edges included, each edge's own ReLU and pool){extra};
  BPE ({info["vocab"]:,} symbols) learned on 4,000 of them{extra_bpe}{bpe_stage}{shapes};
  {reading}.
- Model: built-in transformer encoder, {info["layers"]} layers of width {info["d_model"]}, and a 2-layer number decoder.
- Labels (anyone can compute them; no accuracy and no benchmark latency): {counts}.
  Each is written through a target transform fitted on its values, with objective dropout {info["dropout"]}.

Fine-tuning adds the objectives a user needs (e.g. `acc`, `latency_pixel3`) as new decoder objectives.
"""
    atomic_write_text(folder / "NOTE.md", text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="training time budget of this run")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--labels", default="counts,graph,proxies,ort")
    parser.add_argument(
        "--max-length", type=int, default=None, help="tokens read of a text (default 128; with --window 4096)"
    )
    parser.add_argument(
        "--window",
        type=int,
        default=None,
        help="read texts of up to --max-length tokens as windows of this many, each encoded alone "
        "(nasrlm.rlm.model.EncoderConfig.window); with --init-from, the saved model then reads whole networks",
    )
    parser.add_argument("--truncation", default="tail", help="of longer texts: head_tail, head or tail")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument(
        "--split-shapes",
        action="store_true",
        help="each dimension of a weight shape its own token (nasrlm.rlm.text_tokenizer.TextTokenizerConfig)",
    )
    parser.add_argument("--objective-dropout", type=float, default=0.3)
    parser.add_argument(
        "--lr",
        type=float,
        default=1e-3,
        help="peak learning rate; a stage continuing a converged model on the same data wants less (a fresh "
        "warm-up to 1e-3 stopped early, experiments/results/screen_gpu.txt, run A)",
    )
    parser.add_argument(
        "--value-lr-scale",
        type=float,
        default=None,
        help="the value-state projection's learning rate as a multiple of --lr (default 1; see TrainConfig)",
    )
    parser.add_argument("--work", type=Path, default=Path("runs/pretrain"))
    parser.add_argument("--out", type=Path, default=None, help="default: WORK/model")
    parser.add_argument(
        "--text-form",
        default="onnx",
        choices=("onnx", "reading", "compact", "costed"),
        help="what the model reads (costed: the ONNX text, then a line of its MACs, parameters and activations)",
    )
    parser.add_argument(
        "--random-networks",
        type=lambda text: [Path(part) for part in text.split(",") if part],
        default=None,
        help="rows of experiments/random_networks.py or experiments/space_networks.py (comma-separated files) "
        "to train on as well (their free labels)",
    )
    parser.add_argument("--random-repeats", type=int, default=1, help="times each random network is seen per epoch")
    parser.add_argument(
        "--init-from",
        type=Path,
        default=None,
        help="a saved surrogate to continue from (a second stage: its tokenizer, weights and label transforms, "
        "a fresh schedule over this run's data); --text-form must be its own (or costed for an onnx one)",
    )
    parser.add_argument(
        "--value-tokens",
        action="store_true",
        help="with --init-from and --text-form costed: read each number of the costs line (10^7.72) as one token "
        "embedded by its value (Surrogate.with_value_tokens)",
    )
    parser.add_argument(
        "--new-bpe",
        action="store_true",
        help="with --init-from: learn a new BPE on this run's texts (NB201 and --random-networks) and carry the "
        "model over to it (Surrogate.with_tokenizer: a new token starts as the mean embedding of its old pieces)",
    )
    parser.add_argument(
        "--refit-transforms",
        default="",
        help="with --init-from: labels whose saved target transform is fitted again on this run's values "
        "(e.g. jacob_cov, whose affine map v5 crowded into one digit)",
    )
    parser.add_argument(
        "--proxies",
        type=Path,
        default=PROXY_TABLE,
        help="zero-cost proxies of NB201 archs, a table of experiments/free_labels_nb201.py (default: the one kept "
        "in experiments/data, all 15,625 archs)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads; 1 leaves a core for other work")
    parser.add_argument(
        "--device", default="cpu", help="train on cpu, cuda or auto (the model is saved for the CPU either way)"
    )
    args = parser.parse_args()
    if not args.proxies.is_file():
        parser.error(f"--proxies {args.proxies}: no such file; make it with experiments/free_labels_nb201.py")
    if args.new_bpe and args.init_from is None:
        parser.error("--new-bpe carries a saved model over to a new vocabulary: give --init-from")
    if args.value_tokens and (args.init_from is None or args.text_form != "costed"):
        parser.error("--value-tokens carries a saved model over to value tokens: give --init-from, --text-form costed")
    unknown = [s for s in args.labels.split(",") if s not in LABEL_SETS]
    if unknown:
        parser.error(f"unknown label set(s) {unknown}; valid: {', '.join(LABEL_SETS)}")
    args.work.mkdir(parents=True, exist_ok=True)
    out = args.out or args.work / "model"
    import torch

    torch.set_num_threads(args.threads)

    from nasrlm.rlm.surrogate import Surrogate
    from nasrlm.rlm.text_tokenizer import TextTokenizer, TextTokenizerConfig
    from nasrlm.rlm.training import TrainConfig
    from search_spaces import get_space

    started = time.perf_counter()
    labels = free_labels(args.work, args.proxies)
    objectives = [name for group in args.labels.split(",") for name in LABEL_SETS[group]]
    # The proxy table grows while it is computed; a resumed run must see the rows it started with.
    frozen = args.work / "labels_used.csv"
    if frozen.is_file():
        labels = pd.read_csv(frozen)
    else:
        atomic_write_text(frozen, labels.to_csv(index=False))
    counts = {name: int(labels[name].notna().sum()) for name in objectives}
    print(f"labels ready in {time.perf_counter() - started:.0f} s: {counts}")
    space = get_space("nb201")
    texts = space.onnx_texts(progress=True)
    rng = np.random.default_rng(args.seed)
    tokenizer_texts = [texts[i] for i in rng.choice(len(texts), 4000, replace=False)]
    nb201_archs = len(texts)
    columns = {name: labels[name].to_numpy(dtype=float) for name in objectives}
    random_rows = []
    if args.random_networks:
        from random_networks import load_rows

        for path in args.random_networks:
            rows = load_rows(path)
            if not rows:
                parser.error(
                    f"--random-networks {path} holds no rows; make them with experiments/random_networks.py "
                    "or experiments/space_networks.py"
                )
            random_rows += rows
        print(f"{len(random_rows)} random networks, each seen {args.random_repeats}x per epoch")
        extra = [r["text"] for r in random_rows] * args.random_repeats
        tokenizer_texts += [r["text"] for r in random_rows]
        texts = list(texts) + extra
        for name in objectives:
            values = [float(r[name]) if name in r else np.nan for r in random_rows] * args.random_repeats
            counts[name] += sum(name in r for r in random_rows)
            columns[name] = np.concatenate([columns[name], np.array(values)])
    width = args.d_model
    if args.init_from is not None:
        surrogate = Surrogate.load(args.init_from)
        if surrogate.text_form == "onnx" and args.text_form == "costed":
            # The costed form is the ONNX text and one more line: the model keeps what it read and learns the line.
            surrogate = surrogate.with_text_form("costed")
        elif surrogate.text_form != args.text_form:
            parser.error(
                f"--init-from {args.init_from} reads the {surrogate.text_form} text form; "
                f"give --text-form {surrogate.text_form}"
                + (" (or costed, which adds a line after its text)" if surrogate.text_form == "onnx" else "")
            )
        refit = [name for name in args.refit_transforms.split(",") if name]
        saved = surrogate.meta.get("target_transforms") or {}
        missing = [name for name in refit if name not in saved]
        if missing:
            parser.error(
                f"--refit-transforms {','.join(missing)}: no such label in {args.init_from}; valid: {', '.join(saved)}"
            )
        surrogate.meta["target_transforms"] = {k: v for k, v in saved.items() if k not in refit}
        if args.window is not None:  # the saved weights, reading whole texts from now on
            surrogate = surrogate.read_in_windows(args.max_length or 4096, args.window)
        if args.new_bpe:  # a vocabulary learned on this run's texts, the embeddings carried over
            from dataclasses import replace

            learned = TextTokenizer.train(tokenizer_texts, replace(surrogate.tokenizer.config, vocab_size=4096))
            surrogate = surrogate.with_tokenizer(learned)
            print(f"new BPE of {learned.vocab_size} symbols learned on {len(tokenizer_texts):,} texts")
        if args.value_tokens:  # each number of the costs line one token, embedded by its value
            surrogate = surrogate.with_value_tokens()
        # The architecture and the token budget are the saved model's, whatever the flags say.
        args.max_length = surrogate.tokenizer.config.max_length
        args.truncation = surrogate.tokenizer.config.truncation
        args.split_shapes = surrogate.tokenizer.config.split_shapes
        args.layers = surrogate.model.config.encoder.n_layers
        width = args.d_model = surrogate.model.config.encoder.d_model
    else:
        if args.max_length is None:
            args.max_length = 4096 if args.window else 128
        surrogate = Surrogate.new(
            objectives[:1],
            tokenizer_texts,
            tokenizer=TextTokenizerConfig(
                vocab_size=4096, max_length=args.max_length, truncation=args.truncation, split_shapes=args.split_shapes
            ),
            encoder=EncoderConfig(
                d_model=width,
                n_layers=args.layers,
                n_heads=4,
                d_ff=2 * width,
                max_length=args.window or 1024,
                window=args.window,
            ),
            decoder=DecoderConfig(d_model=width, n_layers=2, n_heads=4, d_ff=2 * width),
            seed=args.seed,
            text_form=args.text_form,
        )
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=32,
        lr=args.lr,
        value_lr_scale=args.value_lr_scale or 1.0,
        patience=3,
        val_fraction=0.05,
        objective_dropout=args.objective_dropout,
        length_buckets=True,  # NB201 and random networks differ in length: batch like with like
        max_minutes=args.minutes,
        checkpoint_dir=str(args.work / "checkpoint"),
        seed=args.seed,
        device=args.device,
    )
    gpu = torch.cuda.get_device_name(config.torch_device()) if config.torch_device().type == "cuda" else None
    result = surrogate.fit(
        texts,
        columns,
        config,
        target_transform="auto",
        allow_missing=True,
    )
    print(
        f"{result.steps} steps, {result.seconds:.0f} s, {result.stopped}, best val loss {result.best_val_loss:.4f}",
        flush=True,
    )
    flags = (
        "labels",
        "max_length",
        "window",
        "truncation",
        "layers",
        "epochs",
        "text_form",
        "random_networks",
        "random_repeats",
        "init_from",
        "refit_transforms",
        "new_bpe",
        "value_tokens",
        "split_shapes",
        "device",
        "lr",
        "value_lr_scale",
    )
    shown = [
        f"--{k.replace('_', '-')}" + ("" if v is True else f" {','.join(map(str, v)) if isinstance(v, list) else v}")
        for k in flags
        if (v := getattr(args, k)) not in (None, "onnx", "cpu", False, "", 1e-3)
    ]
    info = {
        "command": "python experiments/pretrain_default.py " + " ".join(shown),
        "labels": objectives,
        "label_counts": counts,
        "archs": nb201_archs,
        "random_networks": len(random_rows),
        "text_form": args.text_form,
        "threads": args.threads,
        "gpu": gpu,
        "steps": result.steps,
        "val_loss": result.best_val_loss,
        "stopped": result.stopped,
        "minutes": round(result.seconds / 60, 1),  # over all runs of this command (resumes included)
        "vocab": surrogate.tokenizer.vocab_size,
        "max_length": args.max_length,
        "window": surrogate.model.config.encoder.window,
        "truncation": args.truncation,
        "split_shapes": args.split_shapes,
        "layers": args.layers,
        "d_model": width,
        "dropout": args.objective_dropout,
        "init_from": str(args.init_from) if args.init_from else None,
        "refit_transforms": args.refit_transforms,
        "new_bpe": args.new_bpe,
        "value_tokens": surrogate.model.config.encoder.value_tokens,
    }
    if args.init_from is not None:
        before = Surrogate.load(args.init_from).meta.get("pretraining")
        info["first_stage"] = before  # how the model it continued was made
    surrogate.meta["pretraining"] = info
    out.parent.mkdir(parents=True, exist_ok=True)
    surrogate.save(out)
    write_note(out, info)
    print(json.dumps(info))
    print(f"saved {out} after {(time.perf_counter() - started) / 60:.1f} min")


if __name__ == "__main__":
    main()
