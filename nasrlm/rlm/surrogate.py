"""The public surrogate: fit on (network, metrics), predict metrics with uncertainty, save, load.

The surrogate maps text to numbers; what users hold becomes text through a converter (a search
space's ``to_texts``, or :mod:`nasrlm.text.convert` for ONNX models, modules and any other text).

>>> from nasrlm import Surrogate
>>> surrogate = Surrogate.pretrained()                                     # the shipped default
>>> texts = space.to_texts(archs)                                          # the space's converter
>>> surrogate.fit(texts, {"acc": acc, "latency_pixel3": latency})          # fine-tune
>>> prediction = surrogate.predict(space.to_texts(candidates))            # median of 32 samples
>>> prediction.point["acc"], prediction.interval(0.9)["acc"]
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from nasrlm.core.errors import NasrlmError
from nasrlm.core.version import __version__
from nasrlm.rlm.line_prior import CENSUS_PREFIX, CV_MAX_ROWS, LineFeatures, LinePrior, compare_with_decoder
from nasrlm.rlm.model import BuiltinEncoder, DecoderConfig, EncoderConfig, RegressionLM, RLMConfig
from nasrlm.rlm.number_tokenizer import NumberTokenizerConfig
from nasrlm.rlm.number_tokenizer import dequantize as dequantize_samples
from nasrlm.rlm.precision import prediction_batch, prediction_precision
from nasrlm.rlm.targets import TargetTransform
from nasrlm.rlm.text_tokenizer import TextTokenizer, TextTokenizerConfig
from nasrlm.rlm.training import EncodedData, TrainConfig, TrainResult, encode_states, train
from nasrlm.text.compact_text import compact_text
from nasrlm.text.convert import looks_like_onnx_text
from nasrlm.text.graph_costs import VALUE_TOKENS, costed_text, op_census
from nasrlm.text.reading_text import reading_text

__all__ = ["Prediction", "Surrogate", "SurrogateLoadError", "SurrogateSaveError", "check_save_target"]

FORMAT_VERSION = 1
PRETRAINED_DIR = Path(__file__).parent / "pretrained" / "default"


# What a model reads of a network's ONNX text: the text itself, its reading form (nasrlm.text.reading_text),
# its compact form (nasrlm.text.compact_text) or the text then a line of its static costs
# (nasrlm.text.graph_costs); any other text (source code) is read as given.
_NETWORK_FORMS = {"reading": reading_text, "compact": compact_text, "costed": costed_text}
TEXT_FORMS = ("onnx", *_NETWORK_FORMS)


def _point_from_line(prior: LinePrior | None) -> LinePrior | None:
    return None if prior is None else dataclasses.replace(prior, point_from_line=True)


def _network_reading(text: str, form: str = "reading") -> str:
    """The ``form`` of a network's ONNX text; any other text unchanged."""
    return _NETWORK_FORMS[form](text) if looks_like_onnx_text(text) else text


class SurrogateLoadError(NasrlmError, RuntimeError):
    """A saved surrogate is missing, corrupted or incompatible; the message names the file."""


class SurrogateSaveError(NasrlmError, ValueError):
    """The save target holds something that is not a saved surrogate; nothing was written."""


# What a save writes; a folder holding exactly a subset of these (plus notes beside them) is a saved model.
_SAVED_ENTRIES = ("config.json", "model.safetensors", "tokenizer")


def _same_text_states(a: RegressionLM, b: RegressionLM) -> bool:
    """Whether ``a`` and ``b`` make the same text states of any text (their encoders and bridges agree,
    the value projection aside, which :meth:`RegressionLM.with_values` applies per model)."""
    mine = dict(a.named_parameters())
    return all(
        torch.equal(mine[name], weight)
        for name, weight in b.named_parameters()
        if name.startswith(("encoder.", "bridge.")) and not name.startswith("encoder.value_proj.")
    )


def _is_saved_surrogate(folder: Path) -> bool:
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and "format_version" in config and "weights_sha256" in config


def check_save_target(directory: str | os.PathLike[str]) -> Path:
    """Where a save may write: a new path, an empty folder, or a saved surrogate (which it replaces).

    Anything else (a file, a folder of other things) raises ``SurrogateSaveError`` before any work
    is done, so a user's data is never replaced by a model they did not mean to put there.
    """
    target = Path(directory)
    if target.is_file() or (target.exists() and not target.is_dir()):
        raise SurrogateSaveError(f"{target} is an existing file, not a folder: choose a new folder for the model")
    if target.is_dir() and any(target.iterdir()) and not _is_saved_surrogate(target):
        raise SurrogateSaveError(
            f"{target} is a folder that does not hold a saved nasrlm model: choose a new or empty folder "
            "(a saved model is replaced; other folders are never overwritten)"
        )
    parent = target.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SurrogateSaveError(f"cannot write to {target}: {parent} is not writable")
    return target


@dataclass(frozen=True)
class Prediction:
    """Samples of every objective for every input, and statistics of them.

    ``samples[i, s, k]`` is sample ``s`` of objective ``k`` for input ``i``; ``point`` is the
    median (or the mean over samples), the RLM's point estimate; the spread is its uncertainty.
    ``medians`` [N, K]: the median of the model's distribution decoded at once (each member's, averaged;
    :meth:`Surrogate.predict`), which ``median`` is where given; else the median of the samples.

    ``decoded``: the samples as the model wrote them, before each was spread over the interval its
    digits stand for (``Surrogate.sample``'s ``dequantize``); the median is taken of these, the
    median of the model's discrete distribution, so that inputs it gives one value keep equal
    point estimates (spread samples would order them at random). Quantiles, intervals and the
    standard deviation come from ``samples``, and so does the mean (within a fraction of the last
    digit of the decoded mean: the offsets of equal values cancel before the target transform is
    inverted).
    """

    objectives: tuple[str, ...]
    samples: np.ndarray
    point_estimate: Literal["median", "mean"] = "median"
    decoded: np.ndarray | None = None
    medians: np.ndarray | None = None  # [N, K], decoded at once (Surrogate.predict); else from the samples

    def _by_objective(self, array: np.ndarray) -> dict[str, np.ndarray]:
        return {name: array[:, k] for k, name in enumerate(self.objectives)}

    @property
    def point(self) -> dict[str, np.ndarray]:
        return self.median if self.point_estimate == "median" else self.mean

    @property
    def median(self) -> dict[str, np.ndarray]:
        if self.medians is not None:
            return self._by_objective(self.medians)
        return self._by_objective(np.median(self.samples if self.decoded is None else self.decoded, axis=1))

    @property
    def mean(self) -> dict[str, np.ndarray]:
        return self._by_objective(self.samples.mean(axis=1))

    @property
    def std(self) -> dict[str, np.ndarray]:
        return self._by_objective(self.samples.std(axis=1))

    def quantile(self, q: float) -> dict[str, np.ndarray]:
        return self._by_objective(np.quantile(self.samples, q, axis=1))

    def interval(self, level: float = 0.9) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Central interval holding ``level`` of the samples, per objective: (low, high)."""
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level}")
        low, high = self.quantile((1 - level) / 2), self.quantile((1 + level) / 2)
        return {name: (low[name], high[name]) for name in self.objectives}


def _fingerprint(texts: Sequence[str], targets: np.ndarray) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(hashlib.sha256(text.encode()).digest())
    digest.update(np.ascontiguousarray(targets, dtype=np.float64).tobytes())
    return digest.hexdigest()[:16]


class Surrogate:
    """An RLM with its tokenizers: texts in, numbers out."""

    def __init__(
        self,
        model: RegressionLM,
        tokenizer: TextTokenizer,
        meta: Mapping[str, Any] | None = None,
        text_form: str = "onnx",
        others: Sequence[RegressionLM] = (),
    ) -> None:
        if text_form not in TEXT_FORMS:
            raise ValueError(f"unknown text form {text_form!r}; valid: {', '.join(TEXT_FORMS)}")
        self.model = model.eval()
        # An ensemble's other members (see fit's ``members``): copies of the model fitted on the same
        # rows with other seeds, whose samples a prediction pools with the model's.
        self._others = [other.eval() for other in others]
        if any(other.config != model.config for other in self._others):
            raise ValueError("every member of an ensemble must have the model's config")
        self.tokenizer = tokenizer
        self.meta: dict[str, Any] = dict(meta or {})
        # What the model reads of a network: its canonical ONNX text as is ("onnx"), or a shorter form
        # of that text that holds whole networks in a few hundred tokens ("reading",
        # nasrlm.text.reading_text; "compact", nasrlm.text.compact_text), or the text then a line that
        # states its MACs, parameters and activations ("costed", nasrlm.text.graph_costs). Texts that are
        # not networks (source code, kernels) are read as given.
        self.text_form = text_form
        self._reading_cache: dict[str, str] = {}
        self._census_cache: dict[str, dict[str, int]] = {}

    # --- construction ----------------------------------------------------------------------------
    @classmethod
    def new(
        cls,
        objectives: Sequence[str],
        tokenizer_texts: Iterable[str],
        *,
        tokenizer: TextTokenizerConfig = TextTokenizerConfig(),
        encoder: EncoderConfig = EncoderConfig(),
        decoder: DecoderConfig = DecoderConfig(),
        number: NumberTokenizerConfig = NumberTokenizerConfig(),
        seed: int = 0,
        text_form: str = "onnx",
    ) -> Surrogate:
        """An untrained surrogate whose BPE is learned on ``tokenizer_texts`` (in ``text_form``)."""
        if text_form in _NETWORK_FORMS:
            tokenizer_texts = [_network_reading(text, text_form) for text in tokenizer_texts]
        text_tokenizer = TextTokenizer.train(tokenizer_texts, tokenizer)
        if encoder.window is None and tokenizer.max_length > encoder.max_length:
            encoder = dataclasses.replace(encoder, max_length=tokenizer.max_length)
        torch.manual_seed(seed)
        config = RLMConfig(
            objectives=tuple(objectives),
            text_vocab_size=text_tokenizer.vocab_size,
            pad_id=text_tokenizer.pad_id,
            number=number,
            encoder=encoder,
            decoder=decoder,
        )
        return cls(RegressionLM(config), text_tokenizer, text_form=text_form)

    @classmethod
    def pretrained(cls) -> Surrogate:
        """The default model shipped with nasrlm (see ``nasrlm/rlm/pretrained/default/NOTE.md``)."""
        return cls.load(PRETRAINED_DIR)

    @property
    def objectives(self) -> tuple[str, ...]:
        return self.model.objectives

    @property
    def members(self) -> tuple[RegressionLM, ...]:
        """The fitted models whose samples a prediction pools: the model, then any other members."""
        return (self.model, *self._others)

    def _single(self, what: str) -> None:
        if self._others:
            raise ValueError(
                f"{what} converts one model, and this surrogate is an ensemble of {len(self.members)}: "
                "convert the pretrained model before fitting"
            )

    def with_tokenizer(self, tokenizer: TextTokenizer) -> Surrogate:
        """The same model reading through another vocabulary (one learned on more kinds of text).

        Every other weight is kept. A new token's embedding starts as the mean of the old embeddings
        of the tokens its text had under the old vocabulary, so a token both vocabularies share keeps
        its row exactly, and a merge the old one lacked (an FBNet attribute block, say) starts as
        the average of its pieces: the model reads the new tokens about as it read their pieces.
        """
        self._single("with_tokenizer")
        old = self.model.encoder
        if not isinstance(old, BuiltinEncoder):
            raise ValueError("only the built-in encoder's vocabulary can be replaced")
        config = dataclasses.replace(self.model.config, text_vocab_size=tokenizer.vocab_size, pad_id=tokenizer.pad_id)
        model = RegressionLM(config)
        state = {k: v for k, v in self.model.state_dict().items() if k != "encoder.embed.weight"}
        model.load_state_dict(state, strict=False)
        rows = old.embed.weight.detach()
        specials = len(TextTokenizer.SPECIAL_TOKENS)  # the same ids in every vocabulary
        encoder = model.encoder
        assert isinstance(encoder, BuiltinEncoder)
        with torch.no_grad():
            new = encoder.embed.weight
            new[:specials] = rows[:specials]
            for token in range(specials, tokenizer.vocab_size):
                pieces = self.tokenizer.encode(tokenizer.decode([token])) or [self.tokenizer.unk_id]
                new[token] = rows[pieces].mean(0)
        return type(self)(model, tokenizer, meta=self.meta, text_form=self.text_form)

    def with_value_tokens(self) -> Surrogate:
        """The same model reading each number of the costed form (``10^7.72``) as one value token.

        The tokenizer gains :data:`~nasrlm.text.graph_costs.VALUE_TOKENS` and the encoder embeds them on a
        line by their exponent (:attr:`~nasrlm.rlm.model.EncoderConfig.value_tokens`), starting from the
        mean embedding of the old vocabulary (base) and a random direction (slope); the line's three
        values are also added to every encoder state (``value_states``, from zero). Every other weight
        is kept; a model that already reads value tokens gains the states. Pretrain further to use them.
        """
        self._single("with_value_tokens")
        tokenizer = self.tokenizer.with_added_tokens(VALUE_TOKENS)
        carried = self.with_tokenizer(tokenizer) if tokenizer.vocab_size != self.tokenizer.vocab_size else self
        encoder_config = dataclasses.replace(carried.model.config.encoder, value_tokens=True, value_states=3)
        model = RegressionLM(dataclasses.replace(carried.model.config, encoder=encoder_config))
        model.load_state_dict(carried.model.state_dict(), strict=False)
        encoder, old = model.encoder, self.model.encoder
        if not isinstance(encoder, BuiltinEncoder) or not isinstance(old, BuiltinEncoder):
            raise ValueError("only the built-in encoder reads value tokens")
        with torch.no_grad():
            for step, token in enumerate(VALUE_TOKENS):
                encoder.token_values[tokenizer.token_id(token)] = step / len(VALUE_TOKENS)
            if not self.model.config.encoder.value_tokens:  # the line starts among the old embeddings
                encoder.value_base.copy_(old.embed.weight[len(TextTokenizer.SPECIAL_TOKENS) :].mean(0))
        return type(self)(model, tokenizer, meta=self.meta, text_form=self.text_form)

    def with_text_form(self, text_form: str) -> Surrogate:
        """The same model and vocabulary reading networks in another form (see :data:`TEXT_FORMS`)."""
        return type(self)(self.model, self.tokenizer, meta=self.meta, text_form=text_form, others=self._others)

    def read_in_windows(self, max_length: int, window: int) -> Surrogate:
        """The same weights reading texts of up to ``max_length`` tokens as windows of ``window`` tokens.

        A model pretrained on one window (the last 128 tokens of a text, say) then reads whole
        networks: its last window is what it read before, the decoder attends to every window
        (:attr:`~nasrlm.rlm.model.EncoderConfig.window`). Fine-tune or pretrain further to use them.
        """
        self._single("read_in_windows")
        encoder = dataclasses.replace(self.model.config.encoder, window=window)
        config = dataclasses.replace(self.model.config, encoder=encoder)
        model = RegressionLM(config)
        model.load_state_dict(self.model.state_dict())
        tokenizer = self.tokenizer.with_config(max_length=max_length, truncation="head_tail")
        return type(self)(model, tokenizer, meta=self.meta, text_form=self.text_form)

    # --- data ------------------------------------------------------------------------------------
    def texts(self, inputs: Iterable[str]) -> list[str]:
        """What the model reads of ``inputs`` (texts; in the reading form if ``text_form`` says so)."""
        texts = list(inputs)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(
                    f"the surrogate reads text; input {i} is a {type(text).__name__}: convert it first with a "
                    "converter, e.g. get_space(name).to_texts(archs) or nasrlm.text.convert.OnnxConverter()(models)"
                )
        if self.text_form == "onnx":
            return texts
        cache = self._reading_cache
        if len(cache) > 100_000:  # a long search keeps proposing new networks: bound the memory
            cache.clear()
        form = self.text_form
        return [cache[t] if t in cache else cache.setdefault(t, _network_reading(t, form)) for t in texts]

    def _encode_inputs(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor, float]:
        ids, mask, truncated = self.tokenizer.encode_batch(texts)
        return torch.from_numpy(ids), torch.from_numpy(mask), truncated

    def _targets(self, targets: Mapping[str, Any] | np.ndarray, n: int) -> dict[str, np.ndarray]:
        if isinstance(targets, np.ndarray):
            array = targets.reshape(n, -1) if targets.ndim == 1 else targets
            if array.shape[1] != len(self.objectives):
                raise ValueError(
                    f"targets have {array.shape[1]} columns; the model decodes "
                    f"{len(self.objectives)} objectives ({', '.join(self.objectives)}): pass a dict"
                )
            targets = {name: array[:, k] for k, name in enumerate(self.objectives)}
        out = {}
        for name, values in targets.items():
            array = np.asarray(values, dtype=np.float64).reshape(-1)
            if len(array) != n:
                raise ValueError(f"objective {name!r} has {len(array)} values for {n} inputs")
            out[name] = array
        if not out:
            raise ValueError("no targets given")
        return out

    # --- training --------------------------------------------------------------------------------
    def fit(
        self,
        inputs: Iterable[str],
        targets: Mapping[str, Any] | np.ndarray,
        config: TrainConfig | None = None,
        *,
        target_transform: str | None = None,
        allow_missing: bool = False,
        init_like: bool | None = None,
        line_prior_min_r2: float | None = None,
        line_prior_folds: int | None = None,
        state_cache: MutableMapping[str, torch.Tensor] | None = None,
        members: int | None = None,
    ) -> TrainResult:
        """Train on ``inputs`` with ``targets`` (objective name -> values).

        ``config``, ``target_transform``, ``init_like`` and ``line_prior_min_r2`` default to the shipped recipe
        (:mod:`nasrlm.rlm.recipe`). ``init_like``: a new objective starts as a copy of the known objective
        whose predictions on these inputs rank them most like its targets (see ``_most_alike``).
        ``line_prior_min_r2``: at an objective's first fit here, a model that reads the costs line
        (value states) fits a ridge line on the line's values to these rows, and keeps it as the
        objective's prior mean where its leave-one-out R^2 reaches this (on at least
        :data:`~nasrlm.rlm.line_prior.MIN_ROWS` rows); the decoder then learns the residual
        (:mod:`nasrlm.rlm.line_prior`). With ``line_prior_folds`` of 2 or more, a fit of at most
        :data:`~nasrlm.rlm.line_prior.CV_MAX_ROWS` rows chooses instead among lines on the costs and
        on the texts' op census (:meth:`~nasrlm.rlm.line_prior.LinePrior.select`) and keeps one better
        than the mean (R^2 >= 0) where it ranks held-out rows at least as well as the decoder alone
        does in that many folds (one fit of a copy of the model per fold); its point then predicts,
        the decoder only spreading the samples around it (``LinePrior.point_from_line``).
        The decision is kept with the model, like the transform, and not made again by later fits;
        ``math.inf``: no line.

        Objectives the model does not decode yet are added (a new device, say); rows train only the
        objectives given. A new objective gets a ``target_transform`` (see :mod:`nasrlm.rlm.targets`:
        ``identity``, ``affine``, ``log_affine`` or ``auto``) fitted on these values and kept with
        the model; objectives it already decodes keep theirs. With ``allow_missing``, NaN marks a
        value that was not measured (that row trains its other objectives); otherwise NaN is an
        error. Returns what happened (steps, time, validation loss, how it stopped).

        ``state_cache`` (text -> encoder states, as in :meth:`sample`): with a frozen encoder, states
        of texts seen before are not computed again. States cached by a bfloat16 prediction are
        reused as they are: the RLM sampler, which did so, found less (README, search benchmark),
        so it encodes its training rows afresh.

        ``members`` (default: the recipe's): fit an ensemble of that many models on these rows, each
        trained with its own seed (``config.seed + m``: the order of its batches and its dropout) from
        the weights the model had before this fit, or on from its own weights where an earlier fit
        made it a member; a prediction pools their samples (``num_samples`` in all, shared among
        them) and averages their decoded medians. Transforms and line priors are decided once, for
        all of them. With a frozen encoder the members share its text states, so an ensemble of k
        costs k decoder fits. The returned result is the first member's, with the seconds of all.
        """
        from nasrlm.rlm.recipe import DEFAULT_RECIPE

        config = config or DEFAULT_RECIPE.train_config(progress=True)
        members = DEFAULT_RECIPE.members if members is None else members
        if members < 1:
            raise ValueError(f"members must be at least 1 (one model), got {members}")
        target_transform = target_transform or DEFAULT_RECIPE.target_transform
        init_like = DEFAULT_RECIPE.init_like if init_like is None else init_like
        if line_prior_min_r2 is None:
            line_prior_min_r2 = DEFAULT_RECIPE.line_prior_min_r2
        if line_prior_folds is None:
            line_prior_folds = DEFAULT_RECIPE.line_prior_folds
        inputs = list(inputs)
        texts = self.texts(inputs)
        columns = self._targets(targets, len(texts))
        ids, mask, truncated = self._encode_inputs(texts)
        # Fits of up to CV_MAX_ROWS rows compare a line with the decoder on held-out rows, and may
        # choose any line; larger ones keep the line on the costs where it clears the bar alone. The
        # census's lines flatter their R^2 more: on 156 NB201 archs latency_pixel3 lines of theirs
        # cleared the bar and, with the decoder's residual, ranked unseen archs at Spearman .810
        # against .896 (mean of 4 splits; experiments/results/screen_census_line.txt).
        compare = line_prior_folds >= 2 and len(texts) <= CV_MAX_ROWS
        features = self._line_features(texts, ids, census=compare)
        # An objective's transform (and prior) is fitted when it is first trained and kept from then on.
        # Models saved before transforms existed (trained, with none recorded) read their old objectives raw.
        recorded = dict(self.meta.get("target_transforms") or {})
        priors = dict(self.meta.get("line_priors") or {})
        legacy = "target_transforms" not in self.meta and "trained_on" in self.meta
        # Each objective's prior is decided once, at its first fit here (None: no line), so that what
        # the decoder writes never changes meaning between fits (a search refits every few trials).
        if math.isfinite(line_prior_min_r2) and features is not None:
            candidates: dict[str, LinePrior | None] = {}
            for name, values in columns.items():
                finite = np.isfinite(values)
                if name not in priors and features.values[finite].any():
                    chosen = LinePrior.select if compare else LinePrior.fit
                    prior = chosen(values[finite], features[finite])
                    candidates[name] = prior if prior.loo_r2 >= (0.0 if compare else line_prior_min_r2) else None
            contested = {name: columns[name] for name, prior in candidates.items() if prior is not None}
            if contested and compare:
                decoder = self._decoder_alone(inputs, columns, config, target_transform, init_like, allow_missing)
                compared = compare_with_decoder(contested, features, decoder, folds=line_prior_folds, seed=config.seed)
                # What won predicts: the decoder alone, or the line (its point; its held-out errors the spread).
                candidates.update(
                    {
                        name: None if name in compared and compared[name].decoder_wins else _point_from_line(prior)
                        for name, prior in candidates.items()
                        if name in contested
                    }
                )
                comparisons = self.meta.setdefault("line_prior_comparisons", {})
                comparisons.update({name: comparison.to_dict() for name, comparison in compared.items()})
            priors.update({name: prior.to_dict() if prior else None for name, prior in candidates.items()})
        before = set(self.objectives)
        for name, values in columns.items():
            if name not in self.objectives:
                known = [o for o in self.objectives if o in before]
                like = self._most_alike(texts, values, known) if init_like and known else None
                self.model = self.model.add_objective(name, like=like)
                self._others = [other.add_objective(name, like=like) for other in self._others]
                self.meta.setdefault("initialized_like", {})[name] = like
            finite = np.isfinite(values)
            if name not in recorded and not (legacy and name in before):
                recorded[name] = TargetTransform.fit(values[finite], target_transform).to_dict()
        self.meta["target_transforms"] = recorded
        if priors:
            self.meta["line_priors"] = priors
        transforms, line_priors = self.target_transforms, self.line_priors
        numbers = self.model.numbers
        k, t = len(self.objectives), numbers.tokens_per_number
        tokens = np.zeros((len(texts), k, t), dtype=np.int64)
        tokens[:] = numbers.encode(0.0)
        present = np.zeros((len(texts), k), dtype=bool)
        for name, values in columns.items():
            j = self.objectives.index(name)
            finite = np.isfinite(values)
            if allow_missing:  # a missing value: the row trains its other objectives only
                present[:, j] = finite
            else:  # NaN/inf are refused by the tokenizer, naming their rows
                present[:, j] = True
            if name in line_priors:  # written through the prior instead of the transform
                assert features is not None  # a prior is only fitted for a model with value states
                written = line_priors[name].forward(np.where(finite, values, 1.0), features)
            else:
                written = transforms[name].forward(np.where(finite, values, 1.0))
            encoded = np.where(finite, written, values)
            tokens[:, j] = numbers.encode_batch(np.where(present[:, j], encoded, 0.0), name=name)
        fingerprint = _fingerprint(texts, np.stack([columns[name] for name in columns], axis=1))
        measured = np.asarray(present.any(axis=1), dtype=bool)
        if not measured.all():  # rows with nothing measured teach nothing
            texts = [text for text, keep in zip(texts, measured.tolist(), strict=True) if keep]
            tokens, present = tokens[measured], present[measured]
            if not texts:
                raise ValueError("every target value is missing (NaN): nothing to train on")
            ids, mask = ids[torch.from_numpy(measured)], mask[torch.from_numpy(measured)]
        data = EncodedData(ids, mask, torch.from_numpy(tokens), torch.from_numpy(present))
        if config.progress:
            from tqdm.auto import tqdm

            tqdm.write(
                f"fit: {len(texts)} inputs, {100 * truncated:.1f}% truncated to "
                f"{self.tokenizer.config.max_length} tokens; objectives: {', '.join(columns)}"
            )
        states = None
        if config.freeze_encoder and state_cache is not None:
            states = self._cached_states(texts, ids, mask, state_cache)
            states = torch.nn.functional.pad(states, (0, 0, 0, ids.shape[1] - states.shape[1]))
        elif config.freeze_encoder and members > 1:  # computed once for every member
            states = encode_states(self.model, ids, mask)
        start = deepcopy(self.model) if members > len(self.members) else None  # where new members begin
        result = train(self.model, data, config, states)
        others, seconds = [], result.seconds
        for m in range(1, members):
            other = self._others[m - 1] if m <= len(self._others) else deepcopy(start)
            assert other is not None
            shared = states if config.freeze_encoder and _same_text_states(other, self.model) else None
            checkpoint = config.checkpoint_dir and str(Path(config.checkpoint_dir) / f"member{m}")
            member_config = dataclasses.replace(config, seed=config.seed + m, checkpoint_dir=checkpoint)
            seconds += train(other, data, member_config, shared).seconds
            others.append(other.eval())
        self._others = others  # a fit of fewer members than before drops the rest (they are stale)
        result = dataclasses.replace(result, seconds=seconds)
        # The sequences the rows were trained as (present objectives, in model order): rows of
        # different domains (programs, networks) each train their own, and prediction decodes one.
        sequences = {tuple(self.objectives[j] for j in np.flatnonzero(row)) for row in np.unique(present, axis=0)}
        self.meta.update(
            {
                "trained_on": len(texts),
                "objectives_trained": list(columns),
                "objective_sets": sorted(list(names) for names in sequences),
                "truncated_share": truncated,
                "data_fingerprint": fingerprint,
                "train_seconds": result.seconds,
                "members": members,
                "train_steps": result.steps,
                "stopped": result.stopped,
            }
        )
        return result

    def _decoder_alone(
        self,
        inputs: list[str],
        columns: Mapping[str, np.ndarray],
        config: TrainConfig,
        target_transform: str,
        init_like: bool,
        allow_missing: bool,
    ) -> Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]]:
        """For :func:`~nasrlm.rlm.line_prior.compare_with_decoder`: fit a copy of this model, without
        line priors, on some rows and return its point predictions (as :meth:`predict` makes them)
        of every objective on others. Copies share the frozen encoder's states."""
        from nasrlm.rlm.recipe import DEFAULT_RECIPE

        states: dict[str, torch.Tensor] = {}

        def predictions(fit_rows: np.ndarray, held_rows: np.ndarray) -> dict[str, np.ndarray]:
            copy = type(self)(deepcopy(self.model), self.tokenizer, meta=deepcopy(self.meta), text_form=self.text_form)
            copy.fit(
                [inputs[i] for i in fit_rows],
                {name: values[fit_rows] for name, values in columns.items()},
                dataclasses.replace(config, progress=False),
                target_transform=target_transform,
                allow_missing=allow_missing,
                init_like=init_like,
                line_prior_min_r2=math.inf,
                state_cache=states if config.freeze_encoder else None,
                members=1,  # the decoder's ranking, not an ensemble's: k times the folds' cost
            )
            names = list(columns)
            held = [inputs[i] for i in held_rows]
            prediction = copy.predict(held, num_samples=DEFAULT_RECIPE.num_samples, objectives=names, seed=config.seed)
            return {name: prediction.point[name] for name in names}

        return predictions

    def _most_alike(
        self, texts: Sequence[str], values: np.ndarray, known: Sequence[str], rows: int = 256
    ) -> str | None:
        """The ``known`` objective whose greedy predictions on (up to ``rows`` of) ``texts`` have the
        highest Spearman correlation with ``values``; None when none correlates positively.

        A pretrained model already reads FLOPs, conv counts and zero-cost proxies off a network;
        a new objective (accuracy) that starts from the most alike of them starts from its ranking
        instead of from nothing, and fine-tuning only has to learn the difference.
        """
        from scipy.stats import spearmanr

        finite = np.flatnonzero(np.isfinite(values))[:rows]
        if len(finite) < 5 or np.ptp(values[finite]) == 0:
            return None
        chosen = [texts[i] for i in finite]
        # Decoded one by one from the input alone: each known objective's own ranking of these inputs.
        predicted = self.sample(chosen, num_samples=1, objectives=known, temperature=0, joint=False)[:, 0, :]
        scores = []
        for k in range(predicted.shape[1]):
            column = predicted[:, k]
            rho = spearmanr(column, values[finite])[0] if np.ptp(column) > 0 else np.nan
            scores.append(-np.inf if np.isnan(rho) else rho)
        best = int(np.argmax(scores))
        return known[best] if scores[best] > 0 else None

    @property
    def target_transforms(self) -> dict[str, TargetTransform]:
        """Each objective's transform (identity for those trained before transforms existed)."""
        saved = self.meta.get("target_transforms") or {}
        return {
            name: TargetTransform.from_dict(saved[name]) if name in saved else TargetTransform()
            for name in self.objectives
        }

    @property
    def line_priors(self) -> dict[str, LinePrior]:
        """The objectives whose decoder writes a residual over a prior mean from the costs line."""
        saved = self.meta.get("line_priors") or {}
        return {name: LinePrior.from_dict(saved[name]) for name in self.objectives if saved.get(name) is not None}

    def line_values(self, inputs: Iterable[str]) -> np.ndarray | None:
        """The costs-line values of each input as the model reads them ([N, k], decades from 10^6:
        MACs, parameters, activations), or None for a model that reads no values."""
        return self._line_values(self._encode_inputs(self.texts(inputs))[0])

    def line_features(self, inputs: Iterable[str]) -> LineFeatures | None:
        """What a line prior can weigh for each input (:class:`~nasrlm.rlm.line_prior.LineFeatures`: the
        costs-line values and the op census), or None for a model that reads no values."""
        texts = self.texts(inputs)
        return self._line_features(texts, self._encode_inputs(texts)[0], census=True)

    def _line_values(self, ids: torch.Tensor) -> np.ndarray | None:
        """Each row's costs-line values (decades, [N, k]), or None where the model reads none."""
        encoder = self.model.encoder
        if not (isinstance(encoder, BuiltinEncoder) and encoder.value_states):
            return None
        return encoder.text_values(ids).detach().double().numpy()

    def _line_features(self, texts: Sequence[str], ids: torch.Tensor, census: bool) -> LineFeatures | None:
        """What a line prior can weigh for each text: its costs-line values and, with ``census``, its
        op census (counted once per distinct text); None where the model reads no values."""
        costs = self._line_values(ids)
        if costs is None:
            return None
        if not census:
            return LineFeatures.from_costs(costs)
        cache = self._census_cache
        if len(cache) > 100_000:  # as the reading cache: a long search keeps proposing new networks
            cache.clear()
        counts = [cache[t] if t in cache else cache.setdefault(t, op_census(t)) for t in texts]
        return LineFeatures.from_costs(costs, counts)

    def _census_read(self, names: Iterable[str]) -> bool:
        """Whether the line priors of ``names`` weigh op counts (so prediction must count them)."""
        priors = self.line_priors
        return any(value.startswith(CENSUS_PREFIX) for name in names if name in priors for value in priors[name].names)

    # --- prediction ------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self,
        inputs: Iterable[str],
        *,
        num_samples: int = 32,
        objectives: Sequence[str] | None = None,
        temperature: float | None = None,
        batch_size: int | None = None,
        seed: int = 0,
        progress: bool = False,
        state_cache: MutableMapping[str, torch.Tensor] | None = None,
        joint: bool = True,
        given: Mapping[str, Any] | None = None,
        precision: str | None = None,
        dequantize: bool = True,
    ) -> np.ndarray:
        """Samples [N, num_samples, K] for the given objectives (default: all, in model order).

        ``joint``: objectives are decoded in one sequence, each conditioned on the samples of those
        before it (joint samples, for a sampler weighing trade-offs); else each is decoded from the
        input alone (marginals: no error carried from one objective into the next; best for models
        trained with objective dropout). ``temperature`` (default: the recipe's) scales the sampling:
        0 takes the most likely token. ``state_cache`` (text -> encoder states) skips the encoder
        for texts seen before; it is only valid while the encoder's weights do not change (its value
        projection may: it holds text states, and the values are added at every use).

        ``given`` (objective -> one value per input): known values of some objectives (measured, or
        computed like a zero-cost proxy), written into the decoded sequence instead of sampled, so
        that the objectives after them are conditioned on the truth (joint decoding only); NaN
        means not known for that input. The samples of a given objective are its given value.

        ``precision`` (default: the recipe's): ``float32``, ``bfloat16``, or ``auto``, bfloat16 where
        the CPU multiplies it natively (:mod:`nasrlm.rlm.precision`). ``batch_size``: architectures
        decoded together (default: what is fastest at that precision, ``precision.prediction_batch``).

        ``dequantize``: each decoded number stands for the interval its digits round (the place value
        of its last digit, :meth:`NumberTokenizer.bin_width_batch`), and the samples of one value are
        spread evenly over it (:func:`nasrlm.rlm.number_tokenizer.dequantize`), so they follow the
        density the token distribution defines (a histogram's).
        Without it, a model sure of every digit returns one value 32 times, whose "interval" has no
        width and misses a truth a fraction of a digit away: ``latency_eyeriss`` decoded at Spearman
        .99 had 50 % intervals holding 8-35 % of the truths (bench_rlm, v12). Given values stay exact.
        """
        decoded, spread, _ = self._draw(
            inputs,
            num_samples=num_samples,
            objectives=objectives,
            temperature=temperature,
            batch_size=batch_size,
            seed=seed,
            progress=progress,
            state_cache=state_cache,
            joint=joint,
            given=given,
            precision=precision,
            dequantize=dequantize,
        )
        return spread if dequantize else decoded

    @torch.no_grad()  # predict calls it directly
    def _draw(
        self,
        inputs: Iterable[str],
        *,
        num_samples: int = 32,
        objectives: Sequence[str] | None = None,
        temperature: float | None = None,
        batch_size: int | None = None,
        seed: int = 0,
        progress: bool = False,
        state_cache: MutableMapping[str, torch.Tensor] | None = None,
        joint: bool = True,
        given: Mapping[str, Any] | None = None,
        precision: str | None = None,
        dequantize: bool = True,
        medians: bool = False,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """:meth:`sample`'s samples as decoded and, with ``dequantize``, spread (else the decoded twice);
        with ``medians``, each objective's median too, decoded at once ([N, K]; else None): each
        member's (:meth:`RegressionLM.quantile_tokens`, within its last digit's interval), averaged."""
        from nasrlm.rlm.recipe import DEFAULT_RECIPE

        if temperature is None:
            temperature = DEFAULT_RECIPE.temperature
        precise = prediction_precision(precision or DEFAULT_RECIPE.precision)  # checks it first
        batch_size = batch_size or prediction_batch(precision or DEFAULT_RECIPE.precision)
        if num_samples < 1:
            raise ValueError(f"num_samples must be at least 1, got {num_samples}")
        names = list(objectives or self.objectives)
        decode_names = self.objectives_to_decode(names) if joint else names
        self.model.objective_index(decode_names)  # unknown names: a clear error
        all_texts = self.texts(inputs)
        given_tokens = self._given_tokens(given, decode_names, all_texts, joint)
        # Each distinct text (with its given values) is sampled once: identical networks (NB201:
        # 15,625 cells are 13,306 networks, as isomorphic cells coincide) get identical
        # predictions, and time is saved.
        keys: list[Any] = list(all_texts)
        if given_tokens is not None:
            keys = [(text, row.tobytes()) for text, row in zip(all_texts, given_tokens, strict=True)]
        first: dict[Any, int] = {}
        rows = [first.setdefault(key, i) for i, key in enumerate(keys)]  # first row of each key
        distinct = sorted(set(rows))
        ids, mask, _ = self._encode_inputs([all_texts[i] for i in distinct])
        # Batches of texts of like length: each row's samples attend to every (padded) state of its
        # batch. A stable sort, so texts cut to one length keep their order (and their samples).
        order = torch.argsort(mask.sum(1), stable=True)
        ids, mask = ids[order], mask[order]
        distinct = [distinct[j] for j in order.tolist()]
        position = {row: k for k, row in enumerate(distinct)}
        inverse = np.array([position[row] for row in rows], dtype=np.int64)
        texts = [all_texts[i] for i in distinct]
        features = self._line_features(texts, ids, census=self._census_read(names))
        given_ids = torch.from_numpy(given_tokens[distinct]) if given_tokens is not None else None
        spread = np.random.default_rng(seed)  # where within its interval each sample lies
        # An ensemble's members share the samples (the first ones one more where they do not divide),
        # and the text states where their encoders agree (a frozen encoder: always). Each draws from
        # its own generator, so what one member draws for an objective does not depend on what another
        # drew before it (b alone and b's column of (b, a) decoded marginally stay the same draws).
        members = self.members
        generators = [torch.Generator().manual_seed(seed)] + [
            torch.Generator().manual_seed(int(np.random.SeedSequence([seed, m]).generate_state(1)[0]))
            for m in range(1, len(members))
        ]
        counts = [num_samples // len(members) + (m < num_samples % len(members)) for m in range(len(members))]
        shares = [True] + [_same_text_states(other, self.model) for other in self._others]
        from tqdm.auto import tqdm

        decoded_chunks: list[np.ndarray] = []
        spread_chunks: list[np.ndarray] = []
        median_chunks: list[np.ndarray] = []  # [b, 1, K]: a "sample" each, read as the samples are
        with precise:
            for i in tqdm(range(0, len(texts), batch_size), desc="predicting", disable=not progress):
                chunk_mask = mask[i : i + batch_size]
                width = int(chunk_mask.sum(1).max())
                chunk_ids = ids[i : i + batch_size, :width]
                if state_cache is None:
                    text_states = encode_states(self.model, chunk_ids, chunk_mask[:, :width])
                else:
                    text_states = self._cached_states(
                        texts[i : i + batch_size], ids[i : i + batch_size], chunk_mask, state_cache
                    )
                sequences = [decode_names] if joint else [[name] for name in decode_names]
                drawn = []  # each member's samples [b, count, K, T], pooled along the samples
                chunk_given = None if given_ids is None else given_ids[i : i + batch_size]
                middles = []  # each member's medians [b, K]
                for member, count, shared, generator in zip(members, counts, shares, generators, strict=True):
                    if count == 0 and not medians:
                        continue
                    own = text_states if shared else encode_states(member, chunk_ids, chunk_mask[:, :width])
                    states = member.with_values(own, chunk_ids)
                    if medians:
                        middles.append(
                            self._member_medians(
                                member, states, chunk_mask[:, :width], sequences, temperature, chunk_given
                            )
                        )
                    if count == 0:
                        continue
                    drawn.append(
                        torch.cat(
                            [
                                member.sample_tokens(
                                    states,
                                    chunk_mask[:, :width],
                                    seq,
                                    count,
                                    temperature=temperature,
                                    generator=generator,
                                    given=chunk_given,
                                )
                                for seq in sequences
                            ],
                            dim=2,
                        )
                    )
                if medians:
                    median_chunks.append(np.mean(middles, axis=0)[:, None, :])
                chunk_tokens = torch.cat(drawn, dim=1).numpy()
                values = self.model.numbers.decode_batch(chunk_tokens)  # [b, samples, K]
                decoded_chunks.append(values)
                if dequantize:
                    b, k = values.shape[0], values.shape[2]
                    by_quantity = values.transpose(0, 2, 1).reshape(b * k, num_samples)
                    widths = self.model.numbers.bin_width_batch(chunk_tokens).transpose(0, 2, 1).reshape(b * k, -1)
                    spread_values = dequantize_samples(by_quantity, widths, spread)
                    spread_values = spread_values.reshape(b, k, num_samples).transpose(0, 2, 1)
                    if given_ids is not None:  # a given value is the value itself, not an interval
                        known = given_ids[i : i + batch_size, :, 0].numpy() >= 0  # [b, K]
                        spread_values = np.where(known[:, None, :], values, spread_values)
                    spread_chunks.append(spread_values)
        columns = [decode_names.index(n) for n in names]
        transforms, line_priors = self.target_transforms, self.line_priors

        def objective_units(chunks: list[np.ndarray], per_input: int = num_samples) -> np.ndarray:
            if not chunks:
                return np.zeros((0, per_input, len(names)))
            samples = np.concatenate(chunks)[inverse][:, :, columns]
            for k, name in enumerate(names):
                if name in line_priors:
                    assert features is not None  # a prior is only fitted for a model with value states
                    samples[:, :, k] = line_priors[name].inverse(samples[:, :, k], features[inverse])
                else:
                    samples[:, :, k] = transforms[name].inverse(samples[:, :, k])
            return samples

        decoded = objective_units(decoded_chunks)
        middle = objective_units(median_chunks, per_input=1)[:, 0, :] if medians else None
        return decoded, objective_units(spread_chunks) if dequantize else decoded, middle

    def _member_medians(
        self,
        member: RegressionLM,
        states: torch.Tensor,
        mask: torch.Tensor,
        sequences: list[list[str]],
        temperature: float,
        given: torch.Tensor | None,
    ) -> np.ndarray:
        """One member's median of every objective of ``sequences`` ([b, K], the scale it writes), each
        placed within its last digit's interval where its cumulative probability reaches one half."""
        parts = []
        start = 0
        for seq in sequences:
            seq_given = None if given is None else given[:, start : start + len(seq)]
            start += len(seq)
            tokens, fraction = member.quantile_tokens(states, mask, seq, 0.5, temperature, seq_given)
            values = member.numbers.decode_batch(tokens[:, None].numpy())[:, 0]  # [b, k]
            widths = member.numbers.bin_width_batch(tokens[:, None].numpy())[:, 0]
            parts.append(values + (fraction.numpy() - 0.5) * widths)
        return np.concatenate(parts, axis=1)

    def _given_tokens(
        self, given: Mapping[str, Any] | None, decode_names: Sequence[str], texts: Sequence[str], joint: bool
    ) -> np.ndarray | None:
        """Token ids [n, len(decode_names), T] of the given values for ``texts`` (-1 where to sample), or None."""
        if not given:
            return None
        n = len(texts)
        if not joint:
            raise ValueError("given values condition joint decoding; pass joint=True")
        missing = [name for name in given if name not in decode_names]
        if missing:
            raise ValueError(
                f"given objective(s) {', '.join(map(repr, missing))} are not decoded here; "
                f"decoded: {', '.join(decode_names)}"
            )
        tokens = np.full((n, len(decode_names), self.model.numbers.tokens_per_number), -1, dtype=np.int64)
        transforms, line_priors = self.target_transforms, self.line_priors
        features = None
        if set(given) & set(line_priors):
            features = self._line_features(texts, self._encode_inputs(texts)[0], census=self._census_read(given))
        for name, values in given.items():
            values = np.asarray(values, dtype=np.float64).reshape(-1)
            if len(values) != n:
                raise ValueError(f"given {name!r} has {len(values)} values for {n} inputs")
            known = ~np.isnan(values)
            if known.any():
                if name in line_priors:
                    assert features is not None
                    written = line_priors[name].forward(values[known], features[known])
                else:
                    written = transforms[name].forward(values[known])
                tokens[known, decode_names.index(name)] = self.model.numbers.encode_batch(written, name=name)
        return tokens

    def objectives_to_decode(self, names: Sequence[str]) -> list[str]:
        """What to decode for ``names``: they and the objectives trained together with them, in model order.

        Each objective is decoded conditioned on those before it, and the model knows the sequences
        it was trained on; one objective asked for alone (say ``acc`` of a model whose rows always
        began with ``flops``) would be a sequence it never saw. So the objectives that rows of the
        last fit were trained with together (``objective_sets``: the shortest such set that holds
        ``names``; rows of another domain train another set) are decoded too, else those of the last
        fit when ``names`` are among them, else all of them; only ``names`` are returned.
        """
        self.model.objective_index(list(names))  # unknown names: a clear error
        trained = list(self.meta.get("objectives_trained") or self.objectives)
        holding = [set(s) for s in self.meta.get("objective_sets") or [] if set(names) <= set(s)]
        if holding:  # the shortest sequence rows were trained as that holds them all
            context = min(holding, key=len)
        else:
            context = set(trained) if set(names) <= set(trained) else set(self.objectives)
        decode = [name for name in self.objectives if name in context or name in names]
        last = max(decode.index(name) for name in names)
        return decode[: last + 1]  # what follows the last one asked for cannot change it

    def _cached_states(
        self, texts: Sequence[str], ids: torch.Tensor, mask: torch.Tensor, cache: MutableMapping[str, torch.Tensor]
    ) -> torch.Tensor:
        lengths = mask.sum(1).tolist()
        missing = [j for j, text in enumerate(texts) if text not in cache]
        if missing:
            rows = torch.tensor(missing)
            width = int(max(lengths[j] for j in missing))
            fresh = encode_states(self.model, ids[rows, :width], mask[rows, :width])
            for k, j in enumerate(missing):
                cache[texts[j]] = fresh[k, : int(lengths[j])].clone()
        width = int(max(lengths))
        states = torch.zeros(len(texts), width, self.model.config.decoder.d_model)
        for j, text in enumerate(texts):
            states[j, : int(lengths[j])] = cache[text]
        return states

    def predict(
        self,
        inputs: Iterable[str],
        *,
        num_samples: int = 32,
        objectives: Sequence[str] | None = None,
        point: Literal["median", "mean"] = "median",
        **kwargs: Any,
    ) -> Prediction:
        """Point estimates (median of samples by default) and uncertainty for every input."""
        if point not in ("median", "mean"):
            raise ValueError(f"point must be 'median' or 'mean', got {point!r}")
        names = tuple(objectives or self.objectives)
        decoded, samples, medians = self._draw(
            inputs, num_samples=num_samples, objectives=names, medians=point == "median", **kwargs
        )
        return Prediction(names, samples, point, decoded=decoded, medians=medians)

    # --- persistence -----------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write weights (safetensors), config, tokenizer and metadata; never leaves a half-written model.

        ``directory`` must be new, empty, or a saved surrogate (see ``check_save_target``). Replacing
        a saved surrogate swaps the folder atomically; files beside the model that this method does
        not write (a NOTE.md, say) are carried over, so nothing the save did not write is lost.
        """
        from safetensors.torch import save_file

        target = check_save_target(directory)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
        mask = os.umask(0)
        os.umask(mask)
        staging.chmod(0o777 & ~mask)  # mkdtemp makes the folder private; give it the usual mode
        try:
            weights = staging / "model.safetensors"
            tensors = self.model.state_dict()
            # Other members: only the weights that differ from the model's (with a frozen encoder,
            # the decoder and the value projection), under member<m>.
            for m, other in enumerate(self._others, start=1):
                tensors |= {
                    f"member{m}.{k}": v for k, v in other.state_dict().items() if not torch.equal(v, tensors[k])
                }
            save_file({k: v.contiguous() for k, v in tensors.items()}, str(weights))
            weights.chmod(0o666 & ~mask)  # safetensors writes 0600; the config beside it is 0644
            self.tokenizer.save(staging / "tokenizer")
            model_config = dataclasses.asdict(self.model.config)
            encoder = model_config["encoder"]
            if encoder["kind"] == "t5gemma" and encoder["pretrained"]:
                # The weights are saved here: loading must not need the original checkpoint again.
                encoder["t5gemma_config"] = self.model.encoder.model.config.to_dict()  # type: ignore[union-attr,operator]
                encoder["pretrained"] = None
            config = {
                "format_version": FORMAT_VERSION,
                "nasrlm_version": __version__,
                "text_form": self.text_form,
                "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
                "model": model_config,
                "members": len(self.members),
                "meta": self.meta,
            }
            (staging / "config.json").write_text(json.dumps(config, indent=2) + "\n")
            if target.is_dir():
                # Keep what this save does not write; copied, not moved, so the swap below stays atomic.
                for entry in target.iterdir():
                    if entry.name in _SAVED_ENTRIES:
                        continue
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.copytree(entry, staging / entry.name, symlinks=True)
                    else:
                        shutil.copy2(entry, staging / entry.name, follow_symlinks=False)
                # Swap in the new folder, then drop the old one (only a saved model or an empty folder).
                old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old."))
                os.replace(target, old / "x")
                os.replace(staging, target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> Surrogate:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        root = Path(directory)
        config_path, weights = root / "config.json", root / "model.safetensors"
        for path in (config_path, weights):
            if not path.is_file():
                raise SurrogateLoadError(f"not a saved nasrlm surrogate: {path} is missing")
        try:
            config = json.loads(config_path.read_text())
        except (OSError, ValueError) as exc:
            raise SurrogateLoadError(f"{config_path} is not valid JSON: {exc}") from exc
        if config.get("format_version") != FORMAT_VERSION:
            raise SurrogateLoadError(
                f"{config_path} has format version {config.get('format_version')!r}; "
                f"this nasrlm ({__version__}) reads version {FORMAT_VERSION}"
            )
        if hashlib.sha256(weights.read_bytes()).hexdigest() != config.get("weights_sha256"):
            raise SurrogateLoadError(f"{weights} does not match the checksum in config.json: it is corrupted")
        try:
            m = config["model"]
            rlm_config = RLMConfig(
                objectives=tuple(m["objectives"]),
                text_vocab_size=m["text_vocab_size"],
                pad_id=m["pad_id"],
                number=NumberTokenizerConfig(**m["number"]),
                encoder=EncoderConfig(**m["encoder"]),
                decoder=DecoderConfig(**m["decoder"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SurrogateLoadError(f"{config_path} has an incompatible model config: {exc}") from exc
        count = config.get("members", 1)  # saved before ensembles: one model
        if not isinstance(count, int) or count < 1:
            raise SurrogateLoadError(f"{config_path} has members {count!r}; expected a whole number >= 1")
        models = [RegressionLM(rlm_config) for _ in range(count)]
        try:
            tensors = load_file(str(weights))
            base = {k: v for k, v in tensors.items() if not k.startswith("member")}
            for m, model in enumerate(models):
                prefix = f"member{m}."
                own = {k[len(prefix) :]: v for k, v in tensors.items() if m and k.startswith(prefix)}
                model.load_state_dict(base | own)
        except (SafetensorError, RuntimeError) as exc:
            raise SurrogateLoadError(f"{weights} does not fit the model in config.json: {exc}") from exc
        try:
            tokenizer = TextTokenizer.load(root / "tokenizer")
        except Exception as exc:
            raise SurrogateLoadError(f"tokenizer of {root} cannot be loaded: {exc}") from exc
        text_form = config.get("text_form", "onnx")  # saved before text forms existed: ONNX text
        if text_form not in TEXT_FORMS:
            raise SurrogateLoadError(
                f"{config_path} has text form {text_form!r}; this nasrlm reads {', '.join(TEXT_FORMS)}"
            )
        return cls(models[0], tokenizer, meta=config.get("meta"), text_form=text_form, others=models[1:])
