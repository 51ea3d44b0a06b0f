"""How an NB201 cell becomes its canonical ONNX text: one cell, or many in parallel.

Kept apart from :mod:`.space` (which caches and serves the texts) and :mod:`.text_table` (which
ships them): the table's digest is taken over this module, and both import it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

__all__ = ["build_texts", "text_of_ops"]


def text_of_ops(ops: tuple[str, ...], as_run: bool = True) -> str:
    """The canonical text; ``as_run`` (the space's text): every op the network runs, else the exported graph.

    The benchmarks timed networks that compute every edge, including those whose result never
    reaches the output, and each edge's own ReLU and pool, which the exporter merges per input; a
    text without them gives one text to networks of different latency.
    """
    from onnx import printer

    from nasrlm.text.onnx_text import canonicalize

    from .onnx_builder import build_onnx, cell_scopes

    return printer.to_text(canonicalize(build_onnx(ops, keep_dead=as_run, merge_identical=not as_run), cell_scopes()))


def _texts_of_chunk(chunk: list[tuple[str, ...]]) -> list[str]:
    return [text_of_ops(ops) for ops in chunk]


def build_texts(cells: Sequence[tuple[str, ...]], *, workers: int | None = None, progress: bool = False) -> list[str]:
    """Canonical ONNX text for each cell, in parallel over ``workers`` processes."""
    from concurrent.futures import ProcessPoolExecutor

    from tqdm.auto import tqdm

    workers = workers or os.cpu_count() or 1
    chunk = 250
    chunks = [list(cells[i : i + chunk]) for i in range(0, len(cells), chunk)]
    bar = tqdm(total=len(cells), desc="ONNX text", unit="arch", disable=not progress)
    texts: list[str] = []
    if workers == 1:
        for part in chunks:
            texts += _texts_of_chunk(part)
            bar.update(len(part))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for made in pool.map(_texts_of_chunk, chunks):
                texts += made
                bar.update(len(made))
    bar.close()
    return texts
