"""Foundation benchmark: metric loading time, ONNX-text throughput (built and shipped), text lengths,
canonical forms and graph labels.

Usage: python experiments/bench_foundation.py [--workers N]

Prints figures; asserts only that the shipped texts are what the code builds. "Built" makes the text
of all 15,625 NB201 architectures from scratch (direct builder + canonicalization, in N processes);
"shipped" reads the table that ships with the package (search_spaces/nb201/text_table.py), as a
fresh install does (in a temporary cache folder, so a user's cache is not touched).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

_LOAD_ALL = """
import time
t = time.perf_counter()
from search_spaces import get_space
space = get_space("nb201")
space.benchmark.load_all()
for name in space.metrics:
    space.values(name)
print(f"{time.perf_counter() - t:.3f} {len(space.metrics)}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    # A fresh interpreter, so nothing is cached in memory: imports + checksum checks + parsing.
    out = subprocess.run([sys.executable, "-c", _LOAD_ALL], check=True, capture_output=True, text=True)
    seconds, count = out.stdout.split()
    print(f"load all NB201 metrics ({count} metrics incl. params/flops, fresh process): {float(seconds):.3f} s")

    with tempfile.TemporaryDirectory() as cache:
        os.environ["NASRLM_CACHE_DIR"] = cache  # an empty cache: what a fresh install has
        from search_spaces.nb201 import Nb201Space
        from search_spaces.nb201.text_table import table_path

        space = Nb201Space()
        started = time.perf_counter()
        texts = space.onnx_texts(use_cache=False, workers=args.workers, progress=True)
        built = time.perf_counter() - started
        started = time.perf_counter()
        shipped = Nb201Space().onnx_texts()  # the table shipped with the package, checked
        read = time.perf_counter() - started
        assert shipped == texts, "the shipped text table is not what the code makes"

    n = len(texts)
    print(f"ONNX text, all {n:,} archs, built ({args.workers} workers): {built:.1f} s = {n / built:,.0f} archs/s")
    print(
        f"ONNX text, all {n:,} archs, read from the shipped table: {read:.2f} s = {n / read:,.0f} archs/s "
        f"({table_path().stat().st_size / 1e3:.0f} KB)"
    )
    lengths = np.array([len(t) for t in texts])
    print(
        f"ONNX text length (characters): min {lengths.min():,} / median {int(np.median(lengths)):,} "
        f"/ max {lengths.max():,}; distinct texts: {len(set(texts)):,}"
    )
    # Two one-off costs that tests once asserted a time for (a busy CI machine made them flaky).
    from nasrlm.rlm.free_labels import graph_labels
    from search_spaces.nb201 import arch as arch_module
    from search_spaces.nb201.onnx_builder import build_onnx

    arch_module._canonical_map.cache_clear()
    started = time.perf_counter()
    canonical = {a.canonical() for a in space.archs()}
    print(f"canonical forms of all archs, cold: {time.perf_counter() - started:.2f} s ({len(canonical):,} forms)")
    dense = build_onnx(("nor_conv_3x3",) * 6)
    best = min(_seconds(graph_labels, dense) for _ in range(5))
    print(f"graph labels of the largest NB201 graph: {best * 1e3:.1f} ms (best of 5)")


def _seconds(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
