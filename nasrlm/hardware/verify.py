"""``nasrlm verify``: measure candidates' latency, compare it with the surrogate's, store it as a device.

>>> nasrlm verify --space nb201 --archs finalists.txt --device-name laptop --out verify_laptop

Each candidate is measured as latency benchmarks do (see :mod:`nasrlm.hardware.latency`); the medians are
stored as the device metric ``latency_<NAME>`` (see :mod:`nasrlm.hardware.devices`), and ``--out``
gets the measured and predicted latency per candidate (``latency.csv``), their Spearman rank
correlation and the share of predictions within 10 % (``summary.json``), a scatter plot
(``scatter.png``), and ``fit_data.csv``, from which ``nasrlm fit --init ... --targets latency_<NAME>``
teaches a surrogate the new device (:func:`fit_device` does the same in Python).
"""

from __future__ import annotations

import dataclasses
import json
import platform
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nasrlm.core.errors import NasrlmError
from nasrlm.core.metrics import kendall_tau, spearman_rho, within_fraction

__all__ = [
    "VerifyError",
    "VerifyReport",
    "archs_from_file",
    "archs_from_study",
    "decode_objectives",
    "few_shot_config",
    "fit_device",
    "hardware_name",
    "verify",
]

FALLBACK_OBJECTIVE = "ort_latency_ms"  # what the shipped default predicts: onnxruntime, 1 thread, CPU


class VerifyError(NasrlmError):
    """Candidates that cannot be read (a bad arch file or study) or a surrogate objective that does not exist."""


@dataclass(frozen=True)
class VerifyReport:
    metric: str
    objective: str | None
    measured_ms: np.ndarray
    iqr_ms: np.ndarray
    predicted_ms: np.ndarray | None
    spearman: float
    kendall: float
    within_10pct: float

    def summary(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "objective": self.objective,
            "archs": len(self.measured_ms),
            "spearman": self.spearman,
            "kendall": self.kendall,
            "within_10pct": self.within_10pct,
            "median_measured_ms": float(np.median(self.measured_ms)),
            "median_relative_iqr": float(np.median(self.iqr_ms / self.measured_ms)),
        }


# --- candidates ----------------------------------------------------------------------------------
def _arch(space: Any, value: Any, where: str) -> Any:
    try:
        if isinstance(value, (int, np.integer)) or (isinstance(value, str) and value.strip().isdigit()):
            return space.arch(int(value))
        if isinstance(value, str):
            return space.parse(value.strip())
    except (ValueError, IndexError, TypeError) as exc:
        raise VerifyError(f"{where}: {exc}") from None
    raise VerifyError(f"{where}: expected an arch string or index, got {value!r}")


def archs_from_file(space: Any, path: str | Path) -> list[Any]:
    """Architectures listed in a text file (one string or index a line), a CSV with an ``arch`` (or
    ``index``) column, or a JSON list (of strings, indices or objects with an ``arch`` key)."""
    file = Path(path)
    if not file.is_file():
        raise VerifyError(f"arch file not found: {path}")
    values: list[tuple[str, Any]] = []
    if file.suffix == ".csv":
        import pandas as pd

        frame = pd.read_csv(file, dtype=str, keep_default_na=False)
        column = next((c for c in ("arch", "arch_str", "index") if c in frame.columns), None)
        if column is None:
            raise VerifyError(f"{path} has no 'arch' or 'index' column; columns: {', '.join(map(str, frame.columns))}")
        values = [(f"{path} row {k + 1}", v) for k, v in enumerate(frame[column])]
    elif file.suffix in (".json", ".jsonl"):
        try:
            text = file.read_text()
            items = [json.loads(line) for line in text.splitlines() if line.strip()]
            items = items if file.suffix == ".jsonl" else json.loads(text)
        except ValueError as exc:
            raise VerifyError(f"cannot read {path} as JSON: {exc}") from None
        if isinstance(items, dict) and "arch" in items:
            items = items["arch"]
        if not isinstance(items, list):
            raise VerifyError(
                f"{path}: expected a JSON list of archs (or {{'arch': [...]}}), got {type(items).__name__}"
            )
        for k, item in enumerate(items):
            value = item.get("arch", item.get("index")) if isinstance(item, dict) else item
            values.append((f"{path} item {k + 1}", value))
    else:
        for k, line in enumerate(file.read_text().splitlines(), start=1):
            if line.strip() and not line.lstrip().startswith("#"):
                values.append((f"{path} line {k}", line))
    archs = list(dict.fromkeys(_arch(space, value, where) for where, value in values))  # once each, in order
    if not archs:
        raise VerifyError(f"{path} lists no architectures")
    return archs


def archs_from_study(space: Any, study_name: str, storage: str) -> list[Any]:
    """Architectures of an Optuna study's trials: ``trial.user_attrs["arch"]``, else the trial's params."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        names = optuna.get_all_study_names(storage)
        raise VerifyError(
            f"no study {study_name!r} in {storage}; studies there: {', '.join(names) or '(none)'}"
        ) from None
    except Exception as exc:  # a bad URL or an unreachable database: the storage's own message says which
        raise VerifyError(f"cannot open Optuna storage {storage!r}: {exc}") from None
    archs = []
    for trial in study.trials:
        where = f"study {study_name!r} trial {trial.number}"
        if "arch" in trial.user_attrs:
            archs.append(_arch(space, trial.user_attrs["arch"], where))
        elif trial.params:
            try:
                archs.append(space.from_params(trial.params))
            except (ValueError, KeyError) as exc:
                raise VerifyError(f"{where}: {exc}") from None
    archs = list(dict.fromkeys(archs))
    if not archs:
        raise VerifyError(f"study {study_name!r} has no trial with an arch (user_attrs['arch'] or params)")
    return archs


# --- measuring and comparing ---------------------------------------------------------------------
def hardware_name(device: str) -> str:
    """The CPU model (from /proc/cpuinfo where there is one) or the CUDA device's name."""
    if device == "cuda":
        import torch

        return torch.cuda.get_device_name()
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), None)
    return model or platform.processor() or platform.machine()


def _objective(surrogate: Any, metric: str, requested: str | None) -> str:
    choices = surrogate.objectives
    if requested is not None:
        if requested not in choices:
            raise VerifyError(f"the surrogate has no objective {requested!r}; its objectives: {', '.join(choices)}")
        return requested
    for name in (metric, FALLBACK_OBJECTIVE):
        if name in choices:
            return name
    raise VerifyError(
        f"the surrogate predicts neither {metric} nor {FALLBACK_OBJECTIVE}; choose --objective from: "
        + ", ".join(choices)
    )


def decode_objectives(surrogate: Any, objective: str) -> list[str]:
    """The objectives to decode for a prediction of ``objective``, in the model's order.

    The RLM decodes objectives one after another, each conditioned on those before it, and learns
    the sequences it is trained on. Asking for one objective alone gives a sequence it may never
    have seen (the shipped default, always trained with ``flops`` first, then answers with FLOP-like
    numbers). So decode what its rows were trained with together (the surrogate's own rule).
    """
    decoded: list[str] = surrogate.objectives_to_decode([objective])
    return decoded


def _has_index(space: Any, arch: Any) -> bool:
    """Whether ``arch`` has an index in ``space``'s benchmark table (every arch of a complete one)."""
    has_data = getattr(space, "has_data", None)
    return has_data is None or bool(has_data(arch))


def verify(
    space: Any,
    archs: Sequence[Any],
    config: Any,
    metric: str,
    *,
    surrogate: Any = None,
    objective: str | None = None,
    samples: int = 32,
    table: str | Path | None = None,
    store: bool = True,
    progress: bool = False,
) -> VerifyReport:
    """Measure ``archs`` with ``config`` (:class:`~nasrlm.hardware.latency.LatencyConfig`), store them as ``metric``
    and compare with the surrogate's prediction (of ``objective``, by default ``metric`` if it has it,
    else ``ort_latency_ms``)."""
    from nasrlm.hardware import devices as device_metrics
    from nasrlm.hardware.latency import measure

    results = measure(space, archs, config, progress=progress)
    measured = np.array([r.median_ms for r in results])
    iqr = np.array([r.iqr_ms for r in results])
    if store:
        how = {k: v for k, v in asdict(config).items() if k != "seed"} | {"hardware": hardware_name(config.device)}
        # A device table is keyed by the benchmark's arch index: archs outside a partial table are
        # measured and compared, not stored.
        rows = {
            space.index(a): (str(a), r.median_ms, r.iqr_ms, len(r.times_ms))
            for a, r in zip(archs, results, strict=True)
            if _has_index(space, a)
        }
        device_metrics.record(space.name, metric, rows, {"measurement": how, "tool": "nasrlm verify"}, table)
    predicted, chosen = None, None
    if surrogate is not None:
        chosen = _objective(surrogate, metric, objective)
        decoded = decode_objectives(surrogate, chosen)
        prediction = surrogate.predict(
            space.to_texts(archs), objectives=decoded, num_samples=samples, progress=progress
        )
        predicted = prediction.point[chosen]
        # nasrlm.core.metrics' rule: 0.0 for a constant side, NaN with fewer than 2 archs.
        spearman, kendall = spearman_rho(measured, predicted), kendall_tau(measured, predicted)
        within = within_fraction(measured, predicted)
    else:
        spearman = kendall = within = float("nan")
    return VerifyReport(metric, chosen, measured, iqr, predicted, spearman, kendall, within)


def few_shot_config(n: int) -> Any:
    """Training settings for ``n`` shots: about 150 steps of 4, nothing held out (too few to spare)."""
    from nasrlm.rlm.recipe import DEFAULT_RECIPE

    config = DEFAULT_RECIPE.train_config(
        steps=150,
        rows=n,
        batch_size=4,
        weight_decay=0.0,  # the pretrained weights are the prior to stay near, not zero
        # The recipe's dropout suits its 30 epochs; 150 steps on a few shots learned too little with
        # it (a toy space's fit on 18 archs predicted latencies of 1e303 ms).
        dropout=0.0,
        val_fraction=0.0,
        freeze_encoder=True,  # a few shots cannot retrain an encoder
    )
    return dataclasses.replace(config, epochs=max(10, config.epochs))


def fit_device(surrogate: Any, space: Any, metric: str, archs: Sequence[Any] | None = None, config: Any = None) -> Any:
    """Teach ``surrogate`` the device metric ``metric`` of ``space`` from its measured table (all of it, or ``archs``).

    The new objective's embedding starts at the mean of the others (``RegressionLM.add_objective``)
    and the decoder, shared with every device the model knows, is fine-tuned on the measurements;
    the encoder stays frozen (:func:`few_shot_config`). Returns the :class:`~nasrlm.rlm.training.TrainResult`.

    Training only the new embedding was tried and rejected: on NB201 it left the predictions where
    the untrained embedding puts them (Spearman 0.927 before, 0.922 after 10-50 shots, and ~90x off
    in scale), so it learns nothing from the shots.
    """
    if archs is None:
        from nasrlm.hardware.devices import find_table

        table = find_table(space.name, metric)
        if table is None:
            raise ValueError(f"no measured table for {metric} of space {space.name!r}; run nasrlm verify first")
        archs = [space.arch(int(i)) for i in sorted(table.latency_ms)]
    values = space.query_many(archs, metric)
    return surrogate.fit(space.to_texts(archs), {metric: values}, config or few_shot_config(len(archs)))


# --- outputs -------------------------------------------------------------------------------------
def _scatter(path: Path, report: VerifyReport, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    x = report.measured_ms
    y = report.predicted_ms if report.predicted_ms is not None else x
    # Log axes show positive finite values only: a surrogate fitted on a few archs can predict a
    # non-positive latency, which the plot leaves out and says so (the table keeps every value).
    shown = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if not shown.any():
        ax.text(0.5, 0.5, "no positive predictions to show", ha="center", transform=ax.transAxes)
        ax.set_title(title)
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return
    if not shown.all():
        title = f"{title} ({int((~shown).sum())} not positive, not shown)"
    x, y = x[shown], y[shown]
    # Axes span the measured range (x100 either way); a wilder prediction is drawn at the edge.
    low = max(min(x.min(), y.min()), x.min() / 100) * 0.8
    high = min(max(x.max(), y.max()), x.max() * 100) * 1.25
    if ((y < low) | (y > high)).any():
        title = f"{title} ({int(((y < low) | (y > high)).sum())} beyond the axes, at the edge)"
    y = np.clip(y, low, high)
    line = np.geomspace(low, high, 50)
    ax.fill_between(line, line * 0.9, line * 1.1, color="tab:green", alpha=0.15, label="within ±10 %")
    ax.plot(line, line, color="tab:green", lw=1)
    ax.scatter(x, y, s=12, alpha=0.7)
    ax.set(xscale="log", yscale="log", xlim=(low, high), ylim=(low, high), title=title)
    ax.set_xlabel(f"measured {report.metric} (ms)")
    ax.set_ylabel(f"predicted {report.objective or '(no surrogate)'} (ms)")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_outputs(out: Path, space: Any, archs: Sequence[Any], report: VerifyReport, info: dict[str, Any]) -> None:
    import pandas as pd

    from nasrlm.core.cache import atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(
        {
            "index": pd.array([space.index(a) if _has_index(space, a) else None for a in archs], dtype="Int64"),
            "arch": [str(a) for a in archs],
            "measured_ms": report.measured_ms,
            "iqr_ms": report.iqr_ms,
        }
    )
    if report.predicted_ms is not None:
        frame["predicted_ms"] = report.predicted_ms
    atomic_write_text(out / "latency.csv", frame.to_csv(index=False))
    # What `nasrlm fit` reads: the network's ONNX text and the new device's latency.
    fit = pd.DataFrame({"text": space.to_texts(archs), report.metric: report.measured_ms})
    atomic_write_text(out / "fit_data.csv", fit.to_csv(index=False))
    atomic_write_text(out / "summary.json", json.dumps(report.summary() | info, indent=2, default=str) + "\n")
    title = f"{report.metric}: Spearman {report.spearman:.3f}, {100 * report.within_10pct:.0f}% within ±10%"
    _scatter(out / "scatter.png", report, title)
