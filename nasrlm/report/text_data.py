"""Reports on a table of text and numbers (``nasrlm report --data rows.jsonl --targets y``).

The same report as on a search space (:mod:`nasrlm.report.runner`, :mod:`nasrlm.report.render`), with
a JSONL or CSV file in place of the space: :class:`TextTable` looks like a tabular space to the
runner's shared loop (:func:`~nasrlm.report.runner.run_splits`): its "archs" are the rows' texts,
its values the target columns. Predictors: the RLM (a new model trained on the training rows as
``nasrlm fit`` makes one, or a saved surrogate fine-tuned with ``init``) and the text baselines of
:mod:`baselines.text_features` (``token_gbdt``, ``length``).

Splits: random rows (``baselines.random_split`` over the rows that have every target), or, with a
group column, whole groups (``random_split`` over the groups: every row of a training group is
trained on, every other group is held out), so that e.g. no problem's solutions are on both sides.
Train sizes then count groups, and the report adds the mean Kendall tau within each held-out group.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from nasrlm.core.predictor import PredictorProtocol
from nasrlm.predictors.rlm import RlmPredictor, RlmSettings
from nasrlm.report.runner import RLM, ReportError, run_splits

__all__ = [
    "DEFAULT_TEXT_PREDICTORS",
    "TextReportConfig",
    "TextTable",
    "default_train_sizes",
    "describe_text",
    "load_text_table",
    "run_text_report",
    "text_report_predictors",
]

DEFAULT_TEXT_PREDICTORS = ("rlm", "token_gbdt", "length")
DEFAULT_MAX_LENGTH = 512  # input tokens of a new RLM, as nasrlm fit


def text_report_predictors() -> list[str]:
    """The predictors a report on text can compare: the RLM and the baselines that read text."""
    from baselines.registry import text_predictors

    return [RLM, *text_predictors()]


# --- the table ----------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class TextTable:
    """Rows of text with numeric targets (and optionally a group label each), shaped like a tabular
    search space for the report's runner: ``archs()`` are the texts, ``values(target)`` a column."""

    name: str
    texts: list[str]
    targets: dict[str, np.ndarray]
    groups: np.ndarray | None = None
    group_column: str | None = None

    @property
    def size(self) -> int:
        return len(self.texts)

    @property
    def objectives(self) -> tuple[str, ...]:
        return tuple(self.targets)

    def archs(self) -> list[str]:
        return self.texts

    def values(self, objective: str) -> np.ndarray:
        return self.targets[objective]

    def usable_rows(self) -> np.ndarray:
        """Indices of the rows with a value of every target (a blank cell leaves its row out)."""
        values = np.stack(list(self.targets.values()), axis=1)
        return np.flatnonzero(np.isfinite(values).all(axis=1))

    def units(self) -> tuple[np.ndarray, np.ndarray | None]:
        """What a split draws from: the usable rows, or the groups among them (then also each usable
        row's group number)."""
        rows = self.usable_rows()
        if self.groups is None:
            return rows, None
        labels, of_row = np.unique(self.groups[rows], return_inverse=True)
        return np.arange(len(labels)), of_row

    @property
    def unit(self) -> str:
        return "rows" if self.groups is None else "groups"

    def split(self, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Train and held-out row indices: ``size`` random rows, or all rows of ``size`` random groups."""
        from baselines import random_split

        rows = self.usable_rows()
        units, of_row = self.units()
        if of_row is None:
            train, rest = random_split(len(rows), size, seed)
            return rows[train], rows[rest]
        train_groups, _ = random_split(len(units), size, seed)
        trained = np.isin(of_row, train_groups)
        return rows[trained], rows[~trained]

    def digest(self) -> str:
        """A fingerprint of the content (texts, targets, groups): results of other data are never reused."""
        digest = hashlib.sha256()
        for text in self.texts:
            digest.update(hashlib.sha256(text.encode()).digest())
        for name, values in self.targets.items():
            digest.update(name.encode() + b"\0" + np.ascontiguousarray(values, dtype=np.float64).tobytes())
        if self.groups is not None:
            digest.update(json.dumps([str(g) for g in self.groups]).encode())
        return digest.hexdigest()[:16]


def _columns(names: Sequence[Any]) -> str:
    shown = [repr(str(name)) for name in names]
    return ", ".join(shown[:20]) + (f", ... ({len(shown)} in all)" if len(shown) > 20 else "") or "(none)"


def load_text_table(
    path: str | Path, targets: Sequence[str], *, text_column: str = "text", group_column: str | None = None
) -> TextTable:
    """The rows of a ``.jsonl`` (or ``.json`` lines) or ``.csv`` file; every problem with the file is a
    :class:`~nasrlm.report.runner.ReportError` naming what is wrong and what would be valid."""
    import pandas as pd

    file = Path(path)
    if not file.is_file():
        raise ReportError(f"data file not found: {path} (give a .jsonl or .csv file of text and targets)")
    kind = "CSV" if file.suffix.lower() == ".csv" else "JSON lines"
    try:
        frame = pd.read_csv(file) if kind == "CSV" else pd.read_json(file, lines=True, dtype=False)
    except ValueError as exc:
        raise ReportError(f"cannot read {path} as {kind}: {str(exc).splitlines()[0]}") from None
    numeric = [c for c in frame.columns if c != text_column and pd.api.types.is_numeric_dtype(frame[c])]
    if text_column not in frame.columns:
        raise ReportError(
            f"{path} has no text column {text_column!r} (--text-column); columns: {_columns(frame.columns)}"
        )
    if not targets:
        raise ReportError(f"no target given; numeric columns of {path}: {_columns(numeric)}")
    for name in targets:
        if name not in frame.columns:
            raise ReportError(f"{path} has no target column {name!r}; numeric columns: {_columns(numeric)}")
        if name not in numeric or pd.api.types.is_bool_dtype(frame[name]):
            bad = next((v for v in frame[name] if not isinstance(v, (int, float)) or isinstance(v, bool)), None)
            raise ReportError(
                f"target column {name!r} of {path} is not numeric (e.g. {str(bad)[:40]!r}); "
                f"numeric columns: {_columns(numeric)}"
            )
    texts = frame[text_column]
    missing = [i + 1 for i, text in enumerate(texts) if not isinstance(text, str) or not text.strip()]
    if missing:
        rows = ", ".join(map(str, missing[:10])) + (", ..." if len(missing) > 10 else "")
        raise ReportError(
            f"{path}: {len(missing)} row(s) have no text in column {text_column!r} (row {rows}, counting data "
            "rows from 1); give every row a non-empty text"
        )
    groups = None
    if group_column is not None:
        if group_column not in frame.columns:
            raise ReportError(
                f"{path} has no group column {group_column!r} (--group-column); columns: {_columns(frame.columns)}"
            )
        column = frame[group_column]
        if column.isna().any():
            raise ReportError(
                f"group column {group_column!r} of {path} is empty in {int(column.isna().sum())} row(s); "
                "give every row a group"
            )
        groups = np.array([str(g) for g in column], dtype=object)
    values = {name: frame[name].to_numpy(dtype=np.float64) for name in dict.fromkeys(targets)}
    for name, array in values.items():
        if np.isinf(array).any():
            raise ReportError(f"target column {name!r} of {path} holds infinite values; give finite numbers")
    return TextTable(file.name, list(texts), values, groups, group_column)


# --- the RLM on text ----------------------------------------------------------------------------------
class _TextRlm(RlmPredictor):
    """The RLM of a text report: reads the texts as they are. Without ``settings.init`` each fit
    trains a new model on the training rows, as ``nasrlm fit`` does (BPE learned on their texts,
    encoder and decoder trained, a tenth of the rows held out for early stopping); with it, the saved
    surrogate is fine-tuned with the shipped recipe, as on a space."""

    def __init__(self, settings: RlmSettings, *, seed: int, max_length: int) -> None:
        super().__init__(list, settings, seed=seed)
        self.max_length = max_length

    def fit(self, archs: Sequence[Any], targets: Mapping[str, Any]) -> _TextRlm:
        if self.settings.init is not None:
            super().fit(archs, targets)
            return self
        from nasrlm.rlm.surrogate import Surrogate
        from nasrlm.rlm.text_tokenizer import TextTokenizerConfig
        from nasrlm.rlm.training import TrainConfig

        s, texts = self.settings, list(archs)
        surrogate = Surrogate.new(
            list(targets), texts, tokenizer=TextTokenizerConfig(max_length=self.max_length), seed=self.seed
        )
        config = TrainConfig(
            epochs=s.epochs, batch_size=s.batch_size, lr=s.lr, patience=s.patience, seed=self.seed, progress=False
        )
        result = surrogate.fit(texts, dict(targets), config)
        self.fit_info = {
            "epochs": result.epochs,
            "stopped": result.stopped,
            "best_val_loss": result.best_val_loss,
            "truncated_share": surrogate.meta.get("truncated_share"),
        }
        self.surrogate, self.objectives = surrogate, tuple(targets)
        return self


# --- the report ---------------------------------------------------------------------------------------
def default_train_sizes(table: TextTable) -> tuple[int, ...]:
    """A fifth and a half of the rows (or groups) that can be split, where that leaves 2 to test on."""
    units, _ = table.units()
    n = len(units)
    sizes = [size for size in (n // 5, n // 2) if 2 <= size <= n - 2]
    return tuple(dict.fromkeys(sizes))


@dataclass(frozen=True)
class TextReportConfig:
    """What a report on ``table`` runs: the same fields as :class:`~nasrlm.report.runner.ReportConfig`
    (``objectives`` are the table's targets), the RLM's settings, and ``max_length`` input tokens of a
    new RLM. Empty ``train_sizes``: :func:`default_train_sizes`."""

    table: TextTable
    predictors: tuple[str, ...] = DEFAULT_TEXT_PREDICTORS
    train_sizes: tuple[int, ...] = ()
    seeds: int = 3
    test_size: int | None = None
    rlm: RlmSettings = dataclasses.field(default_factory=RlmSettings)
    max_length: int = DEFAULT_MAX_LENGTH

    def __post_init__(self) -> None:
        object.__setattr__(self, "predictors", tuple(dict.fromkeys(self.predictors)))
        object.__setattr__(
            self, "train_sizes", tuple(dict.fromkeys(self.train_sizes or default_train_sizes(self.table)))
        )
        valid = text_report_predictors()
        unknown = [name for name in self.predictors if name not in valid]
        if unknown or not self.predictors:
            raise ValueError(
                f"unknown predictor(s) for text {', '.join(unknown) or '(none)'}; valid predictors: {', '.join(valid)}"
            )
        units, _ = self.table.units()
        n, unit = len(units), self.table.unit
        usable = len(self.table.usable_rows())
        where = f"{self.table.name} has {usable:,} rows with {', '.join(self.table.objectives)}" + (
            f" in {n:,} groups of {self.table.group_column!r}" if self.table.groups is not None else ""
        )
        if n < 4:
            raise ValueError(f"{where}: too few to split, need at least 4 {unit} (2 to train on, 2 to test on)")
        if not self.train_sizes or not all(2 <= size <= n - 2 for size in self.train_sizes):
            got = ",".join(map(str, self.train_sizes)) or "(none)"
            raise ValueError(f"train sizes count {unit} and must lie between 2 and {n - 2} ({where}); got {got}")
        if self.seeds < 1:
            raise ValueError(f"seeds must be at least 1, got {self.seeds}")
        if self.test_size is not None and self.test_size < 2:
            raise ValueError(f"test size must be at least 2, got {self.test_size}")
        if self.max_length < 5:
            raise ValueError(f"max_length must be at least 5 tokens, got {self.max_length}")

    @property
    def objectives(self) -> tuple[str, ...]:
        return self.table.objectives

    def run_key(self, predictor: str) -> str:
        """What a row's numbers depend on besides (predictor, size, seed): the data, the split, the
        test size and the predictor's settings."""
        t = self.table
        settings: dict[str, Any] = {
            "data": t.digest(),
            "targets": t.objectives,
            "groups": t.group_column,
            "test_size": self.test_size,
        }
        if predictor == RLM:
            settings["rlm"] = dataclasses.asdict(self.rlm)
            if self.rlm.init is None:
                settings["max_length"] = self.max_length
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]

    def make_predictor(self, name: str, seed: int) -> PredictorProtocol:
        if name == RLM:
            # _TextRlm.load (RlmPredictor's) returns an RlmPredictor, which the protocol's Self-typed
            # load does not see as the same class; the instance is a predictor all the same.
            return cast("PredictorProtocol", _TextRlm(self.rlm, seed=seed, max_length=self.max_length))
        from baselines import get_predictor

        return get_predictor(name, seed=seed)


def run_text_report(
    config: TextReportConfig,
    out: str | Path,
    *,
    progress: bool = True,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every (predictor, size, seed) of ``config`` not yet in ``OUT/results.jsonl`` (the runner's
    loop, on the table's texts); return all of the config's rows."""
    table = config.table
    return run_splits(
        config, out, table, table.split, config.make_predictor, groups=table.groups, progress=progress, on_row=on_row
    )


def describe_text(config: TextReportConfig) -> dict[str, str]:
    """The settings a reader needs to interpret a report on text."""
    t, r = config.table, config.rlm
    usable = len(t.usable_rows())
    if t.groups is None:
        split = "random rows (baselines.random_split over the rows, shared by every predictor)"
    else:
        groups = len(t.units()[0])
        split = (
            f"whole groups of {t.group_column!r} ({groups:,} groups): N counts training groups, "
            "all rows of the other groups are held out"
        )
    if r.init is None:
        rlm = (
            f"a new model per fit, as nasrlm fit makes (BPE on the training texts, {config.max_length} tokens), "
            f"trained {r.epochs} epochs max (a tenth of the rows held out, patience {r.patience}, "
            f"batch {r.batch_size}, lr {r.lr:g})"
        )
    else:
        rlm = (
            f"{r.init}, fine-tuned {r.epochs} epochs max (patience {r.patience}, batch {r.batch_size}, lr {r.lr:g}, "
            f"encoder {'frozen' if r.freeze_encoder else 'trained'})"
        )
    baselines = {
        "token_gbdt": "token_gbdt: LightGBM on characters, lines, tokens, distinct tokens and the counts of the "
        "200 tokens found in most training texts",
        "length": "length: a least-squares line through log(1 + characters)",
    }
    settings = {
        "data": f"{t.name}: {t.size:,} rows, {usable:,} with every target",
        "targets": ", ".join(t.objectives),
        "predictors": ", ".join(config.predictors),
        "split": split,
        "train sizes": ", ".join(str(n) for n in config.train_sizes) + f" {t.unit}",
        "seeds": str(config.seeds),
        "test rows": "all not trained on" if config.test_size is None else f"{config.test_size:,} random of the rest",
        "RLM": f"{rlm}; {r.samples} samples per prediction, median as point",
        "baselines": "; ".join(text for name, text in baselines.items() if name in config.predictors),
    }
    if RLM not in config.predictors:
        del settings["RLM"]
    if not settings["baselines"]:
        del settings["baselines"]
    return settings
