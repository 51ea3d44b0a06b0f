"""Search benchmark on NAS-Bench-201: hypervolume ratio of each sampler after 50, 100 and 200 queries.

Usage: python experiments/bench_search.py [--samplers rlm,oracle,nsga2,tpe,random] [--seeds 0-9]
           [--budgets 50,100,200] [--workers 2] [--rlm '{"proposals_per_fit": 8}'] [--surrogate DIR]
           [--out runs/bench_search.jsonl]

``oracle`` is the RLM sampler with its surrogate replaced by the benchmark itself: every "sample" of
a candidate is its true metrics. Its gap to the best figure is what the acquisition (pool, EHVI,
batch picks) costs; the RLM sampler's gap to the oracle is what the surrogate's errors cost.

Protocol (issue 4): objectives acc (maximize) and latency_pixel3 (minimize); hypervolume with the
reference point (85 %, 40 ms) divided by that of the exact front over all 15,625 archs. No sampler
looks at its budget, so one run of the largest budget gives every smaller budget as its first
queries. Each (sampler, seed) runs in its own process with one torch thread; results are appended
to --out as they finish and a rerun skips those already there. Prints the mean +- std ratio per
sampler and budget, and seconds per trial (wall time of the run / queries, measured in a worker).
"""

from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

REFERENCE = (85.0, 40.0)
OBJECTIVES = ("acc", "latency_pixel3")


class OracleSurrogate:
    """Stands in for the RLM in the sampler: each candidate's samples are all its true metrics.

    NB201 cells that are the same network (isomorphic cells: one text) get the mean of their
    benchmark values, which differ only by training noise.
    """

    def __init__(self, objectives: tuple[str, ...]) -> None:
        from search_spaces import get_space

        space = get_space("nb201")
        frame = {name: space.values(name) for name in objectives}
        groups: dict[str, list[int]] = {}
        for index, text in enumerate(space.onnx_texts()):
            groups.setdefault(text, []).append(index)
        self.table = {text: {n: float(frame[n][rows].mean()) for n in objectives} for text, rows in groups.items()}
        self.objectives = tuple(objectives)
        self.meta: dict = {}

    def fit(self, *args: object, **kwargs: object) -> None:
        """Nothing to learn: the oracle knows."""

    def sample(self, texts: list[str], *, num_samples: int, objectives: list[str], **kwargs: object) -> np.ndarray:
        rows = np.array([[self.table[text][name] for name in objectives] for text in texts], dtype=np.float64)
        return np.repeat(rows.reshape(len(texts), 1, len(objectives)), num_samples, axis=1)


def run_one(sampler: str, seed: int, budgets: list[int], rlm_overrides: dict, surrogate: str | None = None) -> dict:
    import torch

    torch.set_num_threads(1)
    from nasrlm.search.pareto import hypervolume, to_minimization
    from nasrlm.search.runner import SearchConfig, make_sampler, run_search
    from nasrlm.search.sampler import RLMSamplerConfig
    from search_spaces import get_space

    config = SearchConfig(
        space="nb201",
        objectives=OBJECTIVES,
        budget=max(budgets),
        sampler="rlm" if sampler == "oracle" else sampler,
        seed=seed,
        reference=REFERENCE,
        progress=False,
        rlm=RLMSamplerConfig(**rlm_overrides),
        surrogate=surrogate if sampler == "rlm" else None,
    )
    if sampler == "oracle":
        oracle = OracleSurrogate(OBJECTIVES)
        result = run_search(config, sampler=make_sampler(config, get_space("nb201"), seed=seed, surrogate=oracle))
    else:
        result = run_search(config)
    values = np.array([t.values for t in sorted(result.study.trials, key=lambda t: t.number) if t.values])
    points = to_minimization(values, [True, False])
    reference = to_minimization(np.array(REFERENCE), [True, False])
    row = {"sampler": sampler, "seed": seed, "rlm": rlm_overrides if sampler in ("rlm", "oracle") else {}}
    if sampler == "rlm" and surrogate is not None:
        row["surrogate"] = surrogate
    for budget in budgets:
        row[f"ratio_{budget}"] = hypervolume(points[:budget], reference) / result.exact_hypervolume
    row["seconds_per_trial"] = result.seconds_per_trial
    return row


def _seeds(text: str) -> list[int]:
    if "-" in text:
        low, high = text.split("-")
        return list(range(int(low), int(high) + 1))
    return [int(s) for s in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samplers", default="rlm,nsga2,tpe,random")
    parser.add_argument("--seeds", default="0-9")
    parser.add_argument("--budgets", default="50,100,200")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--rlm", default="{}", help="RLMSamplerConfig fields as JSON")
    parser.add_argument("--surrogate", help="a saved surrogate for the rlm sampler (default: the shipped one)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench_search.jsonl"))
    args = parser.parse_args()

    budgets = sorted(int(b) for b in args.budgets.split(","))
    rlm = json.loads(args.rlm)
    samplers = args.samplers.split(",")
    seeds = _seeds(args.seeds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    done = [json.loads(line) for line in args.out.read_text().splitlines()] if args.out.is_file() else []

    def key(sampler: str, seed: int) -> tuple:
        model = args.surrogate if sampler == "rlm" else None
        return (sampler, seed, json.dumps(rlm if sampler in ("rlm", "oracle") else {}, sort_keys=True), model)

    def row_key(row: dict) -> tuple:
        return (row["sampler"], row["seed"], json.dumps(row["rlm"], sort_keys=True), row.get("surrogate"))

    have = {row_key(r) for r in done}
    todo = [(s, seed) for seed in seeds for s in samplers if key(s, seed) not in have]
    from tqdm.auto import tqdm

    with ProcessPoolExecutor(args.workers) as pool:
        futures = [pool.submit(run_one, s, seed, budgets, rlm, args.surrogate) for s, seed in todo]
        for future in tqdm(as_completed(futures), total=len(futures), desc="runs"):
            row = future.result()
            with args.out.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
            done.append(row)

    print(f"NB201 acc/latency_pixel3, reference {REFERENCE}: hypervolume / exact front's (mean +- std over seeds)")
    print(f"{'sampler':<8} {'seeds':>5} " + " ".join(f"{f'{b} queries':>14}" for b in budgets) + f" {'s/trial':>8}")
    for sampler in samplers:
        rows = [r for r in done if row_key(r) == key(sampler, r["seed"]) and r["seed"] in seeds]
        if not rows:
            continue
        cells = []
        for budget in budgets:
            ratios = np.array([r[f"ratio_{budget}"] for r in rows])
            cells.append(f"{ratios.mean():.3f}+-{ratios.std():.3f}".rjust(14))
        per_trial = np.mean([r["seconds_per_trial"] for r in rows])
        print(f"{sampler:<8} {len(rows):>5} " + " ".join(cells) + f" {per_trial:>8.3f}")


if __name__ == "__main__":
    main()
