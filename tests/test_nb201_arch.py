"""Tests for NB201 cell architectures, checked against the vendored official table."""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict

import numpy as np
import optuna
import pandas as pd
import pytest
from scipy import stats

from search_spaces.nb201 import arch as arch_module
from search_spaces.nb201.arch import (
    EDGES,
    NUM_ARCHS,
    OPS,
    PARAM_NAMES,
    ArchStringError,
    Nb201Arch,
    all_archs,
    from_optuna_params,
    mutate_arch,
    optuna_distributions,
    sample_arch,
    suggest_arch,
    to_optuna_params,
)
from search_spaces.nb201.tables import load_table

EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return load_table("nb201_test_acc_200ep")


def hamming(a: Nb201Arch, b: Nb201Arch) -> int:
    return sum(x != y for x, y in zip(a.ops, b.ops, strict=True))


def test_constants_describe_the_nb201_cell() -> None:
    assert NUM_ARCHS == len(OPS) ** len(EDGES) == 15_625
    assert len(set(OPS)) == 5
    # Every node j takes each earlier node once, and the edges are grouped node by node.
    assert list(EDGES) == [(to, frm) for to in range(1, 4) for frm in range(to)]
    assert PARAM_NAMES == ("edge_1_0", "edge_2_0", "edge_2_1", "edge_3_0", "edge_3_1", "edge_3_2")


def test_example_arch_parses() -> None:
    arch = Nb201Arch.from_str(EXAMPLE)
    assert arch.ops == (
        "nor_conv_3x3",
        "nor_conv_1x1",
        "avg_pool_3x3",
        "skip_connect",
        "none",
        "nor_conv_3x3",
    )
    assert arch.edges() == [
        (1, 0, "nor_conv_3x3"),
        (2, 0, "nor_conv_1x1"),
        (2, 1, "avg_pool_3x3"),
        (3, 0, "skip_connect"),
        (3, 1, "none"),
        (3, 2, "nor_conv_3x3"),
    ]
    assert arch.to_str() == str(arch) == EXAMPLE


def test_surrounding_whitespace_is_tolerated() -> None:
    assert Nb201Arch.from_str(f"  \t{EXAMPLE}\n") == Nb201Arch.from_str(EXAMPLE)


def test_every_table_string_round_trips(table: pd.DataFrame) -> None:
    for text in table["arch_str"]:
        assert Nb201Arch.from_str(text).to_str() == text


def test_index_and_from_index_agree_with_table(table: pd.DataFrame) -> None:
    for position, text in zip(table["index"], table["arch_str"], strict=True):
        arch = Nb201Arch.from_str(text)
        assert arch.index == position
        assert Nb201Arch.from_index(position) == arch
    assert Nb201Arch.from_index(np.int64(7)).to_str() == table["arch_str"].iloc[7]


def test_all_archs_is_the_official_order(table: pd.DataFrame) -> None:
    archs = all_archs()
    assert [a.to_str() for a in archs] == table["arch_str"].tolist()
    assert len(set(archs)) == NUM_ARCHS
    # The op product is not the official order, so the table really is needed.
    assert [a.ops for a in archs] != list(itertools.product(OPS, repeat=len(EDGES)))
    archs.clear()  # callers get their own list; the cache must not change
    assert len(all_archs()) == NUM_ARCHS


@pytest.mark.parametrize("bad", [-1, NUM_ARCHS, 10**9])
def test_from_index_out_of_range(bad: int) -> None:
    with pytest.raises(IndexError, match=r"0\.\.15624") as info:
        Nb201Arch.from_index(bad)
    assert str(bad) in str(info.value)


@pytest.mark.parametrize("bad", [True, 1.0, "3"])
def test_from_index_rejects_non_integers(bad: object) -> None:
    with pytest.raises(TypeError):
        Nb201Arch.from_index(bad)  # type: ignore[arg-type]


# (bad string, fragments its error message must contain besides the string itself)
BAD_STRINGS = [
    ("", ["empty", "expected format"]),
    ("   ", ["empty", "expected format"]),
    (
        "nor_conv_3x3~0+none~0|none~1+none~0|none~1|none~2",
        ["does not start and end with '|'", "expected format"],
    ),
    ("|nor_conv_3x3~0|+|none~0||none~1|+|none~0|none~1|none~2|", ["empty edge", "expected format"]),
    ("|nor_conv_3x3|+|none~0|none~1|+|none~0|none~1|none~2|", ["no '~'", "op~input_node"]),
    ("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|", ["unknown op 'conv_5x5'", "valid ops: none"]),
    ("|none~0|+| none~0|none~1|+|none~0|none~1|none~2|", ["unknown op ' none'", "avg_pool_3x3"]),
    ("|none~a|+|none~0|none~1|+|none~0|none~1|none~2|", ["input node 'a'", "non-negative integer"]),
    ("|none~01|+|none~0|none~1|+|none~0|none~1|none~2|", ["input node '01'", "non-negative integer"]),
    ("|none~0|+|none~0|none~1|", ["2 node group(s)", "expected 3"]),
    ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|+|none~0|", ["4 node group(s)", "expected 3"]),
    ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|+", ["node group 4", "expected format"]),
    ("|none~0|+|none~0|+|none~0|none~1|none~2|", ["node 2 has 1 edge(s), expected 2", "inputs 0..1"]),
    ("|none~0|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", ["node 1 has 2 edge(s), expected 1"]),
    ("|none~0|+|none~0|none~2|+|none~0|none~1|none~2|", ["node 2 takes input 2", "out of range", "0..1"]),
    ("|none~0|+|none~0|none~1|+|none~0|none~0|none~2|", ["node 3 takes input 0 more than once", "0..2"]),
    ("|none~0|+|none~1|none~0|+|none~0|none~1|none~2|", ["order [1, 0]", "increasing order"]),
]


@pytest.mark.parametrize(("bad", "fragments"), BAD_STRINGS)
def test_bad_strings_raise_informative_errors(bad: str, fragments: list[str]) -> None:
    with pytest.raises(ArchStringError) as info:
        Nb201Arch.from_str(bad)
    message = str(info.value)
    assert repr(bad) in message  # the offending string is shown as given
    for fragment in fragments:
        assert fragment in message


def test_non_string_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="must be a str"):
        Nb201Arch.from_str(123)  # type: ignore[arg-type]


def test_arch_string_error_is_a_value_error() -> None:
    assert issubclass(ArchStringError, ValueError)


def test_constructor_validates_ops() -> None:
    with pytest.raises(ArchStringError, match="exactly 6 ops") as info:
        Nb201Arch(("none",) * 5)
    assert "edge_1_0" in str(info.value)
    with pytest.raises(ArchStringError, match=r"unknown op 'conv' on edge 1->3.*valid ops: none"):
        Nb201Arch(("none", "none", "none", "none", "conv", "none"))
    with pytest.raises(ArchStringError, match="from_str"):
        Nb201Arch(EXAMPLE)  # type: ignore[arg-type]
    listed = Nb201Arch(["none"] * 6)  # type: ignore[arg-type]
    assert isinstance(listed.ops, tuple)
    assert hash(listed) == hash(Nb201Arch(("none",) * 6))


def test_unique_str_matches_nats_bench_exactly(table: pd.DataFrame) -> None:
    for text, expected in zip(table["arch_str"], table["unique_str"], strict=True):
        assert Nb201Arch.from_str(text).unique_str() == expected


def test_canonical_partition_equals_unique_str_partition(table: pd.DataFrame) -> None:
    by_canonical: dict[str, set[int]] = defaultdict(set)
    by_unique: dict[str, set[int]] = defaultdict(set)
    for position, arch in enumerate(all_archs()):
        by_canonical[arch.canonical()].add(position)
        by_unique[table["unique_str"].iloc[position]].add(position)
    assert len(by_canonical) == len(by_unique) == 6_466
    assert {frozenset(c) for c in by_canonical.values()} == {frozenset(c) for c in by_unique.values()}


def test_canonical_is_the_smallest_member_and_a_fixed_point() -> None:
    members: dict[str, list[Nb201Arch]] = defaultdict(list)
    for arch in all_archs():
        members[arch.canonical()].append(arch)
    for canonical, group in members.items():
        representative = Nb201Arch.from_str(canonical)
        assert representative in group
        assert representative.canonical() == canonical
        assert representative == min(group, key=lambda a: [OPS.index(op) for op in a.ops])


def test_canonical_forms_of_all_archs() -> None:
    # The one-off build from a cold cache (its speed is a benchmark figure, not a test: CI is busy).
    arch_module._canonical_map.cache_clear()
    keys = [a.canonical() for a in all_archs()]
    assert len(set(keys)) == 6_466


def test_canonical_known_isomorphisms() -> None:
    # An output node that takes nothing (all `none`) is the zero cell whatever the other edges are.
    dead = {Nb201Arch((*first, "none", "none", "none")).canonical() for first in itertools.product(OPS, repeat=3)}
    assert len(dead) == 1
    # Reaching node 2 through a skip via node 1 or directly from node 0 is the same function.
    via_node1 = Nb201Arch.from_str("|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|nor_conv_3x3~2|")
    direct = Nb201Arch.from_str("|skip_connect~0|+|skip_connect~0|none~1|+|none~0|none~1|nor_conv_3x3~2|")
    assert via_node1.canonical() == direct.canonical()
    # A sum does not depend on the order of its terms.
    a = Nb201Arch.from_str("|nor_conv_1x1~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|none~1|skip_connect~2|")
    b = Nb201Arch.from_str("|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|none~0|none~1|skip_connect~2|")
    assert a.canonical() == b.canonical()
    # Different ops on the only path are different functions.
    c = Nb201Arch.from_str("|none~0|+|none~0|none~1|+|nor_conv_1x1~0|none~1|none~2|")
    d = Nb201Arch.from_str("|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|")
    assert c.canonical() != d.canonical()


def test_canonical_keeps_nats_quirk_of_zero_terms() -> None:
    # Swapping the convs on nodes 1 and 2 gives the same function here, but NATS keeps the `none`
    # edge into node 2 as a '#' term, so the two cells sort differently and stay distinct classes.
    # The published 6,466 classes depend on this; the partition test above pins it down.
    a = Nb201Arch.from_str("|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|none~0|skip_connect~1|skip_connect~2|")
    b = Nb201Arch.from_str("|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|none~0|skip_connect~1|skip_connect~2|")
    assert a.unique_str() == "#+#+(0)@nor_conv_3x3+(0)@nor_conv_1x1"
    assert b.unique_str() == "#+#+(0)@nor_conv_1x1+(0)@nor_conv_3x3"
    assert a.canonical() != b.canonical()


def test_sampling_is_seeded_and_deterministic() -> None:
    first = [sample_arch(np.random.default_rng(3)) for _ in range(3)]
    assert len(set(first)) == 1  # same seed, same arch

    def run(seed: int) -> list[Nb201Arch]:
        rng = np.random.default_rng(seed)
        return [sample_arch(rng) for _ in range(50)]

    run_a, run_b, run_c = run(11), run(11), run(12)
    assert run_a == run_b
    assert run_a != run_c


def test_sampling_is_uniform() -> None:
    rng = np.random.default_rng(0)
    n = 40_000
    samples = [sample_arch(rng) for _ in range(n)]
    # Each edge's op is uniform over the 5 ops.
    for position in range(len(EDGES)):
        counts = Counter(a.ops[position] for a in samples)
        assert set(counts) == set(OPS)
        assert stats.chisquare([counts[op] for op in OPS]).pvalue > 1e-4
    # Edges are independent: the number of distinct archs matches uniform draws over all 15,625.
    expected_distinct = NUM_ARCHS * (1 - math.exp(-n / NUM_ARCHS))
    assert abs(len(set(samples)) - expected_distinct) < 150


@pytest.mark.parametrize("n_edits", range(1, 7))
def test_mutation_changes_exactly_n_edits_edges(n_edits: int) -> None:
    rng = np.random.default_rng(n_edits)
    new_ops: Counter[str] = Counter()
    for _ in range(300):
        parent = sample_arch(rng)
        child = mutate_arch(parent, rng, n_edits=n_edits)
        assert child != parent
        assert hamming(parent, child) == n_edits
        new_ops.update(c for p, c in zip(parent.ops, child.ops, strict=True) if p != c)
    assert set(new_ops) == set(OPS)  # every op can be mutated into


def test_mutation_is_seeded_and_defaults_to_one_edit() -> None:
    parent = Nb201Arch.from_str(EXAMPLE)
    a = mutate_arch(parent, np.random.default_rng(5))
    b = mutate_arch(parent, np.random.default_rng(5))
    assert a == b
    assert hamming(parent, a) == 1
    children = {mutate_arch(parent, np.random.default_rng(seed)) for seed in range(200)}
    assert len(children) == len(EDGES) * (len(OPS) - 1)  # all 24 one-edit neighbours are reachable


@pytest.mark.parametrize("bad", [0, 7, -1])
def test_mutation_rejects_bad_edit_counts(bad: int) -> None:
    with pytest.raises(ValueError, match="between 1 and 6"):
        mutate_arch(Nb201Arch.from_str(EXAMPLE), np.random.default_rng(0), n_edits=bad)


def test_optuna_distributions() -> None:
    distributions = optuna_distributions()
    assert list(distributions) == list(PARAM_NAMES)
    for distribution in distributions.values():
        assert isinstance(distribution, optuna.distributions.CategoricalDistribution)
        assert tuple(distribution.choices) == OPS


def test_optuna_params_round_trip() -> None:
    for arch in all_archs():
        params = to_optuna_params(arch)
        assert list(params) == list(PARAM_NAMES)
        assert from_optuna_params(params) == arch
    assert to_optuna_params(Nb201Arch.from_str(EXAMPLE))["edge_3_1"] == "none"


def test_optuna_study_with_suggest_arch(table: pd.DataFrame) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    accuracy = table["cifar10_test_acc"].to_numpy()
    seen: list[Nb201Arch] = []

    def objective(trial: optuna.Trial) -> float:
        arch = suggest_arch(trial)
        seen.append(arch)
        return float(accuracy[arch.index])

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    # A trial built from optuna_distributions() must be compatible with suggest_arch's parameters.
    study.add_trial(
        optuna.trial.create_trial(
            params=to_optuna_params(Nb201Arch.from_index(0)),
            distributions=optuna_distributions(),
            value=float(accuracy[0]),
        )
    )
    enqueued = Nb201Arch.from_str(EXAMPLE)
    study.enqueue_trial(to_optuna_params(enqueued))
    study.optimize(objective, n_trials=6)
    assert len(study.trials) == 7
    assert seen[0] == enqueued
    for trial in study.trials:
        arch = from_optuna_params(trial.params)
        assert trial.value == pytest.approx(accuracy[arch.index])
        assert trial.distributions == optuna_distributions()
    assert [from_optuna_params(t.params) for t in study.trials[1:]] == seen


def test_from_optuna_params_errors() -> None:
    good = to_optuna_params(Nb201Arch.from_str(EXAMPLE))
    missing = {k: v for k, v in good.items() if k != "edge_2_1"}
    with pytest.raises(ValueError, match=r"missing edge_2_1.*expected exactly the keys edge_1_0, edge_2_0"):
        from_optuna_params(missing)
    with pytest.raises(ValueError, match=r"unknown lr.*expected exactly the keys"):
        from_optuna_params({**good, "lr": 0.1})
    with pytest.raises(ValueError, match=r"missing edge_1_0; unknown edge_0_1"):
        from_optuna_params({**{k: v for k, v in good.items() if k != "edge_1_0"}, "edge_0_1": "none"})
    with pytest.raises(ValueError, match=r"edge_3_2='conv'.*valid ops: none, skip_connect"):
        from_optuna_params({**good, "edge_3_2": "conv"})
    with pytest.raises(ValueError, match=r"edge_1_0=3.*valid ops"):
        from_optuna_params({**good, "edge_1_0": 3})
