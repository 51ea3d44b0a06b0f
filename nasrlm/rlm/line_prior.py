"""A prior mean for each objective from the costs line of a text: the decoder writes what it leaves.

The costed text form (:mod:`nasrlm.text.graph_costs`) states a network's MACs, parameters and
activations as numbers, and a model with value states reads them as a vector
(:meth:`nasrlm.rlm.model.BuiltinEncoder.text_values`, in decades). Much of a metric is a smooth trend
in those three numbers: MACs alone rank FBNet's phone latency at Spearman .945 and a user's CNN
family's onnxruntime latency at .98 (experiments/results/bound_costs.txt, bench_own_space). A decoder
fine-tuned on 16-40 rows learns that trend through digit tokens slowly and imprecisely; a least-squares
line learns it exactly from the same rows. So, per objective, a ridge regression of the (transformed)
target on the line's values is fitted when the objective is first trained, and the decoder is trained
on the residual, mapped onto the digit range by its own affine transform. Prediction adds the decoded
residual back. The RLM then spends its capacity on what the line cannot say (which cell op, where).

Like target transforms, a prior is fitted once and kept with the model, so a model fine-tuned again
keeps reading its own numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nasrlm.rlm.targets import TargetTransform

__all__ = ["LinePrior"]


@dataclass(frozen=True)
class LinePrior:
    """``encoded ~ bias + weights . features``; the residual reaches the decoder through ``residual``.

    ``features`` are the line's values in decades (one row per text); ``encoded`` is the target after
    the objective's :class:`TargetTransform`.
    """

    weights: tuple[float, ...]
    bias: float
    residual: TargetTransform
    loo_r2: float = -np.inf  # the line's leave-one-out R^2 on the rows it was fitted on

    @classmethod
    def fit(cls, encoded: np.ndarray, features: np.ndarray, ridge: float = 1.0) -> LinePrior:
        """Ridge regression on standardized features (``ridge`` is the penalty in units of one row's
        squared error: with 16 rows and three near-collinear values, NB201's MACs and parameters, the
        unpenalized line would trade huge opposite weights). :attr:`loo_r2` says how well it predicts
        rows it was not fitted on."""
        encoded = np.asarray(encoded, dtype=np.float64)
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or len(features) != len(encoded):
            raise ValueError(f"need one feature row per target: {features.shape} for {len(encoded)} targets")
        center, scale = features.mean(0), features.std(0)
        scale = np.where(scale > 1e-9, scale, np.inf)  # a constant value carries nothing: weight 0
        x = np.hstack([np.ones((len(encoded), 1)), (features - center) / scale])
        penalty = ridge * np.diag([0.0] + [1.0] * features.shape[1])  # the intercept is not shrunk
        inverse = np.linalg.pinv(x.T @ x + penalty)
        coef = inverse @ x.T @ encoded
        weights = coef[1:] / scale
        bias = float(coef[0] - weights @ center)
        residual = encoded - (bias + features @ weights)
        # Leave-one-out residuals of a linear smoother, without refitting: e_i / (1 - H_ii).
        leverage = np.einsum("ij,jk,ik->i", x, inverse, x)
        spread = float(((encoded - encoded.mean()) ** 2).sum())
        if len(encoded) < 5 or spread == 0.0 or (leverage > 1 - 1e-9).any():
            loo_r2 = -np.inf  # too few rows to tell
        else:
            loo_r2 = 1.0 - float(((residual / (1.0 - leverage)) ** 2).sum()) / spread
        transform = TargetTransform.fit(residual, "affine")
        return cls(tuple(float(w) for w in weights), bias, transform, loo_r2)

    def mean(self, features: np.ndarray) -> np.ndarray:
        """The prior mean (in the transformed target's units) of each row of ``features``."""
        return self.bias + np.asarray(features, dtype=np.float64) @ np.array(self.weights)

    def forward(self, encoded: np.ndarray, features: np.ndarray) -> np.ndarray:
        """What the decoder writes for these transformed targets: the residual, on the digit range."""
        return self.residual.forward(np.asarray(encoded, dtype=np.float64) - self.mean(features))

    def inverse(self, written: np.ndarray, features: np.ndarray) -> np.ndarray:
        """Transformed targets from what the decoder wrote; ``written`` is [N] or [N, samples]."""
        written = np.asarray(written, dtype=np.float64)
        prior = self.mean(features)
        return self.residual.inverse(written) + (prior[:, None] if written.ndim == 2 else prior)

    def to_dict(self) -> dict:
        return {
            "weights": list(self.weights),
            "bias": self.bias,
            "residual": self.residual.to_dict(),
            "loo_r2": self.loo_r2,
        }

    @classmethod
    def from_dict(cls, data: dict) -> LinePrior:
        weights = tuple(float(w) for w in data["weights"])
        residual = TargetTransform.from_dict(data["residual"])
        return cls(weights, float(data["bias"]), residual, float(data.get("loo_r2", -np.inf)))
