"""Few-shot transfer across search spaces: does an RLM that learned a metric on other spaces rank a new
space's architectures better from 16 or 100 of them than one that never saw the metric, and than a GNN
trained on the target archs only?

Usage: python experiments/bench_transfer.py [--targets nb201:acc,nb101:acc,...] [--shots 16,100]
           [--seeds 0,1,2] [--predictors rlm_none,rlm_cross,gin,gcn,costs_line] [--source-archs 1000]
           [--test-size 1000] [--samples 16] [--work runs/transfer] [--out runs/transfer/results.jsonl]
           [--surrogate DIR] [--threads 2] [--recipe KEY=VALUE ...]

Protocol (after the RLM paper's few-shot study, arXiv 2509.26476): for each target (space, metric),
shot count N and seed s, N archs with a value of the metric are drawn at random (seed s) from the
space's table; every predictor trains on them only, and is scored by Kendall-tau on the other archs
with a value (all of them, or a random --test-size of them, the same for every predictor).

- ``rlm_none``: the shipped pretrained RLM (or --surrogate), fine-tuned with the shipped recipe on the
  N target archs: it has never seen the metric.
- ``rlm_cross``: the same model first fine-tuned (once per target, seed 0, cached in --work) on up to
  --source-archs archs of every *other* space that has the metric (or the column SOURCE_METRIC names
  for it), under the target's metric name, so that the target fit continues what it learned there.
- ``gin``, ``gcn`` (and any other baseline of ``baselines``): trained on the N target archs only,
  from the space's own graph encoding.
- ``costs_line``: the line prior alone (``nasrlm.rlm.line_prior``, chosen on the N archs as a fit
  chooses it, ``LinePrior.select``, without its bar or the comparison with the decoder), read through
  --surrogate (a model that reads the costs line): what MACs, parameters, activations and op counts
  rank without a decoder. (Before the op census, results files hold the line on the costs alone.)

Each finished (target, shots, seed, predictor) row is appended to --out as it comes; a rerun skips the
rows already there. An RLM row also says what its fit kept (a line, alone or with the decoder's residual,
or the decoder alone) and the held-out comparison that decided it (``line_prior.compare_with_decoder``),
in the row and on its progress line. The table at the end shows mean +- std over seeds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from nasrlm.core.metrics import kendall_tau

DEFAULT_TARGETS = (
    "nb201:acc",
    "nb101:acc",
    "transnas_macro:class_scene_acc",
    "transnas_macro:class_object_acc",
    "fbnet:latency_pixel3",
    "ofa_mbv3:latency_v100_1",
)
# Where another space has no column of the target's name, the column it learns instead (the nearest in
# meaning): a V100 at batch 1 is nearest to the Titan RTX at batch 1 that NB201 and FBNet were timed on;
# TransNAS's classification tasks are nearest to CIFAR-10 classification accuracy.
SOURCE_METRIC = {
    "latency_v100_1": "latency_titan_rtx_1",
    "class_scene_acc": "acc",
    "class_object_acc": "acc",
}


def _csv(text: str) -> list[str]:
    return [part for part in text.split(",") if part]


def measured(space: Any, metric: str) -> np.ndarray:
    """Table indices of the archs with a value of ``metric``."""
    values = np.asarray(space.values(metric), dtype=np.float64)
    return np.flatnonzero(~np.isnan(values))


def split(space: Any, metric: str, shots: int, seed: int, test_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``shots`` train archs and the test archs (every other one with a value, or ``test_size`` of them)."""
    pool = measured(space, metric)
    order = np.random.default_rng(seed).permutation(pool)
    train, test = np.sort(order[:shots]), order[shots:]
    if test_size and test_size < len(test):
        test = np.random.default_rng(1000 + seed).choice(test, test_size, replace=False)
    return train, np.sort(test)


def sources_for(target_space: str, metric: str) -> list[tuple[str, str]]:
    """(space, column) pairs of the other spaces that have ``metric`` or its SOURCE_METRIC."""
    from search_spaces import available_spaces, get_space, is_tabular

    out = []
    for name in available_spaces():
        if name == target_space:
            continue
        space = get_space(name)
        if not is_tabular(space):
            continue
        for column in (metric, SOURCE_METRIC.get(metric)):
            if column is not None and column in space.metrics:
                out.append((name, column))
                break
    return out


def cross_model(args: argparse.Namespace, target_space: str, metric: str) -> tuple[Path | None, list[str]]:
    """The surrogate fine-tuned on ``metric`` from the other spaces (cached), and what it learned from."""
    from nasrlm.rlm.recipe import DEFAULT_RECIPE
    from nasrlm.rlm.surrogate import Surrogate
    from search_spaces import get_space

    sources = sources_for(target_space, metric)
    if not sources:
        return None, []
    folder = args.work / f"cross_{target_space}_{metric}"
    learned = [f"{name}:{column}" for name, column in sources]
    if (folder / "config.json").is_file():
        return folder, learned
    texts: list[str] = []
    values: list[float] = []
    for name, column in sources:
        space = get_space(name)
        pool = measured(space, column)
        chosen = np.sort(np.random.default_rng(0).permutation(pool)[: args.source_archs])
        texts += space.to_texts(chosen.tolist())
        values += np.asarray(space.values(column), dtype=np.float64)[chosen].tolist()
        print(f"  source {name}:{column}: {len(chosen)} archs", flush=True)
    surrogate = Surrogate.pretrained() if args.surrogate is None else Surrogate.load(args.surrogate)
    started = time.perf_counter()
    recipe = DEFAULT_RECIPE.with_settings(args.recipe)
    surrogate.fit(
        texts,
        {metric: np.array(values)},
        recipe.train_config(seed=0, progress=False),
        target_transform=recipe.target_transform,
        init_like=recipe.init_like,
        line_prior_min_r2=recipe.line_prior_min_r2,
        line_prior_folds=recipe.line_prior_folds,
        members=recipe.members,
    )
    print(f"  cross model for {target_space}:{metric} in {time.perf_counter() - started:.0f} s", flush=True)
    surrogate.save(folder)
    return folder, learned


def run_rlm(
    args: argparse.Namespace, space: Any, metric: str, train: np.ndarray, test: np.ndarray, seed: int, start: Any
) -> dict[str, Any]:
    from nasrlm.rlm.recipe import DEFAULT_RECIPE
    from nasrlm.rlm.surrogate import Surrogate

    if start is None:
        surrogate = Surrogate.pretrained() if args.surrogate is None else Surrogate.load(args.surrogate)
    else:
        surrogate = Surrogate.load(start)
    values = np.asarray(space.values(metric), dtype=np.float64)
    started = time.perf_counter()
    recipe = DEFAULT_RECIPE.with_settings(args.recipe)
    config = recipe.train_config(seed=seed, progress=False)
    surrogate.fit(
        space.to_texts(train.tolist()),
        {metric: values[train]},
        config,
        target_transform=recipe.target_transform,
        init_like=recipe.init_like,
        line_prior_min_r2=recipe.line_prior_min_r2,
        line_prior_folds=recipe.line_prior_folds,
        members=recipe.members,
    )
    fit_s = time.perf_counter() - started
    prediction = surrogate.predict(
        space.to_texts(test.tolist()), num_samples=args.samples, objectives=[metric], seed=seed, progress=False
    )
    prior = surrogate.line_priors.get(metric)
    return {
        "tau": kendall_tau(values[test], prediction.point[metric]),
        "fit_s": fit_s,
        # What the fit kept (a line predicting alone, with the decoder's residual, or the decoder) and why.
        "line": None if prior is None else {"names": list(prior.names), "point_from_line": prior.point_from_line},
        "comparison": (surrogate.meta.get("line_prior_comparisons") or {}).get(metric),
    }


def run_line(args: argparse.Namespace, space: Any, metric: str, train: np.ndarray, test: np.ndarray) -> dict:
    """The line prior alone (nasrlm.rlm.line_prior, chosen as a fit chooses it, no bar): what the line
    ranks without a decoder."""
    from nasrlm.rlm.line_prior import LinePrior
    from nasrlm.rlm.surrogate import Surrogate

    surrogate = Surrogate.pretrained() if args.surrogate is None else Surrogate.load(args.surrogate)
    values = np.asarray(space.values(metric), dtype=np.float64)
    features = surrogate.line_features(space.to_texts([*train.tolist(), *test.tolist()]))
    if features is None:
        sys.exit("bench_transfer.py: costs_line needs a --surrogate that reads the costs line (value states)")
    started = time.perf_counter()
    prior = LinePrior.select(values[train], features[: len(train)])
    fit_s = time.perf_counter() - started
    tau = kendall_tau(values[test], prior.mean(features[len(train) :]))
    return {"tau": tau, "fit_s": fit_s, "loo_r2": prior.loo_r2}


def run_baseline(name: str, space: Any, metric: str, train: np.ndarray, test: np.ndarray, seed: int) -> dict:
    from baselines import get_predictor

    archs = space.archs()
    values = np.asarray(space.values(metric), dtype=np.float64)
    predictor = get_predictor(name, seed=seed)
    started = time.perf_counter()
    predictor.fit([archs[i] for i in train], {metric: values[train]})
    fit_s = time.perf_counter() - started
    predicted = predictor.predict([archs[i] for i in test])[metric]
    return {"tau": kendall_tau(values[test], predicted), "fit_s": fit_s}


def _kept(row: dict[str, Any]) -> str:
    """What an RLM fit kept, for the progress line: "" for other predictors."""
    if "line" not in row:
        return ""
    compared = row.get("comparison")
    why = "" if not compared else f" (held out: decoder {compared['decoder']:.3f}, line {compared['line']:.3f}"
    why += "" if not compared else f" +- {compared['standard_error']:.3f})"
    if row["line"] is None:
        return f", decoder alone{why}"
    alone = "alone" if row["line"]["point_from_line"] else "with the decoder's residual"
    return f", line on {len(row['line']['names'])} values {alone}{why}"


def table(rows: list[dict[str, Any]]) -> str:
    keys = sorted({(r["target"], r["shots"]) for r in rows})
    predictors = list(dict.fromkeys(r["predictor"] for r in rows))
    lines = [f"{'target':<34}{'shots':>6}" + "".join(f"{p:>18}" for p in predictors)]
    for target, shots in keys:
        cells = []
        for predictor in predictors:
            taus = [r["tau"] for r in rows if (r["target"], r["shots"], r["predictor"]) == (target, shots, predictor)]
            cells.append(f"{np.mean(taus):.3f}+-{np.std(taus):.3f} ({len(taus)})" if taus else "-")
        lines.append(f"{target:<34}{shots:>6}" + "".join(f"{c:>18}" for c in cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default=",".join(DEFAULT_TARGETS), help="space:metric, comma-separated")
    parser.add_argument("--shots", default="16,100")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--predictors", default="rlm_none,rlm_cross,gin,gcn")
    parser.add_argument("--source-archs", type=int, default=1000, help="per source space, for rlm_cross")
    parser.add_argument("--test-size", type=int, default=1000, help="0: every other arch with a value")
    parser.add_argument("--samples", type=int, default=16, help="RLM samples per prediction")
    parser.add_argument("--surrogate", help="start from this saved surrogate instead of the shipped default")
    parser.add_argument("--work", type=Path, default=Path("runs/transfer"))
    parser.add_argument("--out", type=Path, default=None, help="default: WORK/results.jsonl")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--recipe",
        action="append",
        default=[],
        help="KEY=VALUE: a change to the shipped fine-tuning recipe for the RLM fits (repeatable), e.g. init_like=true",
    )
    args = parser.parse_args()
    from nasrlm.rlm.recipe import DEFAULT_RECIPE

    try:
        DEFAULT_RECIPE.with_settings(args.recipe)
    except ValueError as error:
        parser.error(str(error))
    import torch

    from search_spaces import UnknownMetricError, UnknownSpaceError, get_space

    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    out = args.out or args.work / "results.jsonl"
    targets = []
    for item in _csv(args.targets):
        space_name, _, metric = item.partition(":")
        try:
            get_space(space_name).metric(metric)
        except (UnknownSpaceError, UnknownMetricError) as exc:
            sys.exit(f"bench_transfer.py: --targets {item}: {exc}")
        targets.append((space_name, metric))
    shots = [int(s) for s in _csv(args.shots)]
    seeds = [int(s) for s in _csv(args.seeds)]
    predictors = _csv(args.predictors)
    rows = [json.loads(line) for line in out.read_text().splitlines()] if out.is_file() else []
    done = {(r["target"], r["shots"], r["seed"], r["predictor"]) for r in rows}
    for space_name, metric in targets:
        space = get_space(space_name)
        target = f"{space_name}:{metric}"
        start, learned = (None, [])
        if "rlm_cross" in predictors:
            start, learned = cross_model(args, space_name, metric)
            if start is None:
                print(f"{target}: no other space has {metric} or {SOURCE_METRIC.get(metric)}: no rlm_cross")
        for n in shots:
            for seed in seeds:
                train, test = split(space, metric, n, seed, args.test_size)
                for predictor in predictors:
                    key = (target, n, seed, predictor)
                    if key in done or (predictor == "rlm_cross" and start is None):
                        continue
                    if predictor == "rlm_none":
                        result = run_rlm(args, space, metric, train, test, seed, None)
                    elif predictor == "costs_line":
                        result = run_line(args, space, metric, train, test)
                    elif predictor == "rlm_cross":
                        result = run_rlm(args, space, metric, train, test, seed, start)
                        result["sources"] = learned
                    else:
                        result = run_baseline(predictor, space, metric, train, test, seed)
                    row = {"target": target, "shots": n, "seed": seed, "predictor": predictor, "test": len(test)}
                    row.update(result)
                    rows.append(row)
                    with out.open("a") as handle:
                        handle.write(json.dumps(row) + "\n")
                    print(f"{target} {n} shots seed {seed} {predictor}: tau {row['tau']:.3f}{_kept(row)}", flush=True)
    print(table(rows))


if __name__ == "__main__":
    main()
