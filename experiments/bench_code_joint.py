"""One RLM for three domains, against one RLM per domain and a simple baseline per domain (issue 14).

Usage: python experiments/bench_code_joint.py [--seeds 0,1,2] [--domains python,rust,nb201]
           [--epochs 20] [--patience 4] [--max-length 512] [--nb201-archs 1500] [--work runs/code_joint]
           [--threads 1] [--table]

Domains (each row is a text and its domain's targets):
  python  the program-memory data set's Python rows (nasrlm.datasets.program_memory): peak RSS and
          tracemalloc peak, in kB; groups are HumanEval problems;
  rust    its Rust rows: peak RSS; groups are the same problems;
  nb201   ``--nb201-archs`` NAS-Bench-201 networks drawn with seed 0, in the compact text form
          (nasrlm.text.compact_text): CIFAR-10 accuracy and Pixel 3 latency; each arch is its own group.
Triton kernel latency, the third kind of code in the issue, joins when a GPU has measured it
(experiments/triton_kernels/measure.py); no GPU was available where these figures were made.

Each seed holds out half of each domain's groups (whole problems: no problem's programs are on both
sides, whatever its input size). Then, on the same split:
  joint        one new RLM (BPE learned on the training texts of every domain) fitted on every
               training row; an objective is named by its domain (``python.peak_rss_kb``), and a row
               trains only its own domain's objectives;
  per_domain   one new RLM per domain, the same settings, fitted on that domain's rows alone;
  token_gbdt   LightGBM on token counts (baselines.text_features), per domain;
  length       log text length, per domain.
Printed: Spearman per objective on the held-out rows (median of 32 samples for the RLMs), mean +-
std over seeds, and joint minus per-domain. Every RLM is new: code and networks share no pretraining.

Resumable: each (seed, model) result is a JSON line in WORK/results.jsonl, and each RLM fit
checkpoints in WORK, so a rerun continues where it stopped. ``--table`` prints what WORK holds.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nasrlm.core.metrics import spearman_rho

SAMPLES = 32


@dataclass(frozen=True)
class Domain:
    """One domain's rows: texts, targets (objective -> values) and a group label per row."""

    name: str
    texts: list[str]
    targets: dict[str, np.ndarray]
    groups: np.ndarray

    def split(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows of half the groups (drawn with ``seed``) and rows of the other half."""
        labels = np.unique(self.groups)
        rng = np.random.default_rng([seed, len(labels)])
        trained = rng.choice(labels, len(labels) // 2, replace=False)
        inside = np.isin(self.groups, trained)
        return np.flatnonzero(inside), np.flatnonzero(~inside)


def load_domains(names: list[str], nb201_archs: int) -> list[Domain]:
    domains = []
    for name in names:
        if name in ("python", "rust"):
            from nasrlm.datasets import load_program_memory

            frame = load_program_memory(language=name)
            columns = ["peak_rss_kb", "tracemalloc_peak_kb"] if name == "python" else ["peak_rss_kb"]
            targets = {f"{name}.{c}": frame[c].to_numpy(dtype=float) for c in columns}
            domains.append(Domain(name, list(frame["text"]), targets, frame["problem_id"].to_numpy(dtype=str)))
        elif name == "nb201":
            from nasrlm.text.compact_text import compact_text
            from search_spaces import get_space

            space = get_space("nb201")
            rng = np.random.default_rng(0)
            index = np.sort(rng.choice(space.size, nb201_archs, replace=False))
            texts = [compact_text(text) for text in space.to_texts(index.tolist())]
            targets = {f"nb201.{m}": space.values(m)[index] for m in ("acc", "latency_pixel3")}
            domains.append(Domain(name, texts, targets, index.astype(str)))
        else:
            raise SystemExit(f"unknown domain {name!r}; valid: python, rust, nb201")
    return domains


def _rows(domains: list[Domain], parts: dict[str, np.ndarray]) -> tuple[list[str], dict[str, np.ndarray]]:
    """Texts of the chosen rows of every domain, and every objective's column (NaN for other domains)."""
    texts: list[str] = []
    blocks: list[dict[str, np.ndarray]] = []
    for domain in domains:
        rows = parts[domain.name]
        texts += [domain.texts[i] for i in rows]
        blocks.append({name: values[rows] for name, values in domain.targets.items()})
    names = [name for block in blocks for name in block]
    columns = {}
    for name in names:
        columns[name] = np.concatenate(
            [block.get(name, np.full(len(next(iter(block.values()))), np.nan)) for block in blocks]
        )
    return texts, columns


def fit_rlm(texts: list[str], columns: dict[str, np.ndarray], args: argparse.Namespace, seed: int, work: Path):
    from nasrlm.rlm.surrogate import Surrogate
    from nasrlm.rlm.text_tokenizer import TextTokenizerConfig
    from nasrlm.rlm.training import TrainConfig

    surrogate = Surrogate.new(
        list(columns),
        texts,
        tokenizer=TextTokenizerConfig(max_length=args.max_length, truncation="head_tail"),
        seed=seed,
    )
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=16,
        patience=args.patience,
        val_fraction=0.1,
        length_buckets=True,
        checkpoint_dir=str(work),
        seed=seed,
        progress=False,
    )
    started = time.perf_counter()
    result = surrogate.fit(texts, columns, config, target_transform="auto", allow_missing=True)
    return surrogate, {"epochs": result.epochs, "stopped": result.stopped, "fit_s": time.perf_counter() - started}


def rlm_scores(surrogate, domains: list[Domain], held_out: dict[str, np.ndarray], seed: int) -> dict[str, float]:
    scores = {}
    for domain in domains:
        rows = held_out[domain.name]
        texts = [domain.texts[i] for i in rows]
        names = list(domain.targets)
        prediction = surrogate.predict(texts, num_samples=SAMPLES, objectives=names, seed=seed)
        for name in names:
            scores[name] = spearman_rho(prediction.point[name], domain.targets[name][rows])
    return scores


def baseline_scores(kind: str, domain: Domain, train: np.ndarray, test: np.ndarray) -> dict[str, float]:
    from baselines.text_features import LengthPredictor, TokenGbdtPredictor

    model = TokenGbdtPredictor() if kind == "token_gbdt" else LengthPredictor()
    model.fit([domain.texts[i] for i in train], {n: v[train] for n, v in domain.targets.items()})
    predicted = model.predict([domain.texts[i] for i in test])
    return {name: spearman_rho(predicted[name], domain.targets[name][test]) for name in domain.targets}


def run(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    results = args.work / "results.jsonl"
    done = {(r["seed"], r["model"]) for r in read_rows(results)}
    domains = load_domains(args.domains, args.nb201_archs)
    for domain in domains:
        print(f"{domain.name}: {len(domain.texts)} rows, {len(np.unique(domain.groups))} groups", flush=True)
    for seed in args.seeds:
        splits = {d.name: d.split(seed) for d in domains}
        train = {name: parts[0] for name, parts in splits.items()}
        test = {name: parts[1] for name, parts in splits.items()}
        jobs = [("token_gbdt", None), ("length", None), ("joint", None)] + [("per_domain", d) for d in domains]
        for model, only in jobs:
            key = model if only is None else f"{model}:{only.name}"
            if (seed, key) in done:
                continue
            started = time.perf_counter()
            info: dict = {}
            if model in ("token_gbdt", "length"):
                scores = {}
                for domain in domains:
                    scores |= baseline_scores(model, domain, train[domain.name], test[domain.name])
            else:
                chosen = domains if only is None else [only]
                texts, columns = _rows(chosen, train)
                surrogate, info = fit_rlm(texts, columns, args, seed, args.work / f"{key.replace(':', '_')}_s{seed}")
                scores = rlm_scores(surrogate, chosen, test, seed)
            row = {
                "seed": seed,
                "model": key,
                "scores": scores,
                "train_rows": {d.name: len(train[d.name]) for d in domains},
                "test_rows": {d.name: len(test[d.name]) for d in domains},
                "seconds": round(time.perf_counter() - started, 1),
                **info,
            }
            with results.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
            print(f"seed {seed} {key}: " + ", ".join(f"{n} {v:.3f}" for n, v in scores.items()), flush=True)
    print_table(read_rows(results))


def read_rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def print_table(rows: list[dict]) -> None:
    """Spearman per objective and model (per-domain RLMs merged into one row), mean +- std over seeds."""
    table: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        model = row["model"].split(":")[0]
        for name, value in row["scores"].items():
            table.setdefault(model, {}).setdefault(name, []).append(value)
    objectives = list(dict.fromkeys(name for scores in table.values() for name in scores))
    print("\nSpearman on held-out rows (whole problems held out), mean +- std over seeds (n)")
    print(f"{'model':<12}" + "".join(f"{name:>28}" for name in objectives))
    for model in ("joint", "per_domain", "token_gbdt", "length"):
        if model not in table:
            continue
        cells = []
        for name in objectives:
            values = table[model].get(name, [])
            cells.append(f"{np.mean(values):.3f} +- {np.std(values):.3f} ({len(values)})" if values else "-")
        print(f"{model:<12}" + "".join(f"{cell:>28}" for cell in cells))
    if "joint" in table and "per_domain" in table:
        gaps = []
        for name in objectives:
            joint, alone = table["joint"].get(name), table["per_domain"].get(name)
            n = min(len(joint or []), len(alone or []))
            gaps.append(f"{np.mean(joint[:n]) - np.mean(alone[:n]):+.3f}" if n else "-")
        print(f"{'joint-per':<12}" + "".join(f"{gap:>28}" for gap in gaps))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[0, 1, 2])
    parser.add_argument("--domains", type=lambda s: s.split(","), default=["python", "rust", "nb201"])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--patience", type=int, default=4, help="epochs without a better validation loss")
    parser.add_argument("--max-length", type=int, default=512, help="input tokens of each RLM")
    parser.add_argument("--nb201-archs", type=int, default=1500)
    parser.add_argument("--work", type=Path, default=Path("runs/code_joint"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--table", action="store_true", help="print the table of what --work holds and exit")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.table:
        print_table(read_rows(args.work / "results.jsonl"))
        return
    run(args)


if __name__ == "__main__":
    main()
