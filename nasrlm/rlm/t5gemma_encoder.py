"""The RLM's text encoder as the encoder half of T5Gemma (Hugging Face ``transformers``).

Two ways to build it, chosen by :class:`~nasrlm.rlm.model.EncoderConfig`:

* ``pretrained=None``: randomly initialized from ``t5gemma_config`` (a T5Gemma *module* config as a
  dict: ``hidden_size``, ``num_hidden_layers``, ``num_attention_heads``, ``num_key_value_heads``,
  ``head_dim``, ``intermediate_size``, ...) or, when that is ``None``, from a small config derived
  from ``d_model``/``n_layers``/``n_heads``/``d_ff``/``max_length``;
* ``pretrained="path/or/hub-id"``: the encoder of a T5Gemma checkpoint (a folder written by
  ``save_pretrained``, or a hub id where there is network access; ``HF_HUB_OFFLINE`` is respected).
  Only the encoder is loaded, and its token embedding is **replaced** by a fresh one of the RLM's
  vocabulary size: the RLM reads networks through its own BPE learned on ONNX text, whose ids mean
  nothing to Gemma's SentencePiece vocabulary, so the pretrained embedding rows cannot be reused.
  The transformer layers and the final norm keep their pretrained weights.

In both modes ``vocab_size`` and ``pad_token_id`` come from the RLM (its text tokenizer), never from
the T5Gemma config. ``transformers`` is an optional dependency (``pip install 'nasrlm[hf]'``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from nasrlm.rlm.encoder import TextEncoder

if TYPE_CHECKING:
    from nasrlm.rlm.model import EncoderConfig

__all__ = ["T5GemmaEncoder"]

_INSTALL_HINT = "pip install 'nasrlm[hf]'"
# What a hub id looks like ("name" or "owner/name"); anything else that does not exist on disk is
# reported as a missing local path rather than sent to the hub.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


@dataclass(frozen=True)
class _HF:
    """The few ``transformers`` names this module uses, imported on first use."""

    auto_config: Any
    config: Any
    module_config: Any
    encoder: Any
    encoder_model: Any
    offline: bool
    # What building a config from bad values raises: TypeError/ValueError, and in recent
    # huggingface_hub its strict-dataclass validation errors, which derive from Exception only.
    config_errors: tuple[type[Exception], ...]


def _import_transformers() -> _HF:
    try:
        import transformers
        from transformers.models.t5gemma import T5GemmaConfig, T5GemmaEncoderModel, T5GemmaModuleConfig
        from transformers.models.t5gemma.modeling_t5gemma import T5GemmaEncoder as HFT5GemmaEncoder
    except ImportError as err:
        raise ImportError(
            f"the 't5gemma' encoder needs the `transformers` package with T5Gemma (>= 4.53): {_INSTALL_HINT} ({err})"
        ) from err
    from huggingface_hub import constants  # a dependency of transformers

    config_errors: tuple[type[Exception], ...] = (TypeError, ValueError)
    try:
        from huggingface_hub.errors import StrictDataclassError

        config_errors = (*config_errors, StrictDataclassError)
    except ImportError:  # older huggingface_hub: configs are plain classes raising ValueError
        pass
    return _HF(
        auto_config=transformers.AutoConfig,
        config=T5GemmaConfig,
        module_config=T5GemmaModuleConfig,
        encoder=HFT5GemmaEncoder,
        encoder_model=T5GemmaEncoderModel,
        offline=bool(constants.HF_HUB_OFFLINE),
        config_errors=config_errors,
    )


def _derived_module_config(config: EncoderConfig) -> dict[str, Any]:
    """A small T5Gemma module config of the builtin encoder's shape."""
    if config.d_model % config.n_heads:
        raise ValueError(f"d_model {config.d_model} is not divisible by n_heads {config.n_heads}")
    head_dim = config.d_model // config.n_heads
    return {
        "hidden_size": config.d_model,
        "num_hidden_layers": config.n_layers,
        "num_attention_heads": config.n_heads,
        # Plain multi-head attention: grouped KV heads save memory on big models, nothing on small ones.
        "num_key_value_heads": config.n_heads,
        "head_dim": head_dim,
        "intermediate_size": config.d_ff,
        # Gemma scales scores by query_pre_attn_scalar^-0.5; its default (256) matches head_dim 256 only.
        "query_pre_attn_scalar": head_dim,
        "max_position_embeddings": config.max_length,
        # Every layer global: the inputs fit max_length, so Gemma's local/global alternation would only
        # take context away from half the layers. The window is set anyway since masks are built for it.
        "layer_types": ["full_attention"] * config.n_layers,
        "sliding_window": config.max_length,
    }


def _set_dropout(module_config: Any, dropout: float) -> None:
    # T5GemmaConfig copies its dropout onto the encoder's module config in __post_init__; the encoder
    # reads it from there, so set it there. EncoderConfig.dropout is the RLM's training choice and
    # wins over a checkpoint's, as for the builtin encoder.
    module_config.dropout_rate = dropout
    module_config.attention_dropout = dropout


class T5GemmaEncoder(TextEncoder):
    """T5Gemma's encoder over the RLM's token ids: ``forward(ids, mask) -> [B, L, hidden_size]``.

    Attributes: ``hidden_size`` (the width of the states), ``max_length`` (the longest input taken),
    ``model`` (the ``transformers`` ``T5GemmaEncoder``) and ``source`` (``"random"`` or the
    pretrained path/id).
    """

    model: Any  # transformers' T5GemmaEncoderModel (untyped here: transformers is optional)

    def __init__(self, config: EncoderConfig, vocab_size: int, pad_id: int) -> None:
        super().__init__()
        if not 0 <= pad_id < vocab_size:
            raise ValueError(f"pad_id {pad_id} is outside the vocabulary [0, {vocab_size})")
        hf = _import_transformers()
        if config.pretrained is not None:
            if config.t5gemma_config is not None:
                raise ValueError(
                    "EncoderConfig sets both `pretrained` and `t5gemma_config`; a pretrained encoder takes "
                    "its shape from the checkpoint, so give one or the other"
                )
            self.model = self._load_pretrained(hf, config, vocab_size, pad_id)
            self.source = config.pretrained
        else:
            self.model = self._random_init(hf, config, vocab_size, pad_id)
            self.source = "random"
        module_config = self.model.config
        self.hidden_size = int(module_config.hidden_size)
        # RoPE has no hard length limit, but positions past max_position_embeddings were never trained
        # (pretrained) or are past what the config promises (random), so the smaller bound is the limit.
        self.max_length = int(min(config.max_length, module_config.max_position_embeddings))

    # --- construction ----------------------------------------------------------------------------
    @staticmethod
    def _random_init(hf: _HF, config: EncoderConfig, vocab_size: int, pad_id: int) -> nn.Module:
        fields = dict(config.t5gemma_config) if config.t5gemma_config is not None else _derived_module_config(config)
        fields.setdefault("max_position_embeddings", config.max_length)
        # The vocabulary is the RLM's BPE, whatever a copied module config says.
        fields["vocab_size"] = vocab_size
        fields["pad_token_id"] = pad_id
        try:
            module_config = hf.module_config(**fields)
        except hf.config_errors as err:
            raise ValueError(f"invalid t5gemma_config {config.t5gemma_config!r}: {err}") from err
        _set_dropout(module_config, config.dropout)
        return hf.encoder(module_config)

    @staticmethod
    def _load_pretrained(hf: _HF, config: EncoderConfig, vocab_size: int, pad_id: int) -> nn.Module:
        name = config.pretrained
        assert name is not None
        path = Path(name).expanduser()
        local = path.exists()
        if local and not path.is_dir():
            raise FileNotFoundError(f"pretrained T5Gemma path {name!r} is a file, not a checkpoint folder")
        if not local and not _HUB_ID.match(name):
            raise FileNotFoundError(f"pretrained T5Gemma checkpoint {name!r} does not exist")
        source = str(path) if local else name
        where = f"folder {name!r}" if local else f"hub id {name!r}"
        offline_hint = (
            " (HF_HUB_OFFLINE is set, so only checkpoints already in the local cache can be used)"
            if hf.offline and not local
            else ""
        )
        try:
            hf_config = hf.auto_config.from_pretrained(source, local_files_only=local)
        except (OSError, KeyError, *hf.config_errors) as err:  # type: ignore[misc]
            raise ValueError(f"found no T5Gemma checkpoint in {where}{offline_hint}: {err}") from err
        if not isinstance(hf_config, hf.config):
            kind = getattr(hf_config, "model_type", type(hf_config).__name__)
            raise ValueError(f"{where} holds a {kind!r} checkpoint, not a T5Gemma ('t5gemma') one")
        # Load as an encoder-only model: the decoder (and LM head) weights of a full checkpoint are
        # skipped on purpose, not reported as unexpected.
        hf_config.is_encoder_decoder = False
        _set_dropout(hf_config.encoder, config.dropout)

        class _EncoderOnly(hf.encoder_model):  # type: ignore[name-defined]
            _keys_to_ignore_on_load_unexpected: ClassVar[list[str]] = [r"(^|\.)decoder\.", r"(^|\.)lm_head\."]

        try:
            loaded, info = _EncoderOnly.from_pretrained(
                source, config=hf_config, local_files_only=local, output_loading_info=True
            )
        except (OSError, ValueError) as err:
            raise ValueError(f"found no loadable T5Gemma weights in {where}{offline_hint}: {err}") from err
        # Without this check a checkpoint lacking the encoder would silently give a random encoder.
        missing = sorted(k for k in info["missing_keys"] if "embed_tokens" not in k)
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise ValueError(f"{where} holds no complete T5Gemma encoder: missing {shown}")
        encoder = loaded.encoder
        old = encoder.embed_tokens.weight
        # A new embedding over the RLM's vocabulary (see the module docstring). Its rows are drawn at
        # the pretrained rows' scale so the pretrained layers start on inputs of a familiar magnitude.
        std = float(old.detach().float().std())
        embed = nn.Embedding(vocab_size, encoder.config.hidden_size, padding_idx=pad_id)
        with torch.no_grad():
            embed.weight.normal_(0.0, std)
            embed.weight[pad_id].zero_()
        encoder.embed_tokens = embed
        encoder.padding_idx = pad_id
        encoder.vocab_size = vocab_size
        encoder.config.vocab_size = vocab_size
        encoder.config.pad_token_id = pad_id
        # The RLM trains in float32 (its bridge and decoder are float32), whatever the checkpoint's
        # dtype; and from_pretrained returns eval mode, while a fresh nn.Module is in training mode.
        return encoder.float().train()

    # --- forward ---------------------------------------------------------------------------------
    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Final encoder states [B, L, hidden_size]; ``mask`` [B, L] is True on real tokens."""
        if ids.shape[1] > self.max_length:
            raise ValueError(f"input has {ids.shape[1]} tokens; this encoder takes at most {self.max_length}")
        # The mask is given explicitly: T5Gemma would otherwise guess padding from pad_token_id.
        out = self.model(input_ids=ids, attention_mask=mask.to(torch.long))
        return out.last_hidden_state
