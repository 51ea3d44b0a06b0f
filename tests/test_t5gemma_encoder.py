"""The T5Gemma encoder: shapes, padding invariance, the whole RLM on top, and pretrained loading."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

# No test may reach the hub: everything here is built from tiny local configs.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from nasrlm.rlm.model import DecoderConfig, EncoderConfig, RegressionLM, RLMConfig

transformers = pytest.importorskip("transformers")
t5gemma = pytest.importorskip("transformers.models.t5gemma")

from nasrlm.rlm.t5gemma_encoder import T5GemmaEncoder  # noqa: E402

VOCAB = 50
PAD = 0
SMALL = EncoderConfig(kind="t5gemma", d_model=32, n_layers=2, n_heads=4, d_ff=64, max_length=64)
# A module config with grouped KV heads and Gemma's local/global alternation, as real checkpoints have.
MODULE = {
    "hidden_size": 32,
    "intermediate_size": 48,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 8,
    "query_pre_attn_scalar": 8,
    "sliding_window": 4,
    "max_position_embeddings": 128,
    "vocab_size": 300,  # a pretrained vocabulary: must be replaced by ours
}


def random_batch(b: int = 3, length: int = 9, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, VOCAB, (b, length), generator=g)
    mask = torch.ones(b, length, dtype=torch.bool)
    return ids, mask


def padded(ids: torch.Tensor, extra: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad every row with ``extra`` pad tokens, as the text tokenizer does."""
    pad = torch.full((ids.shape[0], extra), PAD, dtype=ids.dtype)
    mask = torch.cat([torch.ones_like(ids, dtype=torch.bool), torch.zeros_like(pad, dtype=torch.bool)], dim=1)
    return torch.cat([ids, pad], dim=1), mask


def tiny_t5gemma_config() -> object:
    return t5gemma.T5GemmaConfig(encoder=dict(MODULE), decoder=dict(MODULE), vocab_size=MODULE["vocab_size"])


# --- random init -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "config",
    [SMALL, EncoderConfig(kind="t5gemma", max_length=64, t5gemma_config=MODULE)],
    ids=["derived", "module-config"],
)
def test_random_init_shape_and_vocab(config: EncoderConfig) -> None:
    torch.manual_seed(0)
    encoder = T5GemmaEncoder(config, VOCAB, PAD)
    assert encoder.hidden_size == 32
    assert encoder.source == "random"
    assert encoder.model.embed_tokens.weight.shape == (VOCAB, 32)
    assert encoder.model.config.pad_token_id == PAD
    ids, mask = random_batch()
    states = encoder(ids, mask)
    assert states.shape == (3, 9, 32)
    assert states.dtype == torch.float32
    assert torch.isfinite(states).all()
    # The states depend on the tokens (a broken mask or embedding could make them constant).
    assert not torch.allclose(states[0], states[1])


def test_derived_config_follows_encoder_config() -> None:
    encoder = T5GemmaEncoder(SMALL, VOCAB, PAD)
    cfg = encoder.model.config
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.intermediate_size) == (32, 2, 4, 64)
    assert cfg.head_dim == 8
    assert encoder.max_length == 64
    assert len(encoder.model.layers) == 2
    with pytest.raises(ValueError, match="divisible"):
        T5GemmaEncoder(EncoderConfig(kind="t5gemma", d_model=30, n_heads=4), VOCAB, PAD)


def test_module_config_is_used() -> None:
    encoder = T5GemmaEncoder(EncoderConfig(kind="t5gemma", max_length=512, t5gemma_config=MODULE), VOCAB, PAD)
    cfg = encoder.model.config
    assert cfg.num_key_value_heads == 2 and cfg.intermediate_size == 48
    assert cfg.vocab_size == VOCAB  # ours, not the 300 of the module config
    # max_position_embeddings (128) bounds the input length below EncoderConfig.max_length (512).
    assert encoder.max_length == 128


@pytest.mark.parametrize(
    "config",
    [SMALL, EncoderConfig(kind="t5gemma", max_length=64, t5gemma_config=MODULE)],
    ids=["derived", "module-config-sliding"],
)
def test_padding_does_not_change_real_tokens(config: EncoderConfig) -> None:
    torch.manual_seed(1)
    encoder = T5GemmaEncoder(config, VOCAB, PAD).eval()
    ids, mask = random_batch(b=2, length=7)
    with torch.no_grad():
        alone = encoder(ids, mask)
        ids_p, mask_p = padded(ids, 5)
        with_padding = encoder(ids_p, mask_p)
        # A row next to a longer one: the usual way padding appears in a batch.
        longer = torch.randint(1, VOCAB, (1, 12))
        batch = torch.cat([torch.cat([ids[:1], torch.full((1, 5), PAD)], dim=1), longer])
        batch_mask = torch.cat([mask_p[:1], torch.ones(1, 12, dtype=torch.bool)])
        in_batch = encoder(batch, batch_mask)
    torch.testing.assert_close(with_padding[:, :7], alone, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(in_batch[0, :7], alone[0], atol=1e-5, rtol=1e-5)
    # And the mask matters: without it the pad tokens are attended to and the states change.
    with torch.no_grad():
        unmasked = encoder(ids_p, torch.ones_like(mask_p))
    assert not torch.allclose(unmasked[:, :7], alone, atol=1e-4)


def test_too_long_input_is_refused() -> None:
    encoder = T5GemmaEncoder(SMALL, VOCAB, PAD)
    ids, mask = random_batch(b=1, length=65)
    with pytest.raises(ValueError, match="at most 64"):
        encoder(ids, mask)


def test_dropout_comes_from_encoder_config() -> None:
    from dataclasses import replace

    encoder = T5GemmaEncoder(replace(SMALL, dropout=0.3), VOCAB, PAD)
    assert encoder.model.config.dropout_rate == 0.3
    ids, mask = random_batch(b=1)
    encoder.train()
    assert not torch.allclose(encoder(ids, mask), encoder(ids, mask))  # dropout is active in training
    encoder.eval()
    torch.testing.assert_close(encoder(ids, mask), encoder(ids, mask))


def test_invalid_module_config_is_reported() -> None:
    bad = dict(MODULE, hidden_size=30)  # not a multiple of the 4 heads
    with pytest.raises(ValueError, match="t5gemma_config"):
        T5GemmaEncoder(EncoderConfig(kind="t5gemma", t5gemma_config=bad), VOCAB, PAD)


# --- the whole RLM ---------------------------------------------------------------------------------
def test_regression_lm_trains_and_samples_with_t5gemma() -> None:
    torch.manual_seed(0)
    config = RLMConfig(
        objectives=("y",),
        text_vocab_size=VOCAB,
        pad_id=PAD,
        encoder=SMALL,
        decoder=DecoderConfig(d_model=16, n_layers=1, n_heads=2, d_ff=32),
    )
    model = RegressionLM(config)
    assert isinstance(model.encoder, T5GemmaEncoder)
    ids, mask = padded(torch.randint(1, VOCAB, (4, 10)), 3)
    mask[0, 8:] = False  # rows of different lengths
    ids[0, 8:] = PAD
    values = [0.5, -1.25, 3.0e3, 7.0e-4]
    targets = torch.from_numpy(model.numbers.encode_batch(values))[:, None, :]  # [B, 1, 6]
    present = torch.ones(4, 1, dtype=torch.bool)

    loss = model.loss(model.encode(ids, mask), mask, targets, present)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    # Gradients reach the T5Gemma layers and our embedding, not only the decoder.
    layer_grad = model.encoder.model.layers[0].self_attn.q_proj.weight.grad
    assert layer_grad is not None and layer_grad.abs().sum() > 0
    embed_grad = model.encoder.model.embed_tokens.weight.grad
    assert embed_grad is not None and embed_grad[ids[mask]].abs().sum() > 0

    # A few optimizer steps lower the loss: the encoder is trainable end to end.
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(30):
        opt.zero_grad()
        step_loss = model.loss(model.encode(ids, mask), mask, targets, present)
        first = step_loss.item() if first is None else first
        step_loss.backward()
        opt.step()
    assert step_loss.item() < first

    model.eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        tokens = model.sample_tokens(model.encode(ids, mask), mask, ["y"], samples=3, generator=g)
    assert tokens.shape == (4, 3, 1, model.numbers.tokens_per_number)
    decoded = model.numbers.decode_batch(tokens)  # raises on any token invalid at its position
    assert decoded.shape == (4, 3, 1)
    assert (abs(decoded) <= model.numbers.max_value).all()


# --- pretrained ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["T5GemmaForConditionalGeneration", "T5GemmaModel"])
def test_pretrained_encoder_keeps_layers_and_replaces_embedding(tmp_path: Path, kind: str) -> None:
    torch.manual_seed(0)
    source = getattr(t5gemma, kind)(tiny_t5gemma_config()).eval()
    source.save_pretrained(tmp_path)
    # The checkpoint keys are "model.encoder.*" for the former (as on the hub), "encoder.*" for the latter.
    saved_encoder = source.model.encoder if kind == "T5GemmaForConditionalGeneration" else source.encoder

    encoder = T5GemmaEncoder(EncoderConfig(kind="t5gemma", pretrained=str(tmp_path)), VOCAB, PAD)
    assert encoder.source == str(tmp_path)
    assert encoder.hidden_size == 32
    assert encoder.training  # like any fresh nn.Module, whatever from_pretrained returns
    # The transformer layers and the final norm are the saved ones.
    for name in ("layers.0.self_attn.q_proj.weight", "layers.1.mlp.down_proj.weight", "norm.weight"):
        torch.testing.assert_close(encoder.model.get_parameter(name), saved_encoder.get_parameter(name), atol=0, rtol=0)
    # The embedding is a new one over our vocabulary, with a zero padding row.
    embed = encoder.model.embed_tokens
    assert embed.weight.shape == (VOCAB, 32)
    assert embed.padding_idx == PAD and embed.weight[PAD].abs().sum() == 0
    assert encoder.model.config.vocab_size == VOCAB
    # No decoder came along.
    assert not any("decoder" in n for n, _ in encoder.named_parameters())

    # The whole pretrained stack computes what the saved encoder computes, given the same embeddings.
    ids, mask = random_batch(b=2, length=6)
    encoder.eval()
    with torch.no_grad():
        ours = encoder(ids, mask)
        reference = saved_encoder(
            inputs_embeds=encoder.model.embed_tokens(ids), attention_mask=mask.long()
        ).last_hidden_state
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-5)


def test_pretrained_regression_lm(tmp_path: Path) -> None:
    t5gemma.T5GemmaForConditionalGeneration(tiny_t5gemma_config()).save_pretrained(tmp_path)
    config = RLMConfig(
        objectives=("a", "b"),
        text_vocab_size=VOCAB,
        pad_id=PAD,
        encoder=EncoderConfig(kind="t5gemma", pretrained=str(tmp_path)),
        decoder=DecoderConfig(d_model=16, n_layers=1, n_heads=2, d_ff=32),
    )
    model = RegressionLM(config)
    ids, mask = random_batch(b=2, length=5)
    targets = torch.stack([torch.from_numpy(model.numbers.encode_batch([1.0, 2.0]))] * 2, dim=1)
    loss = model.loss(model.encode(ids, mask), mask, targets, torch.ones(2, 2, dtype=torch.bool))
    loss.backward()
    assert torch.isfinite(loss)
    assert model.encoder.model.layers[0].mlp.up_proj.weight.grad is not None


def test_missing_path_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-checkpoint"
    with pytest.raises(FileNotFoundError, match=r"no-such-checkpoint.*does not exist"):
        T5GemmaEncoder(EncoderConfig(kind="t5gemma", pretrained=str(missing)), VOCAB, PAD)


def test_folder_without_checkpoint_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=f"no T5Gemma checkpoint in folder .*{re.escape(tmp_path.name)}"):
        T5GemmaEncoder(EncoderConfig(kind="t5gemma", pretrained=str(tmp_path)), VOCAB, PAD)


def test_other_model_type_is_refused(tmp_path: Path) -> None:
    transformers.BertConfig(
        vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8
    ).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=f"{re.escape(tmp_path.name)}.*'bert'.*not a T5Gemma"):
        T5GemmaEncoder(EncoderConfig(kind="t5gemma", pretrained=str(tmp_path)), VOCAB, PAD)


def test_config_without_weights_is_refused(tmp_path: Path) -> None:
    tiny_t5gemma_config().save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "t5gemma"
    with pytest.raises(ValueError, match=f"no loadable T5Gemma weights in folder .*{re.escape(tmp_path.name)}"):
        T5GemmaEncoder(EncoderConfig(kind="t5gemma", pretrained=str(tmp_path)), VOCAB, PAD)


def test_uncached_hub_id_offline_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # huggingface_hub reads HF_HUB_OFFLINE once, at import; patch the value it uses, and an empty cache.
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ValueError, match=r"nasrlm-test/no-such-model.*HF_HUB_OFFLINE"):
        T5GemmaEncoder(EncoderConfig(kind="t5gemma", pretrained="nasrlm-test/no-such-model"), VOCAB, PAD)


def test_pretrained_and_module_config_together_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="both"):
        T5GemmaEncoder(EncoderConfig(kind="t5gemma", pretrained=str(tmp_path), t5gemma_config=MODULE), VOCAB, PAD)


def test_missing_transformers_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes `import transformers...` raise ImportError, as if it were not installed.
    for name in [n for n in sys.modules if n == "transformers" or n.startswith("transformers.")]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"pip install 'nasrlm\[hf\]'"):
        T5GemmaEncoder(SMALL, VOCAB, PAD)
