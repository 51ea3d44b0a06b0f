"""experiments/random_networks.py: varied networks that build, export, and carry correct free labels."""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from pathlib import Path

import torch

from nasrlm.text.onnx_text import parse_text
from nasrlm.text.reading_text import reading_text


def _script():
    path = Path(__file__).resolve().parents[1] / "experiments" / "random_networks.py"
    spec = importlib.util.spec_from_file_location("random_networks", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def test_specs_are_deterministic_varied_and_always_build():
    script = _script()
    specs = [script.sample_spec(random.Random(f"0:{i}")) for i in range(150)]
    assert specs == [script.sample_spec(random.Random(f"0:{i}")) for i in range(150)]
    assert {s.block for spec in specs for s in spec.stages} == set(script.BLOCKS)
    assert len({spec.resolution for spec in specs}) > 1 and len({spec.activation for spec in specs}) > 1
    for spec in specs:  # every downsampling fits the resolution, so every network runs
        module = script.build(spec)
        with torch.no_grad():
            assert module(script.example_input(spec)).shape == (1, spec.classes)


def test_rows_carry_exact_labels_and_resume(tmp_path):
    script = _script()
    row = script.label(3, seed=0, repeats=2)
    spec = script.sample_spec(random.Random("0:3"))
    module = script.build(spec)
    assert row["params"] == sum(p.numel() for p in module.parameters()) / 1e6
    model = parse_text(row["text"])
    assert row["onnx_convs"] == sum(n.op_type == "Conv" for n in model.graph.node)
    assert row["flops"] > 0 and row["ort_latency_ms"] > 0
    assert reading_text(row["text"]).startswith(f"net(x[1,3,{spec.resolution},{spec.resolution}])")
    out = tmp_path / "rows.jsonl"
    out.write_text(json.dumps(row) + "\n" + '{"index": 4, "cut sh')  # an interrupted append
    assert [r["index"] for r in script.load_rows(out)] == [3]


def test_zero_repeats_gives_the_counts_without_a_latency():
    script = _script()
    counted, timed = script.label(5, seed=1, repeats=0), script.label(5, seed=1, repeats=2)
    assert "ort_latency_ms" not in counted and "measure_s" not in counted
    assert {k: timed[k] for k in counted} == counted  # the same network, the same labels
