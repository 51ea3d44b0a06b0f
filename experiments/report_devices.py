"""All 27 NB201 latency columns: one RLM per device against GIN, on ``nasrlm report``'s split.

Usage: python experiments/report_devices.py [--size 781] [--seed 0] [--test-size 1500]
           [--devices eyeriss,pixel3,...] [--surrogate PATH] [--threads 1]
           [--gin experiments/results/report_devices_781_v9.jsonl] [--out runs/report_devices.jsonl]

``nasrlm report --objectives <27 latency columns> --predictors rlm,gin`` fits one RLM that decodes
all 27 devices one after another (experiments/results/report_devices_781_v9.txt); many objectives
in one sequence cost each of them. Here each device gets its own fine-tuned RLM (the shipped
recipe, nasrlm.rlm.recipe), on the same split as the report (baselines.random_split over the archs,
test archs drawn by the report's rule), so its rows sit beside the report's GIN rows (``--gin``: a
report's results.jsonl holding a ``gin`` row of the same size and seed). Rows are appended to --out
as devices finish; a rerun skips the devices already there.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from nasrlm.core.metrics import kendall_tau, spearman_rho


def gin_scores(path: Path, size: int, seed: int) -> dict[str, dict[str, float]]:
    if not path.is_file():
        return {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if row["predictor"] == "gin" and row["size"] == size and row["seed"] == seed:
            return dict(row["scores"])
    return {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=781)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test-size", type=int, default=1500)
    parser.add_argument("--devices", default="", help="comma-separated (default: every latency column)")
    parser.add_argument("--surrogate", type=Path, default=None, help="default: the shipped pretrained model")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--gin", type=Path, default=Path("experiments/results/report_devices_781_v9.jsonl"))
    parser.add_argument("--out", type=Path, default=Path("runs/report_devices.jsonl"))
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from baselines import random_split
    from nasrlm.report.runner import _test_indices
    from nasrlm.rlm.recipe import DEFAULT_RECIPE
    from nasrlm.rlm.surrogate import Surrogate
    from search_spaces import get_space

    space = get_space("nb201")
    devices = [d for d in args.devices.split(",") if d] or [
        m.removeprefix("latency_") for m in space.metrics if m.startswith("latency_")
    ]
    train, rest = random_split(space.size, args.size, args.seed)
    test = _test_indices(rest, args.test_size, args.seed)
    texts_train, texts_test = space.to_texts(train.tolist()), space.to_texts(test.tolist())
    done = {}
    if args.out.is_file():
        for line in args.out.read_text().splitlines():
            row = json.loads(line)
            if (row["size"], row["seed"], row["surrogate"]) == (args.size, args.seed, str(args.surrogate)):
                done[row["device"]] = row
    for device in devices:
        if device in done:
            continue
        name = f"latency_{device}"
        surrogate = Surrogate.load(args.surrogate) if args.surrogate else Surrogate.pretrained()
        started = time.perf_counter()
        surrogate.fit(texts_train, {name: space.values(name)[train]}, DEFAULT_RECIPE.train_config(seed=args.seed))
        fit_s = time.perf_counter() - started
        started = time.perf_counter()
        point = surrogate.predict(texts_test, objectives=[name], seed=args.seed).point[name]
        truth = space.values(name)[test]
        row = {
            "device": device,
            "size": args.size,
            "seed": args.seed,
            "surrogate": str(args.surrogate),
            "spearman": spearman_rho(truth, point),
            "kendall": kendall_tau(truth, point),
            "fit_s": fit_s,
            "predict_s": time.perf_counter() - started,
        }
        with args.out.open("a") as handle:
            handle.write(json.dumps(row) + "\n")
        done[device] = row
        print(f"{device}: rho {row['spearman']:.3f}", flush=True)
    gin = gin_scores(args.gin, args.size, args.seed)
    print(f"{'device':16} {'RLM rho':>8} {'GIN rho':>8} {'RLM tau':>8} {'GIN tau':>8}")
    at_least = 0
    for device in devices:
        row, other = done[device], gin.get(f"latency_{device}", {})
        g_rho, g_tau = other.get("spearman", float("nan")), other.get("kendall", float("nan"))
        at_least += row["spearman"] >= g_rho
        print(f"{device:16} {row['spearman']:8.3f} {g_rho:8.3f} {row['kendall']:8.3f} {g_tau:8.3f}")
    fit = sum(done[d]["fit_s"] for d in devices)
    predict = sum(done[d]["predict_s"] for d in devices)
    print(
        f"RLM >= GIN (Spearman) on {at_least} of {len(devices)} devices; RLM fit {fit:.0f} s, predict {predict:.0f} s"
    )


if __name__ == "__main__":
    main()
