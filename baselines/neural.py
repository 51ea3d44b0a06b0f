"""What the torch predictors (GCN, GIN, BRP, MLP) share: the training recipe, per-objective models,
target scaling, seeding and persistence. A subclass only says how archs become input tensors and
which ``nn.Module`` reads them.

The recipe is the one that makes these baselines strong on NB201: z-scored targets (log first for
latency), Adam with cosine decay to zero, weight decay, MSE, mini-batches of ``batch_size`` (one full
batch when the training set is smaller), and a fixed number of epochs with no early stopping (tiny
training sets leave nothing to spare for a validation split).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from abc import abstractmethod
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from .base import Predictor, PredictorConfig
from .targets import TargetScaler

__all__ = ["NeuralConfig", "NeuralPredictor"]

Inputs = tuple[torch.Tensor, ...]


@dataclasses.dataclass(frozen=True)
class NeuralConfig(PredictorConfig):
    epochs: int = 300
    lr: float = 1e-3
    weight_decay: float = 5e-4
    batch_size: int = 128
    dropout: float = 0.0
    # Predictions are made in chunks so that predicting all of NB201 needs little memory.
    predict_batch_size: int = 4096
    # torch intra-op threads during fit/predict (restored afterwards). These models are tiny, so extra
    # threads buy little, and on a busy machine their spin-waiting made a 0.5 s fit take 90 s.
    threads: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        for field in ("epochs", "predict_batch_size", "threads"):
            if getattr(self, field) < 1:
                raise ValueError(f"{field} must be at least 1, got {getattr(self, field)}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be at least 2, got {self.batch_size}")
        if not self.lr > 0 or self.weight_decay < 0:
            raise ValueError(f"need lr > 0 and weight_decay >= 0, got {self.lr} and {self.weight_decay}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


@contextlib.contextmanager
def _torch_threads(count: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class NeuralPredictor(Predictor):
    """One ``nn.Module`` per objective, trained with the shared recipe above."""

    config_type = NeuralConfig
    config: NeuralConfig

    def __init__(self, config: NeuralConfig | None = None) -> None:
        super().__init__(config)
        self.models: dict[str, nn.Module] = {}
        self.scalers: dict[str, TargetScaler] = {}
        self._meta: dict[str, Any] = {}

    # --- what a subclass provides -----------------------------------------------------------------
    @abstractmethod
    def _inputs(self, archs: list[Any]) -> Inputs:
        """Input tensors for ``archs``, each with the arch as its first dimension."""

    @abstractmethod
    def _input_meta(self, archs: list[Any]) -> dict[str, Any]:
        """JSON-able facts about the inputs that :meth:`_build` needs (e.g. sizes), fixed at fit time."""

    @abstractmethod
    def _build(self, meta: dict[str, Any]) -> nn.Module:
        """A fresh model mapping ``*inputs`` (a batch) to one prediction per arch, shape [batch]."""

    # --- fit / predict -----------------------------------------------------------------------------
    def _fit(self, archs: list[Any], targets: dict[str, np.ndarray]) -> None:
        self._meta = self._input_meta(archs)
        inputs = self._inputs(archs)
        self.models, self.scalers = {}, {}
        for k, (name, values) in enumerate(targets.items()):
            scaler = TargetScaler.fit(values, log=self.uses_log(name), name=name)
            z = torch.as_tensor(scaler.transform(values), dtype=torch.float32)
            # One seed per objective, derived from the config's, so objectives do not share init noise.
            self.models[name] = self._train(inputs, z, seed=self.config.seed * 1000 + k)
            self.scalers[name] = scaler

    def _train(self, inputs: Inputs, z: torch.Tensor, seed: int) -> nn.Module:
        config = self.config
        # Neither the caller's RNG state nor its thread count may change.
        with torch.random.fork_rng(devices=[]), _torch_threads(config.threads):
            torch.manual_seed(seed)
            model = self._build(self._meta)
            order = torch.Generator().manual_seed(seed)
            optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
            n = len(z)
            batches_per_epoch = math.ceil(n / config.batch_size)
            schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.epochs * batches_per_epoch)
            model.train()
            for _ in range(config.epochs):
                permutation = torch.randperm(n, generator=order)
                for start in range(0, n, config.batch_size):
                    batch = permutation[start : start + config.batch_size]
                    if len(batch) < 2:
                        continue  # a one-arch remainder batch would only add a noisy step
                    prediction = model(*(tensor[batch] for tensor in inputs))
                    loss = nn.functional.mse_loss(prediction, z[batch])
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    schedule.step()
        model.eval()
        return model

    def _predict(self, archs: list[Any]) -> dict[str, np.ndarray]:
        inputs = self._inputs(archs)
        step = self.config.predict_batch_size
        result = {}
        with torch.inference_mode(), _torch_threads(self.config.threads):
            for name, model in self.models.items():
                z = torch.cat([model(*(t[s : s + step] for t in inputs)) for s in range(0, len(archs), step)]).numpy()
                result[name] = self.scalers[name].inverse(z)
        return result

    # --- persistence -------------------------------------------------------------------------------
    def _state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors = {
            f"{k}.{key}": value
            for k, model in enumerate(self.models.values())
            for key, value in model.state_dict().items()
        }
        state = {"meta": self._meta, "scalers": {name: s.to_json() for name, s in self.scalers.items()}}
        return tensors, state

    def _restore(self, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        self._meta = state["meta"]
        self.scalers = {name: TargetScaler.from_json(data) for name, data in state["scalers"].items()}
        self.models = {}
        for k, name in enumerate(self.scalers):
            prefix = f"{k}."
            model = self._build(self._meta)
            own = {key[len(prefix) :]: value for key, value in tensors.items() if key.startswith(prefix)}
            model.load_state_dict(own, strict=True)
            model.eval()
            self.models[name] = model
