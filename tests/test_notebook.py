"""The walkthrough notebook runs from top to bottom (on tiny budgets) and shows what it promises."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="executing the notebook needs nbformat (the dev extra)")
nbclient = pytest.importorskip("nbclient", reason="executing the notebook needs nbclient (the dev extra)")
pytest.importorskip("ipykernel", reason="executing the notebook needs an ipykernel (the dev extra)")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "walkthrough.ipynb"


def _text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        parts.append(output.get("data", {}).get("text/plain", ""))
        parts.append(output.get("data", {}).get("text/markdown", ""))
    return "".join(parts)


@pytest.mark.slow
def test_walkthrough_runs_on_a_tiny_budget(tmp_path, monkeypatch):
    monkeypatch.setenv("NASRLM_NOTEBOOK_TINY", "1")
    monkeypatch.setenv("NASRLM_NOTEBOOK_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # The kernel must import this checkout's packages however pytest was started.
    root = str(NOTEBOOK.parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, with the failing cell's traceback, if any cell fails

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    output = "\n".join(_text(cell) for cell in code)
    assert "tiny budgets" in output
    assert "Kendall tau" in output and "90% intervals hold" in output
    assert "| rlm | 30 |" in output  # the report's table, shown in the notebook
    images = sum("image/png" in out.get("data", {}) for cell in code for out in cell.get("outputs", []))
    assert images >= 2
    assert "architectures on the front after 12 queries" in output
    out = tmp_path / "out"
    assert (out / "report" / "report.html").is_file() and (out / "surrogate" / "config.json").is_file()
    assert (out / "surrogate_report" / "results.jsonl").is_file()
