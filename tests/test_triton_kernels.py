"""The Triton kernel latency data set (experiments/triton_kernels): the sweep, its texts, the kernels'
correctness against PyTorch (in Triton's interpreter on the CPU), and measure.py's bookkeeping.

As in test_triton_ops.py, the interpreter must be on before ``triton.language`` is first imported;
when another test module imported triton first, the kernel tests run in a fresh Python process.
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

pytest.importorskip("triton", reason="triton is not installed (pip install 'nasrlm[triton]')")

import triton.language as tl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments.triton_kernels import generate as G
from experiments.triton_kernels import measure as M
from experiments.triton_kernels.templates import TEMPLATES, VARIANTS

ROOT = Path(__file__).resolve().parents[1]
NEEDS_FRESH_PROCESS = not torch.cuda.is_available() and type(tl.zeros).__name__ != "InterpretedFunction"
KERNEL_TESTS = (
    "test_sample_matches_torch",
    "test_measure_smoke_resumes_and_stops_in_budget",
    "test_measure_compiles_in_worker_processes",
)


@pytest.fixture(autouse=True)
def _interpreter_on(request):
    if NEEDS_FRESH_PROCESS and request.node.name.split("[")[0] in KERNEL_TESTS:
        pytest.skip("triton was imported before TRITON_INTERPRET=1; test_kernels_in_a_fresh_process runs this")


@pytest.fixture(scope="module")
def specs():
    return G.sweep()


def test_sweep_is_a_few_thousand_distinct_rows_over_every_template(specs):
    assert 2000 <= len(specs) <= 5000
    assert len({s.kernel_id for s in specs}) == len(specs)
    assert {s.template for s in specs} == set(TEMPLATES)
    assert {s.variant for s in specs} == set(VARIANTS)
    assert {"matmul", "softmax", "layer_norm", "reduction", "elementwise"} <= set(TEMPLATES)
    assert {"nb201_relu_conv_bn", "nb201_node_sum", "nb201_head"} <= set(TEMPLATES)
    # Deterministic: the same rows, in the same order, on every call.
    assert [s.kernel_id for s in G.sweep()] == [s.kernel_id for s in specs]
    # Distinct compilations stay well under the sweep (they dominate the GPU run's time).
    assert len({s.compile_key for s in specs}) < 1200


def test_text_is_a_header_line_and_the_jit_source(specs):
    spec = next(s for s in specs if s.variant == "matmul_grouped_masked")
    text = G.kernel_text(spec)
    header, source = text.split("\n", 1)
    assert header.startswith("# triton kernel matmul_grouped_masked (matmul) | dtype=")
    for name, value in (*spec.shape, *spec.params):
        assert f"{name}={value}" in header
    assert f"num_warps={spec.num_warps} num_stages={spec.num_stages}" in header
    assert f"grid=({spec.grid[0]},)" in header
    assert source.startswith("@triton.jit\ndef matmul_grouped_masked(")
    assert G.kernel_text(spec) == text
    # The NB201 ops come from the project's module (not copies), with the jit helpers they call.
    node_sum = next(s for s in specs if s.template == "nb201_node_sum")
    assert "def _term(" in G.kernel_text(node_sum) and "def _node_sum_kernel(" in G.kernel_text(node_sum)
    for name in ("_conv_kernel", "_node_sum_kernel", "_head_kernel"):
        assert VARIANTS[name].kernel.fn.__module__ == "search_spaces.nb201.triton_ops"


def test_variants_of_a_template_differ_in_code_not_only_numbers(specs):
    sources = defaultdict(set)
    for spec in specs:
        body = G.kernel_text(spec).split("\n", 1)[1]
        sources[spec.template].add(re.sub(r"\d+", "0", body))
    for template in ("matmul", "softmax", "layer_norm", "reduction", "elementwise"):
        assert len(sources[template]) >= 3, template


def test_config_failures_are_classified():
    class OutOfResources(Exception):
        pass

    class CompilationError(Exception):
        pass

    assert M._classify(OutOfResources("out of resource: shared memory, Required: 262144"))[0] == "out_of_resources"
    assert M._classify(CompilationError("at 3:4: bad\nline"))[0] == "compile_error"
    assert M._classify(RuntimeError("CUDA error: an illegal memory access"))[0] == "cuda_error"
    status, message = M._classify(ValueError("a\nb"))
    assert status == "launch_error" and "\n" not in message


def test_sample_matches_torch():
    sample = G.check_sample(2)
    assert {s.variant for s in sample} == set(VARIANTS)
    assert {s.dtype for s in sample if s.template == "matmul"} == {"float16", "float32"}
    results = G.run_checks(sample, verbose=False)
    failed = [(s.variant, dict(s.shape), dict(s.params), err, msg) for s, ok, err, msg in results if not ok]
    assert not failed


def test_measure_refuses_without_a_gpu(tmp_path, monkeypatch, capsys):
    if torch.cuda.is_available():
        pytest.skip("a GPU is here")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    assert M.main(["--out", str(tmp_path / "latency.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no CUDA GPU" in err
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert M.main(["--out", str(tmp_path / "latency.csv")]) == 2
    assert not (tmp_path / "latency.csv").exists()


SMOKE_ON_CPU = pytest.mark.skipif(
    torch.cuda.is_available(), reason="--smoke is the CPU interpreter mode; on a GPU, run measure.py itself"
)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@SMOKE_ON_CPU
def test_measure_smoke_resumes_and_stops_in_budget(tmp_path, monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    out = tmp_path / "latency.csv"
    sample = G.check_sample(3)  # what --smoke measures
    assert M.main(["--smoke", "--out", str(out), "--limit", "4", "--templates", "elementwise,softmax"]) == 0
    rows = _rows(out)
    assert len(rows) == 4 and set(rows[0]) == set(M.COLUMNS)
    assert {r["status"] for r in rows} == {"ok"} and all(float(r["latency_ms"]) > 0 for r in rows)
    assert {r["template"] for r in rows} <= {"elementwise", "softmax"}
    assert rows[0]["gpu"] == "interpreter (CPU)" and rows[0]["triton"] and rows[0]["torch"]
    assert rows[0]["text"].startswith("# triton kernel ")
    assert json.loads(rows[0]["shape"]) and json.loads(rows[0]["params"])

    # A run that died on a row leaves its id in <out>.current: the rerun records the row, not runs it.
    order = list(sample)
    random.Random(M.SHUFFLE_SEED).shuffle(order)
    first7 = [s.kernel_id for s in order if s.template in ("elementwise", "softmax")][:7]
    pending = [kernel_id for kernel_id in first7 if kernel_id not in {r["kernel_id"] for r in rows}]
    Path(f"{out}.current").write_text(pending[0] + "\n")
    assert M.main(["--smoke", "--out", str(out), "--limit", "7", "--templates", "elementwise,softmax"]) == 0
    rows = _rows(out)
    assert len(rows) == 7 and len({r["kernel_id"] for r in rows}) == 7  # 3 new, none twice
    assert {r["kernel_id"]: r["status"] for r in rows}[pending[0]] == "crashed"
    assert not Path(f"{out}.current").exists()

    # A budget already spent: nothing more is measured, and the progress file says why.
    assert M.main(["--smoke", "--out", str(out), "--max-minutes", "0.01"]) == 0
    progress = json.loads(Path(f"{out}.progress.json").read_text())
    assert progress["stopped_by_budget"] and not progress["complete"]
    assert progress["rows_in_csv"] == 7 and progress["rows_in_sweep"] == len(sample)

    # Rows from another device are not mixed in.
    other = tmp_path / "other.csv"
    other.write_text(out.read_text().replace("interpreter (CPU)", "NVIDIA H200"))
    assert M.main(["--smoke", "--out", str(other)]) == 2


@SMOKE_ON_CPU
def test_measure_compiles_in_worker_processes(tmp_path, monkeypatch, capsys):
    # Phase 1 (a spawned pool that launches each kernel once) on the CPU: the interpreter stands in for the compiler.
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    out = tmp_path / "latency.csv"
    assert M.main(["--smoke", "--out", str(out), "--limit", "3", "--workers", "1", "--templates", "reduction"]) == 0
    assert "phase 1: 3 rows compiled by 1 workers (0 failed)" in capsys.readouterr().out
    assert [r["status"] for r in _rows(out)] == ["ok"] * 3


@pytest.mark.skipif(not NEEDS_FRESH_PROCESS, reason="the kernel tests ran in this process")
def test_kernels_in_a_fresh_process():
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(Path(__file__).resolve())]
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed, 1 skipped" in result.stdout, result.stdout[-2000:]
