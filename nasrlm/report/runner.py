"""``nasrlm report``: the RLM surrogate against baseline predictors, on identical random splits.

For every train size N and seed s, ``baselines.random_split(space.size, N, s)`` picks the training
archs, shared by every predictor; each predictor is fitted on all objectives at once and tested on
the remaining archs (all of them, or a random ``test_size`` of them, also shared). Each finished
(predictor, N, s) run writes its per-arch predictions to ``OUT/predictions/*.npz`` and then one row
of scores to ``OUT/results.jsonl``, both atomically; a rerun skips the rows already there, so an
interrupted report continues where it stopped. Scores come straight from scipy. Reading the results
back and rendering them (``report.md``, ``report.html``, plots) live in :mod:`nasrlm.report.render`.
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
from nasrlm.report.render import RESULTS, load_rows, selected_rows
from nasrlm.report.render import load_predictions as load_predictions  # re-exported
from nasrlm.rlm.recipe import DEFAULT_RECIPE

# Reading results back (load_rows, load_predictions, selected_rows) lives in report_render; imported here
# so that ``from nasrlm.report.runner import ...`` gives the whole API.
__all__ = ["ReportConfig", "RlmAdapter", "RlmSettings", "evaluate_surrogate", "register", "run_report", "score"]

RLM = "rlm"
SURROGATE = "surrogate"  # the predictor name of rows made by evaluate_surrogate
# Defaults sized to finish in under 30 minutes on 2 shared cores (gcn and brp fit slower than gin for
# no better ranking; the full benchmark, experiments/report_nb201.py, runs them all).
DEFAULT_PREDICTORS = ("rlm", "gin", "mlp", "gbdt", "flops")
DEFAULT_SIZES = (156, 781)
INTERVAL_LEVELS = (0.5, 0.9)
LATENCY_TOLERANCE = 0.1  # "within ±10 %": |predicted - true| <= 0.1 * true


@dataclass(frozen=True)
class RlmSettings:
    """How the RLM is fine-tuned and sampled in a report: the shipped recipe (nasrlm.rlm.recipe) by default."""

    init: str | None = None  # saved surrogate to start from; None: the shipped pretrained default
    epochs: int = DEFAULT_RECIPE.epochs
    batch_size: int = DEFAULT_RECIPE.batch_size
    lr: float = DEFAULT_RECIPE.lr
    patience: int = DEFAULT_RECIPE.patience
    freeze_encoder: bool = DEFAULT_RECIPE.freeze_encoder
    samples: int = DEFAULT_RECIPE.num_samples

    def __post_init__(self) -> None:
        if min(self.epochs, self.batch_size, self.samples) < 1 or self.patience < 0 or self.lr <= 0:
            raise ValueError("RLM epochs, batch_size and samples must be >= 1, patience >= 0 and lr > 0")


@dataclass(frozen=True)
class ReportConfig:
    space: str = "nb201"
    objectives: tuple[str, ...] = ("acc", "latency_pixel3")
    predictors: tuple[str, ...] = DEFAULT_PREDICTORS
    train_sizes: tuple[int, ...] = DEFAULT_SIZES
    seeds: int = 3
    test_size: int | None = None  # None: every arch not trained on
    baseline_epochs: int | None = None  # overrides the trained baselines' epochs (quick runs only)
    rlm: RlmSettings = RlmSettings()

    def __post_init__(self) -> None:
        for name in ("objectives", "predictors", "train_sizes"):
            object.__setattr__(self, name, tuple(getattr(self, name)))  # lists from callers; keep it hashable
        from baselines import available_predictors

        valid = [RLM, *available_predictors()]
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


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def _has_field(predictor: str, field: str) -> bool:
    from baselines import predictor_class

    return field in {f.name for f in dataclasses.fields(predictor_class(predictor).config_type)}


# --- the RLM behind the baselines' fit/predict interface ------------------------------------------
class RlmAdapter:
    """``fit(archs, {objective: values})`` / ``predict(archs) -> {objective: values}`` like a baseline;
    ``intervals`` holds the central intervals of the last prediction, for calibration."""

    def __init__(self, space: str, settings: RlmSettings, seed: int, surrogate: Any = None) -> None:
        self.space, self.settings, self.seed, self.surrogate = space, settings, seed, surrogate
        self.objectives: tuple[str, ...] = tuple(surrogate.objectives) if surrogate is not None else ()
        self.intervals: dict[float, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
        self.fit_info: dict[str, Any] = {}

    def fit(self, archs: Sequence[Any], targets: Mapping[str, np.ndarray]) -> RlmAdapter:
        from nasrlm.rlm.surrogate import Surrogate

        s = self.settings
        # A fresh copy of the starting model every run: runs must not leak into each other.
        surrogate = Surrogate.load(s.init) if s.init else Surrogate.pretrained()
        surrogate.space_name = self.space
        fields = ("epochs", "batch_size", "lr", "patience", "freeze_encoder")
        config = DEFAULT_RECIPE.train_config(seed=self.seed, **{f: getattr(s, f) for f in fields})
        result = surrogate.fit(list(archs), dict(targets), config)
        self.fit_info = {"epochs": result.epochs, "stopped": result.stopped, "best_val_loss": result.best_val_loss}
        self.surrogate, self.objectives = surrogate, tuple(targets)
        return self

    def predict(self, archs: Sequence[Any]) -> dict[str, np.ndarray]:
        prediction = self.surrogate.predict(
            list(archs),
            num_samples=self.settings.samples,
            objectives=self.objectives,
            seed=self.seed,
            joint=DEFAULT_RECIPE.joint,
        )
        self.intervals = {level: prediction.interval(level) for level in INTERVAL_LEVELS}
        return prediction.point


# --- scores ---------------------------------------------------------------------------------------
def score(
    objective: str,
    truth: np.ndarray,
    predicted: np.ndarray,
    intervals: Mapping[float, tuple[np.ndarray, np.ndarray]] | None = None,
) -> dict[str, float]:
    """Kendall's tau-b and Spearman's rho (scipy; NaN when a side is constant); for ``latency_*`` the
    share of predictions within ±10 % of the truth; with intervals, the share of truths inside each."""
    from scipy.stats import kendalltau, spearmanr

    out = {
        "kendall": float(kendalltau(truth, predicted).statistic),
        "spearman": float(spearmanr(truth, predicted).statistic),
    }
    if objective.startswith("latency_"):
        out["within10"] = float(np.mean(np.abs(predicted - truth) <= LATENCY_TOLERANCE * np.abs(truth)))
    for level, (low, high) in (intervals or {}).items():
        out[f"cover{round(100 * level)}"] = float(np.mean((low <= truth) & (truth <= high)))
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
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(out / "predictions" / name, buffer.getvalue())
    return f"predictions/{name}"


def _test_indices(rest: np.ndarray, test_size: int | None, seed: int) -> np.ndarray:
    if test_size is None or test_size >= len(rest):
        return rest
    return np.sort(np.random.default_rng(1000 + seed).choice(rest, test_size, replace=False))


def _evaluate(
    model: Any, space: Any, objectives: Sequence[str], test_idx: np.ndarray
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, float]], float]:
    """Predict the test archs; return the arrays to save, the scores and the predict time."""
    archs = space.archs()
    started = time.perf_counter()
    predicted = model.predict([archs[i] for i in test_idx])
    predict_s = time.perf_counter() - started
    intervals = getattr(model, "intervals", None) or {}
    arrays: dict[str, np.ndarray] = {"test_idx": test_idx.astype(np.int64)}
    scores = {}
    for objective in objectives:
        truth = np.asarray(space.values(objective), dtype=np.float64)[test_idx]
        pred = np.asarray(predicted[objective], dtype=np.float64)
        arrays[f"true_{objective}"], arrays[f"pred_{objective}"] = truth, pred
        mine = {level: pair[objective] for level, pair in intervals.items()}
        for level, (low, high) in mine.items():
            arrays[f"low{round(100 * level)}_{objective}"] = np.asarray(low, dtype=np.float64)
            arrays[f"high{round(100 * level)}_{objective}"] = np.asarray(high, dtype=np.float64)
        scores[objective] = score(objective, truth, pred, mine)
    return arrays, scores, predict_s


def _make_predictor(name: str, config: ReportConfig, seed: int) -> Any:
    if name == RLM:
        return RlmAdapter(config.space, config.rlm, seed)
    from baselines import get_predictor

    options: dict[str, Any] = {"seed": seed}
    if config.baseline_epochs is not None and _has_field(name, "epochs"):
        options["epochs"] = config.baseline_epochs
    return get_predictor(name, **options)  # otherwise the baselines' own (benchmark) settings


def run_report(
    config: ReportConfig,
    out: str | Path,
    *,
    progress: bool = True,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every (predictor, size, seed) of ``config`` not yet in ``OUT/results.jsonl``; return all of
    the config's rows. Seed-major order, so that a stopped run already covers every size once."""
    from tqdm.auto import tqdm

    from baselines import random_split
    from search_spaces import get_space

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    space = get_space(config.space)
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
        train_idx, rest = random_split(space.size, size, seed)
        test_idx = _test_indices(rest, config.test_size, seed)
        model = _make_predictor(name, config, seed)
        targets = {o: np.asarray(space.values(o), dtype=np.float64)[train_idx] for o in config.objectives}
        started = time.perf_counter()
        model.fit([archs[i] for i in train_idx], targets)
        fit_s = time.perf_counter() - started
        arrays, scores, predict_s = _evaluate(model, space, config.objectives, test_idx)
        key = config.run_key(name)
        row = {
            "predictor": name,
            "size": size,
            "seed": seed,
            "key": key,
            "n_test": len(test_idx),
            "fit_s": fit_s,
            "predict_s": predict_s,
            "scores": scores,
            "predictions": _save_predictions(out, f"{name}_n{size}_s{seed}_{key}.npz", arrays),
        }
        if getattr(model, "fit_info", None):
            row["fit_info"] = model.fit_info
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
    from nasrlm.rlm.surrogate import Surrogate
    from search_spaces import get_space

    surrogate = Surrogate.load(path)
    surrogate.space_name = space
    chosen = get_space(space)
    config_file = json.loads((Path(path) / "config.json").read_text())
    trained = surrogate.meta.get("train_archs")
    held_out = np.setdiff1d(np.arange(chosen.size), np.asarray(trained or [], dtype=np.int64))
    settings = {"space": space, "objectives": list(objectives), "test_size": test_size, "samples": samples}
    key = _digest({"weights": config_file.get("weights_sha256"), "seed": seed, **settings})
    out = Path(out)
    size = len(trained) if trained is not None else int(surrogate.meta.get("trained_on", 0))
    for row in load_rows(out):
        if row["predictor"] == SURROGATE and row["key"] == key:
            return row
    model = RlmAdapter(space, RlmSettings(samples=samples), seed, surrogate=surrogate)
    model.objectives = tuple(objectives)
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


# --- command line ---------------------------------------------------------------------------------
def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


# Predictors whose modules come with the [baselines] extra, not with the main install.
_EXTRA_MODULES = {"gin": "torch_geometric", "gcn": "torch_geometric", "brp": "torch_geometric", "gbdt": "lightgbm"}


def _check_extras(predictors: Sequence[str]) -> None:
    """Name the extra a chosen predictor needs now, not as an import error after the first runs."""
    import importlib

    from nasrlm.cli import CliError

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
        raise CliError(
            f"predictor(s) {needing} need {', '.join(missing)} from the [baselines] extra: "
            f"pip install -e '.[baselines]' (or 'nasrlm[baselines]'), or leave them out, e.g. --predictors "
            f"{usable or 'rlm,mlp,flops'}"
        )


def _config_from_args(args: Any) -> ReportConfig:
    from nasrlm.cli import CliError, _space

    space = _space(args.space)
    objectives = _csv(args.objectives)
    unknown = [name for name in objectives if name not in space.metrics]
    if unknown or not objectives:
        raise CliError(
            f"unknown objective {', '.join(unknown) or '(none)'!r} for space {args.space!r}; "
            f"valid: {', '.join(space.metrics)}"
        )
    try:
        sizes = [int(part) for part in _csv(args.train_sizes)]
    except ValueError:
        raise CliError(
            f"--train-sizes must be comma-separated integers, e.g. 156,781; got {args.train_sizes!r}"
        ) from None
    if not sizes or not all(2 <= n <= space.size - 2 for n in sizes):
        raise CliError(
            f"train sizes must lie between 2 and {space.size - 2} (the space has {space.size:,} archs); "
            f"got {args.train_sizes!r}"
        )
    if args.rlm_init is not None and not (Path(args.rlm_init) / "config.json").is_file():
        raise CliError(f"--rlm-init {args.rlm_init!r} is not a saved surrogate (no config.json there)")
    _check_extras(_csv(args.predictors))
    try:
        return ReportConfig(
            space=args.space,
            objectives=tuple(dict.fromkeys(objectives)),
            predictors=tuple(dict.fromkeys(_csv(args.predictors))),
            train_sizes=tuple(dict.fromkeys(sizes)),
            seeds=args.seeds,
            test_size=args.test_size,
            baseline_epochs=args.epochs,
            rlm=RlmSettings(init=args.rlm_init, epochs=args.rlm_epochs, samples=args.rlm_samples),
        )
    except ValueError as exc:  # the configs' own checks name the problem
        raise CliError(str(exc)) from None


def _report_surrogate(args: Any, out: Path) -> list[Path]:
    from nasrlm.cli import CliError, _space
    from nasrlm.report.render import render_report
    from nasrlm.rlm.surrogate import Surrogate, SurrogateLoadError

    space = _space(args.space)
    try:
        decodes = Surrogate.load(args.surrogate).objectives
    except SurrogateLoadError as exc:
        raise CliError(str(exc)) from None
    objectives = _csv(args.objectives)
    missing = [name for name in objectives if name not in decodes or name not in space.metrics]
    if missing or not objectives:
        raise CliError(
            f"objective(s) {', '.join(missing) or '(none)'} not both decoded by the surrogate and metrics of "
            f"{args.space!r}; the surrogate decodes: {', '.join(decodes)}"
        )
    row = evaluate_surrogate(
        args.surrogate, out, space=args.space, objectives=objectives, test_size=args.test_size, samples=args.rlm_samples
    )
    held = "archs it was not trained on" if row["held_out_known"] else "random archs (its training archs unknown)"
    settings = {
        "surrogate": str(args.surrogate),
        "space": args.space,
        "test archs": f"{row['n_test']:,} {held}",
        "samples per prediction": f"{args.rlm_samples}, median as point",
    }
    return render_report(out, [row], objectives, settings, title=f"Surrogate report: {Path(args.surrogate).name}")


def cmd_report(args: Any) -> None:
    import torch

    from nasrlm.cli import check_output_folder
    from nasrlm.report.render import describe, render_report

    torch.set_num_threads(args.threads)  # the RLM's; the baselines set their own (1 by default)
    out = check_output_folder(args.out)
    if args.surrogate is not None:
        paths = _report_surrogate(args, out)
    else:
        config = _config_from_args(args)
        try:
            rows = run_report(config, out, progress=not args.quiet)
        except KeyboardInterrupt:
            # Finished runs are on disk; render them so that the stopped report is still readable.
            rows = selected_rows(config, load_rows(out))
            if rows:
                render_report(out, rows, config.objectives, describe(config), title="nasrlm report (partial)")
            raise
        paths = render_report(out, rows, config.objectives, describe(config))
    print(f"wrote {', '.join(str(p) for p in paths)}")


def register(commands: Any) -> None:
    """Add ``nasrlm report`` to the CLI's subcommands."""
    from nasrlm.cli import positive_int, samples_int, threads_int, whole_number

    p = commands.add_parser(
        "report",
        help="compare the RLM with baseline predictors on identical splits; write report.md and report.html",
        description=(
            "Fits every predictor on identical random splits (same archs, same seeds), tests each on the "
            "remaining archs, and writes OUT/report.md and a self-contained OUT/report.html: Kendall tau and "
            "Spearman per objective and train size, tau against train size, predicted-vs-true plots, latency "
            "within 10 %, calibration of the RLM's intervals, fit and predict times. Finished runs are kept in "
            "OUT/results.jsonl; rerunning continues from them. With --surrogate, evaluates one saved surrogate."
        ),
    )
    p.add_argument("--space", default="nb201")
    p.add_argument("--objectives", default="acc,latency_pixel3")
    p.add_argument("--predictors", default=",".join(DEFAULT_PREDICTORS), help="rlm and/or baselines, comma-separated")
    p.add_argument("--train-sizes", default=",".join(map(str, DEFAULT_SIZES)))
    p.add_argument("--seeds", type=positive_int, default=3, help="seeds 0 .. SEEDS-1")
    p.add_argument(
        "--test-size",
        type=whole_number(2),  # a rank correlation needs two points
        default=None,
        help="test on this many random held-out archs (default: all)",
    )
    p.add_argument("--out", default="report", help="folder for results, plots and the report (default: report)")
    p.add_argument("--rlm-samples", type=samples_int, default=RlmSettings.samples, help="samples per RLM prediction")
    p.add_argument("--rlm-epochs", type=positive_int, default=RlmSettings.epochs)
    p.add_argument("--rlm-init", help="fine-tune this saved surrogate instead of the shipped default")
    p.add_argument(
        "--epochs", type=positive_int, default=None, help="override the trained baselines' epochs (quick runs)"
    )
    p.add_argument("--surrogate", help="only evaluate this saved surrogate on held-out archs (no fitting)")
    p.add_argument("--threads", type=threads_int, default=1, help="torch threads for the RLM (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=cmd_report)
