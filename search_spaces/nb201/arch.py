"""NAS-Bench-201 cell architectures: parse, print, index, canonicalize, sample, mutate, map to Optuna.

An NB201 cell has 4 nodes. Node 0 is the cell input; node j (1..3) is the sum of one op applied to
each earlier node i < j, so the cell has 6 edges, each carrying one of 5 ops: 5**6 = 15,625 cells.
The official string lists the edges node by node, e.g.
``|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|``.

The official index order is not an enumeration of the op product, so it is read from the vendored
benchmark table (once, lazily) rather than computed.
"""

from __future__ import annotations

import functools
import itertools
import operator
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from nasrlm.core.errors import NasrlmError

if TYPE_CHECKING:
    import optuna

__all__ = [
    "EDGES",
    "NUM_ARCHS",
    "OPS",
    "PARAM_NAMES",
    "ArchStringError",
    "Nb201Arch",
    "all_archs",
    "from_optuna_params",
    "mutate_arch",
    "optuna_distributions",
    "sample_arch",
    "suggest_arch",
    "to_optuna_params",
]

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# (to_node, from_node), in the order the official string lists them.
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
NUM_ARCHS = 15_625
# Optuna parameter names, one per edge in EDGES order.
PARAM_NAMES: tuple[str, ...] = tuple(f"edge_{to}_{frm}" for to, frm in EDGES)

_NUM_NODES = 4
# For node j: positions in EDGES of its incoming edges, ordered by input node.
_NODE_EDGES: dict[int, tuple[int, ...]] = {
    node: tuple(k for k, (to, _) in enumerate(EDGES) if to == node) for node in range(1, _NUM_NODES)
}
_FORMAT_HELP = (
    "expected format |op~0|+|op~0|op~1|+|op~0|op~1|op~2| (one '+'-separated group per node 1, 2, 3; "
    "node j lists one op~input edge for each input 0..j-1)"
)
_VALID_OPS = f"valid ops: {', '.join(OPS)}"
_NON_NEGATIVE_INT = re.compile(r"0|[1-9][0-9]*")
# Table whose row order defines the official NB201 index.
_INDEX_TABLE = "nb201_test_acc_200ep"


class ArchStringError(NasrlmError, ValueError):
    """An NB201 architecture string (or op tuple) is malformed; the message says what and what is valid."""


def _parse(text: str) -> tuple[str, ...]:
    """Ops in EDGES order from an official arch string; strict so that every accepted string round-trips."""
    if not isinstance(text, str):
        raise TypeError(f"an NB201 arch string must be a str, got {type(text).__name__}: {text!r}")

    def error(problem: str) -> ArchStringError:
        return ArchStringError(f"invalid NB201 arch string {text!r}: {problem}")

    stripped = text.strip()
    if not stripped:
        raise error(f"it is empty; {_FORMAT_HELP}")
    groups: list[list[tuple[str, int]]] = []
    for g, group in enumerate(stripped.split("+"), start=1):
        if len(group) < 2 or not group.startswith("|") or not group.endswith("|"):
            raise error(f"node group {g} {group!r} does not start and end with '|'; {_FORMAT_HELP}")
        edges: list[tuple[str, int]] = []
        for token in group[1:-1].split("|"):
            if not token:
                raise error(f"node group {g} {group!r} has an empty edge ('||'); {_FORMAT_HELP}")
            op, tilde, source = token.partition("~")
            if not tilde:
                raise error(
                    f"edge {token!r} in node group {g} has no '~'; write each edge as op~input_node, "
                    f"e.g. nor_conv_3x3~0; {_FORMAT_HELP}"
                )
            if op not in OPS:
                raise error(f"unknown op {op!r} in edge {token!r} of node group {g}; {_VALID_OPS}")
            if not _NON_NEGATIVE_INT.fullmatch(source):
                raise error(
                    f"input node {source!r} in edge {token!r} of node group {g} is not a non-negative "
                    f"integer; {_FORMAT_HELP}"
                )
            edges.append((op, int(source)))
        groups.append(edges)
    if len(groups) != _NUM_NODES - 1:
        raise error(
            f"it has {len(groups)} node group(s) separated by '+', expected {_NUM_NODES - 1} "
            f"(one for each of nodes 1, 2, 3); {_FORMAT_HELP}"
        )
    ops: list[str] = []
    for node, edges in enumerate(groups, start=1):
        inputs = [source for _, source in edges]
        rule = f"node {node} takes inputs 0..{node - 1}, each exactly once, in increasing order"
        if len(edges) != node:
            raise error(f"node {node} has {len(edges)} edge(s), expected {node} ({rule})")
        out_of_range = [source for source in inputs if source >= node]
        if out_of_range:
            raise error(f"node {node} takes input {out_of_range[0]}, which is out of range ({rule})")
        duplicates = sorted({source for source in inputs if inputs.count(source) > 1})
        if duplicates:
            raise error(f"node {node} takes input {duplicates[0]} more than once ({rule})")
        if inputs != list(range(node)):
            raise error(f"node {node} lists its inputs in the order {inputs} ({rule})")
        ops.extend(op for op, _ in edges)
    return tuple(ops)


def _nats_unique_str(ops: Sequence[str]) -> str:
    """NATS-Bench's isomorphism key (``to_unique_str(consider_zero=True)``), reimplemented.

    Each node becomes an expression string built from its inputs: ``none`` (or a zero input) gives
    the zero term ``#``, ``skip_connect`` passes the input expression through unchanged, any other op
    wraps it as ``(input)@op``; a node is its terms sorted as strings and joined by ``+``.

    Its quirks are kept on purpose, because the published ``unique_str`` column (and the 6,466
    classes everyone quotes) depend on them: ``#`` terms stay in sums (``x + 0`` is not ``x``), only
    a node whose whole expression is ``#`` counts as zero (``#+#`` does not), and a sum spliced in by
    ``skip_connect`` stays one unit when sorted, so equal sums grouped differently can get
    different keys. The classes are therefore finer than true functional equivalence.
    """
    exprs = ["0"]
    for node in range(1, _NUM_NODES):
        terms = []
        for position in _NODE_EDGES[node]:
            op, source = ops[position], exprs[EDGES[position][1]]
            if op == "none" or source == "#":
                terms.append("#")
            elif op == "skip_connect":
                terms.append(source)
            else:
                terms.append(f"({source})@{op}")
        exprs.append("+".join(sorted(terms)))
    return exprs[-1]


@dataclass(frozen=True, order=True)
class Nb201Arch:
    """One NB201 cell: ``ops[k]`` is the op on edge ``EDGES[k]``. Hashable, ordered by its op names."""

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        ops = self.ops
        if isinstance(ops, str) or not isinstance(ops, Sequence):
            raise ArchStringError(
                f"Nb201Arch needs a sequence of {len(EDGES)} op names, got {type(ops).__name__} {ops!r}; "
                "use Nb201Arch.from_str to parse an arch string"
            )
        if not isinstance(ops, tuple):  # accept lists etc., but keep the stored value hashable
            ops = tuple(ops)
            object.__setattr__(self, "ops", ops)
        if len(ops) != len(EDGES):
            raise ArchStringError(
                f"Nb201Arch needs exactly {len(EDGES)} ops, one per edge {', '.join(PARAM_NAMES)} in that "
                f"order; got {len(ops)}: {ops!r}"
            )
        for op, (to, frm) in zip(ops, EDGES, strict=True):
            if op not in OPS:
                raise ArchStringError(f"unknown op {op!r} on edge {frm}->{to} in {ops!r}; {_VALID_OPS}")

    @classmethod
    def from_str(cls, text: str) -> Nb201Arch:
        """Parse an official arch string; only whitespace around it is tolerated."""
        return cls(_parse(text))

    def to_str(self) -> str:
        """The official arch string (``from_str(a.to_str()) == a``)."""
        return "+".join(
            "|" + "|".join(f"{self.ops[k]}~{EDGES[k][1]}" for k in positions) + "|"
            for positions in _NODE_EDGES.values()
        )

    def __str__(self) -> str:
        return self.to_str()

    @property
    def index(self) -> int:
        """Official NB201 index (0..15624), as in the benchmark's own files."""
        return _official_order()[1][self.ops]

    @classmethod
    def from_index(cls, index: int) -> Nb201Arch:
        """The architecture with official NB201 index ``index``."""
        if isinstance(index, bool):  # bool is an int, but passing one is surely a mistake
            raise TypeError(f"NB201 index must be an integer, got bool {index!r}")
        position = operator.index(index)
        if not 0 <= position < NUM_ARCHS:
            raise IndexError(f"NB201 index {position} out of range; valid indices are 0..{NUM_ARCHS - 1}")
        return _official_order()[0][position]

    def unique_str(self) -> str:
        """NATS-Bench's isomorphism key, character for character (the table's ``unique_str`` column)."""
        return _nats_unique_str(self.ops)

    def canonical(self) -> str:
        """Arch string of this arch's isomorphism-class representative.

        Two archs get the same result iff NATS-Bench's ``get_unique_str`` puts them in one class
        (6,466 classes). The representative is the member whose ops, read as positions in ``OPS``,
        are lexicographically smallest, so it favours ``none`` and ``skip_connect`` edges; being an
        arch string, it can be parsed and queried like any other.
        """
        return _canonical_map()[self.ops]

    def edges(self) -> list[tuple[int, int, str]]:
        """``(to_node, from_node, op)`` for each edge, in EDGES order."""
        return [(to, frm, op) for (to, frm), op in zip(EDGES, self.ops, strict=True)]


@functools.cache
def _official_order() -> tuple[tuple[Nb201Arch, ...], dict[tuple[str, ...], int]]:
    """Archs in official index order and the reverse map, read once from the vendored table."""
    from search_spaces.nb201.tables import load_table  # deferred: parsing archs should not need pandas

    table = load_table(_INDEX_TABLE)
    if table["index"].tolist() != list(range(NUM_ARCHS)):
        raise RuntimeError(f"benchmark table {_INDEX_TABLE!r} does not list indices 0..{NUM_ARCHS - 1} in order")
    archs = tuple(Nb201Arch.from_str(text) for text in table["arch_str"])
    lookup = {arch.ops: position for position, arch in enumerate(archs)}
    if len(lookup) != NUM_ARCHS:
        raise RuntimeError(f"benchmark table {_INDEX_TABLE!r} lists some architectures more than once")
    return archs, lookup


@functools.cache
def _canonical_map() -> dict[tuple[str, ...], str]:
    """Representative arch string for every op tuple. Product order visits each class's smallest first."""
    representative: dict[str, str] = {}
    result: dict[tuple[str, ...], str] = {}
    for ops in itertools.product(OPS, repeat=len(EDGES)):
        key = _nats_unique_str(ops)
        if key not in representative:
            representative[key] = Nb201Arch(ops).to_str()
        result[ops] = representative[key]
    return result


def all_archs() -> list[Nb201Arch]:
    """All 15,625 architectures in official index order (a fresh list over a cached tuple)."""
    return list(_official_order()[0])


def sample_arch(rng: np.random.Generator) -> Nb201Arch:
    """A uniformly random architecture: each edge's op drawn independently and uniformly."""
    choices = rng.integers(0, len(OPS), size=len(EDGES))
    return Nb201Arch(tuple(OPS[c] for c in choices))


def mutate_arch(arch: Nb201Arch, rng: np.random.Generator, n_edits: int = 1) -> Nb201Arch:
    """``arch`` with ``n_edits`` distinct edges, chosen uniformly, each set to a different random op."""
    n_edits = operator.index(n_edits)
    if not 1 <= n_edits <= len(EDGES):
        raise ValueError(f"n_edits must be between 1 and {len(EDGES)} (the number of edges), got {n_edits}")
    ops = list(arch.ops)
    for position in rng.choice(len(EDGES), size=n_edits, replace=False):
        alternatives = [op for op in OPS if op != ops[position]]
        ops[position] = alternatives[rng.integers(len(alternatives))]
    return Nb201Arch(tuple(ops))


def optuna_distributions() -> dict[str, optuna.distributions.CategoricalDistribution]:
    """One categorical parameter per edge (keys ``PARAM_NAMES``, choices ``OPS``)."""
    from optuna.distributions import CategoricalDistribution  # deferred: optuna is slow to import

    return {name: CategoricalDistribution(OPS) for name in PARAM_NAMES}


def to_optuna_params(arch: Nb201Arch) -> dict[str, str]:
    """Optuna parameters of ``arch``; inverse of :func:`from_optuna_params`."""
    return dict(zip(PARAM_NAMES, arch.ops, strict=True))


def from_optuna_params(params: Mapping[str, Any]) -> Nb201Arch:
    """Architecture from exactly the parameters in ``PARAM_NAMES`` (missing or extra keys are errors)."""
    missing = [name for name in PARAM_NAMES if name not in params]
    unknown = sorted(str(name) for name in params if name not in PARAM_NAMES)
    if missing or unknown:
        problems = []
        if missing:
            problems.append(f"missing {', '.join(missing)}")
        if unknown:
            problems.append(f"unknown {', '.join(unknown)}")
        raise ValueError(
            f"invalid NB201 Optuna parameters ({'; '.join(problems)}); expected exactly the keys "
            f"{', '.join(PARAM_NAMES)}"
        )
    for name in PARAM_NAMES:
        value = params[name]
        if not isinstance(value, str) or value not in OPS:
            raise ValueError(f"invalid NB201 Optuna parameter {name}={value!r}; {_VALID_OPS}")
    return Nb201Arch(tuple(params[name] for name in PARAM_NAMES))


def suggest_arch(trial: optuna.Trial) -> Nb201Arch:
    """Ask ``trial`` for one op per edge; the parameters match :func:`optuna_distributions`."""
    return Nb201Arch(tuple(trial.suggest_categorical(name, OPS) for name in PARAM_NAMES))
