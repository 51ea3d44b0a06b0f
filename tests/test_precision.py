"""Prediction precision: bfloat16 decoding keeps what float32 decoding predicts; bad names are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr

from nasrlm.rlm.model import _one_query_attention
from nasrlm.rlm.precision import native_bfloat16, prediction_precision
from nasrlm.rlm.training import TrainConfig
from tests.test_rlm import _surrogate, _task


def test_one_query_attention_matches_scaled_dot_product_attention():
    generator = torch.Generator().manual_seed(0)
    q = torch.randn(6, 2, 1, 8, generator=generator)
    k = torch.randn(6, 2, 5, 8, generator=generator)
    v = torch.randn(6, 2, 5, 8, generator=generator)
    expected = F.scaled_dot_product_attention(q, k, v)
    assert torch.allclose(_one_query_attention(q, k, v), expected, atol=1e-6)
    # a view of a larger cache buffer, as the decoder passes it
    buffer_k, buffer_v = torch.zeros(6, 2, 9, 8), torch.zeros(6, 2, 9, 8)
    buffer_k[:, :, :5], buffer_v[:, :, :5] = k, v
    assert torch.allclose(_one_query_attention(q, buffer_k[:, :, :5], buffer_v[:, :, :5]), expected, atol=1e-6)


def test_unknown_precision_is_refused_with_the_valid_ones():
    with pytest.raises(ValueError, match="auto, float32, bfloat16"):
        prediction_precision("half")


def test_float32_is_a_no_op_and_bfloat16_autocasts():
    with prediction_precision("float32"):
        assert not torch.is_autocast_enabled("cpu")
    with prediction_precision("bfloat16"):
        assert torch.is_autocast_enabled("cpu")
    with prediction_precision("auto"):
        assert torch.is_autocast_enabled("cpu") == native_bfloat16()


def test_bfloat16_sampling_predicts_what_float32_predicts():
    texts, y1, y2 = _task(160, seed=3)
    surrogate = _surrogate(texts)
    surrogate.fit(texts[:120], {"y1": y1[:120], "y2": y2[:120]}, TrainConfig(epochs=40, batch_size=16, lr=3e-3))
    held_out = texts[120:]
    full = surrogate.predict(held_out, precision="float32", temperature=1.0)
    half = surrogate.predict(held_out, precision="bfloat16", temperature=1.0)
    assert half.samples.shape == full.samples.shape and np.isfinite(half.samples).all()
    for name in ("y1", "y2"):  # the two agree far more than either agrees with the truth's noise
        assert spearmanr(full.point[name], half.point[name])[0] > 0.9
    assert spearmanr(half.point["y1"], y1[120:])[0] > 0.8
