"""The sweep of Triton kernels: specs, their texts, and correctness checks under the interpreter.

A :class:`Spec` is one row of the data set: a kernel variant, a dtype, a problem shape, the
constexpr parameters (block sizes, op flags) and ``num_warps`` / ``num_stages``. Its text
(:func:`kernel_text`) is what the surrogate reads: one header line with all of these and the launch
grid, then the ``@triton.jit`` source of the kernel (and of the jit helpers it calls), verbatim.
The sweep is deterministic: configs are sampled from each variant's tuning grid with fixed seeds.

Usage (from the repository root):
    python experiments/triton_kernels/generate.py                  # sweep summary
    python experiments/triton_kernels/generate.py --out kernels.jsonl
    python experiments/triton_kernels/generate.py --show <kernel_id>
    python experiments/triton_kernels/generate.py --check 3         # 3 configs per variant, interpreter

Without a CUDA GPU, ``TRITON_INTERPRET=1`` is set before triton is imported: the checks then run
every kernel in Triton's NumPy interpreter, on small shapes (slow; correctness only).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import inspect
import itertools
import json
import os
import random
import sys
import textwrap
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `experiments.triton_kernels` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")  # before triton.language is imported

from experiments.triton_kernels.templates import TEMPLATES, VARIANTS, Variant

LAUNCH = ("num_warps", "num_stages")


@dataclass(frozen=True)
class Spec:
    template: str
    variant: str
    dtype: str
    shape: tuple[tuple[str, int], ...]
    params: tuple[tuple[str, Any], ...]  # constexpr arguments of the kernel, by name
    num_warps: int
    num_stages: int

    @cached_property
    def kernel_id(self) -> str:
        """16 hex digits of the spec's hash: stable across runs and machines (not of the source text)."""
        key = json.dumps(
            [self.template, self.variant, self.dtype, dict(self.shape), dict(self.params), self.num_warps,
             self.num_stages],
            sort_keys=True,
        )  # fmt: skip
        return hashlib.sha1(key.encode()).hexdigest()[:16]

    @property
    def compile_key(self) -> tuple[Any, ...]:
        """What Triton compiles once (up to its integer specializations, which depend on the shape)."""
        return (self.variant, self.dtype, self.params, self.num_warps, self.num_stages)

    @property
    def grid(self) -> tuple[int, ...]:
        return VARIANTS[self.variant].grid(dict(self.shape), dict(self.params))

    def to_json(self) -> dict[str, Any]:
        return {
            "kernel_id": self.kernel_id,
            "template": self.template,
            "variant": self.variant,
            "dtype": self.dtype,
            "shape": dict(self.shape),
            "params": dict(self.params),
            "num_warps": self.num_warps,
            "num_stages": self.num_stages,
            "grid": list(self.grid),
        }

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Spec:
        return cls(
            row["template"], row["variant"], row["dtype"], tuple(row["shape"].items()), tuple(row["params"].items()),
            int(row["num_warps"]), int(row["num_stages"]),
        )  # fmt: skip


def _make_spec(variant: Variant, dtype: str, shape: dict[str, int], fixed: dict[str, Any], config: dict[str, Any]):
    tuning = {k: v for k, v in config.items() if k not in LAUNCH}
    params = {**fixed, **tuning}
    params.update(variant.derive(shape, params))
    return Spec(
        variant.template, variant.name, dtype, tuple(shape.items()), tuple(params.items()),
        config["num_warps"], config["num_stages"],
    )  # fmt: skip


def sampled_configs(variant: Variant, dtype: str, form: int) -> list[dict[str, Any]]:
    """The variant's tuning configs for one dtype and form: a seeded sample of its grid, in grid order."""
    names = list(variant.tuning)
    grid = [dict(zip(names, values, strict=True)) for values in itertools.product(*variant.tuning.values())]
    grid = [config for config in grid if variant.config_ok(config)]
    rng = random.Random(zlib.crc32(f"{variant.name}|{dtype}|{form}".encode()))
    picked = sorted(rng.sample(range(len(grid)), min(variant.configs, len(grid))))
    return [grid[i] for i in picked]


def sweep(variants: list[str] | None = None) -> list[Spec]:
    """Every row of the data set, in a fixed order: variant, dtype, form, config, shape."""
    specs = []
    for name in variants or list(VARIANTS):
        variant = VARIANTS[name]
        for dtype in variant.dtypes:
            for form, (fixed, shapes) in enumerate(variant.forms):
                for config in sampled_configs(variant, dtype, form):
                    for shape in shapes:
                        spec = _make_spec(variant, dtype, dict(shape), dict(fixed), config)
                        if variant.shape_ok(shape, dict(spec.params)):
                            specs.append(spec)
    return specs


def check_sample(per_variant: int | None = 3) -> list[Spec]:
    """Specs for correctness checks: ``per_variant`` configs of every variant (spread over its sampled
    configs, dtypes and forms; None: all of them), each on a small shape that still has several
    programs and ragged edges."""
    specs = []
    for variant in VARIANTS.values():
        if per_variant is None:
            for form, (fixed, shapes) in enumerate(variant.forms):
                for dtype in variant.dtypes:
                    for config in sampled_configs(variant, dtype, form):
                        # Each shape-derived constexpr (a whole-row BLOCK) once, each config at least once.
                        derived: dict[tuple[Any, ...], dict[str, int]] = {}
                        for base in map(dict, shapes):
                            probe = _make_spec(variant, dtype, base, dict(fixed), config)
                            derived.setdefault(probe.params, variant.small_shape(base, dict(probe.params)))
                        for small in derived.values():
                            specs.append(_make_spec(variant, dtype, small, dict(fixed), config))
            continue
        # Round-robin over (dtype, form) pairs; within a pair, picks spread over its sampled configs.
        pairs = [
            (dtype, form, sampled_configs(variant, dtype, form))
            for form in range(len(variant.forms))
            for dtype in variant.dtypes
        ]
        for i in range(per_variant):
            dtype, form, configs = pairs[i % len(pairs)]
            picks_here = len(range(i % len(pairs), per_variant, len(pairs)))
            j = i // len(pairs)
            config = configs[(j * (len(configs) - 1)) // (picks_here - 1) if picks_here > 1 else len(configs) // 2]
            fixed, shapes = variant.forms[form]
            base = dict(shapes[i % len(shapes)])
            probe = _make_spec(variant, dtype, base, dict(fixed), config)
            small = variant.small_shape(base, dict(probe.params))
            specs.append(_make_spec(variant, dtype, small, dict(fixed), config))
    return specs


def kernel_text(spec: Spec) -> str:
    """The surrogate's input: a header line (variant, dtype, shape, constexprs, launch config, grid) and the source."""
    variant = VARIANTS[spec.variant]
    shape = " ".join(f"{k}={v}" for k, v in spec.shape)
    params = " ".join(f"{k}={v}" for k, v in spec.params)
    grid = "(" + ", ".join(str(g) for g in spec.grid) + ("," if len(spec.grid) == 1 else "") + ")"
    header = (
        f"# triton kernel {spec.variant} ({spec.template}) | dtype={spec.dtype} | shape: {shape} | "
        f"{params} | num_warps={spec.num_warps} num_stages={spec.num_stages} | grid={grid}"
    )
    sources = [_source(fn) for fn in (*variant.helpers, variant.kernel)]
    return header + "\n" + "\n\n".join(sources) + "\n"


@functools.cache
def _source(jit_function: Any) -> str:
    # JITFunction (compiled) and InterpretedFunction (interpreter) both keep the Python function as .fn.
    lines = textwrap.dedent(inspect.getsource(jit_function.fn)).rstrip().splitlines()
    return "\n".join(line.rstrip() for line in lines)


# --- correctness ---------------------------------------------------------------------------------
def relative_error(out: torch.Tensor, reference: torch.Tensor) -> float:
    """max|out - ref| / max(1, max|ref|), in float64; inf where the output has NaNs or infinities."""
    out64, ref64 = out.detach().double(), reference.detach().double()
    if not torch.isfinite(out64).all():
        return float("inf")
    scale = max(1.0, ref64.abs().max().item()) if ref64.numel() else 1.0
    return (out64 - ref64).abs().max().item() / scale if ref64.numel() else 0.0


def check(spec: Spec, device: torch.device | str | None = None) -> tuple[bool, float]:
    """Runs ``spec`` once and compares it with its PyTorch reference: (within tolerance, relative error)."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    variant = VARIANTS[spec.variant]
    case = variant.setup(spec, device)
    case.prepare()
    err = relative_error(case.run(), case.reference())
    return err <= variant.tolerance(spec.dtype, dict(spec.params), device.type == "cuda"), err


def run_checks(specs: list[Spec], *, verbose: bool = True) -> list[tuple[Spec, bool, float, str]]:
    """:func:`check` for each spec; an exception counts as a failure (its message is kept)."""
    results = []
    for spec in specs:
        try:
            ok, err = check(spec)
            message = ""
        except Exception as exc:
            ok, err, message = False, float("nan"), f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        results.append((spec, ok, err, message))
        if verbose:
            status = "ok  " if ok else "FAIL"
            print(f"{status} {spec.kernel_id} {spec.variant} {spec.dtype} {dict(spec.shape)} {dict(spec.params)} "
                  f"w{spec.num_warps} s{spec.num_stages} rel_err={err:.2e} {message}", flush=True)  # fmt: skip
    return results


# --- command line --------------------------------------------------------------------------------
def summary(specs: list[Spec]) -> str:
    by_variant = Counter(s.variant for s in specs)
    by_template = Counter(s.template for s in specs)
    compiles = len({s.compile_key for s in specs})
    lines = [f"{len(specs)} rows, {compiles} distinct compilations (before integer specializations)"]
    for template in TEMPLATES:
        variants = ", ".join(f"{v} {n}" for v, n in by_variant.items() if VARIANTS[v].template == template)
        lines.append(f"  {template:20s} {by_template[template]:5d}: {variants}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="write the sweep as JSON lines (spec fields and text)")
    parser.add_argument("--show", metavar="KERNEL_ID", help="print one row's text")
    parser.add_argument(
        "--check", metavar="N", help="check N configs per variant against PyTorch ('all': every sampled config)"
    )
    args = parser.parse_args(argv)
    specs = sweep()
    print(summary(specs))
    if args.show:
        match = [s for s in specs + check_sample(10) if s.kernel_id == args.show]
        if not match:
            print(f"no row {args.show}", file=sys.stderr)
            return 2
        print(kernel_text(match[0]))
    if args.out:
        with args.out.open("w") as fh:
            for spec in specs:
                fh.write(json.dumps({**spec.to_json(), "text": kernel_text(spec)}) + "\n")
        print(f"wrote {args.out}")
    if args.check:
        mode = "interpreter (CPU)" if os.environ.get("TRITON_INTERPRET") == "1" else torch.cuda.get_device_name()
        sample = check_sample(None if args.check == "all" else int(args.check))
        start = time.perf_counter()
        results = run_checks(sample)
        failed = [r for r in results if not r[1]]
        print(f"checked {len(results)} kernels ({len(VARIANTS)} variants, {len(TEMPLATES)} templates) on {mode} "
              f"in {time.perf_counter() - start:.1f} s: {len(failed)} failed")  # fmt: skip
        return 1 if failed else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
