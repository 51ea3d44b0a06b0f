"""Optuna's own generic sampler test cases, run on the RLM sampler.

The sampler gets no search space of its own (it models every parameter the study's trials share,
as Optuna's samplers do) and a tiny surrogate, and starts proposing after one finished trial, so
the cases exercise its fitting and proposing, not only its random start.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from onnx import TensorProto, helper
from optuna.testing import pytest_samplers as generic

from nasrlm.rlm.model import DecoderConfig, EncoderConfig
from nasrlm.rlm.surrogate import Surrogate
from nasrlm.rlm.text_tokenizer import TextTokenizerConfig
from nasrlm.search.sampler import RLMSampler, RLMSamplerConfig
from nasrlm.text.convert import OnnxConverter

TINY = {"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 32}
QUICK = RLMSamplerConfig(
    n_startup_trials=1,
    proposals_per_fit=4,
    pool_random=12,
    pool_mutations=12,
    num_samples=2,
    first_fit_steps=2,
    refit_steps=1,
)


def parameters_network(params: dict):
    """A chain of additions, one per parameter, whose constants carry the parameter values.

    The ONNX text keeps scalar constants, so each assignment of values is a different text; a value
    that is not a number enters as a checksum of its repr.
    """
    nodes, constants, previous = [], [], "x"
    for i, (name, value) in enumerate(sorted(params.items())):
        number = float(value) if isinstance(value, (int, float)) else float(zlib.crc32(repr(value).encode()) % 997)
        constants.append(helper.make_tensor(f"c{i}", TensorProto.FLOAT, [], [number]))
        nodes.append(helper.make_node("Add", [previous, f"c{i}"], [f"h_{name}"]))
        previous = f"h_{name}"
    graph = helper.make_graph(
        nodes,
        "parameters",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info(previous, TensorProto.FLOAT, [1])],
        constants,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture(scope="module")
def tiny_surrogate_path(tmp_path_factory):
    rng = np.random.default_rng(0)
    examples = [
        {"x": float(rng.uniform(-10, 10)), "y": int(rng.integers(-10, 10)), "z": "abc"[i % 3]} for i in range(20)
    ]
    texts = OnnxConverter()([parameters_network(p) for p in examples])
    surrogate = Surrogate.new(
        ("score",),
        texts,
        tokenizer=TextTokenizerConfig(vocab_size=300, max_length=96),
        encoder=EncoderConfig(**TINY, max_length=96),
        decoder=DecoderConfig(**TINY),
        seed=0,
    )
    path = tmp_path_factory.mktemp("tiny") / "surrogate"
    surrogate.save(path)
    return path


class RLMSamplerFixture:
    """Optuna's cases ask for a ``sampler`` fixture: a function that makes a fresh sampler."""

    @pytest.fixture
    def sampler(self, tiny_surrogate_path):
        return lambda: RLMSampler(
            None, parameters_network, surrogate=Surrogate.load(tiny_surrogate_path), config=QUICK, seed=0
        )


class TestBasicSamplerCases(RLMSamplerFixture, generic.BasicSamplerTestCase):
    pass


class TestRelativeSamplerCases(RLMSamplerFixture, generic.RelativeSamplerTestCase):
    pass


class TestMultiObjectiveSamplerCases(RLMSamplerFixture, generic.MultiObjectiveSamplerTestCase):
    pass
