"""Free labels of NAS-Bench-201 architectures: graph structure and zero-cost proxies, no training.

Usage: python experiments/free_labels_nb201.py [--archs N] [--workers 1] [--batch-size 8]
                                               [--out runs/free_labels/nb201.csv] [--check]

For each architecture, one CSV row with (see nasrlm/rlm/free_labels.py for what each label means):
  graph labels   of the flat ONNX graph (search_spaces.nb201.onnx_builder.build_onnx);
  proxies        synflow, NASWOT, grad_norm, SNIP and jacob_cov of the CIFAR-10 network, initialized
                 with torch.manual_seed(--seed) and scored on the same Gaussian batch of --batch-size
                 inputs and random labels for every architecture;
  seconds        what that row cost.
Resumable: rows are appended to --out as they are done, and indices already there are skipped, so
an interrupted run continues when started again. --archs N does the first N architectures of a fixed
random permutation, so a later run with a larger N (or none, for all 15,625) extends the same subset.
The settings that change the values (--batch-size, --seed) are kept beside the CSV, and a run with
other settings is refused rather than mixing two kinds of rows in one file.

The full table (all 15,625 archs, --seed 0, --batch-size 8) is kept, xz-compressed, as
experiments/data/nb201_free_labels.csv.xz: what experiments/pretrain_default.py reads by default.

At the end, and alone with --check, it prints each label's Spearman and Kendall correlation with
NB201 CIFAR-10 accuracy over the rows done: a diagnostic only (the labels never see accuracy).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from nasrlm.core.cache import atomic_write_text
from nasrlm.rlm.free_labels import GRAPH_LABELS, PROXY_LABELS

COLUMNS: tuple[str, ...] = ("index", "arch", *GRAPH_LABELS, *PROXY_LABELS, "seconds")
# The order archs are done in, fixed so that runs with growing --archs extend one subset.
PERMUTATION_SEED = 0
# Rows are appended (and a worker's results returned) this many at a time: small enough that an
# interruption loses seconds of work, large enough that the file is not fsynced per row.
CHUNK = 16


def arch_order(num_archs: int) -> np.ndarray:
    return np.random.default_rng(PERMUTATION_SEED).permutation(num_archs)


def labels_of_arch(index: int, batch_size: int, seed: int) -> dict[str, float | int | str]:
    """Every label of NB201 architecture ``index`` (one CSV row)."""
    import torch

    from nasrlm.rlm.free_labels import graph_labels, zero_cost_proxies
    from search_spaces import get_space
    from search_spaces.nb201.costs import INPUT_SHAPE
    from search_spaces.nb201.onnx_builder import build_onnx

    started = time.perf_counter()
    space = get_space("nb201")
    arch = space.arch(index)
    row: dict[str, float | int | str] = {"index": index, "arch": str(arch)}
    row.update(graph_labels(build_onnx(arch.ops)))
    # Same initialization stream for every arch: the labels then differ only by architecture.
    torch.manual_seed(seed)
    network = space.build_model(arch)
    row.update(zero_cost_proxies(network, INPUT_SHAPE, batch_size=batch_size, seed=seed))
    row["seconds"] = time.perf_counter() - started
    return row


def labels_of_chunk(indices: Sequence[int], batch_size: int, seed: int) -> list[dict[str, float | int | str]]:
    return [labels_of_arch(int(i), batch_size, seed) for i in indices]


def _one_thread() -> None:
    """Torch in a worker process: one thread, since the workers themselves share the cores."""
    import torch

    torch.set_num_threads(1)


def read_rows(path: Path) -> list[dict[str, str]]:
    """The complete rows of ``path`` (a row cut short by an interruption is left out), first per index."""
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is not None and tuple(reader.fieldnames) != COLUMNS:
            sys.exit(f"{path} has columns {reader.fieldnames}, expected {list(COLUMNS)}: use another --out")
        rows: dict[int, dict[str, str]] = {}
        for row in reader:
            if None in row.values() or None in row or not row["seconds"]:
                continue  # cut short
            try:
                float(row["seconds"])
                rows.setdefault(int(row["index"]), row)
            except ValueError:
                continue
    return list(rows.values())


def _prepare_append(path: Path) -> None:
    """Make ``path`` ready for appending: the header if new, and a row cut short by a crash removed
    (appending after it would glue the next row onto it)."""
    if not path.is_file() or path.stat().st_size == 0:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(",".join(COLUMNS) + "\n")
        return
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        with path.open("r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)


def append_rows(path: Path, rows: Sequence[dict[str, float | int | str]]) -> None:
    """Append ``rows`` in one write, flushed to disk."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    for row in rows:
        writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in row.items()})
    with path.open("a", newline="") as handle:
        handle.write(buffer.getvalue())
        handle.flush()
        os.fsync(handle.fileno())


def check_settings(out: Path, settings: dict[str, int]) -> None:
    """Refuse to mix rows made with other proxy settings into ``out``; record the settings otherwise."""
    path = out.with_suffix(".settings.json")
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved != settings:
            sys.exit(f"{out} was made with {saved}, this run asks for {settings}: use another --out or those settings")
        return
    atomic_write_text(path, json.dumps(settings, indent=1) + "\n")


def _chunks(indices: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(indices), CHUNK):
        yield [int(i) for i in indices[start : start + CHUNK]]


def compute(out: Path, todo: Sequence[int], batch_size: int, seed: int, workers: int) -> tuple[int, float]:
    """Label ``todo`` and append the rows to ``out``; returns (archs done, wall seconds)."""
    from tqdm.auto import tqdm

    _prepare_append(out)
    started = time.perf_counter()
    done = 0
    # In a log file (nohup), a progress line every 30 s is plenty.
    bar = tqdm(total=len(todo), desc="free labels", unit="arch", mininterval=0.5 if sys.stderr.isatty() else 30)

    def record(rows: list[dict[str, float | int | str]]) -> None:
        nonlocal done
        append_rows(out, rows)
        done += len(rows)
        bar.update(len(rows))
        # refresh=False: else every chunk redraws the bar, whatever mininterval says.
        bar.set_postfix_str(f"{(time.perf_counter() - started) / done:.3f} s/arch", refresh=False)

    chunks = list(_chunks(todo))
    if workers == 1:
        for chunk in chunks:
            record(labels_of_chunk(chunk, batch_size, seed))
    else:
        with ProcessPoolExecutor(workers, initializer=_one_thread) as pool:
            for rows in pool.map(labels_of_chunk, chunks, [batch_size] * len(chunks), [seed] * len(chunks)):
                record(rows)
    bar.close()
    return done, time.perf_counter() - started


def print_correlations(rows: Sequence[dict[str, str]]) -> None:
    """Spearman and Kendall correlation of each label with NB201 CIFAR-10 accuracy (diagnostic only)."""
    from nasrlm.core.metrics import kendall_tau, spearman_rho
    from search_spaces import get_space

    space = get_space("nb201")
    indices = np.array([int(row["index"]) for row in rows])
    if len(indices) < 3:
        print(f"{len(indices)} rows: too few for correlations")
        return
    acc = space.values("acc")[indices]
    columns = {name: np.array([float(row[name]) for row in rows]) for name in (*GRAPH_LABELS, *PROXY_LABELS)}
    # What the current pretraining labels already give, for comparison.
    columns["flops (reference)"] = space.values("flops")[indices]
    columns["params (reference)"] = space.values("params")[indices]
    print(f"\ncorrelation with NB201 CIFAR-10 accuracy ('acc') over {len(indices):,} archs (diagnostic only):")
    print(f"{'label':<22} {'spearman':>9} {'kendall':>9}")
    for name, values in columns.items():
        if np.ptp(values) == 0:
            print(f"{name:<22} {'constant':>9} {'':>9}  (always {values[0]:g})")
            continue
        print(f"{name:<22} {spearman_rho(acc, values):>9.3f} {kendall_tau(acc, values):>9.3f}")


def print_timing(rows: Sequence[dict[str, str]], total_archs: int) -> None:
    seconds = np.array([float(row["seconds"]) for row in rows])
    if len(seconds):
        print(
            f"{len(seconds):,} rows: {seconds.mean():.3f} s/arch on average (median {np.median(seconds):.3f}, "
            f"max {seconds.max():.3f}); all {total_archs:,} archs would take {seconds.mean() * total_archs / 60:.0f} "
            "min in one process"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=None, help="do the first N of a fixed permutation (default all)")
    parser.add_argument("--workers", type=int, default=1, help="processes, one torch thread each")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=8,
        help="Gaussian batch of the proxies; 8 keeps all 15,625 archs near 45 min on one core",
    )
    parser.add_argument("--seed", type=int, default=0, help="network initialization, inputs and random labels")
    parser.add_argument("--out", type=Path, default=Path("runs/free_labels/nb201.csv"))
    parser.add_argument("--check", action="store_true", help="only print correlations and timing of the rows done")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from search_spaces.nb201.arch import NUM_ARCHS

    if args.check:
        rows = read_rows(args.out)
        print_timing(rows, NUM_ARCHS)
        print_correlations(rows)
        return
    check_settings(args.out, {"batch_size": args.batch_size, "seed": args.seed})
    wanted = arch_order(NUM_ARCHS)[: args.archs]
    done_indices = {int(row["index"]) for row in read_rows(args.out)}
    todo = [int(i) for i in wanted if int(i) not in done_indices]
    print(f"{len(wanted) - len(todo):,} of {len(wanted):,} archs already in {args.out}; {len(todo):,} to do")
    if todo:
        done, seconds = compute(args.out, todo, args.batch_size, args.seed, args.workers)
        print(f"labelled {done:,} archs in {seconds:.0f} s: {seconds / done:.3f} s/arch with {args.workers} worker(s)")
    rows = read_rows(args.out)
    print_timing(rows, NUM_ARCHS)
    print_correlations(rows)


if __name__ == "__main__":
    main()
