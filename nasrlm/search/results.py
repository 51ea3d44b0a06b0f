"""What a search leaves behind: the found front (CSV, JSON), every trial, a plot and a summary.

The front lists each Pareto-optimal trial's architecture, its measured values and what the RLM
sampler predicted for it when it proposed it (median and 90 % interval), so a user sees how far
to trust the surrogate. For benchmark spaces the space's true front is drawn too, and the found
hypervolume is divided by the true one.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nasrlm.core.cache import atomic_write_bytes, atomic_write_text
from nasrlm.search.pareto import hypervolume, pareto_mask, to_minimization
from nasrlm.search.sampler import stored_predictions
from search_spaces.base import TabularSpace

if TYPE_CHECKING:
    from nasrlm.search.runner import SearchConfig

__all__ = ["SearchResult", "exact_front", "summarize", "trials_frame", "write_results"]


@dataclass
class SearchResult:
    study: Any  # optuna.Study
    front: Any  # pandas.DataFrame: architecture, measured values, predictions with uncertainty
    trials: Any  # pandas.DataFrame of every finished trial
    reference: tuple[float, ...]
    hypervolume: float
    exact_hypervolume: float | None  # the space's true front, for benchmark spaces
    seconds: float
    seconds_per_trial: float

    @property
    def hypervolume_ratio(self) -> float | None:
        if not self.exact_hypervolume:
            return None
        return self.hypervolume / self.exact_hypervolume


def _maximize(space: Any, objectives: Sequence[str]) -> list[bool]:
    return [space.metric(name).direction == "maximize" for name in objectives]


@functools.cache
def _exact_shipped(
    space_name: str, objectives: tuple[str, ...], reference: tuple[float, ...]
) -> tuple[np.ndarray, float]:
    from search_spaces import get_tabular_space

    return _exact(get_tabular_space(space_name, "an exact front"), objectives, reference)


def _exact(space: Any, objectives: tuple[str, ...], reference: tuple[float, ...]) -> tuple[np.ndarray, float]:
    values = np.stack([np.asarray(space.values(name), dtype=np.float64) for name in objectives], axis=1)
    points = to_minimization(values, _maximize(space, objectives))
    ref = to_minimization(np.asarray(reference), _maximize(space, objectives))
    measured = np.flatnonzero(~np.isnan(points).any(axis=1))  # a table may measure a metric on some archs only
    front = measured[pareto_mask(points[measured])]
    return front, hypervolume(points[front], ref)


def exact_front(space: Any, objectives: Sequence[str], reference: Sequence[float]) -> tuple[np.ndarray, float] | None:
    """Indices of the space's true Pareto front and its hypervolume (None where the space has no table,
    or an objective is a device measured on only some of its archs)."""
    if not isinstance(space, TabularSpace):
        return None
    key = (tuple(objectives), tuple(float(r) for r in reference))
    if all(name in space.metrics for name in objectives):  # shipped tables never change: cached
        return _exact_shipped(space.name, *key)
    try:
        return _exact(space, *key)  # a measured device: its table may have grown since
    except KeyError:  # UnmeasuredArchError: no complete table, so no exact front
        return None


def _complete(study: Any) -> list[Any]:
    import optuna

    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))


def _feasible(trial: Any) -> bool:
    return all(c <= 0 for c in trial.constraints.values())


def summarize(
    study: Any, space: Any, objectives: Sequence[str], reference: Sequence[float], *, exact: bool = True
) -> dict[str, Any]:
    """Front size, hypervolume and (with ``exact``, for benchmark spaces) its ratio to the true front's."""
    trials = [t for t in _complete(study) if _feasible(t)]
    maximize = _maximize(space, objectives)
    ref = to_minimization(np.asarray(reference, dtype=np.float64), maximize)
    points = to_minimization(np.array([t.values for t in trials]).reshape(-1, len(objectives)), maximize)
    mask = pareto_mask(points) if len(points) else np.zeros(0, dtype=bool)
    out: dict[str, Any] = {
        "finished": len(_complete(study)),
        "feasible": len(trials),
        "front_size": int(mask.sum()),
        "hypervolume": hypervolume(points[mask], ref) if len(points) else 0.0,
        "exact_hypervolume": None,
        "hypervolume_ratio": None,
    }
    known = exact_front(space, objectives, reference) if exact else None
    if known is not None:
        out["exact_hypervolume"] = known[1]
        out["hypervolume_ratio"] = out["hypervolume"] / known[1] if known[1] > 0 else None
    return out


def trials_frame(study: Any, objectives: Sequence[str], front: set[int] | None = None) -> Any:
    """One row per finished trial: number, architecture, values, feasibility and the RLM's prediction."""
    import pandas as pd

    rows = []
    predictions = stored_predictions(study)
    for trial in _complete(study):
        row: dict[str, Any] = {"trial": trial.number, "arch": trial.user_attrs.get("arch", json.dumps(trial.params))}
        row |= dict(zip(objectives, trial.values, strict=True))
        extra = {k: v for k, v in trial.user_attrs.items() if k not in ("arch", *objectives)}
        row |= extra
        row["feasible"] = _feasible(trial)
        prediction = predictions.get(trial.number)
        for name in objectives:
            for stat in ("median", "q05", "q95"):
                row[f"pred_{name}_{stat}"] = prediction[name][stat] if prediction else math.nan
        if front is not None:
            row["on_front"] = trial.number in front
        rows.append(row)
    return pd.DataFrame(rows)


def _front_numbers(study: Any, space: Any, objectives: Sequence[str]) -> set[int]:
    trials = [t for t in _complete(study) if _feasible(t)]
    if not trials:
        return set()
    points = to_minimization(np.array([t.values for t in trials]), _maximize(space, objectives))
    return {t.number for t, keep in zip(trials, pareto_mask(points), strict=True) if keep}


def _plot(frame: Any, space: Any, objectives: Sequence[str], reference: Sequence[float], title: str) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x_name, y_name = objectives[1], objectives[0]  # e.g. latency across, accuracy up
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=110)
    known = exact_front(space, objectives, reference)
    if known is not None:
        xs = np.asarray(space.values(x_name))[known[0]]
        ys = np.asarray(space.values(y_name))[known[0]]
        order = np.argsort(xs)
        ax.step(xs[order], ys[order], where="post", color="black", ls="--", lw=1, label="true front (whole space)")
    ax.scatter(frame[x_name], frame[y_name], s=10, color="0.65", label=f"queried ({len(frame)})")
    front = frame[frame["on_front"]].sort_values(x_name)
    # The found front as a staircase that runs on to the reference (the region it dominates).
    ax.step([*front[x_name], reference[1]], [*front[y_name], *front[y_name].tail(1)], where="post", color="tab:red")
    ax.scatter(front[x_name], front[y_name], s=24, color="tab:red", zorder=3, label=f"found front ({len(front)})")
    ax.axvline(reference[1], color="tab:blue", lw=0.8, ls=":")
    ax.axhline(reference[0], color="tab:blue", lw=0.8, ls=":", label="reference point")
    units = {name: space.metric(name).unit for name in objectives}
    ax.set_xlabel(f"{x_name} ({units[x_name]})")
    ax.set_ylabel(f"{y_name} ({units[y_name]})")
    # Zoom on the region the hypervolume counts: points beyond the reference add nothing to it.
    top = max(float(frame[y_name].max()), reference[0], float(ys.max()) if known is not None else -math.inf)
    span = max(top - reference[0], 1e-9)
    if space.metric(y_name).direction == "maximize":
        ax.set_ylim(reference[0] - 0.25 * span, top + 0.05 * span)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def write_results(
    study: Any,
    space: Any,
    config: SearchConfig,
    *,
    reference: tuple[float, ...],
    seconds: float,
    seconds_per_trial: float,
) -> SearchResult:
    """Build the result; with ``config.out``, write front.csv/json, trials.csv, front.png and summary.json."""

    objectives = list(config.objectives)
    front_numbers = _front_numbers(study, space, objectives)
    frame = trials_frame(study, objectives, front_numbers)
    front = frame[frame["on_front"]].drop(columns="on_front") if len(frame) else frame
    summary = summarize(study, space, objectives, reference)
    summary |= {
        "study": study.study_name,
        "sampler": config.sampler,
        "objectives": objectives,
        "reference": list(reference),
        "constraints": list(config.constraints),
        "budget": config.budget,
        "seconds": seconds,
        "seconds_per_trial": seconds_per_trial,
    }
    if config.out is not None:
        out = Path(config.out)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "front.csv", front.to_csv(index=False))
        atomic_write_text(out / "front.json", front.to_json(orient="records", indent=1))
        atomic_write_text(out / "trials.csv", frame.drop(columns="on_front").to_csv(index=False))
        atomic_write_text(out / "summary.json", json.dumps(summary, indent=1))
        if len(objectives) >= 2 and len(frame):
            title = f"{config.space}: {config.sampler}, {summary['finished']} queries"
            atomic_write_bytes(out / "front.png", _plot(frame, space, objectives, reference, title))
    return SearchResult(
        study=study,
        front=front.reset_index(drop=True),
        trials=frame,
        reference=reference,
        hypervolume=summary["hypervolume"],
        exact_hypervolume=summary["exact_hypervolume"],
        seconds=seconds,
        seconds_per_trial=seconds_per_trial,
    )
