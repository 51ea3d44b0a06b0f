"""Latency verification benchmarks: measured table, repeatability, few-shot new device, Triton vs eager.

Usage: python experiments/bench_latency.py [--stages measure,repeat,vendor,finetune,fewshot,report]
                                           [--work runs/bench_latency] [--shots 10,20,50] [--seeds 0,1,2,3,4]
       python experiments/bench_latency.py --stages triton --work $OUT      (on a CUDA machine)

Stages (each resumable: results are kept in --work and a rerun skips what is done):
  measure   onnxruntime latency, batch 1, one thread, median of 30 rounds after 10 warm-up, of 1,000
            random NB201 archs that are NOT among the 1,000 whose ort_latency_ms the shipped default
            was pretrained on (runs/pretrain/labels.json), measured one by one in random order.
  repeat    the whole set measured a second time (rank agreement of two passes), and 50 archs 5 more
            times each: the spread of repeated medians.
  vendor    the table as search_spaces/nb201/data/<TABLE>.csv.xz, with its manifest entry and provenance section,
            and as a device table in --work (device_metrics.register_table makes the space serve it).
  finetune  the shipped default fine-tuned (frozen encoder) on 8 HELP benchmark devices, 500 archs of
            its own pretraining set, whose pretraining labels stay in every row (else it forgets them).
  fewshot   that model taught latency_<DEVICE> from N measured archs (nasrlm.hardware.verify.fit_device; 5 random
            draws per N); Spearman on the other measured archs, against FLOPs alone and the BRP-NAS GCN
            fitted on the same N. Zero-shot references: the shipped default's ort_latency_ms (measured
            on this machine for other archs: the leak to keep in mind), benchmark tables, FLOPs.
  triton    fused Triton executor vs PyTorch eager per network (CUDA events), and their agreement.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import os
import re
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from nasrlm.core.cache import atomic_write_text

DEVICE = "epyc_ort1t"  # this machine: AMD EPYC (2 cores, shared), onnxruntime CPU, 1 thread
METRIC = f"latency_{DEVICE}"
TABLE = "nb201_latency_ort_epyc_1t"
N_ARCHS = 1000
FREE_OBJECTIVES = ("flops", "params", "onnx_nodes", "onnx_convs", "ort_latency_ms")  # the shipped default's
HELP_DEVICES = (
    "latency_gold_6226",
    "latency_silver_4210r",
    "latency_titan_rtx_1",
    "latency_2080ti_32",
    "latency_pixel3",
    "latency_raspi4",
    "latency_samsung_a50",
    "latency_eyeriss",
)


def _config():
    from nasrlm.hardware.latency import LatencyConfig

    return LatencyConfig(backend="onnxruntime", device="cpu", threads=1, warmup=10, repeats=30)


def _load(path: Path, default):
    return json.loads(path.read_text()) if path.is_file() else default


def _space():
    from search_spaces import get_space

    return get_space("nb201")


# --- (a) the measured table --------------------------------------------------------------------------
def stage_measure(work: Path) -> None:
    from nasrlm.hardware.latency import measure_one

    space = _space()
    path = work / "measure.json"
    state = _load(path, {})
    if "archs" not in state:
        labels = json.loads(Path("runs/pretrain/labels.json").read_text())["ort_latency_ms"]
        seen = {i for i, v in enumerate(labels) if v is not None}  # the shipped default's latency labels
        pool = np.array([i for i in range(space.size) if i not in seen])
        state = {"archs": np.random.default_rng(2026).permutation(pool)[:N_ARCHS].tolist(), "results": {}}
        state["excluded_pretraining_archs"] = len(seen)
        state["load_before"] = os.getloadavg()
    todo = [i for i in state["archs"] if str(i) not in state["results"]]
    started = time.perf_counter()
    for k, index in enumerate(todo):
        m = measure_one(space, index, _config())
        state["results"][str(index)] = [m.median_ms, m.iqr_ms, len(m.times_ms)]
        if k % 50 == 49 or k == len(todo) - 1:
            state["load_after"] = os.getloadavg()
            atomic_write_text(path, json.dumps(state))
            print(f"measured {len(state['results'])}/{N_ARCHS} ({time.perf_counter() - started:.0f} s)", flush=True)


def measured(work: Path) -> tuple[np.ndarray, np.ndarray]:
    state = _load(work / "measure.json", {})
    if len(state.get("results", {})) < N_ARCHS:
        raise SystemExit("run the measure stage first")
    indices = np.array(state["archs"])
    return indices, np.array([state["results"][str(i)][0] for i in indices])


# --- (b) repeatability -------------------------------------------------------------------------------
def stage_repeat(work: Path) -> None:
    from nasrlm.hardware.latency import measure_one

    space = _space()
    indices, _ = measured(work)
    path = work / "repeat.json"
    state = _load(path, {"second_pass": {}, "subset": {}})
    for k, index in enumerate(np.random.default_rng(1).permutation(indices)):
        if str(index) not in state["second_pass"]:
            state["second_pass"][str(index)] = measure_one(space, int(index), _config()).median_ms
            if k % 100 == 99:
                atomic_write_text(path, json.dumps(state))
    subset = np.random.default_rng(2).choice(indices, 50, replace=False)
    for round_ in range(5):  # rounds interleave the archs, so slow spells of the machine spread over all
        for index in np.random.default_rng(10 + round_).permutation(subset):
            runs = state["subset"].setdefault(str(index), [])
            if len(runs) <= round_:
                runs.append(measure_one(space, int(index), _config()).median_ms)
        atomic_write_text(path, json.dumps(state))


def repeat_summary(work: Path) -> dict[str, float]:
    from nasrlm.core.metrics import spearman_rho, within_fraction

    indices, first = measured(work)
    state = _load(work / "repeat.json", None)
    if state is None or len(state["second_pass"]) < N_ARCHS:
        return {}
    second = np.array([state["second_pass"][str(i)] for i in indices])
    runs = np.array([[*v] for v in state["subset"].values()])
    spread = (runs.max(1) - runs.min(1)) / np.median(runs, 1)
    cv = runs.std(1, ddof=1) / runs.mean(1)
    return {
        "pass_spearman": spearman_rho(first, second),
        "pass_median_abs_rel_diff": float(np.median(np.abs(second - first) / first)),
        "pass_share_within_10pct": within_fraction(first, second),
        "subset_archs": len(runs),
        "subset_rounds": int(runs.shape[1]),
        "subset_median_range_over_median": float(np.median(spread)),
        "subset_p90_range_over_median": float(np.percentile(spread, 90)),
        "subset_median_cv": float(np.median(cv)),
    }


# --- the dataset ---------------------------------------------------------------------------------------
def stage_vendor(work: Path) -> None:
    from nasrlm.hardware import devices as device_metrics
    from nasrlm.hardware.verify import hardware_name
    from search_spaces.nb201.tables import data_dir

    space = _space()
    state = _load(work / "measure.json", {})
    indices, _ = measured(work)
    rows = sorted((int(i), *state["results"][str(i)]) for i in indices)
    csv = "index,arch_str,latency_ms,iqr_ms,repeats\n" + "".join(
        f"{i},{space.arch(i)},{median!r},{iqr!r},{repeats}\n" for i, median, iqr, repeats in rows
    )
    raw = csv.encode()
    blob = lzma.compress(raw, preset=9)
    folder = data_dir()
    (folder / f"{TABLE}.csv.xz").write_bytes(blob)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest[f"{TABLE}.csv.xz"] = {
        "sha256": hashlib.sha256(blob).hexdigest(),
        "bytes": len(blob),
        "source_file": f"{TABLE}.csv",
        "source_sha256": hashlib.sha256(raw).hexdigest(),
        "rows": len(rows),
    }
    atomic_write_text(folder / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    import onnxruntime

    how = _config()
    section = f"""## {TABLE}.csv
- **Measured here** by `python experiments/bench_latency.py --stages measure` (nasrlm, this repository), on
  {hardware_name("cpu")} ({os.cpu_count()} cores of a virtual machine shared with other jobs, which ran
  meanwhile: load average {state["load_before"][0]:.1f} before, {state["load_after"][0]:.1f} after),
  onnxruntime {onnxruntime.__version__}.
- **How:** `nasrlm.hardware.latency.measure_one` with backend onnxruntime, CPU execution provider,
  {how.threads} intra-op thread, batch 1, 32x32 input; the ONNX graph of
  `search_spaces.nb201.onnx_builder.build_onnx` with random
  weights (seed 0); {how.warmup} untimed runs, then {how.repeats} timed rounds (`time.perf_counter`);
  `latency_ms` is their median, `iqr_ms` their interquartile range. Archs measured one at a time, in random order.
- **Which archs:** {len(rows):,} drawn at random (seed 2026) from the NB201 archs that are not among the
  {state["excluded_pretraining_archs"]:,} whose `ort_latency_ms` the shipped pretrained default was trained on.
- **License:** measured by this project (Apache-2.0, as nasrlm).

"""
    provenance = folder / "PROVENANCE.md"
    text = re.sub(rf"## {TABLE}\.csv\n.*?(?=\n## |\Z)", "", provenance.read_text(), flags=re.S).rstrip() + "\n\n"
    atomic_write_text(provenance, text + section.rstrip() + "\n")
    # The same measurements as a device table (register_table makes it a metric of the space).
    meta = {"measurement": asdict(how) | {"hardware": hardware_name("cpu")}, "tool": "experiments/bench_latency.py"}
    results = {i: (str(space.arch(i)), median, iqr, repeats) for i, median, iqr, repeats in rows}
    table = device_metrics.record("nb201", METRIC, results, meta, work / f"{METRIC}.csv")
    print(f"wrote {TABLE}.csv.xz ({len(blob):,} bytes, {len(rows)} rows) and {table.path}")


# --- (a) few-shot new device ---------------------------------------------------------------------------
def stage_finetune(work: Path) -> None:
    from nasrlm.rlm.surrogate import Surrogate
    from nasrlm.rlm.training import TrainConfig

    target = work / "finetuned"
    if (target / "config.json").is_file():
        return
    space = _space()
    # The archs the default was pretrained on, with the labels it was pretrained with (free labels and
    # ort_latency_ms) kept in every row: trained on the benchmark devices alone, the decoder forgets
    # what it knew (on the new device, N=20: Spearman 0.88 against 0.97 zero-shot from the default).
    # None of these archs is a measured one, so the few-shot test archs stay unseen.
    labels = json.loads(Path("runs/pretrain/labels.json").read_text())
    pool = np.array([i for i, v in enumerate(labels["ort_latency_ms"]) if v is not None])
    train = np.sort(np.random.default_rng(3).choice(pool, 500, replace=False))
    targets = {name: np.array(labels[name])[train] for name in FREE_OBJECTIVES}
    targets |= {m: space.values(m)[train] for m in HELP_DEVICES}
    surrogate = Surrogate.pretrained()
    config = TrainConfig(epochs=40, batch_size=16, lr=1e-3, patience=8, val_fraction=0.1, freeze_encoder=True)
    result = surrogate.fit(space.to_texts(train.tolist()), targets, config)
    print(f"fine-tuned on {len(HELP_DEVICES)} devices, 500 archs: {result.steps} steps, {result.seconds:.0f} s")
    surrogate.save(target)


def stage_fewshot(work: Path, shots: list[int], seeds: list[int], samples: int) -> None:
    from baselines import get_predictor
    from nasrlm.core.metrics import spearman_rho, within_fraction
    from nasrlm.hardware import devices as device_metrics
    from nasrlm.hardware.verify import decode_objectives, fit_device
    from nasrlm.rlm.surrogate import Surrogate

    space = _space()
    device_metrics.register_table(work / f"{METRIC}.csv")
    indices, latency = measured(work)
    path = work / "fewshot.jsonl"
    done = [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []
    have = {(r["method"], r["n"], r["seed"]) for r in done}

    def save(row: dict) -> None:
        with path.open("a") as handle:
            handle.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)

    archs = [space.arch(int(i)) for i in indices]
    if ("zero_shot", 0, 0) not in have:  # references needing no shots, on all measured archs
        row = {"method": "zero_shot", "n": 0, "seed": 0}
        for name, model in (("default", Surrogate.pretrained()), ("finetuned", Surrogate.load(work / "finetuned"))):
            decoded = decode_objectives(model, "ort_latency_ms")
            predicted = model.predict(space.to_texts(archs), objectives=decoded, num_samples=samples).point[
                "ort_latency_ms"
            ]
            row[f"{name}_ort_latency_ms_head"] = spearman_rho(latency, predicted)
        # The new device's objective before any shot (what the few-shot fit starts from).
        model.model = model.model.add_objective(METRIC)
        predicted = model.predict(space.to_texts(archs), objectives=[METRIC], num_samples=samples).point[METRIC]
        row["finetuned_new_objective_untrained"] = spearman_rho(latency, predicted)
        for name in ("flops", "latency_gold_6226", "latency_silver_4210r", "latency_pixel3"):
            row[f"table_{name}"] = spearman_rho(latency, space.query_many(archs, name))
        save(row)
    for seed in seeds:
        for n in shots:
            order = np.random.default_rng(100 + seed).permutation(len(archs))
            train, test = np.sort(order[:n]), np.sort(order[n:])
            shot_archs, test_archs = [archs[i] for i in train], [archs[i] for i in test]
            truth = latency[test]
            if ("flops", n, seed) not in have:
                save({"method": "flops", "n": n, "seed": seed,
                      "spearman": spearman_rho(truth, space.query_many(test_archs, "flops"))})  # fmt: skip
            if ("brp", n, seed) not in have:
                started = time.perf_counter()
                brp = get_predictor("brp", seed=seed).fit(shot_archs, {METRIC: latency[train]})
                predicted = brp.predict(test_archs)[METRIC]
                save({"method": "brp", "n": n, "seed": seed, "spearman": spearman_rho(truth, predicted),
                      "fit_s": time.perf_counter() - started})  # fmt: skip
            if ("rlm", n, seed) not in have:
                surrogate = Surrogate.load(work / "finetuned")
                started = time.perf_counter()
                result = fit_device(surrogate, space, METRIC, shot_archs)
                fit_s = time.perf_counter() - started
                prediction = surrogate.predict(
                    space.to_texts(test_archs),
                    objectives=decode_objectives(surrogate, METRIC),
                    num_samples=samples,
                    seed=seed,
                ).point[METRIC]
                save({"method": "rlm", "n": n, "seed": seed, "spearman": spearman_rho(truth, prediction),
                      "within_10pct": within_fraction(truth, prediction),
                      "fit_s": fit_s, "steps": result.steps})  # fmt: skip


# --- (c) Triton vs eager -------------------------------------------------------------------------------
def stage_triton(work: Path, n_archs: int = 12) -> None:
    import torch

    from nasrlm.hardware.latency import LatencyConfig, measure_one
    from search_spaces.nb201.triton_ops import TritonNb201

    if not torch.cuda.is_available():
        raise SystemExit("the triton stage needs a CUDA GPU")
    space = _space()
    archs = [space.sample(np.random.default_rng(7 + k)) for k in range(n_archs)]
    rows = []
    torch.backends.cudnn.allow_tf32 = False  # the reference is exact fp32, like the "ieee" kernels
    for batch in (1, 64):
        for arch in archs:
            row = {"arch": str(arch), "batch": batch, "flops": space.query(arch, "flops")}
            for backend in ("torch", "triton"):
                for graph in (False, True):
                    config = LatencyConfig(backend, "cuda", warmup=20, repeats=100, batch_size=batch, cuda_graph=graph)
                    row[f"{backend}{'_graph' if graph else ''}_ms"] = measure_one(space, arch, config).median_ms
            network = space.build_model(arch).cuda()
            x = space.example_input(batch).cuda()
            with torch.no_grad():
                expected = network(x)
                error = (TritonNb201(network)(x) - expected).abs().max() / expected.abs().max()
            row["max_rel_error"] = float(error)  # relative to the largest logit: skip/pool-only cells grow them
            rows.append(row)
            print(json.dumps(row), flush=True)
    info = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "triton": __import__("triton").__version__}
    atomic_write_text(work / "triton.json", json.dumps({"info": info, "rows": rows}, indent=2) + "\n")


# --- report --------------------------------------------------------------------------------------------
def stage_report(work: Path, shots: list[int]) -> None:
    indices, latency = measured(work)
    print(f"(a) {len(indices)} archs measured ({METRIC}): median {np.median(latency):.3f} ms, "
          f"range {latency.min():.3f}-{latency.max():.3f} ms")  # fmt: skip
    path = work / "fewshot.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []
    zero = next((r for r in rows if r["method"] == "zero_shot"), None)
    if zero:
        print("    zero-shot Spearman on all measured archs: " + ", ".join(f"{k} {v:.3f}" for k, v in zero.items()
                                                                      if k not in ("method", "n", "seed")))  # fmt: skip
    methods = {"rlm": "RLM + N shots", "brp": "BRP-NAS GCN", "flops": "FLOPs"}
    print(f"    {'N':>3}  " + "  ".join(f"{title:>18}" for title in methods.values()) + "  seeds")
    for n in shots:
        cells = []
        for method in methods:
            values = np.array([r["spearman"] for r in rows if r["method"] == method and r["n"] == n])
            cells.append(f"{values.mean():.3f} ± {values.std():.3f}" if len(values) else "-")
        count = sum(r["method"] == "rlm" and r["n"] == n for r in rows)
        print(f"    {n:>3}  " + "  ".join(f"{cell:>18}" for cell in cells) + f"  {count}")
    summary = repeat_summary(work)
    if summary:
        print("(b) repeatability: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                                for k, v in summary.items()))  # fmt: skip
    triton = _load(work / "triton.json", None)
    if triton is None:
        print("(c) Triton vs eager: not measured here (no GPU in this run)")
        return
    print(f"(c) Triton-fused vs PyTorch eager on {triton['info']['gpu']}:")
    for batch in sorted({r["batch"] for r in triton["rows"]}):
        group = [r for r in triton["rows"] if r["batch"] == batch]

        def median(key: str, group: list = group) -> float:
            return float(np.median([r[key] for r in group]))

        def speedup(eager: str, fused: str, group: list = group) -> float:
            return float(np.median([r[eager] / r[fused] for r in group]))

        print(
            f"    batch {batch:>2}, {len(group)} archs: launched per op: eager {median('torch_ms'):.3f} ms, "
            f"fused {median('triton_ms'):.3f} ms, speed-up {speedup('torch_ms', 'triton_ms'):.2f}x; "
            f"CUDA graph: eager {median('torch_graph_ms'):.3f} ms, fused {median('triton_graph_ms'):.3f} ms, "
            f"speed-up {speedup('torch_graph_ms', 'triton_graph_ms'):.2f}x; "
            f"max relative error {max(r['max_rel_error'] for r in group):.1e}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", default="measure,repeat,vendor,finetune,fewshot,report")
    parser.add_argument("--work", type=Path, default=Path("runs/bench_latency"))
    parser.add_argument("--shots", default="10,20,50")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--samples", type=int, default=16, help="surrogate samples per arch")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    args.work.mkdir(parents=True, exist_ok=True)
    shots = [int(s) for s in args.shots.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    for stage in args.stages.split(","):
        started = time.perf_counter()
        if stage == "fewshot":
            stage_fewshot(args.work, shots, seeds, args.samples)
        elif stage == "report":
            stage_report(args.work, shots)
        elif stage in ("measure", "repeat", "vendor", "finetune", "triton"):
            globals()[f"stage_{stage}"](args.work)
        else:
            raise SystemExit(f"unknown stage {stage!r}")
        print(f"[{stage}: {time.perf_counter() - started:.0f} s]", flush=True)


if __name__ == "__main__":
    main()
