"""Times the whole Triton kernel sweep on a CUDA GPU, in one command of at most ``--max-minutes``.

Usage (from the repository root, on a machine with a CUDA GPU and triton installed):
    python experiments/triton_kernels/measure.py --out latency.csv [--max-minutes 9]

Two phases, both inside the budget:
  1. compile: worker processes (``--workers``, default: CPUs - 2) launch every distinct kernel once,
     filling Triton's on-disk cache; configs that fail to compile or exceed shared memory are
     recorded then (status ``compile_error`` / ``out_of_resources``) and not retried. At most
     ``--compile-share`` of the budget; what it did not reach is compiled in phase 2.
  2. measure, one row at a time in a fixed shuffled order (so that a run cut short by the budget is
     a uniform sample of the sweep): one correctness run against PyTorch (``rel_err``; status
     ``wrong_result`` above the variant's tolerance, the latency is still kept), then
     ``triton.testing.do_bench`` (warm-up ``--warmup-ms``, ``--rep-ms`` of timed runs, L2 cleared
     before each run): its median, 20th and 80th percentiles.

Every row is appended to the CSV at once, with the kernel's text, the GPU's name and the torch and
triton versions. A rerun skips the rows already in the CSV (it refuses a CSV from another GPU).
``<out>.progress.json`` records how far the sweep got and whether the budget stopped it.
Without a CUDA GPU it refuses (exit 2). ``--smoke`` runs the pipeline on the CPU under
``TRITON_INTERPRET=1`` on small shapes with a wall-clock timer, for testing this script only: its
latencies mean nothing.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

COLUMNS = [
    "kernel_id", "template", "variant", "dtype", "shape", "params", "num_warps", "num_stages", "grid", "status",
    "latency_ms", "latency_p20_ms", "latency_p80_ms", "rel_err", "error", "gpu", "torch", "triton", "text",
]  # fmt: skip
FAILED_TO_BUILD = ("compile_error", "out_of_resources", "launch_error", "cuda_error")
# Statuses: ok, wrong_result (latency kept), the above (no latency), crashed (the process died on it).
SHUFFLE_SEED = 201
STALL_SECONDS = 120  # phase 1 gives up when no compile job has finished for this long


def _refuse(message: str) -> int:
    print(f"measure.py: {message}", file=sys.stderr)
    return 2


def _classify(exc: BaseException) -> tuple[str, str]:
    """(status, one-line message) of an exception raised while compiling or launching a kernel."""
    name = type(exc).__name__
    text = " ".join(str(exc).split())[:300]
    if name == "OutOfResources" or "out of resource" in text.lower():
        status = "out_of_resources"
    elif "Compil" in name or name == "PTXASError":
        status = "compile_error"
    elif "CUDA" in text or "cuda" in name.lower() or "illegal" in text.lower():
        status = "cuda_error"  # the context may be broken: nothing more can run in this process
    elif "compil" in text.lower():
        status = "compile_error"
    else:
        status = "launch_error"
    return status, f"{name}: {text}"


# --- phase 1: compile in worker processes --------------------------------------------------------
_BROKEN = False


def _compile_group(job: tuple[list[dict[str, Any]], float, str]) -> list[tuple[str, str, str]]:
    """Launches each spec once (compiling it); returns (kernel_id, status, error) with status in
    ``compiled``, a failure status, or ``skipped`` (past the deadline, or this worker's CUDA context broke)."""
    global _BROKEN
    import torch

    from experiments.triton_kernels.generate import Spec
    from experiments.triton_kernels.templates import VARIANTS

    rows, deadline, device = job
    results = []
    for row in rows:
        spec = Spec.from_json(row)
        if _BROKEN or time.time() > deadline:
            results.append((spec.kernel_id, "skipped", ""))
            continue
        try:
            case = VARIANTS[spec.variant].setup(spec, torch.device(device))
            case.run()
            if device == "cuda":
                torch.cuda.synchronize()
            results.append((spec.kernel_id, "compiled", ""))
        except Exception as exc:
            status, message = _classify(exc)
            _BROKEN = _BROKEN or status == "cuda_error"
            results.append((spec.kernel_id, status, message))
        finally:
            case = None
    return results


def precompile(specs: list[Any], workers: int, deadline: float, device: str = "cuda") -> dict[str, tuple[str, str]]:
    """Phase 1: {kernel_id: (status, error)} for the specs that a worker reached before ``deadline``."""
    import multiprocessing as mp

    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for spec in specs:
        groups[spec.compile_key].append(spec.to_json())
    # Big kernels (matmuls: slow to compile) first, so that the pool ends evenly.
    jobs = sorted(groups.values(), key=lambda rows: rows[0]["template"] != "matmul")
    done: dict[str, tuple[str, str]] = {}
    pool = mp.get_context("spawn").Pool(workers)
    try:
        results = pool.imap_unordered(_compile_group, [(rows, deadline, device) for rows in jobs])
        for _ in jobs:
            # A worker that dies (a crash in the compiler) loses its job silently: stop waiting after a stall.
            try:
                batch = results.next(timeout=max(0.1, min(deadline - time.time(), STALL_SECONDS)))
            except (mp.TimeoutError, StopIteration):
                break
            for kernel_id, status, error in batch:
                if status != "skipped":
                    done[kernel_id] = (status, error)
    finally:
        pool.terminate()
        pool.join()
    return done


# --- phase 2: measure ----------------------------------------------------------------------------
def _bench(run: Any, args: argparse.Namespace) -> tuple[float, float, float]:
    if args.smoke:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            run()
            times.append((time.perf_counter() - start) * 1e3)
        times.sort()
        return times[1], times[0], times[2]
    import triton.testing

    median, p20, p80 = triton.testing.do_bench(run, warmup=args.warmup_ms, rep=args.rep_ms, quantiles=[0.5, 0.2, 0.8])
    return median, p20, p80


def measure_one(spec: Any, device: Any, args: argparse.Namespace) -> dict[str, Any]:
    """One CSV row's measured fields: status, latencies, rel_err, error."""
    import torch

    from experiments.triton_kernels.generate import relative_error
    from experiments.triton_kernels.templates import VARIANTS

    variant = VARIANTS[spec.variant]
    row: dict[str, Any] = {"status": "ok", "latency_ms": "", "latency_p20_ms": "", "latency_p80_ms": ""}
    row.update(rel_err="", error="")
    try:
        case = variant.setup(spec, device)
        case.prepare()
        out = case.run()  # compiles, unless phase 1 did
        err = relative_error(out, case.reference())
        row["rel_err"] = f"{err:.3g}"
        if not err <= variant.tolerance(spec.dtype, dict(spec.params), device.type == "cuda"):
            row["status"] = "wrong_result"
        median, p20, p80 = _bench(case.run, args)
        row.update(latency_ms=f"{median:.6g}", latency_p20_ms=f"{p20:.6g}", latency_p80_ms=f"{p80:.6g}")
        if device.type == "cuda":
            torch.cuda.synchronize()  # an asynchronous error shows here, on its own row
    except Exception as exc:
        row["status"], row["error"] = _classify(exc)
        row.update(latency_ms="", latency_p20_ms="", latency_p80_ms="")
    finally:
        case = out = None
    return row


def _existing(out: Path, gpu: str) -> set[str] | str:
    """Kernel ids already in ``out``, or an error message if it was measured on another device."""
    if not out.exists() or out.stat().st_size == 0:
        return set()
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    others = {row["gpu"] for row in rows} - {gpu}
    if others:
        return f"{out} holds rows measured on {sorted(others)[0]!r}, not {gpu!r}: use another --out"
    return {row["kernel_id"] for row in rows}


def main(argv: list[str] | None = None) -> int:
    start = time.time()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("latency.csv"), help="CSV to write (appended on a rerun)")
    parser.add_argument("--max-minutes", type=float, default=9.0, help="budget for the whole command (default 9)")
    parser.add_argument("--workers", type=int, default=None, help="compile processes (default: CPUs - 2; 0: none)")
    parser.add_argument("--compile-share", type=float, default=0.55, help="most of the budget for phase 1")
    parser.add_argument("--warmup-ms", type=float, default=2.0, help="do_bench warm-up, in ms (default 2)")
    parser.add_argument("--rep-ms", type=float, default=10.0, help="do_bench timed runs, in ms (default 10)")
    parser.add_argument("--templates", help="comma-separated templates to measure (default: all)")
    parser.add_argument("--limit", type=int, help="measure at most this many rows (after the shuffle)")
    parser.add_argument("--smoke", action="store_true", help="CPU interpreter test of this script (small shapes)")
    args = parser.parse_args(argv)

    if args.smoke:
        os.environ["TRITON_INTERPRET"] = "1"
    elif os.environ.get("TRITON_INTERPRET") == "1":
        return _refuse("TRITON_INTERPRET=1 is set: latencies would be the interpreter's; unset it on the GPU machine")
    import torch

    if not args.smoke and not torch.cuda.is_available():
        return _refuse("no CUDA GPU here (torch.cuda.is_available() is False); run this on a GPU machine")
    import triton

    from experiments.triton_kernels.generate import check_sample, kernel_text, sweep
    from experiments.triton_kernels.templates import TEMPLATES

    device = torch.device("cpu" if args.smoke else "cuda")
    gpu = "interpreter (CPU)" if args.smoke else torch.cuda.get_device_name()
    budget_end = start + 60 * args.max_minutes - 5  # a few seconds to write the progress file and exit

    specs = check_sample(3) if args.smoke else sweep()
    random.Random(SHUFFLE_SEED).shuffle(specs)
    if args.templates:
        wanted = set(args.templates.split(","))
        if wanted - set(TEMPLATES):
            return _refuse(f"unknown templates {sorted(wanted - set(TEMPLATES))}; known: {', '.join(TEMPLATES)}")
        specs = [s for s in specs if s.template in wanted]
    if args.limit is not None:
        specs = specs[: args.limit]
    existing = _existing(args.out, gpu)
    if isinstance(existing, str):
        return _refuse(existing)
    # A row that was being measured when an earlier run died (a segfault, a hang that was killed) is
    # recorded as crashed rather than tried again.
    marker = Path(f"{args.out}.current")
    crashed = marker.read_text().strip() if marker.exists() else ""
    if crashed in existing:
        crashed = ""
    todo = [s for s in specs if s.kernel_id not in existing]
    print(f"{len(specs)} rows in the sweep, {len(specs) - len(todo)} already in {args.out}, {len(todo)} to do "
          f"on {gpu}; budget {args.max_minutes:g} min", flush=True)  # fmt: skip

    workers = args.workers if args.workers is not None else max(1, (os.cpu_count() or 2) - 2)
    compiled: dict[str, tuple[str, str]] = {}
    if args.smoke and args.workers is None:
        workers = 0  # the interpreter compiles nothing; --workers N tests phase 1 anyway
    if todo and workers > 0:
        compile_end = min(budget_end, start + args.compile_share * 60 * args.max_minutes)
        compiled = precompile(todo, workers, compile_end, device.type)
        failed = sum(status != "compiled" for status, _ in compiled.values())
        print(f"phase 1: {len(compiled)} rows compiled by {workers} workers ({failed} failed) "
              f"in {time.time() - start:.0f} s", flush=True)  # fmt: skip
    # The crashed row first (recorded, not run), then rows compiled in phase 1: the rest needs compiling here.
    todo.sort(key=lambda s: (s.kernel_id != crashed, s.kernel_id not in compiled))

    versions = {"gpu": gpu, "torch": torch.__version__, "triton": triton.__version__}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    new_file = not args.out.exists() or args.out.stat().st_size == 0
    counts: dict[str, int] = defaultdict(int)
    stopped_by_budget, broken = False, ""
    with args.out.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        if new_file:
            writer.writeheader()
        for i, spec in enumerate(todo):
            if time.time() > budget_end:
                stopped_by_budget = True
                break
            status, error = compiled.get(spec.kernel_id, ("", ""))
            if spec.kernel_id == crashed:
                measured = {"status": "crashed", "error": "the process died while measuring this row (an earlier run)"}
            elif status in FAILED_TO_BUILD:
                measured = {"status": status, "error": error}
            else:
                marker.write_text(spec.kernel_id + "\n")
                try:
                    measured = measure_one(spec, device, args)
                except KeyboardInterrupt:
                    marker.unlink(missing_ok=True)  # stopped by hand: not a crash
                    raise
            info = spec.to_json()
            row = {
                **info,
                "shape": json.dumps(info["shape"]),
                "params": json.dumps(info["params"]),
                "grid": json.dumps(info["grid"]),
                **measured,
                **versions,
                "text": kernel_text(spec),
            }
            writer.writerow({k: row.get(k, "") for k in COLUMNS})
            fh.flush()
            counts[row["status"]] += 1
            if row["status"] == "cuda_error" and spec.kernel_id not in compiled:
                broken = f"a CUDA error at {spec.kernel_id} ({row['error'][:120]}) broke this process's context"
                break
            if (i + 1) % 200 == 0:
                print(f"  {i + 1}/{len(todo)} rows, {time.time() - start:.0f} s", flush=True)

    marker.unlink(missing_ok=True)
    in_csv = len(existing) + sum(counts.values())
    progress = {
        "rows_in_sweep": len(specs),
        "rows_in_csv": in_csv,
        "rows_this_run": sum(counts.values()),
        "status_this_run": dict(counts),
        "complete": in_csv >= len(specs),
        "stopped_by_budget": stopped_by_budget,
        "stopped_by_error": broken,
        "seconds": round(time.time() - start, 1),
        "max_minutes": args.max_minutes,
        **versions,
    }
    Path(f"{args.out}.progress.json").write_text(json.dumps(progress, indent=2) + "\n")
    print(json.dumps(progress))
    if broken:
        print(f"measure.py: {broken}; rerun the same command to continue", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
