"""RLM surrogate quality and speed on NAS-Bench-201, starting from the shipped pretrained default.

Usage: python experiments/bench_rlm.py [--train-sizes 78,156,469,781,1563] [--seeds 0,1,2]
                                       [--test-size N] [--samples 32] [--temperature T] [--surrogate DIR]

Fine-tuning follows the shipped recipe (nasrlm.rlm.recipe.DEFAULT_RECIPE); a flag given on the command
line replaces that one setting.

Protocol (as TNASP/PINAT): train on N random archs (splits from baselines.splits, identical for
every predictor), test on the remaining archs (all of them, or a random --test-size of them); one
model decodes acc, latency_pixel3 and latency_eyeriss in sequence. Prints Kendall-tau and Spearman
for acc, Spearman for the two latencies, fit time and prediction throughput (archs/s at --samples
samples each), per size and seed, then mean +- std per size. Results are appended to
--out (JSON lines) as they come, and a rerun skips the (size, seed) pairs already there.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from nasrlm.core.metrics import kendall_tau, spearman_rho

OBJECTIVES = ("acc", "latency_pixel3", "latency_eyeriss")


def random_split(n_total: int, n_train: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        from baselines.splits import random_split as shared
    except ImportError:  # the baselines package is optional for this script
        order = np.random.default_rng(seed).permutation(n_total)
        return np.sort(order[:n_train]), np.sort(order[n_train:])
    return shared(n_total, n_train, seed)


def run_one(size: int, seed: int, args: argparse.Namespace) -> dict[str, float]:
    from nasrlm.rlm.recipe import DEFAULT_RECIPE
    from nasrlm.rlm.surrogate import Surrogate
    from search_spaces import get_space

    space = get_space("nb201")
    train_idx, test_idx = random_split(space.size, size, seed)
    if args.test_size and args.test_size < len(test_idx):
        test_idx = np.sort(np.random.default_rng(1000 + seed).choice(test_idx, args.test_size, replace=False))
    surrogate = Surrogate.pretrained() if args.surrogate is None else Surrogate.load(args.surrogate)
    # --context: free labels (e.g. flops,params) trained along as the first objectives, so that
    # acc and latency are decoded conditioned on them.
    context = [c for c in args.context.split(",") if c]
    targets = {name: space.values(name)[train_idx] for name in (*context, *OBJECTIVES)}
    # The shipped recipe (nasrlm.rlm.recipe), with any setting given on the command line instead.
    overrides = {
        name: getattr(args, name)
        for name in ("epochs", "batch_size", "lr", "patience", "freeze_encoder", "encoder_lr_scale")
        if getattr(args, name) is not None
    }
    recipe = DEFAULT_RECIPE.with_settings(args.recipe)
    config = recipe.train_config(seed=seed, **overrides)
    started = time.perf_counter()
    result = surrogate.fit(
        space.to_texts(train_idx.tolist()),
        targets,
        config,
        target_transform=args.target_transform or recipe.target_transform,
        init_like=recipe.init_like,
        line_prior_min_r2=recipe.line_prior_min_r2,
        line_prior_folds=recipe.line_prior_folds,
        members=recipe.members,
    )
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    prediction = surrogate.predict(
        space.to_texts(test_idx.tolist()),
        num_samples=args.samples,
        objectives=OBJECTIVES,
        seed=seed,
        joint=DEFAULT_RECIPE.joint,
        temperature=args.temperature,
        precision=args.precision,
    )
    predict_seconds = time.perf_counter() - started
    row = {
        "size": size,
        "seed": seed,
        "test_archs": len(test_idx),
        "fit_s": fit_seconds,
        "epochs": result.epochs,
        "stopped": result.stopped,
        "archs_per_s": len(test_idx) / predict_seconds,
        "samples": args.samples,
        "temperature": args.temperature,
        "precision": args.precision,
    }
    for name in OBJECTIVES:
        truth = space.values(name)[test_idx]
        row[f"{name}_tau"] = kendall_tau(truth, prediction.point[name])
        row[f"{name}_rho"] = spearman_rho(truth, prediction.point[name])
        row[f"{name}_tau_mean"] = kendall_tau(truth, prediction.mean[name])  # mean instead of median
        # The median of the decoded samples, as points were taken before medians were decoded at once.
        k = prediction.objectives.index(name)
        sampled = np.median(prediction.decoded[:, :, k], axis=1) if prediction.decoded is not None else None
        if sampled is not None:
            row[f"{name}_tau_sampled"] = kendall_tau(truth, sampled)
            row[f"{name}_rho_sampled"] = spearman_rho(truth, sampled)
        for level in (0.5, 0.9):  # calibration: the share of truths inside the central interval
            low, high = prediction.interval(level)[name]
            row[f"{name}_cover{round(100 * level)}"] = float(np.mean((truth >= low) & (truth <= high)))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-sizes", default="78,156,469,781,1563")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--test-size", type=int, default=0, help="0 = all remaining archs")
    from nasrlm.rlm.precision import PRECISIONS
    from nasrlm.rlm.recipe import DEFAULT_RECIPE

    parser.add_argument("--samples", type=int, default=DEFAULT_RECIPE.num_samples)
    parser.add_argument("--temperature", type=float, default=DEFAULT_RECIPE.temperature, help="of the sampling")
    parser.add_argument(
        "--precision", default=DEFAULT_RECIPE.precision, choices=PRECISIONS, help="of prediction (nasrlm.rlm.precision)"
    )
    # Unset: the shipped recipe's value (nasrlm.rlm.recipe.DEFAULT_RECIPE).
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--patience", type=int)
    parser.add_argument("--encoder-lr-scale", type=float)
    parser.add_argument("--freeze-encoder", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--target-transform", default=None, help="for new objectives (default: the recipe's)")
    parser.add_argument(
        "--recipe",
        action="append",
        default=[],
        help="KEY=VALUE: any other change to the shipped fine-tuning recipe (repeatable), e.g. value_lr_scale=1",
    )
    parser.add_argument("--context", default="", help="free labels decoded before the objectives, e.g. flops,params")
    parser.add_argument("--surrogate", help="start from this saved surrogate instead of the shipped default")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench_rlm.jsonl"))
    args = parser.parse_args()
    try:
        DEFAULT_RECIPE.with_settings(args.recipe)
    except ValueError as error:
        parser.error(str(error))
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    done = [json.loads(line) for line in args.out.read_text().splitlines()] if args.out.is_file() else []
    sizes = [int(s) for s in args.train_sizes.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    header = (
        f"{'size':>5} {'seed':>4} {'acc tau':>8} {'acc rho':>8} {'pixel3 rho':>10} {'eyeriss rho':>11} "
        f"{'fit s':>7} {'archs/s':>8}"
    )
    print(header)
    for seed in seeds:  # seed-major: an interrupted run still covers every size
        for size in sizes:
            row = next((r for r in done if r["size"] == size and r["seed"] == seed), None)
            if row is None:
                row = run_one(size, seed, args)
                with args.out.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")
                done.append(row)
            print(
                f"{size:>5} {seed:>4} {row['acc_tau']:>8.3f} {row['acc_rho']:>8.3f} "
                f"{row['latency_pixel3_rho']:>10.3f} {row['latency_eyeriss_rho']:>11.3f} "
                f"{row['fit_s']:>7.1f} {row['archs_per_s']:>8.1f}",
                flush=True,
            )
    print("\nmean +- std over seeds")
    print(header.replace(" seed", "    n") + f" {'cover50/90 (acc, pixel3, eyeriss)':>36}")
    for size in sizes:
        rows = [r for r in done if r["size"] == size and r["seed"] in seeds]
        if not rows:
            continue

        def stat(key: str, rows: list[dict] = rows) -> str:
            values = np.array([r[key] for r in rows])
            return f"{values.mean():.3f}+-{values.std():.3f}"

        print(
            f"{size:>5} {len(rows):>4} {stat('acc_tau'):>8} {stat('acc_rho'):>8} {stat('latency_pixel3_rho'):>10} "
            f"{stat('latency_eyeriss_rho'):>11} {np.mean([r['fit_s'] for r in rows]):>7.1f} "
            f"{np.mean([r['archs_per_s'] for r in rows]):>8.1f} "
            + " ".join(
                f"{np.mean([r.get(f'{o}_cover50', np.nan) for r in rows]):.2f}/"
                f"{np.mean([r.get(f'{o}_cover90', np.nan) for r in rows]):.2f}"
                for o in OBJECTIVES
            )
        )
        if all("acc_tau_sampled" in r for r in rows):
            print(
                f"{'':>10} median of the samples instead: {stat('acc_tau_sampled')} "
                f"{stat('acc_rho_sampled')} {stat('latency_pixel3_rho_sampled')} {stat('latency_eyeriss_rho_sampled')}"
            )


if __name__ == "__main__":
    main()
