"""The RLM surrogate as a predictor like any baseline (:class:`nasrlm.core.predictor.PredictorProtocol`).

:class:`RlmPredictor` wraps a :class:`~nasrlm.rlm.surrogate.Surrogate` and a converter that turns
architectures into the texts it reads (a search space's ``to_texts``). ``fit`` fine-tunes a fresh
copy of the starting model (the shipped pretrained default, or ``settings.init``) with the shipped
recipe (:data:`nasrlm.rlm.recipe.DEFAULT_RECIPE`); ``predict`` samples it: the point is the median of
the samples, their spread the uncertainty.

>>> predictor = RlmPredictor.for_space("nb201", seed=0, epochs=8)  # doctest: +SKIP
>>> predictor.fit(train_archs, {"acc": acc}).predict(test_archs, return_std=True).interval(0.9)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, overload

import numpy as np

from nasrlm.core.predictor import NotFittedError, Predictions
from nasrlm.rlm.recipe import DEFAULT_RECIPE

if TYPE_CHECKING:
    from nasrlm.rlm.surrogate import Surrogate

__all__ = ["RlmPredictor", "RlmSettings", "TextConverter"]

TextConverter = Callable[[Sequence[Any]], list[str]]
META_KEY = "predictor"  # where a saved RlmPredictor keeps its own settings in the surrogate's metadata


@dataclass(frozen=True)
class RlmSettings:
    """How the RLM is fine-tuned and sampled: the shipped recipe (nasrlm.rlm.recipe) by default."""

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


class RlmPredictor:
    """Fit on ``(archs, {objective: values})``, predict ``{objective: values}`` (median of samples).

    ``to_texts`` turns a list of archs into the texts the surrogate reads. ``surrogate``: an already
    fitted model to predict with (fitting replaces it); ``objectives``: what it predicts before any
    fit (default: every objective it decodes). ``seed`` seeds both the fine-tuning and the sampling.
    """

    name: ClassVar[str] = "rlm"

    def __init__(
        self,
        to_texts: TextConverter,
        settings: RlmSettings = RlmSettings(),
        *,
        seed: int = 0,
        surrogate: Surrogate | None = None,
        objectives: Sequence[str] | None = None,
        space: str | None = None,
    ) -> None:
        self.to_texts = to_texts
        self.settings, self.seed = settings, seed
        self.space = space  # the search space's name, when known: kept in saved files so load() finds its texts
        self.surrogate = surrogate
        if objectives is None:
            objectives = surrogate.objectives if surrogate is not None else ()
        self.objectives: tuple[str, ...] = tuple(objectives)
        self.fit_info: dict[str, Any] = {}

    @classmethod
    def for_space(
        cls,
        space: str | Any,
        *,
        seed: int = 0,
        surrogate: Surrogate | None = None,
        objectives: Sequence[str] | None = None,
        **options: Any,
    ) -> RlmPredictor:
        """A predictor of archs of ``space`` (a name or a search space), reading them through its
        ``to_texts``; ``options`` are :class:`RlmSettings` fields (unknown ones are an error)."""
        if isinstance(space, str):
            from search_spaces import get_space

            space = get_space(space)
        settings = RlmSettings(**options)
        return cls(space.to_texts, settings, seed=seed, surrogate=surrogate, objectives=objectives, space=space.name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.settings!r}, seed={self.seed}, space={self.space!r})"

    @property
    def fitted(self) -> bool:
        return self.surrogate is not None and bool(self.objectives)

    # --- fit / predict -----------------------------------------------------------------------------
    def fit(self, archs: Sequence[Any], targets: Mapping[str, Any]) -> RlmPredictor:
        """Fine-tune a fresh copy of the starting model on ``archs`` (replacing any earlier fit), with
        the recipe's training settings and this predictor's; returns ``self``."""
        from nasrlm.rlm.surrogate import Surrogate

        s = self.settings
        # A fresh copy of the starting model every fit: fits must not leak into each other.
        surrogate = Surrogate.load(s.init) if s.init else Surrogate.pretrained()
        fields = ("epochs", "batch_size", "lr", "patience", "freeze_encoder")
        config = DEFAULT_RECIPE.train_config(seed=self.seed, **{f: getattr(s, f) for f in fields})
        result = surrogate.fit(self.to_texts(list(archs)), dict(targets), config)
        self.fit_info = {"epochs": result.epochs, "stopped": result.stopped, "best_val_loss": result.best_val_loss}
        self.surrogate, self.objectives = surrogate, tuple(targets)
        return self

    @overload
    def predict(self, archs: Sequence[Any], *, return_std: Literal[False] = False) -> dict[str, np.ndarray]: ...

    @overload
    def predict(self, archs: Sequence[Any], *, return_std: Literal[True]) -> Predictions: ...

    def predict(self, archs: Sequence[Any], *, return_std: bool = False) -> dict[str, np.ndarray] | Predictions:
        """The decoded median per arch and objective (:meth:`Surrogate.predict`'s point); with
        ``return_std``, also the standard deviation of ``settings.samples`` samples and the samples
        themselves (for intervals)."""
        if self.surrogate is None or not self.objectives:
            raise NotFittedError("rlm predictor is not fitted; call fit() before predict()")
        archs = list(archs)
        if not archs:
            raise ValueError("expected at least one architecture to predict, got none")
        prediction = self.surrogate.predict(
            self.to_texts(archs),
            num_samples=self.settings.samples,
            objectives=self.objectives,
            seed=self.seed,
            joint=DEFAULT_RECIPE.joint,
        )
        point = {name: np.asarray(values, dtype=np.float64) for name, values in prediction.point.items()}
        if not return_std:
            return point
        samples = {name: prediction.samples[:, :, k] for k, name in enumerate(prediction.objectives)}
        with np.errstate(over="ignore"):  # a barely trained model may sample huge numbers: their spread is inf
            std = prediction.std
        return Predictions(point, std=std, samples=samples)

    # --- persistence -------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the fitted surrogate to the folder ``path`` (the surrogate's own format: a saved
        RlmPredictor is a saved surrogate), with this predictor's settings in its metadata."""
        if not self.fitted:
            raise NotFittedError("rlm predictor is not fitted; call fit() before save()")
        assert self.surrogate is not None
        self.surrogate.meta[META_KEY] = {
            "name": self.name,
            "objectives": list(self.objectives),
            "seed": self.seed,
            "space": self.space,
            "settings": dataclasses.asdict(self.settings),
        }
        self.surrogate.save(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, to_texts: TextConverter | None = None) -> RlmPredictor:
        """A predictor from a saved surrogate folder (one saved by :meth:`save`, or any saved surrogate:
        then it predicts every objective the model decodes). ``to_texts`` defaults to the ``to_texts``
        of the search space the predictor was saved for; without one, to
        :class:`nasrlm.text.convert.OnnxConverter` (ONNX text, ``.onnx`` files, models)."""
        from nasrlm.rlm.surrogate import Surrogate

        surrogate = Surrogate.load(path)
        info = surrogate.meta.get(META_KEY) or {}
        space = info.get("space")
        if to_texts is None:
            if space is not None:
                from search_spaces import get_space

                to_texts = get_space(space).to_texts
            else:
                from nasrlm.text.convert import OnnxConverter

                to_texts = OnnxConverter()
        return cls(
            to_texts,
            RlmSettings(**info.get("settings", {})),
            seed=int(info.get("seed", 0)),
            surrogate=surrogate,
            objectives=info.get("objectives"),
            space=space,
        )
