"""MLP on the flat one-hot + adjacency encoding (the "meta neural network" baseline of BANANAS and the
predictor benchmarks of White et al. 2021)."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from .encoding import dag_spec_for, flat_encoding
from .neural import Inputs, NeuralConfig, NeuralPredictor

__all__ = ["MlpConfig", "MlpPredictor"]


@dataclasses.dataclass(frozen=True)
class MlpConfig(NeuralConfig):
    hidden: int = 256
    layers: int = 3
    dropout: float = 0.1


class _Mlp(nn.Module):
    def __init__(self, width: int, config: MlpConfig) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        for _ in range(config.layers):
            blocks += [nn.Linear(width, config.hidden), nn.ReLU(), nn.Dropout(config.dropout)]
            width = config.hidden
        self.net = nn.Sequential(*blocks, nn.Linear(width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


class MlpPredictor(NeuralPredictor):
    """Fully connected network on :func:`baselines.encoding.flat_encoding`."""

    name = "mlp"
    config_type = MlpConfig
    config: MlpConfig

    def _input_meta(self, archs: list[Any]) -> dict[str, Any]:
        spec = dag_spec_for(archs)
        return {"space": spec.space, "width": spec.flat_size}

    def _inputs(self, archs: list[Any]) -> Inputs:
        spec = dag_spec_for(archs)
        if spec.space != self._meta["space"]:
            raise ValueError(f"{self.name} was fitted on {self._meta['space']} archs, got {spec.space} archs")
        return (torch.from_numpy(flat_encoding(archs, spec)),)

    def _build(self, meta: dict[str, Any]) -> nn.Module:
        return _Mlp(meta["width"], self.config)
