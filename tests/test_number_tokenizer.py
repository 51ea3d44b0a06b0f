"""The number tokenizer round-trips, rounds correctly, clips loudly and decodes every allowed sequence."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import torch

from nasrlm.rlm.number_tokenizer import NumberTokenizer, NumberTokenizerConfig

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # the seeded numpy sweeps below cover the same properties without it
    given = None

needs_hypothesis = pytest.mark.skipif(given is None, reason="hypothesis is not installed")

TOK = NumberTokenizer()
M = TOK.config.mantissa_digits
EPS = float(np.finfo(np.float64).eps)
# Decoded vs the correctly rounded reference: exact equality for the default format; other formats
# (whose powers of ten may be inexact) within 10^-M / 2 relative.
# Decoded vs the original value: rounding to M significant digits costs up to half a unit in the last
# digit, i.e. 10^-(M-1) / 2 relative to a mantissa d1.d2… >= 1.
ROUNDING_TOL = 10.0 ** (1 - M) / 2 + 4 * EPS


def rounded(x: float, digits: int = M) -> float:
    """x rounded to `digits` significant digits, the reference the tokenizer must reproduce."""
    return float(f"{x:.{digits - 1}e}")


def tokens(tok: NumberTokenizer, x: float) -> list[str]:
    return [tok.vocab[i] for i in tok.encode(x)]


# ---------------------------------------------------------------------------- vocabulary and format


def test_vocab_layout_and_sizes() -> None:
    assert TOK.vocab[:4] == ["<+>", "<->", "<E-8>", "<E-7>"]
    assert TOK.vocab[-11:] == ["<E8>"] + [f"<{d}>" for d in range(10)]
    assert TOK.vocab_size == len(TOK.vocab) == 2 + 17 + 10
    assert len(set(TOK.vocab)) == TOK.vocab_size
    assert TOK.tokens_per_number == 6
    assert TOK.max_value == 9.999e8
    assert TOK.min_positive == 1e-8


def test_known_encodings() -> None:
    assert tokens(TOK, -0.0123449) == ["<->", "<E-2>", "<1>", "<2>", "<3>", "<4>"]
    assert tokens(TOK, 3.0) == ["<+>", "<E0>", "<3>", "<0>", "<0>", "<0>"]
    assert tokens(TOK, 72.5) == ["<+>", "<E1>", "<7>", "<2>", "<5>", "<0>"]


def test_zero_and_negative_zero_are_canonical() -> None:
    zero = ["<+>", "<E-8>", "<0>", "<0>", "<0>", "<0>"]
    assert tokens(TOK, 0.0) == zero
    assert tokens(TOK, -0.0) == zero
    assert TOK.decode(TOK.encode(0.0)) == 0.0


# ---------------------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    "x",
    [1.0, 0.5, 3.14159265, 72.5, 12345.678, -1.0, -0.0123449, -271.828, 1e-7, -1e-7, 9.99e8, -9.99e8, 1e-8],
)
def test_round_trip_equals_correct_rounding(x: float) -> None:
    back = TOK.decode(TOK.encode(x))
    assert back == rounded(x)
    assert math.isclose(back, x, rel_tol=ROUNDING_TOL)
    assert math.copysign(1.0, back) == math.copysign(1.0, x)


def test_round_trip_over_many_decades_seeded() -> None:
    # Log-uniform magnitudes over the whole representable range, both signs, always run.
    rng = np.random.default_rng(0)
    x = rng.choice([-1.0, 1.0], 20_000) * 10.0 ** rng.uniform(-8, math.log10(TOK.max_value), 20_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing here is out of range
        back = TOK.decode_batch(TOK.encode_batch(x))
    expected = np.array([rounded(v) for v in x])
    in_range = np.abs(expected) >= TOK.min_positive  # the few that round below 1e-8 flush to zero
    np.testing.assert_array_equal(back[in_range], expected[in_range])
    np.testing.assert_allclose(back[in_range], x[in_range], rtol=ROUNDING_TOL, atol=0)
    assert np.all(back[~in_range] == 0.0)


def test_a_number_stands_for_the_interval_its_last_digit_rounds() -> None:
    rng = np.random.default_rng(1)
    x = rng.choice([-1.0, 1.0], 5_000) * 10.0 ** rng.uniform(-6, 6, 5_000)
    ids = TOK.encode_batch(x)
    width = TOK.bin_width_batch(ids)
    back = TOK.decode_batch(ids)
    assert width.shape == back.shape
    # The place value of the last digit: 1.234e-2 stands for [1.2335e-2, 1.2345e-2].
    np.testing.assert_allclose(TOK.bin_width_batch(TOK.encode_batch([0.012345, 5.0, 98_765.0])), [1e-5, 1e-3, 10.0])
    assert np.all(np.abs(x - back) <= width / 2 * (1 + 1e-9))
    with pytest.raises(ValueError, match="invalid token"):
        TOK.bin_width_batch(np.array([[0, 0, 0, 0, 0, 0]]))


@needs_hypothesis
def test_round_trip_property() -> None:
    @settings(max_examples=500, deadline=None)
    @given(
        st.floats(min_value=TOK.min_positive, max_value=TOK.max_value, allow_subnormal=False),
        st.booleans(),
    )
    def check(magnitude: float, negative: bool) -> None:
        x = -magnitude if negative else magnitude
        back = TOK.decode(TOK.encode(x))
        assert back == rounded(x)
        assert math.isclose(back, x, rel_tol=ROUNDING_TOL)
        ids = TOK.encode(x)
        assert TOK.vocab[ids[2]] != "<0>"  # encoded non-zero values are normalized

    check()


@needs_hypothesis
def test_any_finite_float_encodes_within_the_format() -> None:
    @settings(max_examples=500, deadline=None)
    @given(st.floats(allow_nan=False, allow_infinity=False))
    def check(x: float) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            back = TOK.decode(TOK.encode(x))
        if abs(x) > TOK.max_value:
            assert back == math.copysign(TOK.max_value, x)
        elif abs(rounded(x)) < TOK.min_positive:
            assert back == 0.0
        else:
            assert math.isclose(back, x, rel_tol=ROUNDING_TOL)

    check()


@needs_hypothesis
def test_round_trip_property_other_configs() -> None:
    @settings(max_examples=300, deadline=None)
    @given(st.integers(1, 15), st.integers(-30, 30), st.integers(0, 30), st.floats(0.0, 1.0))
    def check(digits: int, low: int, span: int, u: float) -> None:
        tok = NumberTokenizer(NumberTokenizerConfig(digits, low, low + span))
        x = 10.0 ** (low + u * (span + 0.999))
        if not tok.min_positive <= rounded(x, digits) <= tok.max_value:
            return
        back = tok.decode(tok.encode(x))
        assert math.isclose(back, rounded(x, digits), rel_tol=10.0**-digits / 2 + 4 * EPS)
        assert math.isclose(back, x, rel_tol=10.0 ** (1 - digits) / 2 + 4 * EPS)

    check()


# ---------------------------------------------------------------------------- rounding and carry


def test_carry_into_the_exponent() -> None:
    assert tokens(TOK, 9.9996) == ["<+>", "<E1>", "<1>", "<0>", "<0>", "<0>"]
    assert TOK.decode(TOK.encode(9.9996)) == 10.0
    assert TOK.decode(TOK.encode(-99_999.0)) == -1e5
    assert TOK.decode(TOK.encode(9.9994)) == 9.999  # just below the carry: no carry


def test_ties_round_half_to_even() -> None:
    # Only exact binary halves are ties; the documented rule is half-to-even.
    tok2 = NumberTokenizer(NumberTokenizerConfig(mantissa_digits=2))
    assert tok2.decode(tok2.encode(0.125)) == 0.12
    assert tok2.decode(tok2.encode(0.375)) == 0.38
    tok1 = NumberTokenizer(NumberTokenizerConfig(mantissa_digits=1))
    assert tok1.decode(tok1.encode(2.5)) == 2.0
    assert tok1.decode(tok1.encode(3.5)) == 4.0
    assert tok1.decode(tok1.encode(-9.5)) == -10.0  # tie, even digit reached through the carry


def test_tiny_values_flush_to_zero_without_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ids = TOK.encode_batch([1e-9, -4e-12, 9.9e-9, 5e-324])
    np.testing.assert_array_equal(ids, np.tile(TOK.encode(0.0), (4, 1)))
    # Just below min_positive but rounding up to it is kept, not flushed.
    assert TOK.decode(TOK.encode(9.99996e-9)) == TOK.min_positive


# ---------------------------------------------------------------------------- clipping and errors


def test_clipping_warns_once_with_count_and_keeps_sign() -> None:
    values = [1.0, 1e9, -3e12, 2.0, 9.99951e8, 1.7e308]  # 9.99951e8 rounds to 1.000e9: out of range too
    with pytest.warns(UserWarning) as record:
        ids = TOK.encode_batch(values, name="latency")
    assert len(record) == 1
    message = str(record[0].message)
    assert "latency" in message
    assert "clipped 4 of 6" in message
    assert "9.999e+08" in message and "1.000e-08" in message
    assert record[0].filename == __file__  # points at the caller, not the tokenizer
    back = TOK.decode_batch(ids)
    np.testing.assert_array_equal(back, [1.0, 9.999e8, -9.999e8, 2.0, 9.999e8, 9.999e8])


def test_single_encode_clips_and_warns() -> None:
    with pytest.warns(UserWarning, match="clipped 1 of 1"):
        ids = TOK.encode(-5e20)
    assert TOK.decode(ids) == -TOK.max_value


def test_in_range_batch_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TOK.encode_batch([9.9994e8, -9.999e8, 0.0, 1e-8])


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_name_the_rows(bad: float) -> None:
    with pytest.raises(ValueError, match=r"val_acc has 2 non-finite .* row\(s\) 1, 4"):
        TOK.encode_batch([0.5, bad, 0.7, 0.8, bad], name="val_acc")


def test_many_non_finite_rows_are_summarized() -> None:
    values = np.full(25, np.nan)
    with pytest.raises(ValueError, match=r"row\(s\) 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and 15 more"):
        TOK.encode_batch(values)


def test_single_non_finite_value_raises() -> None:
    with pytest.raises(ValueError, match="non-finite"):
        TOK.encode(math.nan)


def test_encode_batch_shapes_and_dtype() -> None:
    ids = TOK.encode_batch(np.array([1.0, 2.0, 3.0], dtype=np.float32))
    assert ids.shape == (3, TOK.tokens_per_number) and ids.dtype == np.int64
    assert TOK.encode_batch([]).shape == (0, TOK.tokens_per_number)
    assert TOK.encode_batch(2.0).shape == (1, TOK.tokens_per_number)
    with pytest.raises(ValueError, match=r"1-D, got shape \(2, 2\)"):
        TOK.encode_batch([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(ValueError, match="must be numeric"):
        TOK.encode_batch(["fast"])


# ---------------------------------------------------------------------------- constrained decoding


def test_mask_shapes_and_contents() -> None:
    masks = TOK.allowed_masks()
    assert masks.shape == (TOK.tokens_per_number, TOK.vocab_size) and masks.dtype == np.bool_
    for position in range(TOK.tokens_per_number):
        np.testing.assert_array_equal(TOK.allowed_mask(position), masks[position])
    assert [TOK.vocab[i] for i in np.flatnonzero(masks[0])] == ["<+>", "<->"]
    assert [TOK.vocab[i] for i in np.flatnonzero(masks[1])] == [f"<E{e}>" for e in range(-8, 9)]
    for position in range(2, TOK.tokens_per_number):
        assert [TOK.vocab[i] for i in np.flatnonzero(masks[position])] == [f"<{d}>" for d in range(10)]
    # Each token is allowed at exactly one kind of position, so masks never overlap between kinds.
    assert np.all(masks[:2].sum(axis=0) <= 1)
    with pytest.raises(ValueError, match="position"):
        TOK.allowed_mask(TOK.tokens_per_number)
    # Returned masks are copies: editing one must not change the tokenizer.
    masks[0, :] = False
    assert TOK.allowed_masks()[0, 0]


def _sample_allowed(tok: NumberTokenizer, n: int, rng: np.random.Generator) -> np.ndarray:
    masks = tok.allowed_masks()
    columns = [rng.choice(np.flatnonzero(mask), size=n) for mask in masks]
    return np.stack(columns, axis=1)


@pytest.mark.parametrize(
    "config",
    [
        NumberTokenizerConfig(),
        NumberTokenizerConfig(mantissa_digits=1, min_exponent=0, max_exponent=0),
        NumberTokenizerConfig(mantissa_digits=15, min_exponent=-293, max_exponent=307),
    ],
)
def test_every_allowed_sequence_decodes_to_a_finite_bounded_float(config: NumberTokenizerConfig) -> None:
    tok = NumberTokenizer(config)
    ids = _sample_allowed(tok, 20_000, np.random.default_rng(1))
    values = tok.decode_batch(ids)
    assert values.shape == (20_000,)
    assert np.all(np.isfinite(values))
    assert np.all(np.abs(values) <= tok.max_value)
    # The extreme sequences themselves are finite too.
    assert math.isfinite(tok.max_value) and tok.max_value > 0 and tok.min_positive > 0


def test_unnormalized_sequences_decode_to_smaller_numbers() -> None:
    ids = [TOK.vocab.index(t) for t in ["<->", "<E2>", "<0>", "<0>", "<4>", "<2>"]]
    assert TOK.decode(ids) == -4.2


def test_decode_batch_matches_per_number_decode() -> None:
    ids = _sample_allowed(TOK, 600, np.random.default_rng(2)).reshape(20, 30, TOK.tokens_per_number)
    batch = TOK.decode_batch(ids)
    assert batch.shape == (20, 30) and batch.dtype == np.float64
    loop = np.array([[TOK.decode(list(row)) for row in block] for block in ids])
    np.testing.assert_array_equal(batch, loop)
    # Reference from the token strings alone, independent of the tokenizer's lookup tables.
    flat = ids.reshape(-1, TOK.tokens_per_number)
    text = [
        f"{'-' if TOK.vocab[r[0]] == '<->' else ''}{''.join(TOK.vocab[i][1] for i in r[2:])}e"
        f"{int(TOK.vocab[r[1]][2:-1]) - (M - 1)}"
        for r in flat
    ]
    np.testing.assert_array_equal(batch.reshape(-1), [float(t) for t in text])
    np.testing.assert_array_equal(TOK.decode_batch(torch.from_numpy(ids)), batch)


def test_decode_refuses_invalid_sequences() -> None:
    good = TOK.encode(1.5)
    with pytest.raises(ValueError, match=r"invalid token id 2 \('<E-8>'\) at position 0"):
        TOK.decode([2, *good[1:]])
    with pytest.raises(ValueError, match="out of vocabulary"):
        TOK.decode([*good[:-1], TOK.vocab_size])
    with pytest.raises(ValueError, match="out of vocabulary"):
        TOK.decode([*good[:-1], -1])
    batch = np.array([good, good])
    batch[1, 3] = 0  # a sign token among the digits of the second number
    with pytest.raises(ValueError, match="position 3 of number 1"):
        TOK.decode_batch(batch)
    with pytest.raises(ValueError, match="shape"):
        TOK.decode(good[:-1])
    with pytest.raises(ValueError, match="integers"):
        TOK.decode_batch(np.array(good, dtype=np.float64))


# ---------------------------------------------------------------------------- serialization and config


def test_to_dict_from_dict_round_trip_through_json() -> None:
    tok = NumberTokenizer(NumberTokenizerConfig(mantissa_digits=3, min_exponent=-4, max_exponent=6))
    restored = NumberTokenizer.from_dict(json.loads(json.dumps(tok.to_dict())))
    assert restored.config == tok.config
    assert restored.vocab == tok.vocab
    x = np.array([0.0, -1.2345, 3e5, 7e-4])
    np.testing.assert_array_equal(restored.encode_batch(x), tok.encode_batch(x))


def test_from_dict_refuses_a_changed_vocab_or_format() -> None:
    d = TOK.to_dict()
    with pytest.raises(ValueError, match="vocab differs"):
        NumberTokenizer.from_dict({**d, "vocab": list(reversed(d["vocab"]))})
    with pytest.raises(ValueError, match="kind"):
        NumberTokenizer.from_dict({**d, "kind": "base2"})
    with pytest.raises(ValueError, match="lacks max_exponent"):
        NumberTokenizer.from_dict({k: v for k, v in d.items() if k != "max_exponent"})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mantissa_digits": 0}, r"mantissa_digits must be in \[1, 15\]"),
        ({"mantissa_digits": 16}, r"mantissa_digits must be in \[1, 15\]"),
        ({"min_exponent": 3, "max_exponent": 2}, "min_exponent must be <= max_exponent"),
        ({"max_exponent": 308}, "max_exponent must be <= 307"),
        ({"min_exponent": -305}, "min_exponent must be >= -304"),
        ({"mantissa_digits": 4.0}, "mantissa_digits must be an int"),
        ({"max_exponent": True}, "max_exponent must be an int"),
    ],
)
def test_config_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NumberTokenizerConfig(**kwargs)  # type: ignore[arg-type]


def test_config_is_frozen_and_default_is_not_shared() -> None:
    config = NumberTokenizerConfig()
    with pytest.raises(AttributeError):
        config.mantissa_digits = 5  # type: ignore[misc]
    assert NumberTokenizer().config == NumberTokenizerConfig()
    assert NumberTokenizer(NumberTokenizerConfig(min_exponent=-3)).config.min_exponent == -3
