"""Baselines that read plain text, for reports on tables of text (``nasrlm report --data``).

They take texts (strings) where the graph baselines take architectures, and need no graph:

* ``length``: the text's length alone (characters, on a log scale), fitted by least squares to each
  (z-scored) objective: how far "longer text, bigger number" goes; its sign is learned, so it may
  rank in either direction.
* ``token_gbdt``: LightGBM (the ``gbdt`` baseline's settings) on token counts: characters, lines,
  tokens and distinct tokens, plus how often each of the ``vocabulary`` most common tokens of the
  training texts (identifiers, keywords, numbers, punctuation) occurs in the text.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .base import Predictor, PredictorConfig
from .gbdt import GbdtConfig, GbdtPredictor
from .targets import TargetScaler

__all__ = ["LengthPredictor", "TokenGbdtConfig", "TokenGbdtPredictor", "text_tokens"]

# Identifiers and keywords, numbers (with a decimal part), and single punctuation characters.
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?|[^\sA-Za-z0-9_]")


def text_tokens(text: str) -> list[str]:
    """The tokens ``token_gbdt`` counts: identifiers, numbers and punctuation characters."""
    return _TOKEN.findall(text)


def _texts(archs: Sequence[Any], name: str) -> list[str]:
    texts = list(archs)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(
                f"the {name} baseline reads text; input {i} is a {type(text).__name__} "
                "(it is for tables of text: nasrlm report --data)"
            )
    return texts


class LengthPredictor(Predictor):
    """One line per objective: z-scored target = a + b * log(1 + characters)."""

    name = "length"

    def __init__(self, config: PredictorConfig | None = None) -> None:
        super().__init__(config)
        self.lines: dict[str, tuple[float, float]] = {}
        self.scalers: dict[str, TargetScaler] = {}

    @staticmethod
    def _feature(archs: Sequence[Any]) -> np.ndarray:
        return np.log1p(np.array([len(text) for text in _texts(archs, "length")], dtype=np.float64))

    def _fit(self, archs: list[Any], targets: dict[str, np.ndarray]) -> None:
        x = self._feature(archs)
        self.lines, self.scalers = {}, {}
        for name, values in targets.items():
            scaler = TargetScaler.fit(values, log=self.uses_log(name), name=name)
            z = scaler.transform(values)
            spread = np.var(x)  # every text of one length: no slope to learn, predict the mean
            slope = float(np.mean((x - x.mean()) * (z - z.mean())) / spread) if spread > 0 else 0.0
            self.lines[name] = (float(z.mean() - slope * x.mean()), slope)
            self.scalers[name] = scaler

    def _predict(self, archs: list[Any]) -> dict[str, np.ndarray]:
        x = self._feature(archs)
        return {name: self.scalers[name].inverse(a + b * x) for name, (a, b) in self.lines.items()}

    def _state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        scalers = {name: scaler.to_json() for name, scaler in self.scalers.items()}
        return {}, {"lines": {name: list(line) for name, line in self.lines.items()}, "scalers": scalers}

    def _restore(self, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        self.lines = {name: (float(a), float(b)) for name, (a, b) in state["lines"].items()}
        self.scalers = {name: TargetScaler.from_json(data) for name, data in state["scalers"].items()}


@dataclasses.dataclass(frozen=True)
class TokenGbdtConfig(GbdtConfig):
    vocabulary: int = 200  # token columns: the tokens found in the most training texts

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.vocabulary < 0:
            raise ValueError(f"vocabulary must be >= 0, got {self.vocabulary}")


class TokenGbdtPredictor(GbdtPredictor):
    """LightGBM per objective on text statistics and counts of the training texts' common tokens."""

    name = "token_gbdt"
    config_type = TokenGbdtConfig
    config: TokenGbdtConfig

    def __init__(self, config: TokenGbdtConfig | None = None) -> None:
        super().__init__(config)
        self.vocabulary: list[str] = []

    def _features(self, archs: list[Any]) -> np.ndarray:
        texts = _texts(archs, self.name)
        column = {token: k for k, token in enumerate(self.vocabulary)}
        features = np.zeros((len(texts), 4 + len(column)), dtype=np.float64)
        for i, text in enumerate(texts):
            counts = Counter(text_tokens(text))
            features[i, :4] = (len(text), text.count("\n") + 1, sum(counts.values()), len(counts))
            for token, count in counts.items():
                if token in column:
                    features[i, 4 + column[token]] = count
        return features

    def _fit(self, archs: list[Any], targets: dict[str, np.ndarray]) -> None:
        import lightgbm

        in_texts: Counter[str] = Counter()
        for text in _texts(archs, self.name):
            in_texts.update(set(text_tokens(text)))
        # Most texts first, then alphabetical: the same columns for the same texts on every machine.
        ranked = sorted(in_texts.items(), key=lambda item: (-item[1], item[0]))
        self.vocabulary = [token for token, _ in ranked[: self.config.vocabulary]]
        features = self._features(archs)
        self.boosters, self.scalers = {}, {}
        for k, (name, values) in enumerate(targets.items()):
            scaler = TargetScaler.fit(values, log=self.uses_log(name), name=name)
            data = lightgbm.Dataset(features, scaler.transform(values), params={"min_data_in_bin": 1, "verbosity": -1})
            self.boosters[name] = lightgbm.train(
                self._params(self.config.seed * 1000 + k), data, num_boost_round=self.config.rounds
            )
            self.scalers[name] = scaler

    def _state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors, state = super()._state()
        return tensors, {**state, "vocabulary": self.vocabulary}

    def _restore(self, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        super()._restore(tensors, state)
        self.vocabulary = list(state["vocabulary"])
