"""``nasrlm report``: the RLM surrogate against baseline predictors, on identical random splits.

For every train size N and seed s, ``baselines.random_split(n, N, s)`` picks the training archs
among the n that have every objective (all of a complete table), shared by every predictor; each
predictor is fitted on all objectives at once and tested on the remaining archs (all of them, or a
random ``test_size`` of them, also shared). Each finished
(predictor, N, s) run writes its per-arch predictions to ``OUT/predictions/*.npz`` and then one row
of scores to ``OUT/results.jsonl``, both atomically; a rerun skips the rows already there, so an
interrupted report continues where it stopped. Every predictor, the RLM as the baselines, is built by
:func:`nasrlm.core.predictor.make_predictor` and used through its protocol; scores come from
:mod:`nasrlm.core.metrics` (scipy's numbers; 0.0 for a constant prediction). Reading the results
back and rendering them (``report.md``, ``report.html``, plots) live in :mod:`nasrlm.report.render`.
The loop itself, :func:`run_splits`, also runs reports on a table of text (:mod:`nasrlm.report.text_data`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nasrlm.core.cache import atomic_write_bytes, atomic_write_text
from nasrlm.core.errors import NasrlmError
from nasrlm.core.metrics import interval_coverage, kendall_tau, spearman_rho, within_fraction
from nasrlm.core.predictor import PredictorProtocol
from nasrlm.predictors.registry import make_predictor
from nasrlm.predictors.rlm import RlmSettings
from nasrlm.report.render import RESULTS, load_rows, selected_rows
from nasrlm.report.render import load_predictions as load_predictions  # re-exported

# Reading results back (load_rows, load_predictions, selected_rows) lives in report_render; imported here
# so that ``from nasrlm.report.runner import ...`` gives the whole API.
__all__ = [
    "ReportConfig",
    "ReportError",
    "RlmSettings",
    "check_extras",
    "evaluate_surrogate",
    "run_report",
    "run_splits",
    "score",
    "within_group_tau",
]

RLM = "rlm"
SURROGATE = "surrogate"  # the predictor name of rows made by evaluate_surrogate
# Defaults sized to finish in under 30 minutes on 2 shared cores (gcn and brp fit slower than gin for
# no better ranking; the full benchmark, experiments/report_nb201.py, runs them all).
DEFAULT_PREDICTORS = ("rlm", "gin", "mlp", "gbdt", "flops")
DEFAULT_SIZES = (156, 781)
INTERVAL_LEVELS = (0.5, 0.9)
LATENCY_TOLERANCE = 0.1  # "within ±10 %": |predicted - true| <= 0.1 * |true|


class ReportError(NasrlmError):
    """A report cannot run as asked (e.g. a predictor whose optional dependency is not installed)."""


@dataclass(frozen=True)
class ReportConfig:
    space: str = "nb201"
    objectives: tuple[str, ...] = ("acc", "latency_pixel3")
    predictors: tuple[str, ...] = DEFAULT_PREDICTORS
    train_sizes: tuple[int, ...] = DEFAULT_SIZES
    seeds: int = 3
    test_size: int | None = None  # None: every arch not trained on
    baseline_epochs: int | None = None  # overrides the trained baselines' epochs (quick runs only)
    # How the RLM is fine-tuned and sampled (nasrlm.predictors.rlm).
    rlm: RlmSettings = dataclasses.field(default_factory=RlmSettings)

    def __post_init__(self) -> None:
        for name in ("objectives", "predictors", "train_sizes"):
            object.__setattr__(self, name, tuple(getattr(self, name)))  # lists from callers; keep it hashable
        from nasrlm.predictors.registry import available_predictors

        valid = available_predictors()
        unknown = [name for name in self.predictors if name not in valid]
        if unknown or not self.predictors:
            raise ValueError(
                f"unknown predictor(s) {', '.join(unknown) or '(none)'}; valid predictors: {', '.join(valid)}"
            )
        if not self.objectives or not self.train_sizes or min(self.train_sizes) < 2:
            raise ValueError("need at least one objective and one train size, and train sizes of at least 2")
        if self.seeds < 1:
            raise ValueError(f"seeds must be at least 1, got {self.seeds}")
        if self.test_size is not None and self.test_size < 2:
            raise ValueError(f"test size must be at least 2, got {self.test_size}")

    def run_key(self, predictor: str) -> str:
        """What a row's numbers depend on besides (predictor, size, seed): rows of other settings are
        never reused, so one OUT folder can safely be rerun with changed options."""
        settings: dict[str, Any] = {"space": self.space, "objectives": self.objectives, "test_size": self.test_size}
        if predictor == RLM:
            settings["rlm"] = dataclasses.asdict(self.rlm)
        elif self.baseline_epochs is not None and _has_field(predictor, "epochs"):
            settings["epochs"] = self.baseline_epochs
        return _digest(settings)

    def predictor_options(self, predictor: str) -> dict[str, Any]:
        """The settings ``make_predictor`` gets for ``predictor`` (besides space and seed): the RLM's
        settings; a trained baseline's epochs when overridden (else its own benchmark settings)."""
        if predictor == RLM:
            return dataclasses.asdict(self.rlm)
        if self.baseline_epochs is not None and _has_field(predictor, "epochs"):
            return {"epochs": self.baseline_epochs}
        return {}


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def _has_field(predictor: str, field: str) -> bool:
    from baselines import predictor_class

    return field in {f.name for f in dataclasses.fields(predictor_class(predictor).config_type)}


# --- scores ---------------------------------------------------------------------------------------
def score(
    objective: str,
    truth: np.ndarray,
    predicted: np.ndarray,
    intervals: Mapping[float, tuple[np.ndarray, np.ndarray]] | None = None,
) -> dict[str, float]:
    """Kendall's tau-b and Spearman's rho; for ``latency_*`` the share of predictions within ±10 % of
    the truth; with intervals, the share of truths inside each. All from :mod:`nasrlm.core.metrics`
    (its rule: 0.0 when a side is constant, NaN when a side holds NaN)."""
    out = {"kendall": kendall_tau(truth, predicted), "spearman": spearman_rho(truth, predicted)}
    if objective.startswith("latency_"):
        out["within10"] = within_fraction(truth, predicted, rel=LATENCY_TOLERANCE)
    for level, (low, high) in (intervals or {}).items():
        out[f"cover{round(100 * level)}"] = interval_coverage(truth, low, high)
    return out


# --- results on disk ------------------------------------------------------------------------------
def _add_row(out: Path, row: dict[str, Any]) -> None:
    # Rewrite the whole (small) file atomically: a crash can lose the newest row, never corrupt the file.
    # Under a lock, so that processes sharing OUT (e.g. one per predictor) never drop each other's rows.
    from filelock import FileLock

    path = out / RESULTS
    with FileLock(out / ".results.lock"):
        old = path.read_text() if path.is_file() else ""
        atomic_write_text(path, old + json.dumps(row) + "\n")


def _save_predictions(out: Path, name: str, arrays: dict[str, np.ndarray]) -> str:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]  # numpy's stub types the kwargs too narrowly
    atomic_write_bytes(out / "predictions" / name, buffer.getvalue())
    return f"predictions/{name}"


def measured_archs(space: Any, objectives: Sequence[str]) -> np.ndarray:
    """Indices of the archs with a value of every objective: all of a complete table; where a table
    measured some metric on part of its archs only, splits are drawn from those that have it."""
    values = np.stack([np.asarray(space.values(o), dtype=np.float64) for o in objectives], axis=1)
    return np.flatnonzero(~np.isnan(values).any(axis=1))


def _test_indices(rest: np.ndarray, test_size: int | None, seed: int) -> np.ndarray:
    if test_size is None or test_size >= len(rest):
        return rest
    return np.sort(np.random.default_rng(1000 + seed).choice(rest, test_size, replace=False))


def within_group_tau(truth: np.ndarray, predicted: np.ndarray, groups: np.ndarray) -> float:
    """Mean Kendall tau-b within each group of at least two items whose true values are not all equal
    (how well a predictor ranks the items of one group, e.g. the solutions of one problem); NaN if none."""
    taus = []
    for group in np.unique(groups):
        mine = groups == group
        if np.count_nonzero(mine) >= 2 and np.ptp(truth[mine]) > 0:
            taus.append(kendall_tau(truth[mine], predicted[mine]))
    return float(np.mean(taus)) if taus else float("nan")


def _evaluate(
    model: PredictorProtocol,
    space: Any,
    objectives: Sequence[str],
    test_idx: np.ndarray,
    groups: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, float]], float]:
    """Predict the test archs; return the arrays to save, the scores and the predict time. Predictors
    with uncertainty also get their central intervals saved and scored (calibration). With ``groups``
    (one label per arch), also the mean within-group Kendall tau (``group_kendall``)."""
    archs = space.archs()
    started = time.perf_counter()
    predicted = model.predict([archs[i] for i in test_idx], return_std=True)
    predict_s = time.perf_counter() - started
    intervals = {level: predicted.interval(level) for level in INTERVAL_LEVELS} if predicted.has_uncertainty else {}
    arrays: dict[str, np.ndarray] = {"test_idx": test_idx.astype(np.int64)}
    scores = {}
    for objective in objectives:
        truth = np.asarray(space.values(objective), dtype=np.float64)[test_idx]
        pred = np.asarray(predicted.point[objective], dtype=np.float64)
        arrays[f"true_{objective}"], arrays[f"pred_{objective}"] = truth, pred
        mine = {level: pair[objective] for level, pair in intervals.items()}
        for level, (low, high) in mine.items():
            arrays[f"low{round(100 * level)}_{objective}"] = np.asarray(low, dtype=np.float64)
            arrays[f"high{round(100 * level)}_{objective}"] = np.asarray(high, dtype=np.float64)
        scores[objective] = score(objective, truth, pred, mine)
        if groups is not None:
            scores[objective]["group_kendall"] = within_group_tau(truth, pred, groups[test_idx])
    return arrays, scores, predict_s


def _make_predictor(name: str, config: ReportConfig, seed: int) -> PredictorProtocol:
    return make_predictor(name, space=config.space, seed=seed, **config.predictor_options(name))


def run_report(
    config: ReportConfig,
    out: str | Path,
    *,
    progress: bool = True,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every (predictor, size, seed) of ``config`` not yet in ``OUT/results.jsonl``; return all of
    the config's rows. Seed-major order, so that a stopped run already covers every size once."""
    from baselines import random_split
    from search_spaces import get_tabular_space

    space = get_tabular_space(config.space, "a report")
    pool = measured_archs(space, config.objectives)
    if len(pool) < max(config.train_sizes) + 2:
        raise ValueError(
            f"only {len(pool):,} archs of {space.name} have {', '.join(config.objectives)}: "
            f"train sizes must lie between 2 and {len(pool) - 2}"
        )

    def split(size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        train_pos, rest_pos = random_split(len(pool), size, seed)
        return pool[train_pos], pool[rest_pos]

    return run_splits(
        config,
        out,
        space,
        split,
        lambda name, seed: _make_predictor(name, config, seed),
        progress=progress,
        on_row=on_row,
    )


def run_splits(
    config: Any,
    out: str | Path,
    space: Any,
    split: Callable[[int, int], tuple[np.ndarray, np.ndarray]],
    make: Callable[[str, int], PredictorProtocol],
    *,
    groups: np.ndarray | None = None,
    progress: bool = True,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """The loop every report shares: for each (predictor, size, seed) of ``config`` (its ``predictors``,
    ``train_sizes``, ``seeds``, ``objectives``, ``test_size`` and ``run_key``) not yet in
    ``OUT/results.jsonl``, fit ``make(name, seed)`` on the train indices of ``split(size, seed)`` and
    score it on (a ``test_size`` of) the rest. ``space`` is anything with ``archs()`` (what predictors
    take, by index) and ``values(objective)``: a tabular search space, or a table of texts
    (:class:`nasrlm.report.text_data.TextTable`). ``groups``: a label per index, for within-group tau."""
    from tqdm.auto import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    done = {(r["predictor"], r["size"], r["seed"], r["key"]) for r in load_rows(out)}
    pending = [
        (name, size, seed)
        for seed in range(config.seeds)
        for size in config.train_sizes
        for name in config.predictors
        if (name, size, seed, config.run_key(name)) not in done
    ]
    archs = space.archs()
    bar = tqdm(pending, desc="report", unit="run", disable=not progress)
    for name, size, seed in bar:
        bar.set_postfix_str(f"{name} N={size} seed={seed}")
        train_idx, rest = split(size, seed)
        test_idx = _test_indices(rest, config.test_size, seed)
        model = make(name, seed)
        targets = {o: np.asarray(space.values(o), dtype=np.float64)[train_idx] for o in config.objectives}
        started = time.perf_counter()
        model.fit([archs[i] for i in train_idx], targets)
        fit_s = time.perf_counter() - started
        arrays, scores, predict_s = _evaluate(model, space, config.objectives, test_idx, groups)
        key = config.run_key(name)
        row = {
            "predictor": name,
            "size": size,
            "seed": seed,
            "key": key,
            "n_train": len(train_idx),
            "n_test": len(test_idx),
            "fit_s": fit_s,
            "predict_s": predict_s,
            "scores": scores,
            "predictions": _save_predictions(out, f"{name}_n{size}_s{seed}_{key}.npz", arrays),
        }
        if model.fit_info:
            row["fit_info"] = dict(model.fit_info)
        _add_row(out, row)
        if on_row is not None:
            on_row(row)
    return selected_rows(config, load_rows(out))


def evaluate_surrogate(
    path: str | Path,
    out: str | Path,
    *,
    space: str,
    objectives: Sequence[str],
    test_size: int | None,
    samples: int = 32,
    seed: int = 0,
) -> dict[str, Any]:
    """Score a saved surrogate (no fitting) on archs it was not trained on, when its metadata lists
    them (``meta["train_archs"]``: arch indices); otherwise on a random ``test_size`` of all archs."""
    from nasrlm.predictors.rlm import RlmPredictor
    from nasrlm.rlm.surrogate import Surrogate
    from search_spaces import get_tabular_space

    surrogate = Surrogate.load(path)
    chosen = get_tabular_space(space, "a report")
    config_file = json.loads((Path(path) / "config.json").read_text())
    trained = surrogate.meta.get("train_archs")
    held_out = np.setdiff1d(measured_archs(chosen, objectives), np.asarray(trained or [], dtype=np.int64))
    settings = {"space": space, "objectives": list(objectives), "test_size": test_size, "samples": samples}
    key = _digest({"weights": config_file.get("weights_sha256"), "seed": seed, **settings})
    out = Path(out)
    size = len(trained) if trained is not None else int(surrogate.meta.get("trained_on", 0))
    for row in load_rows(out):
        if row["predictor"] == SURROGATE and row["key"] == key:
            return row
    model = RlmPredictor.for_space(chosen, seed=seed, surrogate=surrogate, objectives=objectives, samples=samples)
    arrays, scores, predict_s = _evaluate(model, chosen, objectives, _test_indices(held_out, test_size, seed))
    row = {
        "predictor": SURROGATE,
        "size": size,
        "seed": seed,
        "key": key,
        "n_test": len(arrays["test_idx"]),
        "held_out_known": trained is not None,
        "fit_s": 0.0,
        "predict_s": predict_s,
        "scores": scores,
        "predictions": _save_predictions(out, f"surrogate_{key}.npz", arrays),
    }
    _add_row(out, row)
    return row


# --- optional dependencies --------------------------------------------------------------------------
# Predictors whose modules come with the [baselines] extra, not with the main install.
_EXTRA_MODULES = {
    "gin": "torch_geometric",
    "gcn": "torch_geometric",
    "brp": "torch_geometric",
    "gbdt": "lightgbm",
    "token_gbdt": "lightgbm",
}


def check_extras(predictors: Sequence[str]) -> None:
    """Name the extra a chosen predictor needs now, not as an import error after the first runs."""
    import importlib

    missing: dict[str, list[str]] = {}
    for name in predictors:
        module = _EXTRA_MODULES.get(name)
        if module is None:
            continue
        try:
            importlib.import_module(module)
        except ImportError:
            missing.setdefault(module, []).append(name)
    if missing:
        needing = ", ".join(name for names in missing.values() for name in names)
        usable = ",".join(name for name in predictors if not any(name in names for names in missing.values()))
        raise ReportError(
            f"predictor(s) {needing} need {', '.join(missing)} from the [baselines] extra: "
            f"pip install -e '.[baselines]' (or 'nasrlm[baselines]'), or leave them out, e.g. --predictors "
            f"{usable or 'rlm,mlp,flops'}"
        )
