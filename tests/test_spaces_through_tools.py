"""Every space whose table covers part of it, through the tools a user runs: measuring a new device
(``verify``), searching with each kind of sampler (only archs with data are queried), and reporting
how well predictors rank it (splits only among archs with every objective)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from nasrlm.hardware import devices
from search_spaces import get_space

# (space, two objectives with data on the same archs)
SPACES = [
    ("nb101", ("acc", "params")),
    ("fbnet", ("latency_pixel3", "latency_raspi4")),
    ("ofa_mbv3", ("latency_v100_1", "latency_titan_xp_64")),
    ("transnas_macro", ("class_scene_acc", "params")),  # class_scene_acc: 662 of the 725 table archs
]


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Device tables and text caches go to a private folder."""
    monkeypatch.setenv("NASRLM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(devices, "_REGISTERED", {})


def _measured(space, objectives) -> int:
    values = np.stack([space.values(name) for name in objectives], axis=1)
    return int((~np.isnan(values).any(axis=1)).sum())


@pytest.mark.slow
@pytest.mark.parametrize(("name", "objectives"), SPACES, ids=[s for s, _ in SPACES])
def test_verify_search_and_report_through_the_cli(name, objectives, tmp_path, capsys):
    from nasrlm.cli import main

    space = get_space(name)
    archs = tmp_path / "archs.txt"
    archs.write_text("\n".join(str(a) for a in space.archs()[:3]) + "\n")
    verify = ["verify", "--space", name, "--archs", str(archs), "--device-name", "test_cpu", "--no-predict"]
    assert main([*verify, "--warmup", "1", "--repeats", "3", "--out", str(tmp_path / "v")]) == 0
    assert "latency_test_cpu" in devices.registered_metrics(name)

    chosen = ["--objectives", ",".join(objectives)]
    for sampler in ("tpe", "random"):
        out = tmp_path / sampler
        search = ["search", "--space", name, *chosen, "--budget", "8", "--sampler", sampler, "--quiet"]
        assert main([*search, "--out", str(out)]) == 0
        summary = json.loads((out / "summary.json").read_text())
        assert summary["finished"] == 8 and 0 < summary["hypervolume_ratio"] <= 1 + 1e-9
        found = pd.read_csv(out / "trials.csv")["arch"]
        assert len(found) == 8 and all(space.has_data(a, objectives) for a in found)

    report = ["report", "--space", name, *chosen, "--predictors", "flops,gin", "--train-sizes", "16"]
    assert main([*report, "--seeds", "1", "--epochs", "5", "--quiet", "--out", str(tmp_path / "r")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "r" / "results.jsonl").read_text().splitlines()]
    assert {row["predictor"] for row in rows} == {"flops", "gin"}
    assert all(row["n_test"] == _measured(space, objectives) - 16 for row in rows)
    assert all(not math.isnan(row["scores"][o]["kendall"]) for row in rows for o in objectives)
    capsys.readouterr()


@pytest.mark.slow
@pytest.mark.parametrize(("name", "objectives"), SPACES, ids=[s for s, _ in SPACES])
def test_the_rlm_sampler_proposes_archs_with_data(name, objectives, tmp_path):
    from optuna.trial import TrialState

    from nasrlm.search.runner import SearchConfig, run_search
    from nasrlm.search.sampler import RLMSamplerConfig, stored_predictions

    small = RLMSamplerConfig(
        n_startup_trials=6,
        proposals_per_fit=3,
        pool_random=30,
        pool_mutations=30,
        num_samples=8,
        first_fit_steps=10,
        refit_steps=5,
        progress=False,
    )
    config = SearchConfig(space=name, objectives=objectives, budget=12, out=str(tmp_path), progress=False, rlm=small)
    result = run_search(config)
    space, study = get_space(name), result.study
    assert len(result.trials) == 12 and result.trials["arch"].is_unique
    assert all(space.has_data(a, objectives) for a in result.trials["arch"])
    predicted = set(stored_predictions(study))
    assert predicted & {t.number for t in study.get_trials(states=(TrialState.COMPLETE,))}, "the RLM proposed nothing"
    sent_away = {t.number for t in study.get_trials(states=(TrialState.PRUNED,)) if "sent_to" in t.user_attrs}
    assert not predicted & sent_away, "the RLM sampler proposed an arch without data"
