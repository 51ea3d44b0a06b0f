"""A benchmark table that covers part of its space: errors for archs without data, free metrics for
every arch, and searches that query only archs with data (every sampler, the RLM's included)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from toy_space import ARCHS, ToyArch, ToySpace

from search_spaces import NoBenchmarkDataError, get_space, register_space
from search_spaces.base import Metric

# Every other toy arch has data; ``acc_half`` is measured on the first half of those only.
TABLE = ARCHS[::2]
_INDEX = {arch: i for i, arch in enumerate(TABLE)}


class PartialToy(ToySpace):
    name = "partial_toy"
    complete = False
    free_metrics = frozenset({"params"})

    @property
    def size(self) -> int:
        return len(TABLE)

    def archs(self) -> list[ToyArch]:
        return list(TABLE)

    def index(self, arch):
        arch = self.as_arch(arch)
        if arch not in _INDEX:
            raise self.no_data(arch)
        return _INDEX[arch]

    def sample(self, rng):
        return TABLE[int(rng.integers(len(TABLE)))]

    @property
    def metrics(self):
        return {
            **super().metrics,
            "acc_half": Metric("acc_half", "maximize", "%", "measured on half the table", (0.0, 100.0)),
        }

    def _values(self, metric):
        if metric == "acc_half":
            values = self._values("acc").copy()
            values[len(TABLE) // 2 :] = math.nan
            return values
        full = super()._values(metric)
        return full[[ARCHS.index(arch) for arch in TABLE]]

    def graph_spec(self):
        return dataclasses.replace(super().graph_spec(), space=self.name)

    def _query(self, arch, metric):
        if metric == "params":  # a free metric: counted from the network, for any arch
            return float(super()._values("params")[ARCHS.index(arch)])
        value = float(self._values(metric)[self.index(arch)])
        if math.isnan(value):
            raise self.no_data(arch)
        return value


@pytest.fixture
def partial(tmp_path, monkeypatch):
    monkeypatch.setenv("NASRLM_CACHE_DIR", str(tmp_path / "cache"))
    register_space("partial_toy", PartialToy, replace=True)
    yield get_space("partial_toy")
    from search_spaces import _FACTORIES

    _FACTORIES.pop("partial_toy", None)
    get_space.cache_clear()


def test_an_arch_outside_the_table_has_free_metrics_only(partial):
    outside = ARCHS[1]
    assert partial.parse(str(outside)) == outside and not partial.has_data(outside)
    assert partial.query(outside, "params") > 0
    with pytest.raises(NoBenchmarkDataError, match=r"has no benchmark data: .*covers 9 architectures.*params"):
        partial.query(outside, "acc")
    assert partial.has_data(TABLE[0], ["acc_half"]) and not partial.has_data(TABLE[-1], ["acc_half"])


def test_nearest_with_data_differs_in_fewest_parameters(partial):
    outside = ToyArch(4, 1, 3)  # not in the table; w4-d1-k1 and w4-d2-k3 differ from it in one parameter
    assert outside not in TABLE
    nearest = partial.nearest_with_data(outside)
    assert (
        nearest in TABLE
        and sum(a != b for a, b in zip(vars(nearest).values(), vars(outside).values(), strict=True)) == 1
    )
    assert partial.nearest_with_data(outside, exclude=[nearest]) != nearest
    assert partial.nearest_with_data(TABLE[3]) == TABLE[3]
    half = partial.nearest_with_data(TABLE[-1], metrics=["acc_half"])
    assert partial.has_data(half, ["acc_half"])
    assert partial.nearest_to_params({"width": 4, "depth": 1, "kernel": 7}) in TABLE  # not even an arch
    with pytest.raises(ValueError, match="no architecture of partial_toy's table has acc"):
        partial.nearest_with_data(outside, exclude=TABLE, metrics=["acc"])


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_a_search_queries_only_archs_with_data(partial, sampler):
    from optuna.trial import TrialState

    from nasrlm.search.runner import SearchConfig, run_search

    config = SearchConfig(
        space="partial_toy", objectives=("acc_half", "params"), budget=4, sampler=sampler, progress=False
    )
    result = run_search(config)
    archs = [partial.parse(a) for a in result.trials["arch"]]
    assert len(archs) == 4 and all(partial.has_data(a, ["acc_half"]) for a in archs)
    for trial in result.study.get_trials(states=(TrialState.COMPLETE,)):
        assert str(partial.from_params(trial.params)) == trial.user_attrs["arch"]  # params = the arch evaluated
    pruned = result.study.get_trials(states=(TrialState.PRUNED,))
    assert all("sent_to" in t.user_attrs for t in pruned if "arch" not in t.user_attrs)
    assert result.exact_hypervolume is not None and 0 < result.hypervolume_ratio <= 1 + 1e-9


def test_the_rlm_sampler_proposes_only_candidates(partial):
    from optuna.trial import TrialState

    from nasrlm.search.runner import SearchConfig, run_search
    from nasrlm.search.sampler import RLMSamplerConfig, stored_predictions

    small = RLMSamplerConfig(
        n_startup_trials=3, proposals_per_fit=2, num_samples=4, first_fit_steps=5, refit_steps=3, progress=False
    )
    config = SearchConfig(space="partial_toy", objectives=("acc", "params"), budget=7, progress=False, rlm=small)
    result = run_search(config)
    study = result.study
    assert len(result.trials) == 7 and all(partial.has_data(a) for a in result.trials["arch"])
    proposed = [t for t in study.get_trials(states=(TrialState.COMPLETE,)) if t.number in stored_predictions(study)]
    assert proposed, "the RLM sampler proposed no trial"
    assert all(partial.from_params(t.params) in TABLE for t in proposed)
    sent_away = [t.number for t in study.get_trials(states=(TrialState.PRUNED,)) if "sent_to" in t.user_attrs]
    assert not set(sent_away) & set(stored_predictions(study)), "the RLM sampler proposed an arch without data"


def test_the_exact_front_skips_archs_a_metric_was_not_measured_on(partial):
    from nasrlm.search.results import exact_front

    front, volume = exact_front(partial, ("acc_half", "params"), (0.0, 1e6))
    assert len(front) and all(not np.isnan(partial.values("acc_half")[i]) for i in front) and volume > 0


def test_a_report_splits_the_archs_that_have_every_objective(partial, tmp_path, capsys):
    import json

    from nasrlm.cli import main

    report = ["report", "--space", "partial_toy", "--objectives", "acc_half,params", "--predictors", "params"]
    assert main([*report, "--train-sizes", "2", "--seeds", "2", "--quiet", "--out", str(tmp_path / "r")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "r" / "results.jsonl").read_text().splitlines()]
    measured = int((~np.isnan(partial.values("acc_half"))).sum())
    assert measured == 4 and all(row["n_test"] == measured - 2 for row in rows)
    capsys.readouterr()
    assert main([*report, "--train-sizes", "3", "--out", str(tmp_path / "r2")]) == 2
    assert "train sizes must lie between 2 and 2 (4 of the space's 9 archs have acc_half, params)" in (
        capsys.readouterr().err
    )


def test_verify_measures_archs_outside_the_table_and_stores_only_those_in_it(partial, tmp_path):
    from nasrlm.hardware import devices
    from nasrlm.hardware.latency import LatencyConfig
    from nasrlm.hardware.verify import verify, write_outputs

    archs = [TABLE[0], ARCHS[1]]  # the second has no index in the table
    report = verify(partial, archs, LatencyConfig(warmup=1, repeats=2), "latency_partial_cpu")
    assert len(report.measured_ms) == 2 and (report.measured_ms > 0).all()
    table = devices.find_table("partial_toy", "latency_partial_cpu")
    assert table is not None and set(table.latency_ms) == {0}
    write_outputs(tmp_path / "v", partial, archs, report, {})
    lines = (tmp_path / "v" / "latency.csv").read_text().splitlines()
    assert lines[1].startswith("0,") and lines[2].startswith(",")
