"""The program-memory data set (issue 14, item 1): the shipped file, its loader, and the script's parts."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nasrlm.datasets import load_program_memory, program_memory_manifest
from search_spaces.vendored import BenchmarkDataError

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "nasrlm" / "datasets" / "program_memory"


def _script():
    path = ROOT / "experiments" / "make_memory_dataset.py"
    spec = importlib.util.spec_from_file_location("make_memory_dataset", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_memory_dataset"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def frame():
    return load_program_memory()


@pytest.fixture(scope="module")
def mmd():
    return _script()


def test_shipped_rows_and_columns(frame):
    assert len(frame) >= 2000
    assert len(frame) == program_memory_manifest()["program_memory.jsonl.xz"]["rows"]
    for col in (
        "problem_id",
        "language",
        "level",
        "input_size",
        "input_description",
        "program",
        "text",
        "peak_rss_kb",
        "peak_rss_kb_runs",
        "tracemalloc_peak_kb",
        "runtime_s",
        "source",
        "license",
    ):
        assert col in frame.columns, col
    assert set(frame["language"]) == {"python", "rust"}
    assert (frame.groupby("language").size() >= 300).all()
    assert frame["problem_id"].str.fullmatch(r"HumanEval/\d+").all()
    assert not frame.duplicated(["problem_id", "language", "level"]).any()
    assert (frame["peak_rss_kb"] > 0).all()
    # medians of the 3 runs, and the text ends with the input description
    runs = zip(frame["peak_rss_kb_runs"], frame["peak_rss_kb"], strict=True)
    assert all(len(r) == 3 and sorted(r)[1] == m for r, m in runs)
    assert all(t.rstrip().endswith(d) for t, d in zip(frame["text"], frame["input_description"], strict=True))
    py = frame[frame["language"] == "python"]
    assert py["tracemalloc_peak_kb"].notna().all()
    assert frame[frame["language"] == "rust"]["tracemalloc_peak_kb"].isna().all()


def test_memory_varies_within_problems(frame):
    """The point of the data: memory grows with the input within a problem, not only across problems."""
    py = frame[frame["language"] == "python"]
    assert py["peak_rss_kb"].max() > 5 * py["peak_rss_kb"].min()
    grows = py.groupby("problem_id")["peak_rss_kb"].agg(lambda s: s.max() > 1.5 * s.min())
    assert grows.sum() >= 50


def test_language_filter(frame):
    rust = load_program_memory(language="rust")
    assert len(rust) == (frame["language"] == "rust").sum()
    with pytest.raises(BenchmarkDataError, match="unknown language"):
        load_program_memory(language="cobol")


def test_altered_or_missing_file_is_refused(tmp_path):
    folder = tmp_path / "pm"
    shutil.copytree(SHIPPED, folder)
    blob = bytearray((folder / "program_memory.jsonl.xz").read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (folder / "program_memory.jsonl.xz").write_bytes(bytes(blob))
    with pytest.raises(BenchmarkDataError, match="checksum"):
        load_program_memory(folder)
    (folder / "program_memory.jsonl.xz").unlink()
    with pytest.raises(BenchmarkDataError, match="missing"):
        load_program_memory(folder)


def test_inputs_scale_and_are_described(mmd):
    calls = mmd.test_calls(
        "def check(candidate):\n    assert candidate([1, 2, 3], 2) == 1\n"
        "    assert candidate([], 0) == 0\n    assert candidate(x, 1)\n"
    )
    assert calls == [([1, 2, 3], 2), ([], 0)]
    base = mmd.base_input(calls)
    assert base == ([1, 2, 3], 2)
    big = mmd.make_input(base, 7, "HumanEval/x")
    assert len(big[0]) == mmd.SIZES[7] and big[1] == 2 and all(1 <= v <= 3 for v in big[0])
    assert big == mmd.make_input(base, 7, "HumanEval/x")  # deterministic
    assert mmd.describe(["xs", "k"], big, base).startswith(f"xs = list of {mmd.SIZES[7]} ints in [")
    assert mmd.make_input((5,), 3, "p") == (100,)
    s = mmd.make_input(("(()) ()",), 5, "p")[0]
    assert 990 <= len(s) <= 1010 and s.startswith("(()) () (())")  # whole tokens, about the size


def test_rust_output_parsing(mmd):
    parse = mmd.rust_debug_to_python
    assert parse("[1, 2, 3]") == [1, 2, 3]
    assert parse('Some("a\\"b")') == 'a"b'
    assert parse("(true, None)") == (True, None)
    assert parse("['x', 'y']") == ["x", "y"]
    assert mmd.same_value(parse("(1.0000001, [2])"), [1.0, (2,)], 1e-6)
    params = mmd.rust_signature("fn f(xs: &[i32], s: &str, n: usize) -> Vec<i32> {\n}", "f")[0]
    assert mmd.rust_encode(params, ([1, -2], "a b", 3)) == "2\n1 -2\na b\n3\n"
    assert mmd.rust_encode(params, ([2**40], "a", 3)) is None  # does not fit i32
    assert mmd.rust_encode(params, ([1], "a", -1)) is None  # usize


def test_sandbox_measures_and_limits(mmd, tmp_path, monkeypatch):
    monkeypatch.setattr(mmd, "CPU_LIMIT", 1)
    monkeypatch.setattr(mmd, "AS_LIMIT", 512 << 20)
    big = mmd.sandbox_run(
        [sys.executable, "-S", "-c", "x = bytearray(64 << 20); x[::4096] = b'1' * len(x[::4096])"], tmp_path
    )
    assert big["status"] == "ok" and big["rss_kb"] > 60_000
    small = mmd.sandbox_run([sys.executable, "-S", "-c", "pass"], tmp_path)
    assert small["status"] == "ok" and small["rss_kb"] < big["rss_kb"] - 50_000
    assert mmd.sandbox_run([sys.executable, "-S", "-c", "x = bytearray(1 << 30)"], tmp_path)["status"] == "memory_limit"
    assert mmd.sandbox_run([sys.executable, "-S", "-c", "while True: pass"], tmp_path)["status"] == "timeout"
    assert mmd.sandbox_run([sys.executable, "-S", "-c", "raise SystemExit(3)"], tmp_path)["status"] == "error"


@pytest.mark.skipif(shutil.which("rustc") is None, reason="rustc not installed")
def test_rust_harness_compiles_and_runs(mmd, tmp_path):
    (tmp_path / "tmp").mkdir()
    prob = {
        "task_id": "CodeGen/t",
        "entry_point": "twice",
        "edition": "2021",
        "prompt": "fn twice(xs: &[i32], tag: &str) -> Vec<String> {",
        "canonical_solution": 'xs.iter().map(|x| format!("{tag}{}", 2 * x)).collect()\n}',
        "test": '#[cfg(test)]\nmod tests {\n use super::*;\n #[test]\n fn t() { assert_eq!(twice(&[1], "a"), '
        'vec!["a2".to_string()]); }\n}\n',
    }
    prog = mmd.RustProgram(tmp_path, prob)
    assert prog._build() is None
    r = prog.run(tmp_path, ([1, 2, 3], "n"), ["n2", "n4", "n6"])
    assert r["status"] == "ok" and len(r["rss"]) == 3 and min(r["rss"]) > 0
    assert prog.run(tmp_path, ([1], "n"), ["wrong"], runs=1)["status"] == "wrong_output"


def test_script_help():
    done = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "make_memory_dataset.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "usage" in done.stdout
