"""The base class of every baseline predictor, and its file format.

:class:`Predictor` implements :class:`nasrlm.core.predictor.PredictorProtocol`, the interface the RLM
shares. A predictor is built from a frozen config dataclass, fitted on architectures and a mapping
``objective name -> values``, and predicts the same objectives, in the targets' own units, for any
architectures of the same space. A saved predictor is one safetensors file: the weights (or, for
non-torch models, their serialized bytes) as tensors, and a JSON header entry with the predictor's
name, config and fitted state. It is written atomically, so a crash never leaves half a file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import struct
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar, overload

import numpy as np
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from nasrlm.core.cache import atomic_write_bytes
from nasrlm.core.predictor import NotFittedError, Predictions

from .targets import check_targets

__all__ = ["FORMAT", "NotFittedError", "Predictor", "PredictorConfig", "PredictorFileError"]

FORMAT = "nasrlm-baseline/1"
P = TypeVar("P", bound="Predictor")


class PredictorFileError(ValueError):
    """A saved-predictor file is corrupt, of another format, or holds another predictor."""


@dataclasses.dataclass(frozen=True)
class PredictorConfig:
    """Fields every predictor has. ``seed`` makes a fit repeatable; objectives whose names start with one
    of ``log_prefixes`` are modelled in log space (latency: multiplicative spread, relative errors)."""

    seed: int = 0
    log_prefixes: tuple[str, ...] = ("latency_",)

    def __post_init__(self) -> None:
        if isinstance(self.log_prefixes, str) or not all(isinstance(p, str) for p in self.log_prefixes):
            raise TypeError(f"log_prefixes must be a sequence of strings, got {self.log_prefixes!r}")
        object.__setattr__(self, "log_prefixes", tuple(self.log_prefixes))  # frozen: keep it hashable
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {self.seed!r}")


class Predictor(ABC):
    """Fit on ``(archs, {objective: values})``, predict ``{objective: values}``; save/load one file.

    Implements :class:`nasrlm.core.predictor.PredictorProtocol`; baselines have no uncertainty, so
    ``predict(archs, return_std=True)`` gives :class:`~nasrlm.core.predictor.Predictions` without std."""

    name: ClassVar[str]
    config_type: ClassVar[type[PredictorConfig]] = PredictorConfig

    def __init__(self, config: PredictorConfig | None = None) -> None:
        config = self.config_type() if config is None else config
        if type(config) is not self.config_type:
            raise TypeError(f"{self.name} needs a {self.config_type.__name__}, got {type(config).__name__}")
        self.config = config
        self.objectives: tuple[str, ...] = ()
        self.fit_info: dict[str, Any] = {}  # nothing to report about a baseline's fit (the protocol's field)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"

    @property
    def fitted(self) -> bool:
        return bool(self.objectives)

    def uses_log(self, objective: str) -> bool:
        return objective.startswith(self.config.log_prefixes) if self.config.log_prefixes else False

    # --- fit / predict -----------------------------------------------------------------------------
    def fit(self: P, archs: Sequence[Any], targets: Mapping[str, Any]) -> P:
        """Fit one model per objective (refitting replaces everything); returns ``self``."""
        archs = list(archs)
        checked = check_targets(archs, targets)
        self.objectives = ()
        self._fit(archs, checked)
        self.objectives = tuple(checked)
        return self

    @overload
    def predict(self, archs: Sequence[Any], *, return_std: Literal[False] = False) -> dict[str, np.ndarray]: ...

    @overload
    def predict(self, archs: Sequence[Any], *, return_std: Literal[True]) -> Predictions: ...

    def predict(self, archs: Sequence[Any], *, return_std: bool = False) -> dict[str, np.ndarray] | Predictions:
        """Predicted values (float64, one per arch) for every objective given to :meth:`fit`; with
        ``return_std``, the same as :class:`~nasrlm.core.predictor.Predictions` (``std`` None)."""
        self._require_fitted("predict")
        archs = list(archs)
        if not archs:
            raise ValueError("expected at least one architecture to predict, got none")
        predictions = self._predict(archs)
        point = {name: np.asarray(predictions[name], dtype=np.float64) for name in self.objectives}
        return Predictions(point) if return_std else point

    @abstractmethod
    def _fit(self, archs: list[Any], targets: dict[str, np.ndarray]) -> None: ...

    @abstractmethod
    def _predict(self, archs: list[Any]) -> dict[str, np.ndarray]: ...

    # --- persistence -------------------------------------------------------------------------------
    @abstractmethod
    def _state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Fitted state as (tensors, JSON-serializable dict)."""

    @abstractmethod
    def _restore(self, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        """Inverse of :meth:`_state` on a freshly configured instance."""

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the fitted predictor to ``path`` (one safetensors file, replaced atomically)."""
        self._require_fitted("save")
        tensors, state = self._state()
        metadata = {
            "format": FORMAT,
            "predictor": self.name,
            "config": json.dumps(dataclasses.asdict(self.config)),
            "objectives": json.dumps(list(self.objectives)),
            "state": json.dumps(state),
        }
        tensors = {key: value.detach().cpu().contiguous() for key, value in tensors.items()}
        atomic_write_bytes(path, save_tensors(tensors, metadata=metadata))

    @classmethod
    def load(cls: type[P], path: str | os.PathLike[str]) -> P:
        """A predictor saved by :meth:`save`. ``Predictor.load`` returns whichever kind the file holds;
        a subclass's ``load`` insists on its own kind."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no saved predictor at {str(path)!r}")
        data = path.read_bytes()
        metadata = _read_metadata(data, path)
        name = metadata["predictor"]
        if cls is Predictor:
            from .registry import predictor_class

            target_cls: type[Predictor] = predictor_class(name)
        elif name != cls.name:
            raise PredictorFileError(f"{str(path)!r} holds a {name!r} predictor, not {cls.name!r}")
        else:
            target_cls = cls
        try:
            tensors = load_tensors(data)
            config = _config_from_json(target_cls.config_type, json.loads(metadata["config"]))
            predictor = target_cls(config)
            predictor._restore(tensors, json.loads(metadata["state"]))
            predictor.objectives = tuple(json.loads(metadata["objectives"]))
        except Exception as error:  # any inconsistency inside the file means the file is bad
            raise PredictorFileError(f"corrupt saved predictor {str(path)!r}: {error}") from error
        return predictor  # type: ignore[return-value]

    def _require_fitted(self, action: str) -> None:
        if not self.fitted:
            raise NotFittedError(f"{self.name} predictor is not fitted; call fit() before {action}()")


def _read_metadata(data: bytes, path: Path) -> dict[str, str]:
    """The safetensors header's metadata, checked to be ours (header = 8-byte length + JSON)."""
    where = repr(str(path))
    try:
        (size,) = struct.unpack("<Q", data[:8])
        if size > len(data) - 8:
            raise ValueError(f"header length {size} exceeds the file")
        metadata = json.loads(data[8 : 8 + size]).get("__metadata__") or {}
    except (struct.error, ValueError, UnicodeDecodeError, AttributeError) as error:
        raise PredictorFileError(f"{where} is not a saved predictor (unreadable header: {error})") from None
    if metadata.get("format") != FORMAT:
        raise PredictorFileError(f"{where} is not a saved predictor of format {FORMAT!r}")
    missing = [key for key in ("predictor", "config", "objectives", "state") if key not in metadata]
    if missing:
        raise PredictorFileError(f"corrupt saved predictor {where}: header lacks {', '.join(missing)}")
    return metadata


def _config_from_json(config_type: type[PredictorConfig], data: dict[str, Any]) -> PredictorConfig:
    # JSON has no tuples; configs use tuples (hashable, frozen), so lists are turned back.
    fields: dict[str, Any] = {key: tuple(value) if isinstance(value, list) else value for key, value in data.items()}
    return config_type(**fields)
