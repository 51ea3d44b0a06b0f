"""The Regression Language Model: a text encoder and a small decoder that writes numbers.

The decoder's sequence for one example is, objective after objective (in the model's order),
``<obj_k> sign exponent d1 d2 d3 d4``: the objective token is given, the number tokens are
predicted. So objective k is decoded conditioned on every objective before it, p(y2 | y1, x),
one model serves accuracy and every device, a row may carry any subset of the objectives, and a
new objective (a new device) is one more row in the objective embedding.

Decoding is constrained: at each position only the tokens valid there (a sign, an exponent, a
digit) keep their logits, in training as in sampling, so every sample is a valid number.

Sampling is batched over architectures x samples. Two choices keep it fast on a CPU: the
cross-attention keys and values are computed once per architecture and shared by its samples
(the samples of one architecture are extra query rows against the same memory, not copies of
it), and self-attention keeps a key/value cache, so each step costs one token.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Literal, cast

import torch
import torch.nn.functional as F
from torch import nn

from nasrlm.rlm.encoder import TextEncoder
from nasrlm.rlm.number_tokenizer import NumberTokenizer, NumberTokenizerConfig

__all__ = ["DecoderConfig", "EncoderConfig", "RLMConfig", "RegressionLM"]


@dataclass(frozen=True)
class EncoderConfig:
    """``builtin``: a pre-LN transformer encoder; ``t5gemma``: a T5Gemma encoder (transformers)."""

    kind: Literal["builtin", "t5gemma"] = "builtin"
    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 512
    dropout: float = 0.0
    max_length: int = 1024
    # Texts longer than ``window`` tokens are cut into consecutive windows of that many tokens,
    # counted from the end (the first window takes the remainder), each encoded alone; the decoder
    # attends to the states of all. The encoder then costs time linear in the text's length, so a
    # whole network is read (a deep CNN's ONNX text runs to 1,000+ tokens) where full attention would
    # cost the square. None: one window, the whole row (at most ``max_length`` tokens).
    window: int | None = None
    # builtin only: tokens the tokenizer marks with a value in [0, 1) (the buffer ``token_values``; the
    # costed form's ``10^7.72``, nasrlm.text.graph_costs) are embedded at ``base + value * slope``, on a
    # line through embedding space: near values start near each other, and one state holds a magnitude.
    value_tokens: bool = False
    # With value tokens: the last ``value_states`` values a text states (the costed form's MACs, parameters
    # and activations), as a vector, projected and added to every encoder state, so the decoder reads them
    # wherever it attends. The projection starts at zero (the model computes what it did before). A model
    # pretrained on value tokens alone left them unread (experiments/results/screen_costed.txt, c3).
    value_states: int = 0
    # t5gemma only: a local folder (or hub id, where the user has network) of pretrained weights,
    # or a T5Gemma module config (dict) for a randomly initialized encoder.
    pretrained: str | None = None
    t5gemma_config: dict | None = None

    def __post_init__(self) -> None:
        if self.window is not None and not 2 <= self.window <= self.max_length:
            raise ValueError(f"window must be between 2 and max_length ({self.max_length}), got {self.window}")


@dataclass(frozen=True)
class DecoderConfig:
    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 512
    dropout: float = 0.0


@dataclass(frozen=True)
class RLMConfig:
    objectives: tuple[str, ...]
    text_vocab_size: int
    pad_id: int = 0
    number: NumberTokenizerConfig = field(default_factory=NumberTokenizerConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)

    def __post_init__(self) -> None:
        if not self.objectives:
            raise ValueError("an RLM needs at least one objective")
        if len(set(self.objectives)) != len(self.objectives):
            raise ValueError(f"objectives must be distinct, got {list(self.objectives)}")


_REGULAR_PATH = threading.Lock()  # held while PyTorch's attention fast path is switched off
_VALUE_RANGE_DECADES = 12.0  # token_values in [0, 1) stand for 10^0 .. 10^12 (nasrlm.text.graph_costs)
_VALUE_CENTER_DECADES = 6.0


class BuiltinEncoder(TextEncoder):
    token_values: torch.Tensor  # a buffer, with value_tokens

    def __init__(self, config: EncoderConfig, vocab_size: int, pad_id: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, config.d_model, padding_idx=pad_id)
        self.position = nn.Embedding(config.max_length, config.d_model)
        layer = nn.TransformerEncoderLayer(
            config.d_model,
            config.n_heads,
            config.d_ff,
            config.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.layers = nn.TransformerEncoder(layer, config.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.d_model)
        self.hidden_size = config.d_model
        self.max_length = config.max_length
        self.value_tokens = config.value_tokens
        self.value_states = config.value_states if config.value_tokens else 0
        if config.value_tokens:
            self.register_buffer("token_values", torch.full((vocab_size,), math.nan))  # NaN: not a value
            self.value_base = nn.Parameter(torch.zeros(config.d_model))
            self.value_slope = nn.Parameter(torch.randn(config.d_model) / math.sqrt(config.d_model))
        if self.value_states:
            self.value_proj = nn.Linear(self.value_states, config.d_model)
            nn.init.zeros_(self.value_proj.weight)
            nn.init.zeros_(self.value_proj.bias)

    def text_values(self, ids: torch.Tensor) -> torch.Tensor:
        """The last :attr:`value_states` values of each row's value tokens, in text order: ``[B, k]``.

        Each in decades from 10^6 (``10^7.72`` -> 1.72): the family of experiments/bench_own_space.py spreads
        two decades of MACs, which as the token's value in [0, 1) spread .17 and trained a projection of
        norm .03 in 1,854 steps (c4). A row with fewer value tokens has zeros in front.
        """
        values = self.token_values[ids] * _VALUE_RANGE_DECADES - _VALUE_CENTER_DECADES
        present = ~torch.isnan(values)
        from_end = present.flip(1).cumsum(1).flip(1)  # value tokens at or after each position
        k = self.value_states
        picked = [torch.where(present & (from_end == k - slot), values, 0.0).sum(1) for slot in range(k)]
        return torch.stack(picked, 1)

    def embed_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        """Token embeddings; value tokens on their line (see :attr:`EncoderConfig.value_tokens`)."""
        h = self.embed(ids)
        if self.value_tokens:
            values = self.token_values[ids]
            line = self.value_base + torch.nan_to_num(values)[..., None] * self.value_slope
            h = torch.where(torch.isnan(values)[..., None], h, line.to(h.dtype))
        return h

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if ids.shape[1] > self.max_length:
            raise ValueError(f"input has {ids.shape[1]} tokens; this encoder takes at most {self.max_length}")
        positions = torch.arange(ids.shape[1], device=ids.device)
        h = self.embed_tokens(ids) * math.sqrt(self.hidden_size) + self.position(positions)
        if bool(mask.all()):  # no padding: no mask, the fastest path (5x a masked one in inference)
            return self.norm(self.layers(h))
        # With padding, PyTorch's inference fast path (nested tensors off) masks its softmax about
        # twice as slowly as the regular path computes the layer: take the regular path. The switch
        # is process-wide, so threads encoding padded batches take turns (and restore it in order).
        with _REGULAR_PATH:
            fast = torch.backends.mha.get_fastpath_enabled()
            torch.backends.mha.set_fastpath_enabled(False)
            try:
                return self.norm(self.layers(h, src_key_padding_mask=~mask))
            finally:
                torch.backends.mha.set_fastpath_enabled(fast)


def encode_in_windows(encoder: TextEncoder, ids: torch.Tensor, mask: torch.Tensor, window: int) -> torch.Tensor:
    """States [B, L, H] of right-padded rows, each read as windows of ``window`` tokens encoded alone.

    Windows are counted from a row's end, so its last ``window`` tokens (a cell-based network's
    local function: what differs between architectures) are always one window, and the first window
    takes what is left, at positions 0.. like any short text. Each state sits where its token does.
    """
    b, length = ids.shape
    lengths = mask.sum(1)
    head = lengths % window  # tokens of the first, partial window (0: none)
    windows = int(((lengths + window - 1) // window).max())
    t = torch.arange(length, device=ids.device)[None, :]
    shifted = t - head[:, None]
    in_head = shifted < 0
    which = torch.where(in_head, 0, shifted.div(window, rounding_mode="floor") + (head > 0).long()[:, None])
    position = torch.where(in_head, t, shifted.remainder(window))
    row = torch.arange(b, device=ids.device)[:, None] * windows + which
    row, position = row[mask], position[mask]
    window_ids = ids.new_zeros(b * windows, window)
    window_mask = mask.new_zeros(b * windows, window)
    window_ids[row, position] = ids[mask]
    window_mask[row, position] = True
    used = window_mask.any(1)  # rows with fewer windows than the longest leave some empty
    encoded = encoder(window_ids[used], window_mask[used])
    states = encoded.new_zeros(b * windows, window, encoded.shape[-1])
    states[used] = encoded
    out = encoded.new_zeros(b, length, encoded.shape[-1])
    out[mask] = states[row, position]
    return out


def build_encoder(config: EncoderConfig, vocab_size: int, pad_id: int) -> TextEncoder:
    if config.kind == "builtin":
        return BuiltinEncoder(config, vocab_size, pad_id)
    if config.kind == "t5gemma":
        from .t5gemma_encoder import T5GemmaEncoder

        return T5GemmaEncoder(config, vocab_size, pad_id)
    raise ValueError(f"unknown encoder kind {config.kind!r}; valid: builtin, t5gemma")


class _Attention(nn.Module):
    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        self.n_heads = n_heads
        self.q = nn.Linear(d_model, d_model)
        self.kv = nn.Linear(d_model, 2 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def split(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, D] -> [B, H, T, D/H]
        return x.unflatten(-1, (self.n_heads, -1)).transpose(1, 2)

    def keys_values(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k, v = self.kv(x).chunk(2, dim=-1)
        return self.split(k), self.split(v)

    def attend(
        self,
        x: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        *,
        causal: bool = False,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        q = self.split(self.q(x))
        if q.shape[2] == 1 and mask is None:
            out = _one_query_attention(q, k, v)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
        return self.out(out.transpose(1, 2).flatten(-2))


def _one_query_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Attention of one query per row over a few keys ([R, H, 1, d] against [R, H, L, d]).

    The decoding step of sampling: thousands of rows (architectures x samples) with at most a few
    dozen cached keys each. As elementwise products this is about twice as fast on a CPU as the
    batched matrix products scaled_dot_product_attention makes of it, and reads the cache's views
    without copying them.
    """
    scores = (q * k).sum(-1, keepdim=True).float() * q.shape[-1] ** -0.5  # [R, H, L, 1]
    weights = torch.softmax(scores, dim=2).to(v.dtype)
    return (weights * v).sum(2, keepdim=True)


class KVCache:
    """Self-attention keys/values of the tokens decoded so far, in buffers allocated once."""

    def __init__(self, rows: int, heads: int, head_dim: int, capacity: int, like: torch.Tensor) -> None:
        self.k = like.new_empty(rows, heads, capacity, head_dim)
        self.v = like.new_empty(rows, heads, capacity, head_dim)
        self.length = 0

    def repeat_rows(self, times: int) -> None:
        """Each row becomes ``times`` consecutive rows (one architecture's prefix, now per sample)."""
        self.k = self.k.repeat_interleave(times, dim=0)
        self.v = self.v.repeat_interleave(times, dim=0)

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = self.length + k.shape[2]
        self.k[:, :, self.length : n] = k
        self.v[:, :, self.length : n] = v
        self.length = n
        return self.k[:, :, :n], self.v[:, :, :n]


class DecoderLayer(nn.Module):
    """Pre-LN: causal self-attention, cross-attention to the encoder, feed-forward."""

    def __init__(self, config: DecoderConfig) -> None:
        super().__init__()
        d = config.d_model
        self.self_attn = _Attention(d, config.n_heads)
        self.cross_attn = _Attention(d, config.n_heads)
        self.ff = nn.Sequential(nn.Linear(d, config.d_ff), nn.GELU(), nn.Linear(config.d_ff, d))
        self.norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(3))
        self.dropout = nn.Dropout(config.dropout)

    def forward(
        self,
        x: torch.Tensor,
        memory: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
        cache: KVCache | None = None,
        samples: int = 1,
    ) -> torch.Tensor:
        """``x`` is [B*samples, T, D]; ``memory`` = (keys, values, bias) per architecture (B rows).

        With ``cache``, ``x`` is the next token only, and its keys/values are appended to the cache.
        """
        h = self.norms[0](x)
        k, v = self.self_attn.keys_values(h)
        if cache is not None:
            k, v = cache.append(k, v)
        x = x + self.dropout(self.self_attn.attend(h, k, v, causal=cache is None))
        # Cross-attention: the samples of one architecture become extra query rows, so the memory
        # keys/values are never copied per sample.
        h = self.norms[1](x)
        b_s, t, d = h.shape
        queries = h.reshape(b_s // samples, samples * t, d)
        mem_k, mem_v, bias = memory
        attended = self.cross_attn.attend(queries, mem_k, mem_v, mask=bias).reshape(b_s, t, d)
        x = x + self.dropout(attended)
        return x + self.dropout(self.ff(self.norms[2](x)))


def digit_targets(digits: torch.Tensor, width: float) -> torch.Tensor:
    """Ordinal soft targets [..., M, 10] for mantissa digits [..., M] (HL-Gauss per digit).

    Digit i of a number sits at x = d_i + 0.d_(i+1)...d_M5 on its own scale (the middle of what the
    later digits leave open); its target is the mass of a Gaussian of std ``width`` at x that falls
    in each bin [d, d + 1), d = 0..9, renormalized to the ten bins (earlier digits are given).
    """
    m = digits.shape[-1]
    values = digits.to(torch.float64)
    position = torch.empty_like(values)
    rest = torch.full_like(values[..., 0], 0.5)  # the middle of the last digit's bin
    for i in range(m - 1, -1, -1):
        position[..., i] = values[..., i] + rest
        rest = position[..., i] / 10
    edges = torch.arange(11, dtype=torch.float64, device=digits.device)
    cdf = torch.special.ndtr((edges - position[..., None]) / width)
    mass = (cdf[..., 1:] - cdf[..., :-1]).clamp(min=0)
    return (mass / mass.sum(-1, keepdim=True)).to(torch.float32)


class RegressionLM(nn.Module):
    """Text in, numbers out. See the module docstring for the decoder's sequence layout."""

    allowed: torch.Tensor  # a buffer: allowed[p] = tokens valid as the p-th token of a number

    def __init__(self, config: RLMConfig) -> None:
        super().__init__()
        self.config = config
        self.numbers = NumberTokenizer(config.number)
        dec = config.decoder
        self.encoder = build_encoder(config.encoder, config.text_vocab_size, config.pad_id)
        self.bridge = nn.Linear(self.encoder.hidden_size, dec.d_model)
        self.number_embed = nn.Embedding(self.numbers.vocab_size, dec.d_model)
        self.objective_embed = nn.Embedding(len(config.objectives), dec.d_model)
        # Position within an objective's segment (0 = the objective token): the same for every
        # objective, so segments can be dropped or added without shifting anything.
        self.segment_position = nn.Embedding(self.numbers.tokens_per_number + 1, dec.d_model)
        self.layers = nn.ModuleList(DecoderLayer(dec) for _ in range(dec.n_layers))
        self.final_norm = nn.LayerNorm(dec.d_model)
        self.head = nn.Linear(dec.d_model, self.numbers.vocab_size)
        # allowed[p] = tokens valid as the p-th token of a number.
        self.register_buffer("allowed", torch.from_numpy(self.numbers.allowed_masks()), persistent=False)

    @property
    def objectives(self) -> tuple[str, ...]:
        return self.config.objectives

    # --- encoder side ----------------------------------------------------------------------------
    def encode(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Encoder states projected to the decoder width: [B, L, D] (text states plus value offset)."""
        return self.with_values(self.text_states(ids, mask), ids)

    def text_states(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """What the encoder's transformer makes of the tokens, at the decoder width: [B, L, D].

        Without the value states (:meth:`with_values` adds them): a frozen encoder's text states
        are computed once and cached, while the value projection, a few hundred weights, still
        trains (nasrlm.rlm.training) and is added afresh to every use of the cache.
        """
        window = self.config.encoder.window
        if window is None or ids.shape[1] <= window:
            states = self.encoder(ids, mask)
        else:
            states = encode_in_windows(self.encoder, ids, mask, window)
        return self.bridge(states)

    def with_values(self, states: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """``states`` (:meth:`text_states` of ``ids``) plus each row's projected costs-line values.

        The values are added to every encoder state before the bridge, which is linear, so the
        bridged offset is the bridge's matrix times the projection: ``bridge(s + v) = bridge(s) + Wv``.
        """
        encoder = self.encoder
        if not (isinstance(encoder, BuiltinEncoder) and encoder.value_states):
            return states
        values = encoder.value_proj(encoder.text_values(ids).to(states.dtype))
        return states + (values @ self.bridge.weight.T.to(states.dtype))[:, None, :]

    def memory(self, states: torch.Tensor, mask: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
        """Per layer: cross-attention keys, values and the additive padding bias, computed once."""
        bias = torch.zeros(mask.shape, dtype=states.dtype, device=states.device)
        bias = bias.masked_fill(~mask, float("-inf"))[:, None, None, :]
        return [(*cast(DecoderLayer, layer).cross_attn.keys_values(states), bias) for layer in self.layers]

    # --- decoder side ----------------------------------------------------------------------------
    def _embed(self, tokens: torch.Tensor, objective_ids: torch.Tensor) -> torch.Tensor:
        """``tokens`` [N, T*] number ids (the objective token sits at segment position 0)."""
        per = self.numbers.tokens_per_number + 1
        positions = torch.arange(tokens.shape[1], device=tokens.device) % per
        is_objective = positions == 0
        number_part = self.number_embed(tokens.clamp(min=0))
        objective_part = self.objective_embed(objective_ids)
        x = torch.where(is_objective[None, :, None], objective_part, number_part)
        return x + self.segment_position(positions)

    def objective_index(self, names: list[str] | tuple[str, ...]) -> list[int]:
        unknown = [n for n in names if n not in self.objectives]
        if unknown:
            raise KeyError(f"unknown objective(s) {unknown}; this model decodes: {', '.join(self.objectives)}")
        return [self.objectives.index(n) for n in names]

    def loss(
        self,
        states: torch.Tensor,
        mask: torch.Tensor,
        targets: torch.Tensor,
        present: torch.Tensor,
        digit_smoothing: float = 0.0,
    ) -> torch.Tensor:
        """Mean cross-entropy of the number tokens.

        ``targets`` [B, K, T] token ids for all K objectives; ``present`` [B, K] bool: rows may
        lack some objectives, whose segments are then left out of that row's sequence.
        ``digit_smoothing`` > 0: mantissa digits are scored against ordinal soft targets
        (:func:`digit_targets`) instead of one-hot ones.
        """
        b, _, t = targets.shape
        per = t + 1
        order = torch.argsort((~present).to(torch.int8), dim=1, stable=True)  # present first, in order
        n_present = present.sum(1)
        # Segments after the last present one in every row are left out, not just masked: a model
        # pretrained on 15 objectives and fine-tuned on 2 would otherwise run 15 segments a row.
        k = max(1, int(n_present.max()))
        order = order[:, :k]
        kept = torch.arange(k, device=targets.device)[None, :] < n_present[:, None]
        seg_targets = torch.gather(targets, 1, order[:, :, None].expand(b, k, t))
        seg_objectives = order  # objective id of each segment
        # Sequence: [obj, n1..nT] per segment; predict n1..nT from the token before each.
        tokens = torch.cat([torch.zeros_like(seg_targets[:, :, :1]), seg_targets], dim=2).reshape(b, k * per)
        objective_ids = seg_objectives[:, :, None].expand(b, k, per).reshape(b, k * per)
        x = self._embed(tokens[:, :-1], objective_ids[:, :-1])
        memory = self.memory(states, mask)
        for layer, mem in zip(self.layers, memory, strict=True):
            x = layer(x, mem)
        logits = self.head(self.final_norm(x))  # position i predicts token i+1
        next_pos = (torch.arange(1, k * per, device=targets.device) % per) - 1  # -1: an objective token
        is_number = next_pos >= 0
        allowed = self.allowed[next_pos.clamp(min=0)]  # [S, V]
        logits = logits.masked_fill(~allowed[None], float("-inf"))
        predicted = is_number[None, :] & kept[:, :, None].expand(b, k, per).reshape(b, k * per)[:, 1:]
        if digit_smoothing <= 0:
            return F.cross_entropy(logits[predicted], tokens[:, 1:][predicted])
        # Soft targets over the ten digit tokens at digit positions; one-hot elsewhere.
        log_probs = F.log_softmax(logits, dim=-1)
        first_digit = self.numbers.tokens_per_number - self.numbers.config.mantissa_digits  # 2: sign, exponent
        is_digit = next_pos >= first_digit
        hard = -log_probs.gather(-1, tokens[:, 1:, None])[..., 0]  # [B, S]
        digits = seg_targets[:, :, first_digit:] - self.numbers.digit_id(0)  # [B, K, M] digit values
        soft_targets = digit_targets(digits, digit_smoothing)  # [B, K, M, 10]
        # Align to the predicted positions: position i predicts token i + 1 of the sequence.
        per_token = torch.zeros(b, k, per, 10, dtype=log_probs.dtype, device=log_probs.device)
        per_token[:, :, 1 + first_digit :] = soft_targets
        per_token = per_token.reshape(b, k * per, 10)[:, 1:]
        digit_log_probs = log_probs[..., self.numbers.digit_id(0) : self.numbers.digit_id(0) + 10]
        digit_log_probs = torch.where(is_digit[None, :, None], digit_log_probs, 0.0)  # -inf elsewhere
        soft = -(per_token * digit_log_probs).sum(-1)
        losses = torch.where(is_digit[None, :], soft, hard)
        return losses[predicted].mean()

    @torch.no_grad()
    def sample_tokens(
        self,
        states: torch.Tensor,
        mask: torch.Tensor,
        objectives: list[str],
        samples: int,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        given: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Number tokens [B, samples, len(objectives), T], decoded objective after objective.

        ``given`` [B, len(objectives), T]: tokens to write instead of sampling (-1: sample), e.g. the
        measured value of an earlier objective, so that later ones are decoded conditioned on it.
        """
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        ids = self.objective_index(objectives)
        b, t = states.shape[0], self.numbers.tokens_per_number
        if given is not None and given.shape != (b, len(ids), t):
            raise ValueError(f"given must have shape {(b, len(ids), t)}, got {tuple(given.shape)}")
        memory = self.memory(states, mask)
        heads = self.config.decoder.n_heads
        capacity = len(ids) * (t + 1)
        # Every sample of an architecture starts with the same prefix (the objective token, and
        # usually the sign and exponent of the first number): while all samples of every row agree,
        # one row per architecture is decoded and the samples are drawn from its logits; the rows
        # are repeated per sample when they first differ (about a sixth of the work, more greedily).
        shared = True
        caches = [KVCache(b, heads, self.config.decoder.d_model // heads, capacity, states) for _ in self.layers]
        out = torch.empty(b * samples, len(ids), t, dtype=torch.long, device=states.device)
        token = torch.empty(b, 1, dtype=torch.long, device=states.device)
        for j, objective in enumerate(ids):
            token = torch.full_like(token, objective)
            for p in range(t + 1):
                if p == t and j == len(ids) - 1:
                    break  # nothing follows the last digit of the last objective
                segment_pos = torch.tensor([p], device=states.device)
                x = self.objective_embed(token) if p == 0 else self.number_embed(token)
                x = x + self.segment_position(segment_pos)
                for layer, mem, cache in zip(self.layers, memory, caches, strict=True):
                    x = layer(x, mem, cache=cache, samples=1 if shared else samples)
                if p == t:  # the last digit is in; the next objective token is given, not predicted
                    break
                with torch.autocast(states.device.type, enabled=False):  # tokens drawn from float32 logits
                    logits = self.head(self.final_norm(x[:, -1].float()))
                logits = logits.masked_fill(~self.allowed[p], float("-inf"))
                draws = samples if shared else 1  # tokens drawn per row: [rows, draws]
                if temperature == 0:
                    drawn = logits.argmax(-1, keepdim=True).expand(-1, draws)
                else:
                    probs = torch.softmax(logits / temperature, dim=-1)
                    drawn = torch.multinomial(probs, draws, replacement=True, generator=generator)
                if given is not None:  # rows are architecture-major: row r holds architecture r // samples
                    forced = given[:, j, p : p + 1]
                    forced = forced if shared else forced.repeat_interleave(samples, dim=0)
                    drawn = torch.where(forced >= 0, forced, drawn)
                if shared and bool((drawn == drawn[:, :1]).all()):
                    token = drawn[:, :1]
                else:
                    if shared:  # the samples part here: one row per sample from now on
                        for cache in caches:
                            cache.repeat_rows(samples)
                        shared = False
                    token = drawn.reshape(-1, 1)
                out[:, j, p] = token[:, 0].repeat_interleave(samples) if shared else token[:, 0]
        return out.reshape(b, samples, len(ids), t)

    def quantile_tokens(
        self,
        states: torch.Tensor,
        mask: torch.Tensor,
        objectives: list[str],
        q: float = 0.5,
        temperature: float = 1.0,
        given: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``q``-quantile of each objective's number, decoded in one pass: tokens [B, K, T] and,
        per objective, where in its last digit's interval the quantile lies ([B, K], 0 to 1).

        The tokens write a number most significant first, so the numbers a prefix can still become
        form one interval of values, and the children of a prefix split it in value order (sign
        ``<->`` before ``<+>``; then exponents and digits ascending, descending under ``<->``). The
        quantile is found by descending that tree once: at each token, the child whose cumulative
        probability (at ``temperature``) first reaches the share still sought, which is then
        renormalized within it; what is left at the last digit is the returned fraction. This is the
        median that ``sample_tokens``' samples estimate (at q = .5), without their noise, for the
        cost of one sample. Objectives are decoded in sequence, each conditioned on the quantile
        tokens of those before it (their plug-in point); ``given`` as in :meth:`sample_tokens`.
        Unnormalized mantissas (a leading ``<0>``, which training never writes) are ordered as if
        normalized. Temperature 0 takes the most likely token (fraction .5).
        """
        if not 0.0 <= q <= 1.0 or temperature < 0:
            raise ValueError(f"q must be in [0, 1] and temperature >= 0, got {q} and {temperature}")
        ids = self.objective_index(objectives)
        b, t = states.shape[0], self.numbers.tokens_per_number
        if given is not None and given.shape != (b, len(ids), t):
            raise ValueError(f"given must have shape {(b, len(ids), t)}, got {tuple(given.shape)}")
        memory = self.memory(states, mask)
        heads = self.config.decoder.n_heads
        caches = [
            KVCache(b, heads, self.config.decoder.d_model // heads, len(ids) * (t + 1), states) for _ in self.layers
        ]
        vocabulary = self.allowed.shape[-1]
        ascending = torch.arange(vocabulary, device=states.device)
        descending = ascending.flip(0)  # "<->" (id 1) before "<+>" (id 0); larger exponents and digits first
        out = torch.empty(b, len(ids), t, dtype=torch.long, device=states.device)
        fraction = torch.full((b, len(ids)), 0.5, device=states.device)
        token = torch.empty(b, 1, dtype=torch.long, device=states.device)
        negative = torch.zeros(b, dtype=torch.bool, device=states.device)
        for j, objective in enumerate(ids):
            token = torch.full_like(token, objective)
            sought = torch.full((b,), float(q), device=states.device)
            for p in range(t + 1):
                if p == t and j == len(ids) - 1:
                    break
                segment_pos = torch.tensor([p], device=states.device)
                x = self.objective_embed(token) if p == 0 else self.number_embed(token)
                x = x + self.segment_position(segment_pos)
                for layer, mem, cache in zip(self.layers, memory, caches, strict=True):
                    x = layer(x, mem, cache=cache)
                if p == t:
                    break
                with torch.autocast(states.device.type, enabled=False):
                    logits = self.head(self.final_norm(x[:, -1].float()))
                logits = logits.masked_fill(~self.allowed[p], float("-inf"))
                if temperature == 0:
                    drawn = logits.argmax(-1)
                else:
                    probs = torch.softmax(logits / temperature, dim=-1)
                    flip = negative if p > 0 else torch.ones_like(negative)
                    order = torch.where(flip[:, None], descending[None, :], ascending[None, :])  # value order
                    ordered = probs.gather(1, order)
                    cumulative = ordered.cumsum(1)
                    # The first child whose cumulative probability reaches the share sought (one with
                    # probability: rounding may leave the total a hair under it).
                    reached = (cumulative >= sought[:, None] - 1e-6) & (ordered > 0)
                    last = (ordered > 0).long().cumsum(1).argmax(1)  # the last child with probability
                    pick = torch.where(reached.any(1), reached.long().argmax(1), last)
                    chosen = ordered.gather(1, pick[:, None])[:, 0]
                    before = cumulative.gather(1, pick[:, None])[:, 0] - chosen
                    within = ((sought - before) / chosen.clamp_min(1e-12)).clamp(0.0, 1.0)
                    drawn = order.gather(1, pick[:, None])[:, 0]
                    # A given token is no choice: the share sought stays that of the numbers after it.
                    sought = within if given is None else torch.where(given[:, j, p] >= 0, sought, within)
                if given is not None:
                    forced = given[:, j, p]
                    drawn = torch.where(forced >= 0, forced, drawn)
                if p == 0:
                    negative = drawn == 1  # "<->" (the vocabulary: "<+>", "<->", exponents, digits)
                out[:, j, p] = drawn
                token = drawn[:, None]
            if temperature > 0:
                fraction[:, j] = sought
            if given is not None:  # a value given whole is that value
                fraction[:, j] = torch.where((given[:, j] >= 0).all(1), 0.5, fraction[:, j])
        return out, fraction

    def add_objective(self, name: str, like: str | None = None) -> RegressionLM:
        """A copy of this model that also decodes ``name``.

        Its embedding starts as a copy of objective ``like``'s (an objective whose values rank
        networks as the new one does: the new objective then starts out predicting that ranking),
        or at the mean of the others.
        """
        if name in self.objectives:
            raise ValueError(f"the model already decodes {name!r}")
        from dataclasses import replace

        grown = RegressionLM(replace(self.config, objectives=(*self.objectives, name)))
        state = {k: v for k, v in self.state_dict().items() if not k.startswith("objective_embed")}
        grown.load_state_dict(state, strict=False)
        with torch.no_grad():
            old = self.objective_embed.weight
            grown.objective_embed.weight[: len(old)] = old
            grown.objective_embed.weight[len(old)] = old[self.objectives.index(like)] if like else old.mean(0)
        return grown
