"""What bounds the RLM's ranking of NB201 accuracy: the information it reads, or how it learns?

Usage: python experiments/bound_rlm.py [--sizes 156] [--seeds 100] [--test-size 1500]
                                       [--work runs/pretrain] [--out runs/bound_rlm.jsonl]
                                       [--surrogate PATH]   (default: the shipped pretrained model)

The shipped RLM was pretrained on free labels (op counts, graph structure, zero-cost proxies;
``experiments/pretrain_default.py``). This script asks where the accuracy signal is lost, on archs
whose zero-cost proxies have been computed (``experiments/free_labels_nb201.py``):

- ``gbdt_true``: LightGBM on the true free labels of each arch (what the labels hold);
- ``gbdt_rlm``: LightGBM on the shipped RLM's own predictions of those labels, decoded from the
  text (what the pretrained model knows of them);
- ``rlm``: the RLM fine-tuned with the shipped recipe (nasrlm.rlm.recipe);
- ``rlm_given``: the RLM fine-tuned with the free labels as earlier objectives of each row, and the
  true labels given at prediction (``Surrogate.predict(given=...)``): the labels are in its input;
- ``rlm_sampled``: the same model, its free labels sampled instead of given.

Also prints how well the shipped RLM decodes each free label (Spearman on all labelled archs: its
own pretraining data). Splits use seeds other than the final table's 0-2 (default 100). Rows are
appended to --out as they finish; a rerun skips the (size, seed) pairs already there.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from nasrlm.core.metrics import kendall_tau, spearman_rho

sys.path.insert(0, str(Path(__file__).resolve().parent))

OBJECTIVES = ("acc", "latency_pixel3", "latency_eyeriss")
KEYS = ("gbdt_true", "gbdt_rlm", "rlm", "rlm_given", "rlm_sampled")


def scores(predicted: dict[str, np.ndarray], truth: dict[str, np.ndarray]) -> dict[str, float]:
    """Kendall-tau for acc, Spearman for the latencies."""
    return {
        "acc_tau": kendall_tau(truth["acc"], predicted["acc"]),
        "pixel3_rho": spearman_rho(truth["latency_pixel3"], predicted["latency_pixel3"]),
        "eyeriss_rho": spearman_rho(truth["latency_eyeriss"], predicted["latency_eyeriss"]),
    }


def gbdt(features: np.ndarray, train: np.ndarray, test: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    import lightgbm

    params = {
        "objective": "regression",
        "learning_rate": 0.05,
        "num_leaves": 15,
        "min_data_in_leaf": 5,
        "min_data_in_bin": 1,
        "seed": seed,
        "verbosity": -1,
        "num_threads": 1,
    }
    booster = lightgbm.train(params, lightgbm.Dataset(features[train], y[train]), num_boost_round=300)
    return booster.predict(features[test])


def load(surrogate: Path | None) -> Any:  # a Surrogate, imported late (with torch)
    from nasrlm.rlm.surrogate import Surrogate

    return Surrogate.pretrained() if surrogate is None else Surrogate.load(surrogate)


def rlm_predicted_labels(names: list[str], texts: list[str], path: Path, surrogate: Path | None) -> np.ndarray:
    """The RLM's most likely value of each free label for every arch, cached in ``path``."""
    if path.is_file():
        return np.load(path)
    surrogate = load(surrogate)
    samples = surrogate.sample(texts, num_samples=1, temperature=0, objectives=names, batch_size=256, progress=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, samples[:, 0, :])
    return samples[:, 0, :]


def run_one(size: int, seed: int, args: argparse.Namespace, labels, names: list[str], predicted) -> dict:
    from nasrlm.rlm.recipe import DEFAULT_RECIPE
    from search_spaces import get_space

    space = get_space("nb201")
    texts = space.onnx_texts()
    labelled = np.flatnonzero(labels[names].notna().all(axis=1).to_numpy())
    order = np.random.default_rng(seed).permutation(labelled)
    train, test = np.sort(order[:size]), np.sort(order[size : size + args.test_size])
    truth = {name: space.values(name) for name in OBJECTIVES}
    test_truth = {name: values[test] for name, values in truth.items()}
    true_labels = labels[names].to_numpy()
    row: dict = {"size": size, "seed": seed, "test_archs": len(test), "labelled_archs": len(labelled)}
    row["surrogate"] = str(args.surrogate or "shipped")
    for key, features in (("gbdt_true", true_labels), ("gbdt_rlm", predicted)):
        row[key] = scores({n: gbdt(features, train, test, truth[n], seed) for n in OBJECTIVES}, test_truth)
    for with_labels in (False, True):
        surrogate = load(args.surrogate)
        targets = {name: truth[name][train] for name in OBJECTIVES}
        if with_labels:
            targets = {**{name: true_labels[train, k] for k, name in enumerate(names)}, **targets}
        started = time.perf_counter()
        surrogate.fit([texts[i] for i in train], targets, DEFAULT_RECIPE.train_config(seed=seed))
        fit_s = round(time.perf_counter() - started, 1)
        modes = {"rlm_given": True, "rlm_sampled": False} if with_labels else {"rlm": False}
        for key, give in modes.items():
            given = {name: true_labels[test, k] for k, name in enumerate(names)} if give else None
            prediction = surrogate.predict([texts[i] for i in test], objectives=OBJECTIVES, seed=seed, given=given)
            row[key] = {**scores(prediction.point, test_truth), "fit_s": fit_s}
    shown = ", ".join(f"{key} {row[key]['acc_tau']:.3f}" for key in KEYS)
    print(f"  {size} archs, seed {seed}: acc tau {shown}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="156")
    parser.add_argument("--seeds", default="100")
    parser.add_argument("--test-size", type=int, default=1500)
    parser.add_argument("--work", type=Path, default=Path("runs/pretrain"), help="pretrain_default's label cache")
    parser.add_argument("--out", type=Path, default=Path("runs/bound_rlm.jsonl"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--surrogate", type=Path, default=None, help="a saved surrogate (default: the shipped one)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from pretrain_default import LABEL_SETS, free_labels

    from search_spaces import get_space

    args.work.mkdir(parents=True, exist_ok=True)
    labels = free_labels(args.work)
    names = [*LABEL_SETS["counts"], *LABEL_SETS["graph"], *LABEL_SETS["proxies"]]
    missing = [n for n in names if n not in load(args.surrogate).objectives]
    if missing:
        raise SystemExit(f"the RLM does not decode {missing}")
    cache = args.out.with_suffix(".labels.npy")
    predicted = rlm_predicted_labels(names, get_space("nb201").onnx_texts(), cache, args.surrogate)
    known = labels[names].notna().to_numpy()
    who = args.surrogate or "the shipped RLM"
    print(f"{who} decoding its free labels (Spearman with the truth, archs that have them):")
    for k, name in enumerate(names):
        rho = spearman_rho(labels[name].to_numpy()[known[:, k]], predicted[known[:, k], k])
        print(f"  {name:<20} {rho:.3f}")

    done = [json.loads(line) for line in args.out.read_text().splitlines()] if args.out.is_file() else []
    for seed in (int(s) for s in args.seeds.split(",")):
        for size in (int(s) for s in args.sizes.split(",")):
            if not any(r["size"] == size and r["seed"] == seed for r in done):  # one --out per surrogate
                row = run_one(size, seed, args, labels, names, predicted)
                with args.out.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")
                done.append(row)
    print(f"{'size':>5} {'seed':>5} {'what':<12} {'acc tau':>8} {'pixel3 rho':>11} {'eyeriss rho':>12}")
    for row in sorted(done, key=lambda r: (r["size"], r["seed"])):
        for key in KEYS:
            s = row[key]
            print(
                f"{row['size']:>5} {row['seed']:>5} {key:<12} {s['acc_tau']:>8.3f} {s['pixel3_rho']:>11.3f} "
                f"{s['eyeriss_rho']:>12.3f}"
            )


if __name__ == "__main__":
    main()
