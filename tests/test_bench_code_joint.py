"""experiments/bench_code_joint.py: whole groups held out, and each domain's rows train only its objectives."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np


def _script():
    path = Path(__file__).resolve().parents[1] / "experiments" / "bench_code_joint.py"
    spec = importlib.util.spec_from_file_location("bench_code_joint", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _domain(script, name, groups, objectives):
    groups = np.array(groups, dtype=str)
    targets = {f"{name}.{o}": np.arange(len(groups), dtype=float) + k for k, o in enumerate(objectives)}
    return script.Domain(name, [f"{name} text {i}" for i in range(len(groups))], targets, groups)


def test_a_split_holds_out_whole_groups_half_of_them_the_same_for_a_seed():
    script = _script()
    domain = _domain(script, "python", ["a", "a", "b", "c", "c", "c", "d", "e", "e", "f"], ["peak"])
    train, test = domain.split(0)
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(10))
    assert not set(domain.groups[train]) & set(domain.groups[test])  # no group on both sides
    assert len(set(domain.groups[train])) == 3  # half of the 6 groups
    assert np.array_equal(domain.split(0)[0], train)
    assert any(not np.array_equal(domain.split(seed)[0], train) for seed in range(1, 6))


def test_rows_of_several_domains_leave_other_domains_objectives_blank():
    script = _script()
    python = _domain(script, "python", ["a", "b", "c"], ["peak", "traced"])
    rust = _domain(script, "rust", ["a", "b"], ["peak"])
    texts, columns = script._rows([python, rust], {"python": np.array([0, 2]), "rust": np.array([1])})
    assert texts == ["python text 0", "python text 2", "rust text 1"]
    assert list(columns) == ["python.peak", "python.traced", "rust.peak"]
    np.testing.assert_array_equal(columns["python.traced"], [1.0, 3.0, np.nan])
    np.testing.assert_array_equal(columns["rust.peak"], [np.nan, np.nan, 1.0])
