"""Ensembles of fitted RLMs (Surrogate.fit's ``members``): fitting, pooled sampling, saving, refits."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from scipy.stats import spearmanr

from nasrlm.rlm.surrogate import Surrogate, _same_text_states
from nasrlm.rlm.training import TrainConfig
from tests.test_rlm import _surrogate, _task

CONFIG = TrainConfig(epochs=20, batch_size=16, lr=3e-3, progress=False, freeze_encoder=False)


@pytest.fixture(scope="module")
def pretrained() -> tuple[Surrogate, list[str], np.ndarray, np.ndarray]:
    """A tiny model trained on y1 and y2 (its 'pretraining'); the ensembles below fine-tune it on a new
    objective, y2's units changed, returned as the last item."""
    texts, y1, y2 = _task(240, seed=0)
    surrogate = _surrogate(texts)
    surrogate.fit(texts, {"y1": y1, "y2": y2}, CONFIG, members=1)
    new_texts, new_y1, new_y2 = _task(240, seed=2)
    return surrogate, new_texts, new_y1, 2 * new_y2 + 1


def _copy(surrogate: Surrogate) -> Surrogate:
    import copy

    return copy.deepcopy(surrogate)


@pytest.fixture(scope="module")
def ensemble(pretrained) -> tuple[Surrogate, list[str], np.ndarray]:
    base, texts, _, y2 = pretrained
    surrogate = _copy(base)
    frozen = TrainConfig(epochs=15, batch_size=16, lr=3e-3, progress=False, freeze_encoder=True, seed=4)
    result = surrogate.fit(texts[:160], {"z": y2[:160]}, frozen, members=3)
    assert result.seconds > 0
    return surrogate, texts[160:], y2[160:]


def test_members_are_fitted_with_their_own_seeds_and_share_a_frozen_encoder(ensemble):
    surrogate, texts, y2 = ensemble
    first, *others = surrogate.members
    assert len(others) == 2 and surrogate.meta["members"] == 3
    for other in others:
        assert _same_text_states(other, first)  # the encoder was frozen: one set of text states
        decoder = [name for name in first.state_dict() if name.startswith("layers.")]
        assert decoder and any(not torch.equal(first.state_dict()[k], other.state_dict()[k]) for k in decoder)
        assert other.objectives == first.objectives
    prediction = surrogate.predict(texts, num_samples=7, temperature=1.0, objectives=["z"])
    assert prediction.samples.shape == (len(texts), 7, 1)  # 3 + 2 + 2 samples, pooled
    assert spearmanr(prediction.point["z"], y2)[0] > 0.8


def test_pooled_samples_are_each_members_own(ensemble):
    """Member m's share of the samples is what that member alone decodes (greedy decoding: no chance)."""
    surrogate, texts, _ = ensemble
    pooled = surrogate.sample(texts[:12], num_samples=3, temperature=0, objectives=["z"], dequantize=False)
    for m, member in enumerate(surrogate.members):
        alone = Surrogate(member, surrogate.tokenizer, meta=surrogate.meta, text_form=surrogate.text_form)
        own = alone.sample(texts[:12], num_samples=1, temperature=0, objectives=["z"], dequantize=False)
        np.testing.assert_allclose(pooled[:, m], own[:, 0])
    assert len({tuple(pooled[:, m, 0]) for m in range(3)}) > 1  # the members differ


def test_an_ensemble_saves_only_what_differs_and_loads_identically(ensemble, tmp_path):
    surrogate, texts, _ = ensemble
    path = surrogate.save(tmp_path / "ensemble")
    config = json.loads((path / "config.json").read_text())
    assert config["members"] == 3
    names = load_file(str(path / "model.safetensors")).keys()
    member_names = [name for name in names if name.startswith("member")]
    assert member_names and not any(name.startswith(("member1.encoder.", "member2.encoder.")) for name in member_names)
    loaded = Surrogate.load(path)
    assert len(loaded.members) == 3
    a = surrogate.predict(texts[:10], num_samples=6, seed=3).samples
    b = loaded.predict(texts[:10], num_samples=6, seed=3).samples
    np.testing.assert_array_equal(a, b)


def test_unfrozen_members_encode_with_their_own_encoders(pretrained, tmp_path):
    base, texts, _, y2 = pretrained
    surrogate = _copy(base)
    surrogate.fit(texts[:120], {"z": y2[:120]}, CONFIG, members=2)
    first, other = surrogate.members
    assert not _same_text_states(other, first)
    pooled = surrogate.sample(texts[:8], num_samples=2, temperature=0, objectives=["z"], dequantize=False)
    alone = Surrogate(other, surrogate.tokenizer, meta=surrogate.meta)
    np.testing.assert_allclose(
        pooled[:, 1], alone.sample(texts[:8], num_samples=1, temperature=0, objectives=["z"], dequantize=False)[:, 0]
    )
    loaded = Surrogate.load(surrogate.save(tmp_path / "m"))
    np.testing.assert_array_equal(
        loaded.sample(texts[:8], num_samples=4, seed=1), surrogate.sample(texts[:8], num_samples=4, seed=1)
    )


def test_a_refit_continues_each_member_and_fewer_members_drop_the_rest(pretrained):
    base, texts, _, y2 = pretrained
    surrogate = _copy(base)
    frozen = TrainConfig(epochs=3, batch_size=16, lr=3e-3, progress=False, freeze_encoder=True)
    surrogate.fit(texts[:60], {"z": y2[:60]}, frozen, members=2)
    second = surrogate.members[1]
    before = {k: v.clone() for k, v in second.state_dict().items()}
    surrogate.fit(texts[60:120], {"z": y2[60:120]}, frozen, members=2)
    assert surrogate.members[1] is second  # trained on from its own weights, not a new copy
    assert any(not torch.equal(before[k], v) for k, v in second.state_dict().items())
    surrogate.fit(texts[60:120], {"z": y2[60:120]}, frozen, members=1)
    assert len(surrogate.members) == 1 and surrogate.meta["members"] == 1


def test_bad_member_counts_and_conversions_of_an_ensemble_are_refused(ensemble, pretrained):
    surrogate, texts, y2 = ensemble
    with pytest.raises(ValueError, match="members must be at least 1"):
        _copy(pretrained[0]).fit(texts, {"z": y2}, CONFIG, members=0)
    with pytest.raises(ValueError, match="ensemble of 3"):
        surrogate.read_in_windows(128, 64)
