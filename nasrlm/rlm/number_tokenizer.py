"""Base-10 IEEE-like number tokenizer: how the RLM writes and reads its metrics.

The RLM decodes every metric as a fixed number of tokens (as ``IEEEFloatTokenizer`` in Google's
``regress-lm``, in base 10):

    <sign> <exponent> <d1> <d2> ... <dm>      value = sign × d1.d2…dm × 10^exponent

e.g. with 4 mantissa digits ``-0.012345`` is ``<-> <E-2> <1> <2> <3> <4>`` (= -1.234e-2). The
vocabulary is ``["<+>", "<->", "<E{min}>", ..., "<E{max}>", "<0>", ..., "<9>"]`` and a token's id is
its position in that list.

Encoding (:meth:`NumberTokenizer.encode_batch`):

* the mantissa is rounded to ``mantissa_digits`` significant digits **correctly**, with Python's
  float formatting: the exact binary value of the float is rounded to the nearest decimal, ties
  (only exact binary halves such as ``0.125``) going to the even digit; a carry moves into the
  exponent (``9.9996 -> 1.000e1``). Encoded non-zero values are normalized (``d1 != 0``);
* zero is ``<+> <E{min}> <0>…<0>``; so is every value whose rounded magnitude is below
  :attr:`NumberTokenizer.min_positive` (flush to zero, silently: such a value is within
  ``min_positive`` of its encoding, and metrics that small are noise);
* a magnitude that rounds above :attr:`NumberTokenizer.max_value` is clipped to it, sign kept, with
  one warning per call that counts them, since clipping silently would hide a badly scaled target;
* NaN and ±inf are refused with a ``ValueError`` naming their rows: they are never a valid target.

Decoding accepts every sequence that :meth:`NumberTokenizer.allowed_masks` allows, normalized or
not (a leading ``<0>`` just gives a smaller number), so constrained sampling can never produce an
undecodable number; all such values are finite and within ``±max_value``. Decoding computes the
integer mantissa exactly and applies the power of ten in one float operation, so
``decode(encode(x)) == float(f"{x:.{m - 1}e}")`` exactly whenever ``|exponent - (m - 1)| <= 22``
(powers of ten up to 1e22 are exact in float64), and within one ulp of it otherwise.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    import torch

__all__ = ["NumberTokenizer", "NumberTokenizerConfig", "dequantize"]

# A mantissa of up to 15 digits (< 10^15 < 2^53) is an exact float64 integer, which decoding relies on.
_MAX_MANTISSA_DIGITS = 15
# 10^307 is the largest power of ten whose every scaled mantissa stays a finite, normal float64: this
# bounds both the largest exponent and the smallest scale 10^(min_exponent - (mantissa_digits - 1)).
_MAX_DECIMAL_SCALE = 307
# Rows listed in an error message before it says "and N more".
_MAX_ROWS_SHOWN = 10
_FORMAT_KIND = "ieee_base10"


def _check_int(name: str, value: object) -> None:
    # bool is an int subclass, and a float from a hand-edited JSON file would silently truncate.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {value!r} ({type(value).__name__})")


@dataclass(frozen=True)
class NumberTokenizerConfig:
    """Shape of the number format: ``mantissa_digits`` significant digits, exponents ``[min, max]``.

    The defaults (4 digits, 10^-8 to 10^8) cover accuracies, losses, latencies and parameter counts
    at a relative precision of 5e-4, in 6 tokens per number.
    """

    mantissa_digits: int = 4
    min_exponent: int = -8
    max_exponent: int = 8

    def __post_init__(self) -> None:
        _check_int("mantissa_digits", self.mantissa_digits)
        _check_int("min_exponent", self.min_exponent)
        _check_int("max_exponent", self.max_exponent)
        if not 1 <= self.mantissa_digits <= _MAX_MANTISSA_DIGITS:
            raise ValueError(
                f"mantissa_digits must be in [1, {_MAX_MANTISSA_DIGITS}] (more digits are not exact in "
                f"float64), got {self.mantissa_digits}"
            )
        if self.min_exponent > self.max_exponent:
            raise ValueError(
                f"min_exponent must be <= max_exponent, got min_exponent={self.min_exponent} > "
                f"max_exponent={self.max_exponent}"
            )
        if self.max_exponent > _MAX_DECIMAL_SCALE:
            raise ValueError(
                f"max_exponent must be <= {_MAX_DECIMAL_SCALE} so that the largest value is a finite "
                f"float64, got {self.max_exponent}"
            )
        lowest = -_MAX_DECIMAL_SCALE + self.mantissa_digits - 1
        if self.min_exponent < lowest:
            raise ValueError(
                f"min_exponent must be >= {lowest} with mantissa_digits={self.mantissa_digits}, so that "
                f"every encodable value is a normal float64, got {self.min_exponent}"
            )


class NumberTokenizer:
    """Encodes floats as ``tokens_per_number`` token ids and back; see the module docstring."""

    def __init__(self, config: NumberTokenizerConfig | None = None) -> None:
        # None rather than a default instance, so that no instance is shared through the signature.
        self.config: NumberTokenizerConfig = NumberTokenizerConfig() if config is None else config
        cfg = self.config
        self._n_exponents = cfg.max_exponent - cfg.min_exponent + 1
        self._exponent_offset = 2
        self._digit_offset = 2 + self._n_exponents
        self.vocab: list[str] = (
            ["<+>", "<->"]
            + [f"<E{e}>" for e in range(cfg.min_exponent, cfg.max_exponent + 1)]
            + [f"<{d}>" for d in range(10)]
        )
        self.vocab_size: int = len(self.vocab)
        self.tokens_per_number: int = 2 + cfg.mantissa_digits

        # Per-id lookup tables, so that decoding is a few gathers; entries for ids that are not of a
        # table's kind are never read, because the masks are checked first.
        ids = np.arange(self.vocab_size)
        self._sign_of_id = np.where(ids == 1, -1.0, 1.0)
        self._exponent_of_id = np.clip(ids - self._exponent_offset, 0, self._n_exponents - 1) + cfg.min_exponent
        self._digit_of_id = np.clip(ids - self._digit_offset, 0, 9).astype(np.int64)
        # Exact integer place values of the mantissa digits: d1 is worth 10^(m-1).
        self._place_values = 10 ** np.arange(cfg.mantissa_digits - 1, -1, -1, dtype=np.int64)
        # 10^|p| for every scale p = exponent - (m - 1), correctly rounded from the exact integer.
        scales = np.arange(cfg.min_exponent, cfg.max_exponent + 1) - (cfg.mantissa_digits - 1)
        self._abs_scale_power = np.array([float(10 ** abs(int(p))) for p in scales])
        self._scale_is_negative = scales < 0

        masks = np.zeros((self.tokens_per_number, self.vocab_size), dtype=bool)
        masks[0, :2] = True
        masks[1, self._exponent_offset : self._digit_offset] = True
        masks[2:, self._digit_offset :] = True
        masks.setflags(write=False)
        self._masks = masks

        self._max_value = self.decode(
            [0, self._exponent_id(cfg.max_exponent)] + [self._digit_offset + 9] * cfg.mantissa_digits
        )
        self._min_positive = self.decode(
            [0, self._exponent_id(cfg.min_exponent), self._digit_offset + 1]
            + [self._digit_offset] * (cfg.mantissa_digits - 1)
        )

    def __repr__(self) -> str:
        return f"NumberTokenizer({self.config!r})"

    def digit_id(self, digit: int) -> int:
        """The token id of mantissa digit ``digit`` (0-9); the ten are consecutive."""
        return self._digit_offset + digit

    def _exponent_id(self, exponent: int) -> int:
        return self._exponent_offset + exponent - self.config.min_exponent

    @property
    def max_value(self) -> float:
        """Largest representable magnitude, ``9.99…9 × 10^max_exponent``; larger ones are clipped."""
        return self._max_value

    @property
    def min_positive(self) -> float:
        """Smallest positive magnitude that encoding produces, ``1.00…0 × 10^min_exponent``.

        Magnitudes that round below it encode as zero. (Unnormalized sequences with leading zero digits
        decode to smaller values, but encoding never produces them.)
        """
        return self._min_positive

    # ------------------------------------------------------------------ encoding

    def encode(self, value: float) -> list[int]:
        """Token ids of one number; see :meth:`encode_batch` for rounding, clipping and errors."""
        return self._encode(value, name="value", stacklevel=3)[0].tolist()

    def encode_batch(self, values: ArrayLike, *, name: str = "y") -> np.ndarray:
        """Token ids of each value, int64 ``[n, tokens_per_number]``.

        ``values`` is a scalar or 1-D. NaN or ±inf raises ``ValueError`` naming ``name`` and the rows;
        magnitudes above :attr:`max_value` are clipped to it (sign kept) with one warning per call;
        magnitudes that round below :attr:`min_positive` become zero.
        """
        return self._encode(values, name=name, stacklevel=3)

    def _encode(self, values: ArrayLike, *, name: str, stacklevel: int) -> np.ndarray:
        cfg = self.config
        m = cfg.mantissa_digits
        try:
            v = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be numeric: {exc}") from exc
        if v.ndim > 1:
            raise ValueError(f"{name} must be a scalar or 1-D, got shape {v.shape}")
        v = v.reshape(-1)

        bad = np.flatnonzero(~np.isfinite(v))
        if bad.size:
            shown = ", ".join(str(i) for i in bad[:_MAX_ROWS_SHOWN])
            more = f" and {bad.size - _MAX_ROWS_SHOWN} more" if bad.size > _MAX_ROWS_SHOWN else ""
            raise ValueError(
                f"{name} has {bad.size} non-finite value(s) (NaN or ±inf) at row(s) {shown}{more}; "
                "they cannot be encoded as numbers: drop or impute those rows"
            )

        # Correct rounding to m significant digits, carry included, is exactly what float formatting
        # does; numpy's log10/division would misround values near a decimal boundary.
        texts = [format(x, f".{m - 1}e") for x in np.abs(v).tolist()]
        exponents = np.fromiter((int(t[t.index("e") + 1 :]) for t in texts), dtype=np.int64, count=v.size)
        mantissa_text = "".join(t[: t.index("e")].replace(".", "") for t in texts)
        digits = (np.frombuffer(mantissa_text.encode("ascii"), dtype=np.uint8).astype(np.int64) - ord("0")).reshape(
            v.size, m
        )

        overflow = exponents > cfg.max_exponent
        # Zero formats with exponent 0, so it must be caught by value, not by exponent.
        zero = (v == 0.0) | (exponents < cfg.min_exponent)
        exponents[overflow] = cfg.max_exponent
        digits[overflow] = 9
        exponents[zero] = cfg.min_exponent
        digits[zero] = 0

        ids = np.empty((v.size, self.tokens_per_number), dtype=np.int64)
        ids[:, 0] = ((v < 0.0) & ~zero).astype(np.int64)  # zero is always "<+>", even -0.0
        ids[:, 1] = self._exponent_offset + exponents - cfg.min_exponent
        ids[:, 2:] = self._digit_offset + digits

        n_clipped = int(overflow.sum())
        if n_clipped:
            warnings.warn(
                f"{name}: clipped {n_clipped} of {v.size} value(s) whose magnitude exceeds the largest "
                f"representable {self.max_value:.{m - 1}e} to ±{self.max_value:.{m - 1}e} (representable "
                f"magnitudes: 0 and {self.min_positive:.{m - 1}e} to {self.max_value:.{m - 1}e}); "
                "rescale the target or raise max_exponent",
                UserWarning,
                stacklevel=stacklevel,
            )
        return ids

    # ------------------------------------------------------------------ decoding

    def decode(self, ids: Sequence[int]) -> float:
        """Value of one number's ``tokens_per_number`` token ids."""
        return float(self.decode_batch(np.asarray(ids)))

    def decode_batch(self, ids: np.ndarray | torch.Tensor) -> np.ndarray:
        """Values of ids shaped ``[..., tokens_per_number]``, as float64 ``[...]`` (vectorized).

        Raises ``ValueError`` for a token that :meth:`allowed_mask` does not allow at its position.
        """
        if not isinstance(ids, np.ndarray) and hasattr(ids, "detach"):
            ids = ids.detach().cpu().numpy()
        arr = np.asarray(ids)
        if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"token ids must be integers, got dtype {arr.dtype}")
        if arr.ndim == 0 or arr.shape[-1] != self.tokens_per_number:
            raise ValueError(
                f"token ids must have shape [..., {self.tokens_per_number}] (tokens_per_number), got {arr.shape}"
            )
        arr = arr.astype(np.int64, copy=False)
        in_vocab = (arr >= 0) & (arr < self.vocab_size)
        positions = np.broadcast_to(np.arange(self.tokens_per_number), arr.shape)
        valid = in_vocab & self._masks[positions, np.where(in_vocab, arr, 0)]
        if not valid.all():
            where = tuple(int(i) for i in np.argwhere(~valid)[0])
            token = int(arr[where])
            shown = repr(self.vocab[token]) if 0 <= token < self.vocab_size else "out of vocabulary"
            number = where[:-1]
            of = f" of number {number[0] if len(number) == 1 else number}" if number else ""
            raise ValueError(
                f"invalid token id {token} ({shown}) at position {where[-1]}{of}: position 0 takes a "
                "sign, 1 an exponent, 2.. digits"
            )

        sign = self._sign_of_id[arr[..., 0]]
        exponent_index = arr[..., 1] - self._exponent_offset
        mantissa = (self._digit_of_id[arr[..., 2:]] * self._place_values).sum(axis=-1)  # exact int64
        power = self._abs_scale_power[exponent_index]
        negative_scale = self._scale_is_negative[exponent_index]
        # One correctly rounded operation on exact operands: dividing by 10^|p| rather than
        # multiplying by an inexact 10^p keeps e.g. 1234 × 10^-3 exactly equal to float("1.234"). The
        # other operation is by 1.0, exact, and never overflows as a discarded np.where branch would.
        magnitude = mantissa.astype(np.float64) * np.where(negative_scale, 1.0, power)
        magnitude /= np.where(negative_scale, power, 1.0)
        return sign * magnitude

    def bin_width_batch(self, ids: np.ndarray | torch.Tensor) -> np.ndarray:
        """Width of the interval each number stands for: the place value of its last digit, ``[...]``.

        Encoding rounds to the nearest representable value, so ``decode(ids)`` stands for every value
        within half a width of it. A model's distribution over token sequences is a distribution over
        these intervals; reading it as uniform within each (as a histogram) makes it a density, whose
        quantiles cover a truth inside a predicted interval at their nominal rate.
        """
        values = self.decode_batch(ids)  # checks the ids
        arr = ids.detach().cpu().numpy() if not isinstance(ids, np.ndarray) and hasattr(ids, "detach") else ids
        exponent = np.asarray(arr)[..., 1].astype(np.int64) - self._exponent_offset + self.config.min_exponent
        return np.broadcast_to(10.0 ** (exponent - (self.config.mantissa_digits - 1)), values.shape).copy()

    # ------------------------------------------------------------------ constrained decoding

    def allowed_mask(self, position: int) -> np.ndarray:
        """Bool ``[vocab_size]``: the ids valid at ``position`` (0 sign, 1 exponent, 2.. digits).

        Every digit is allowed at every digit position, so any sequence sampled within the masks decodes
        (an unnormalized leading zero just gives a smaller number).
        """
        if not 0 <= position < self.tokens_per_number:
            raise ValueError(f"position must be in [0, {self.tokens_per_number}), got {position}")
        return self._masks[position].copy()

    def allowed_masks(self) -> np.ndarray:
        """Bool ``[tokens_per_number, vocab_size]``: :meth:`allowed_mask` of every position, stacked."""
        return self._masks.copy()

    # ------------------------------------------------------------------ serialization

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable description, saved with a model; the vocab is kept to catch format drift."""
        return {
            "kind": _FORMAT_KIND,
            "mantissa_digits": self.config.mantissa_digits,
            "min_exponent": self.config.min_exponent,
            "max_exponent": self.config.max_exponent,
            "vocab": list(self.vocab),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NumberTokenizer:
        """Inverse of :meth:`to_dict`; refuses another format, or a vocab this version would not build."""
        kind = d.get("kind", _FORMAT_KIND)
        if kind != _FORMAT_KIND:
            raise ValueError(f"not a {_FORMAT_KIND} number tokenizer: kind={kind!r}")
        missing = [k for k in ("mantissa_digits", "min_exponent", "max_exponent") if k not in d]
        if missing:
            raise ValueError(f"number tokenizer dict lacks {', '.join(missing)}")
        tokenizer = cls(
            NumberTokenizerConfig(
                mantissa_digits=d["mantissa_digits"],
                min_exponent=d["min_exponent"],
                max_exponent=d["max_exponent"],
            )
        )
        # A model's output head is indexed by token id: a saved vocab that differs from the rebuilt
        # one would silently scramble every decoded number.
        if "vocab" in d and list(d["vocab"]) != tokenizer.vocab:
            raise ValueError("saved vocab differs from the one this version builds for the same config")
        return tokenizer


def dequantize(values: np.ndarray, widths: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Samples of decoded numbers spread over the intervals they stand for, ``[n, S] -> [n, S]``.

    Row i holds S samples of one quantity; each decoded value stands for ``value ± width / 2``
    (:meth:`NumberTokenizer.bin_width_batch`). The k samples of a row that share one value are spread
    evenly over its interval, to ``value + ((j + 1/2) / k - 1/2) x width`` for j = 0..k-1 (the
    midpoints of k equal parts, assigned in a random order): the samples then follow the density the
    token distribution defines (a histogram's, uniform within each interval), and a row whose samples
    all agree keeps that value as its median, so equal predictions stay equal instead of being
    ordered at random (which costs rank correlation against a truth with ties).
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape != np.shape(widths):
        raise ValueError(f"values and widths must both be [n, S], got {values.shape} and {np.shape(widths)}")
    n, size = values.shape
    order = np.lexsort((rng.random(values.shape), values), axis=1)  # by value, ties in random order
    ranked = np.take_along_axis(values, order, axis=1)
    starts = np.ones((n, size), dtype=bool)
    starts[:, 1:] = ranked[:, 1:] != ranked[:, :-1]
    position = np.broadcast_to(np.arange(size), (n, size))
    first = np.maximum.accumulate(np.where(starts, position, 0), axis=1)  # where each sample's group starts
    ends = np.ones((n, size), dtype=bool)
    ends[:, :-1] = starts[:, 1:]
    last = np.minimum.accumulate(np.where(ends, position, size - 1)[:, ::-1], axis=1)[:, ::-1]
    offsets = np.empty_like(values)
    np.put_along_axis(offsets, order, (position - first + 0.5) / (last - first + 1) - 0.5, axis=1)
    return values + offsets * widths
