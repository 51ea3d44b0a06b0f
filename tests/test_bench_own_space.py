"""experiments/bench_own_space.py: its CNN family samples deterministically, builds and exports."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch

from nasrlm.text.onnx_text import parse_text, to_onnx_text


def _script():
    path = Path(__file__).resolve().parents[1] / "experiments" / "bench_own_space.py"
    spec = importlib.util.spec_from_file_location("bench_own_space", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def test_sampling_is_deterministic_distinct_and_a_prefix_of_longer_draws():
    script = _script()
    archs = script.sample_archs(30, seed=0)
    assert archs == script.sample_archs(30, seed=0)
    assert archs[:10] == script.sample_archs(10, seed=0)
    assert archs != script.sample_archs(30, seed=1)
    assert len(set(archs)) == 30
    for arch in archs:
        assert 3 <= len(arch) <= 5
        for stage in arch:
            assert stage.block in script.BLOCKS and 1 <= stage.depth <= 3
            assert stage.width in script.WIDTHS and stage.kernel in script.KERNELS


def test_every_block_type_builds_runs_and_exports_to_onnx_text():
    script = _script()
    arch = (
        script.Stage("plain", 1, 8, 3),
        script.Stage("residual", 2, 16, 5),
        script.Stage("se", 1, 8, 3),
    )
    module = script.build(arch)
    assert module(script.example_input(2)).shape == (2, script.CLASSES)
    text = to_onnx_text(module, script.example_input())
    parse_text(text)
    # Three resolutions (32, 16, 8): strided convolutions in the 2nd and 3rd stages' first blocks (and shortcuts).
    assert text.count("strides: ints = [2, 2]") == 4
    assert "Sigmoid" in text and "GlobalAveragePool" in text
    # The stem conv alone: 16 outputs at 32x32, 3*3*3 MACs each.
    stem = script.count_macs(torch.nn.Sequential(script.build(arch)[0]))
    assert stem == 16 * 32 * 32 * 27


def test_a_network_is_measured_with_onnxruntime_and_its_row_holds_what_the_report_reads():
    script = _script()
    arch = (script.Stage("plain", 1, 8, 3), script.Stage("se", 1, 16, 3), script.Stage("residual", 1, 8, 5))
    row = script.measure_row(arch, warmup=1, repeats=3)
    assert row["ort_latency_ms"] > 0 and row["latency_iqr_ms"] >= 0
    assert row["params"] == sum(p.numel() for p in script.build(arch).parameters())
    assert row["macs"] == script.count_macs(script.build(arch))
    assert row["text"].lstrip().startswith("<") and row["arch"] == script.arch_string(arch)
