"""A prior mean for each objective from the costs line of a text: the decoder writes what it leaves.

The costed text form (:mod:`nasrlm.text.graph_costs`) states a network's MACs, parameters and
activations as numbers, and a model with value states reads them as a vector
(:meth:`nasrlm.rlm.model.BuiltinEncoder.text_values`, in decades). Much of a metric can be a smooth
trend in those three numbers: MACs alone rank FBNet's phone latency at Spearman .945 and a user's CNN
family's onnxruntime latency at .98 (experiments/results/bound_costs.txt, bench_own_space). A decoder
fine-tuned on 16-40 rows learns that trend through digit tokens slowly and imprecisely; a least-squares
line learns it from the same rows at once. So, per objective, a ridge regression of the target (its
log, where every value is positive: a power law in the stated decades) on the line's values is fitted
when the objective is first trained, and the decoder learns the residual, mapped onto the digit range
by its own transform (instead of the objective's :class:`~nasrlm.rlm.targets.TargetTransform`).
Prediction adds the decoded residual back. Where the line predicts little (NB201's accuracy), the
residual is as hard to decode as the target and the line's errors are added to the decoder's: a prior
is kept only where its leave-one-out R^2 on the training rows reaches the recipe's bar. R^2 says
whether the line beats a constant; whether it beats the decoder depends on how much the decoder learns
from the rows: on 16 TransNAS archs a line of R^2 .22 ranks at tau .63 while the decoder alone reaches
.24, and on 156 NB201 archs a line of R^2 .32 ranks at .48 while the decoder reaches .60. So where a
fit has few rows (up to :data:`CV_MAX_ROWS`) and the recipe asks for it (``line_prior_folds``), any
line better than the mean (R^2 >= 0) is instead kept unless the decoder alone ranks held-out rows
better by more than a standard error (:func:`compare_with_decoder`, :data:`DECODER_MARGIN`; under
:data:`CV_MIN_ROWS` rows, kept without a comparison).

Which line: the costs line's three values are one candidate; a network's op census (how many
convolutions of each kernel, pools, activations it runs: :func:`nasrlm.text.graph_costs.op_census`, a
function of the text) gives more, as counts are what some metrics follow where MACs say little (on 16
archs, NAS-Bench-101's accuracy its 3x3 convolutions, OFA-MobileNetV3's GPU latency its depthwise
kernels). In fits compared with the decoder, :meth:`LinePrior.select` keeps, of the line on the costs,
lines on every value (ridge penalties 1, 4, 16) and each value alone, the one of highest leave-one-out
R^2, each fitted to the targets' ranks (a diverged training run among a few rows is one low rank, not
a pull on the line), and a line that wins the comparison predicts alone (:attr:`LinePrior.point_from_line`),
its samples spread by its own leave-one-out errors; fits the bar decides keep the line on the costs,
fitted to the values (experiments/results/screen_census_line.txt, screen_rank_line.txt).

Like target transforms, a prior is fitted once and kept with the model, so a model fine-tuned again
keeps reading its own numbers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from nasrlm.core.metrics import spearman_rho
from nasrlm.rlm.targets import TargetTransform

__all__ = [
    "COSTS",
    "CV_MAX_ROWS",
    "CV_MIN_ROWS",
    "DECODER_MARGIN",
    "MIN_ROWS",
    "LineComparison",
    "LineFeatures",
    "LinePrior",
    "compare_with_decoder",
]

# The costs line's values, in the order a costed text states them (nasrlm.text.graph_costs).
COSTS = ("macs", "params", "activations")
CENSUS_PREFIX = "ops: "  # a census count's feature name: "ops: Conv 3x3"
_RIDGES = (1.0, 4.0, 16.0)  # penalties of the lines on every value that select() tries

# Fewer rows cannot tell a line that generalizes from one that fits them by chance: on 10 NB201 archs
# the line on latency_pixel3 reaches a leave-one-out R^2 of .56-.92 in 7 of 10 draws, yet ranks unseen
# archs at tau .59-.72 (experiments/results/line_prior_fit.txt), and the RLM sampler's first fit (10
# trials) would keep such a line for its whole study.
MIN_ROWS = 16
# Fits of up to this many rows compare a line with the decoder (one fit of a copy of it per fold:
# seconds at this size); larger fits keep the R^2 bar alone. On a subsample of a larger fit the
# comparison would judge a decoder that learned from fewer rows than the real one: NB201's accuracy
# line, which the decoder beats at 156 archs (tau .60 against .48), won on 64 of them in one of four
# splits and cost that split .09.
CV_MAX_ROWS = 128
# The decoder replaces the line only where it ranks held-out rows better by more than this many
# standard errors (the one-standard-error rule, the line being the simpler model): on 16 rows the
# pooled held-out Spearman of either side is uncertain by about .2, and a plain "better" chose a
# decoder at tau .24 over a line at .59 (NB101's accuracy; experiments/results/screen_rank_line.txt).
DECODER_MARGIN = 1.0
# Fewer rows than this keep any line better than the mean without a comparison: on 16 rows, in every
# validation fit (4 of 48) where the decoder beat the line by the margin, it then ranked the test archs
# .07-.21 below the line (experiments/results/screen_rank_line.txt). Also spares the folds' fits.
CV_MIN_ROWS = 2 * MIN_ROWS


@dataclass(frozen=True)
class LineFeatures:
    """What a line can be fitted on, one row per text: named columns (``values`` is [N, len(names)]).

    The costs line's values (in decades, as the model reads them) and, where asked for, the op census
    of each text (``log(1 + count)``: a power law in counts, and 0 for an op a text does not run).
    """

    names: tuple[str, ...]
    values: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.values.shape[1] != len(self.names):
            raise ValueError(f"need one column per name: {self.values.shape} for {len(self.names)} names")

    @classmethod
    def from_costs(cls, costs: np.ndarray, census: Sequence[Mapping[str, int]] | None = None) -> LineFeatures:
        """The costs line's values ([N, k]: its last k values) and, if given, each text's op census."""
        costs = np.asarray(costs, dtype=np.float64)
        if costs.ndim != 2 or costs.shape[1] > len(COSTS):
            raise ValueError(f"need the costs line's values as [N, k <= {len(COSTS)}], got {costs.shape}")
        names = COSTS[len(COSTS) - costs.shape[1] :]
        if census is None:
            return cls(names, costs)
        kinds = sorted({kind for counts in census for kind in counts})
        counts = np.array([[counts.get(kind, 0) for kind in kinds] for counts in census], dtype=np.float64)
        counts = counts.reshape(len(census), len(kinds))
        return cls((*names, *(CENSUS_PREFIX + kind for kind in kinds)), np.hstack([costs, np.log1p(counts)]))

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, rows: np.ndarray | slice) -> LineFeatures:
        return LineFeatures(self.names, self.values[rows])

    def columns(self, names: Sequence[str]) -> np.ndarray:
        """The named columns, [N, len(names)]; a census kind these texts never run is all zeros."""
        out = np.zeros((len(self.values), len(names)))
        for j, name in enumerate(names):
            if name in self.names:
                out[:, j] = self.values[:, self.names.index(name)]
            elif not name.startswith(CENSUS_PREFIX):
                raise ValueError(f"no line value {name!r}; these texts state {', '.join(self.names)}")
        return out


@dataclass(frozen=True)
class LinePrior:
    """``scale(y) ~ bias + weights . features``, with ``scale`` the log where every training value is
    positive (a latency or a parameter count is a power law in MACs: a line in decades), else the
    identity; the residual reaches the decoder through ``residual``, a transform onto the digit range.

    ``features`` are one row per text: a :class:`LineFeatures` table, of which the prior reads the
    columns it was fitted on (:attr:`names`), or those columns as an array. An objective with a prior
    is written through it instead of its :class:`TargetTransform`.
    """

    weights: tuple[float, ...]
    bias: float
    log: bool
    residual: TargetTransform
    loo_r2: float = -np.inf  # the line's leave-one-out R^2 (in ``scale``) on the rows it was fitted on
    names: tuple[str, ...] = COSTS  # the values it weighs (priors saved before the census: the costs)
    # The point is the line's; the samples spread by its held-out errors, in the order the decoder drew
    # them. What a fit keeps where the decoder alone did not rank held-out rows clearly better than the
    # line alone (compare_with_decoder): what was compared is then what predicts. A decoder that
    # learns the residual of 16-100 rows fits their noise: kept with its residual, NB101's accuracy
    # line ranked unseen archs .07-.10 below the line alone (experiments/results/screen_census_line.txt).
    point_from_line: bool = False
    # The line's leave-one-out errors on its rows (in ``scale``, sorted): with point_from_line, the
    # samples' spread. The decoder's residual spread around a line's point is that of a model that
    # learned the rows' noise: on a CNN family's 40 networks its 50 % / 90 % intervals covered 39 % /
    # 75 % of unseen latencies, these errors' 47 % / 88 % (experiments/results/screen_rank_line.txt).
    held_out_errors: tuple[float, ...] = ()
    ranks: bool = False  # fitted to the targets' ranks (fit's ``ranks``)

    @classmethod
    def fit(
        cls, values: np.ndarray, features: LineFeatures | np.ndarray, ridge: float = 1.0, *, ranks: bool = False
    ) -> LinePrior:
        """Ridge regression on standardized features (``ridge`` is the penalty in units of one row's
        squared error: with 16 rows and three near-collinear values, NB201's MACs and parameters, the
        unpenalized line would trade huge opposite weights), every column of ``features`` (an array's
        columns are the costs line's values, as many as it has). :attr:`loo_r2` says how well it
        predicts rows it was not fitted on, :attr:`held_out_errors` by how much.

        ``ranks``: the line is fitted to the normal scores of the targets' ranks, then mapped onto
        the targets by least squares (a positive slope: the order is the rank line's), and
        :attr:`loo_r2` is the rank line's. One diverged training run (NB201 and NB101 hold accuracies
        of 10 % among 85-94 %) then moves the line as much as any other row; a line on the values
        turns towards it."""
        values = np.asarray(values, dtype=np.float64)
        if isinstance(features, LineFeatures):
            names, features = features.names, features.values
        else:
            features = np.asarray(features, dtype=np.float64)
            k = features.shape[-1] if features.ndim == 2 else 0
            names = COSTS[len(COSTS) - k :] if k <= len(COSTS) else tuple(f"value {j}" for j in range(k))
        if features.ndim != 2 or len(features) != len(values):
            raise ValueError(f"need one feature row per target: {features.shape} for {len(values)} targets")
        log = bool(len(values) > 0 and (values > 0).all())
        target = np.log(values) if log else values
        fitted = _normal_scores(target) if ranks else target
        center, scale = features.mean(0), features.std(0)
        scale = np.where(scale > 1e-9, scale, np.inf)  # a constant value carries nothing: weight 0
        x = np.hstack([np.ones((len(target), 1)), (features - center) / scale])
        penalty = ridge * np.diag([0.0] + [1.0] * features.shape[1])  # the intercept is not shrunk
        inverse = np.linalg.pinv(x.T @ x + penalty)
        coef = inverse @ x.T @ fitted
        line = x @ coef
        # Leave-one-out predictions of a linear smoother, without refitting: y_i - e_i / (1 - H_ii).
        leverage = np.einsum("ij,jk,ik->i", x, inverse, x)
        spread = float(((fitted - fitted.mean()) ** 2).sum())
        if len(target) < MIN_ROWS or spread == 0.0 or (leverage > 1 - 1e-9).any():
            loo_r2, held_out = -np.inf, line  # too few rows to tell (or nothing to explain)
        else:
            held_out = fitted - (fitted - line) / (1.0 - leverage)
            loo_r2 = 1.0 - float(((fitted - held_out) ** 2).sum()) / spread
        slope, intercept = _onto(target, line) if ranks else (1.0, 0.0)
        coef = slope * coef + np.eye(len(coef))[0] * intercept
        weights = coef[1:] / scale
        bias = float(coef[0] - weights @ center)
        residual = target - (bias + features @ weights)
        errors = np.sort(target - (intercept + slope * held_out)) if np.isfinite(loo_r2) else np.zeros(0)
        transform = TargetTransform.fit(residual, "auto")
        return cls(
            tuple(float(w) for w in weights),
            bias,
            log,
            transform,
            loo_r2,
            tuple(names),
            held_out_errors=tuple(float(e) for e in errors),
            ranks=ranks,
        )

    @classmethod
    def select(cls, values: np.ndarray, features: LineFeatures, *, ranks: bool = True) -> LinePrior:
        """Of the line on the costs line's values, lines on every value (ridge penalties 1, 4 and 16)
        and each value alone, the one of highest leave-one-out R^2 (ties: the earlier, the costs first),
        each fitted to the targets' ranks (``ranks``, as :meth:`fit`'s): on the few-shot transfer
        targets' validation splits, ranks raised the chosen line's mean tau from .649 to .675 and
        NB201's accuracy at 100 archs from .418 to .578 (experiments/results/screen_rank_line.txt).

        Choosing one of some twenty lines by R^2 on the same rows flatters it a little; the recipe's
        bar, or the comparison with the decoder on held-out rows (:func:`compare_with_decoder`), then
        decides whether it is kept.
        """
        values = np.asarray(values, dtype=np.float64)
        costs = [name for name in COSTS if name in features.names]
        lines = [cls.fit(values, _only(features, costs), ranks=ranks)] if costs else []
        lines += [cls.fit(values, features, ridge, ranks=ranks) for ridge in _RIDGES]
        varied = [name for j, name in enumerate(features.names) if np.ptp(features.values[:, j]) > 0]
        lines += [cls.fit(values, _only(features, [name]), ranks=ranks) for name in varied]
        return max(lines, key=lambda line: line.loo_r2)  # max keeps the first of equals

    def _line(self, features: LineFeatures | np.ndarray) -> np.ndarray:
        matrix = features.columns(self.names) if isinstance(features, LineFeatures) else features
        return self.bias + np.asarray(matrix, dtype=np.float64) @ np.array(self.weights)

    def mean(self, features: LineFeatures | np.ndarray) -> np.ndarray:
        """The prior's prediction for each row of ``features``, in the objective's units."""
        line = self._line(features)
        return np.exp(np.clip(line, -700, 700)) if self.log else line

    def forward(self, values: np.ndarray, features: LineFeatures | np.ndarray) -> np.ndarray:
        """What the decoder writes for these targets: the residual from the line, on the digit range."""
        values = np.asarray(values, dtype=np.float64)
        scaled = np.log(np.maximum(values, 1e-300)) if self.log else values
        return self.residual.forward(scaled - self._line(features))

    def inverse(self, written: np.ndarray, features: LineFeatures | np.ndarray) -> np.ndarray:
        """Targets from what the decoder wrote; ``written`` is [N] or [N, samples] (with
        :attr:`point_from_line`, one row's samples keep their spread around the line)."""
        written = np.asarray(written, dtype=np.float64)
        line = self._line(features)
        residual = self.residual.inverse(written)
        if self.point_from_line and written.ndim == 1:
            residual = np.zeros_like(residual)
        elif self.point_from_line and self.held_out_errors:
            # The decoder orders a row's samples (and so their dependence on other objectives'); the
            # line's held-out errors set how far they spread. A new row's error falls below the k-th
            # smallest of n with probability k / (n + 1): the samples, evenly from the first to the
            # last level, sit at those quantiles of the errors (so the samples' 5 % and 95 % quantiles
            # are the errors' (n + 1)-quantiles, as in a conformal interval, not the narrower empirical ones).
            order = np.argsort(np.argsort(residual, axis=-1, kind="stable"), axis=-1)
            count = residual.shape[-1]
            levels = order / (count - 1) if count > 1 else np.full(order.shape, 0.5)
            errors = np.array(self.held_out_errors)
            positions = np.clip(levels * (len(errors) + 1) - 1, 0, len(errors) - 1)
            residual = np.interp(positions, np.arange(len(errors)), errors)
        elif self.point_from_line:  # saved without its errors: the decoder's spread around the point
            residual = residual - np.median(residual, axis=-1, keepdims=True)
        scaled = residual + (line[:, None] if written.ndim == 2 else line)
        return np.exp(np.clip(scaled, -700, 700)) if self.log else scaled

    def to_dict(self) -> dict:
        return {
            "weights": list(self.weights),
            "bias": self.bias,
            "log": self.log,
            "residual": self.residual.to_dict(),
            "loo_r2": self.loo_r2,
            "names": list(self.names),
            "point_from_line": self.point_from_line,
            "held_out_errors": list(self.held_out_errors),
            "ranks": self.ranks,
        }

    @classmethod
    def from_dict(cls, data: dict) -> LinePrior:
        weights = tuple(float(w) for w in data["weights"])
        residual = TargetTransform.from_dict(data["residual"])
        return cls(
            weights,
            float(data["bias"]),
            bool(data["log"]),
            residual,
            float(data.get("loo_r2", -np.inf)),
            tuple(data.get("names", COSTS)),
            bool(data.get("point_from_line", False)),
            tuple(float(e) for e in data.get("held_out_errors") or ()),
            bool(data.get("ranks", False)),
        )


def _normal_scores(values: np.ndarray) -> np.ndarray:
    """Each value's rank as a standard normal quantile (ties share their mean rank)."""
    ranks = stats.rankdata(values)
    return stats.norm.ppf((ranks - 0.5) / len(values))


def _onto(target: np.ndarray, line: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of ``target ~ line`` by least squares, the slope kept positive (a rank
    line's order is what was fitted; where the values disagree, a small slope keeps it)."""
    spread = float(line.std())
    if len(target) < 2 or spread == 0.0:
        return 0.0, float(target.mean()) if len(target) else 0.0
    slope = float(np.cov(target, line, bias=True)[0, 1]) / spread**2
    slope = max(slope, 0.05 * float(target.std()) / spread, 1e-12)
    return slope, float(target.mean() - slope * line.mean())


def _only(features: LineFeatures, names: Sequence[str]) -> LineFeatures:
    return LineFeatures(tuple(names), features.columns(names))


@dataclass(frozen=True)
class LineComparison:
    """How an objective's decoder alone and its line alone ranked the same held-out rows (Spearman,
    pooled over the folds), and the bootstrap standard error of their difference."""

    decoder: float
    line: float
    standard_error: float

    @property
    def decoder_wins(self) -> bool:
        """The decoder beats the line by more than :data:`DECODER_MARGIN` standard errors."""
        return self.decoder - self.line > DECODER_MARGIN * self.standard_error

    def to_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


def compare_with_decoder(
    values: Mapping[str, np.ndarray],
    features: LineFeatures | np.ndarray,
    decoder_predictions: Callable[[np.ndarray, np.ndarray], Mapping[str, np.ndarray]],
    *,
    folds: int,
    seed: int,
    max_rows: int = CV_MAX_ROWS,
    min_rows: int = CV_MIN_ROWS,
) -> dict[str, LineComparison]:
    """Per objective, how its decoder alone and its line alone rank held-out rows.

    Rows with every value finite (at most ``max_rows`` of them, drawn with ``seed``) are split into
    ``folds``; for each fold, ``decoder_predictions(fit_rows, held_rows)`` (indices into ``features``)
    fits the decoder without any prior on the other folds' rows and returns its point predictions of
    each objective on the held-out ones, and a line is chosen on the same rows (:meth:`LinePrior.select`;
    an array of ``features`` is the costs line's values). Each side's held-out predictions, pooled
    over the folds, are ranked against the truth (Spearman), and the rows are resampled (200 times,
    the same draws for both sides) for the standard error of the difference. Fewer rows than
    ``min_rows`` (or than ``folds`` folds of two) compare nothing (an empty mapping).
    """
    if not isinstance(features, LineFeatures):
        features = LineFeatures.from_costs(features)
    names = list(values)
    stacked = np.stack([np.asarray(values[name], dtype=np.float64) for name in names], axis=1)
    if len(features) != len(stacked):
        raise ValueError(f"need one feature row per target: {len(features)} rows for {len(stacked)} targets")
    rows = np.flatnonzero(np.isfinite(stacked).all(axis=1))
    if folds < 2 or len(rows) < max(2 * folds, min_rows):
        return {}
    rng = np.random.default_rng(seed)
    rows = rng.permutation(rows)[:max_rows]
    fold = np.arange(len(rows)) % folds
    decoded = np.zeros((len(rows), len(names)))
    lined = np.zeros((len(rows), len(names)))
    for k in range(folds):
        fit_rows, held_rows = rows[fold != k], rows[fold == k]
        predicted = decoder_predictions(fit_rows, held_rows)
        for j, name in enumerate(names):
            decoded[fold == k, j] = predicted[name]
            line = LinePrior.select(stacked[fit_rows, j], features[fit_rows])
            lined[fold == k, j] = line.mean(features[held_rows])
    truth = stacked[rows]
    draws = rng.integers(0, len(rows), size=(200, len(rows)))
    comparisons = {}
    for j, name in enumerate(names):
        truth, by_decoder, by_line = stacked[rows, j], decoded[:, j], lined[:, j]
        differences = [spearman_rho(truth[d], by_decoder[d]) - spearman_rho(truth[d], by_line[d]) for d in draws]
        comparisons[name] = LineComparison(
            decoder=spearman_rho(truth, by_decoder),
            line=spearman_rho(truth, by_line),
            standard_error=float(np.std(differences)),
        )
    return comparisons
