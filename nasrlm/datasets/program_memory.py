"""The program-memory data set: programs, an input description, and the program's measured peak memory.

Rows (one per program, language and input size; see ``program_memory/README.md`` and
``PROVENANCE.md`` beside this module, made by ``experiments/make_memory_dataset.py``):

``problem_id`` (``HumanEval/<n>``, the same problem in every language: hold out whole problems),
``language`` (``python`` or ``rust``), ``level`` (0: the problem's own test input, 1..: scaled),
``input_size``, ``input_description``, ``program``, ``text`` (the program followed by a comment line
``input: <description>``: what the RLM reads), ``peak_rss_kb`` (median of 3 runs) and its
``peak_rss_kb_runs``, ``tracemalloc_peak_kb`` (Python only, median of 3) and its runs, ``runtime_s``
(median of 3, the function call alone), ``wall_s``, ``source``, ``source_task_id``, ``license``.

The compressed file is checked against ``manifest.json`` (sha256 of the file and of its decompressed
bytes, and the row count) on every load; a missing or altered file raises
:class:`search_spaces.vendored.BenchmarkDataError`.

>>> frame = load_program_memory()
>>> frame.groupby("language").size()
"""

from __future__ import annotations

import io
import json
from importlib import resources
from pathlib import Path
from typing import Any

from search_spaces.vendored import BenchmarkDataError, decompress_entry

__all__ = ["DATA_FILE", "load_program_memory", "program_memory_manifest"]

DATA_FILE = "program_memory.jsonl.xz"


def _folder(folder: str | Path | None) -> Path:
    return Path(folder) if folder is not None else Path(str(resources.files("nasrlm.datasets") / "program_memory"))


def program_memory_manifest(folder: str | Path | None = None) -> dict[str, Any]:
    """The shipped ``manifest.json`` (checksums and row count of the data file)."""
    path = _folder(folder) / "manifest.json"
    if not path.is_file():
        raise BenchmarkDataError(f"program-memory manifest missing: {path} (reinstall nasrlm)")
    manifest: dict[str, Any] = json.loads(path.read_text())
    return manifest


def load_program_memory(folder: str | Path | None = None, language: str | None = None) -> Any:
    """The data set as a pandas frame, every checksum and the row count verified.

    ``folder`` defaults to the copy shipped in the package; ``language`` (``python`` or ``rust``)
    keeps the rows of one language.
    """
    import pandas as pd

    base = _folder(folder)
    manifest = program_memory_manifest(base)
    entry = manifest.get(DATA_FILE)
    if entry is None:
        raise BenchmarkDataError(f"{base / 'manifest.json'} has no entry for {DATA_FILE}")
    raw = decompress_entry(base, DATA_FILE, entry)
    frame = pd.read_json(io.BytesIO(raw), lines=True, dtype=False)
    rows = entry.get("rows")
    if rows is not None and len(frame) != rows:
        raise BenchmarkDataError(f"{DATA_FILE} has {len(frame)} rows, expected {rows}")
    if language is not None:
        known = sorted(frame["language"].unique())
        if language not in known:
            raise BenchmarkDataError(f"unknown language {language!r}; valid: {', '.join(known)}")
        frame = frame[frame["language"] == language].reset_index(drop=True)
    return frame
