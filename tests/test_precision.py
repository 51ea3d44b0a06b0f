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


def test_encoder_reads_padded_and_unpadded_batches_alike_and_restores_the_fast_path():
    from nasrlm.rlm.model import BuiltinEncoder, EncoderConfig

    torch.manual_seed(0)
    encoder = BuiltinEncoder(EncoderConfig(d_model=16, n_layers=2, n_heads=2, d_ff=32, max_length=12), 30, 0).eval()
    ids = torch.randint(1, 30, (4, 10))
    full = torch.ones(4, 10, dtype=torch.bool)
    padded_ids, padded = torch.cat([ids, torch.zeros(4, 2, dtype=torch.long)], 1), torch.zeros(4, 12, dtype=torch.bool)
    padded[:, :10] = True
    padded[1, 7:] = False  # one shorter row
    padded_ids[1, 7:] = 0
    with torch.no_grad():
        unpadded_states = encoder(ids, full)  # no mask: the fast path
        padded_states = encoder(padded_ids, padded)  # a mask: the regular path
        short = encoder(ids[1:2, :7], full[1:2, :7])
    assert torch.backends.mha.get_fastpath_enabled()  # switched back on after the padded batch
    assert torch.allclose(unpadded_states[[0, 2, 3]], padded_states[[0, 2, 3], :10], atol=1e-5)
    assert torch.allclose(short[0], padded_states[1, :7], atol=1e-5)


def test_prediction_batch_follows_the_precision_and_does_not_change_the_median():
    from nasrlm.rlm.precision import prediction_batch

    assert prediction_batch("bfloat16") > prediction_batch("float32")
    with pytest.raises(ValueError, match="auto, float32, bfloat16"):
        prediction_batch("half")
    texts, y1, y2 = _task(60, seed=4)
    surrogate = _surrogate(texts)
    surrogate.fit(texts[:40], {"y1": y1[:40], "y2": y2[:40]}, TrainConfig(epochs=5, batch_size=16, lr=3e-3))
    one = surrogate.predict(texts[40:], precision="float32", num_samples=4, batch_size=3)
    all_at_once = surrogate.predict(texts[40:], precision="float32", num_samples=4)
    for name in ("y1", "y2"):  # the decoded median is deterministic: batches must not move it
        np.testing.assert_allclose(one.point[name], all_at_once.point[name], rtol=1e-5)
