"""NAS-Bench-101 cells: parse, prune, canonicalize, hash, print, and map to Optuna parameters.

A NB101 cell (Ying et al. 2019) is a DAG of at most 7 vertices given by an upper-triangular 0/1
adjacency matrix: vertex 0 is the cell ``input``, the last vertex its ``output``, each inner vertex
runs one of ``conv3x3-bn-relu``, ``conv1x1-bn-relu``, ``maxpool3x3``.

**Canonical form.** As the NB101 API (``ModelSpec``) does, vertices that are not on a path from
input to output are pruned (the network never computes them), and the cell is invalid when no such
path exists or when the pruned cell has more than 9 edges (NB101 counts edges after pruning). Two
cells that are the same graph up to the order of their inner vertices (isomorphic, labels kept) are
one NB101 architecture: the dataset trained one representative per class, the first its generator
enumerated, and so does this module (:func:`_representative_key`): among every order of the inner
vertices that keeps the matrix upper triangular it keeps that one. So isomorphic cells give equal
:class:`Nb101Arch` objects and equal strings, and the network built is the one NB101 trained (the
order matters: the channel split favours the first vertices). :attr:`Nb101Arch.graph_hash` is the
official NB101 hash (``nasbench.lib.graph_util.hash_module``); the tests check that the 30 vendored
NB101 records are their own representatives and that equal hashes mean equal archs in the table.

**String form.** The ops joined by ``|`` (input and output included), ``;``, then the adjacency
rows as 0/1 strings joined by ``,``::

    input|conv3x3-bn-relu|maxpool3x3|output;0110,0001,0001,0000

:meth:`Nb101Space.parse` accepts any valid cell in this form (pruned or not, in any vertex order);
``str(arch)`` prints the canonical one.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from nasrlm.core.errors import NasrlmError

if TYPE_CHECKING:
    import optuna

__all__ = [
    "EDGE_PARAMS",
    "INNER_OPS",
    "MAX_EDGES",
    "MAX_VERTICES",
    "OP_PARAMS",
    "ArchStringError",
    "Nb101Arch",
    "from_optuna_params",
    "graph_hash",
    "make_arch",
    "optuna_distributions",
    "padded",
    "parse_arch",
    "prune",
    "to_optuna_params",
]

INPUT, OUTPUT = "input", "output"
# The NB101 API's ``available_ops`` order: the hash labels inner vertices by their index here.
INNER_OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
MAX_VERTICES = 7
MAX_EDGES = 9
# Optuna parameters: one per upper-triangle entry of the 7x7 matrix, one per inner vertex.
_EDGE_PAIRS: tuple[tuple[int, int], ...] = tuple(itertools.combinations(range(MAX_VERTICES), 2))
EDGE_PARAMS: tuple[str, ...] = tuple(f"edge_{i}_{j}" for i, j in _EDGE_PAIRS)
OP_PARAMS: tuple[str, ...] = tuple(f"op_{v}" for v in range(1, MAX_VERTICES - 1))
# The op a padded (unused) vertex gets in the 7-vertex parameter form: pruned away, so any op works.
_FILLER_OP = INNER_OPS[0]
_FORMAT_HELP = (
    "expected e.g. 'input|conv3x3-bn-relu|maxpool3x3|output;0110,0001,0001,0000' "
    "(ops joined by '|', ';', then the upper-triangular 0/1 adjacency rows joined by ',')"
)


class ArchStringError(NasrlmError, ValueError):
    """A NB101 cell string (or matrix and ops) is not a valid cell; the message says why."""


@dataclass(frozen=True)
class Nb101Arch:
    """A canonical (pruned, canonically ordered) NB101 cell; build with :func:`make_arch` or parse."""

    ops: tuple[str, ...]  # input, inner ops..., output
    matrix: tuple[tuple[int, ...], ...]  # upper triangular, len(ops) x len(ops)

    def __str__(self) -> str:
        return "|".join(self.ops) + ";" + ",".join("".join(str(b) for b in row) for row in self.matrix)

    @property
    def num_vertices(self) -> int:
        return len(self.ops)

    @property
    def num_edges(self) -> int:
        return sum(map(sum, self.matrix))

    def adjacency(self) -> np.ndarray:
        """The adjacency matrix as an int array (a fresh copy)."""
        return np.array(self.matrix, dtype=np.int64).reshape(self.num_vertices, self.num_vertices)

    @property
    def graph_hash(self) -> str:
        """The official NB101 hash of the cell (the key of the NB101 dataset)."""
        return graph_hash(self.matrix, self.ops)


def graph_hash(matrix: Sequence[Sequence[int]], ops: Sequence[str]) -> str:
    """``nasbench.lib.graph_util.hash_module`` on a pruned cell, labels as the NB101 API gives them.

    The API labels the input -1, the output -2 and inner vertices by their index in INNER_OPS;
    the hash is iterated md5 over in/out neighbourhoods (Weisfeiler-Lehman style).
    """
    adjacency = np.array(matrix, dtype=np.int64)
    labels = [-1] + [INNER_OPS.index(op) for op in ops[1:-1]] + [-2]
    n = len(labels)
    in_edges = adjacency.sum(axis=0).tolist()
    out_edges = adjacency.sum(axis=1).tolist()
    hashes = [hashlib.md5(str(h).encode()).hexdigest() for h in zip(out_edges, in_edges, labels, strict=True)]
    for _ in range(n):
        hashes = [
            hashlib.md5(
                (
                    "".join(sorted(hashes[w] for w in range(n) if adjacency[w, v]))
                    + "|"
                    + "".join(sorted(hashes[w] for w in range(n) if adjacency[v, w]))
                    + "|"
                    + hashes[v]
                ).encode()
            ).hexdigest()
            for v in range(n)
        ]
    return hashlib.md5(str(sorted(hashes)).encode()).hexdigest()


def prune(matrix: np.ndarray, ops: Sequence[str]) -> tuple[np.ndarray, list[str]] | None:
    """The cell without vertices off every input-to-output path (``ModelSpec._prune``); None if no path."""
    n = len(ops)
    from_input, to_output = {0}, {n - 1}
    frontier = [0]
    while frontier:
        top = frontier.pop()
        for v in range(top + 1, n):
            if matrix[top, v] and v not in from_input:
                from_input.add(v)
                frontier.append(v)
    frontier = [n - 1]
    while frontier:
        top = frontier.pop()
        for v in range(top):
            if matrix[v, top] and v not in to_output:
                to_output.add(v)
                frontier.append(v)
    if 0 not in to_output:
        return None
    keep = sorted(from_input & to_output)
    return matrix[np.ix_(keep, keep)], [ops[v] for v in keep]


@functools.lru_cache(maxsize=65_536)
def _canonical(ops: tuple[str, ...], bits: tuple[tuple[int, ...], ...]) -> Nb101Arch:
    """The NB101 representative of a pruned cell's isomorphism class (see :func:`_representative_key`)."""
    matrix = np.array(bits, dtype=np.int64)
    n = len(ops)
    best: tuple[int, tuple[int, ...]] | None = None
    best_order: list[int] = list(range(n))
    for perm in itertools.permutations(range(1, n - 1)):
        order = [0, *perm, n - 1]
        permuted = matrix[np.ix_(order, order)]
        if np.any(np.tril(permuted)):
            continue  # not a topological order
        key = _representative_key(permuted, [ops[v] for v in order])
        if best is None or key < best:
            best, best_order = key, order
    permuted = matrix[np.ix_(best_order, best_order)]
    return Nb101Arch(
        ops=tuple(ops[v] for v in best_order),
        matrix=tuple(tuple(int(b) for b in row) for row in permuted),
    )


def _representative_key(matrix: np.ndarray, ops: Sequence[str]) -> tuple[int, tuple[int, ...]]:
    """Where NB101's generator (``nasbench/scripts/generate_graphs.py``) meets this ordering of a cell.

    It enumerates matrices by an integer whose bit ``j*(j-1)/2 + i`` is edge i->j, and for each the
    labelings in ``itertools.product`` order, keeping the first of every hash: the smallest key of an
    isomorphism class is the cell NB101 trained and stores. The order matters for the network: the
    channel split gives the spare channels to the first vertices that feed the output.
    """
    rows, cols = np.nonzero(matrix)
    code = sum(1 << (int(j) * (int(j) - 1) // 2 + int(i)) for i, j in zip(rows, cols, strict=True))
    return code, tuple(INNER_OPS.index(op) for op in ops[1:-1])


def make_arch(matrix: Any, ops: Sequence[str], *, source: str | None = None) -> Nb101Arch:
    """The canonical cell of an adjacency matrix (nested lists or array) and its ops.

    Raises :class:`ArchStringError` naming the problem (``source`` is quoted in the message).
    """
    what = f"invalid NB101 cell {source!r}" if source is not None else "invalid NB101 cell"

    def error(problem: str) -> ArchStringError:
        return ArchStringError(f"{what}: {problem}")

    ops = list(ops)
    n = len(ops)
    if not 2 <= n <= MAX_VERTICES:
        raise error(f"{n} vertices; a cell has 2 to {MAX_VERTICES} (input, up to 5 ops, output)")
    try:
        adjacency = np.array(matrix, dtype=np.int64)
    except (TypeError, ValueError):
        raise error("the adjacency matrix is not a matrix of 0/1 integers") from None
    if adjacency.shape != (n, n):
        raise error(f"the adjacency matrix has shape {adjacency.shape}, expected {n}x{n} for {n} ops")
    if not np.isin(adjacency, (0, 1)).all():
        raise error("adjacency entries must be 0 or 1")
    if np.any(np.tril(adjacency)):
        raise error("the adjacency matrix is not strictly upper triangular (edges only from vertex i to j > i)")
    if ops[0] != INPUT or ops[-1] != OUTPUT:
        raise error(f"the first op must be {INPUT!r} and the last {OUTPUT!r}, got {ops[0]!r} and {ops[-1]!r}")
    for v, op in enumerate(ops[1:-1], start=1):
        if op not in INNER_OPS:
            raise error(f"vertex {v} has op {op!r}; valid inner ops: {', '.join(INNER_OPS)}")
    pruned = prune(adjacency, ops)
    if pruned is None:
        raise error("no path from input to output")
    kept, kept_ops = pruned
    edges = int(kept.sum())
    if edges > MAX_EDGES:
        raise error(f"{edges} edges on input-output paths; NB101 allows at most {MAX_EDGES}")
    return _canonical(tuple(kept_ops), tuple(tuple(int(b) for b in row) for row in kept))


def parse_arch(text: str) -> Nb101Arch:
    """A cell from its string form (see the module docstring); any valid cell, pruned or not."""
    if not isinstance(text, str):
        raise TypeError(f"a NB101 cell string must be a str, got {type(text).__name__}")
    parts = text.strip().split(";")
    if len(parts) != 2:
        raise ArchStringError(f"invalid NB101 cell {text!r}: {_FORMAT_HELP}")
    ops = parts[0].split("|")
    rows = parts[1].split(",")
    if any(set(row) - {"0", "1"} or not row for row in rows):
        raise ArchStringError(f"invalid NB101 cell {text!r}: adjacency rows must be 0/1 strings; {_FORMAT_HELP}")
    if len(rows) != len(ops) or any(len(row) != len(ops) for row in rows):
        raise ArchStringError(
            f"invalid NB101 cell {text!r}: {len(ops)} ops need {len(ops)} adjacency rows of {len(ops)} digits"
        )
    return make_arch([[int(c) for c in row] for row in rows], ops, source=text)


# --- Optuna -----------------------------------------------------------------------------------------
def optuna_distributions() -> dict[str, optuna.distributions.BaseDistribution]:
    """21 edge switches (0/1) of the 7x7 upper triangle and 5 inner-vertex ops: the full space."""
    from optuna.distributions import CategoricalDistribution

    distributions: dict[str, optuna.distributions.BaseDistribution] = {
        name: CategoricalDistribution((0, 1)) for name in EDGE_PARAMS
    }
    distributions.update({name: CategoricalDistribution(INNER_OPS) for name in OP_PARAMS})
    return distributions


def padded(arch: Nb101Arch) -> tuple[np.ndarray, list[str]]:
    """The cell as 7 vertices: inner vertices first, unused ones (no edges, filler op) just before the output."""
    n = arch.num_vertices
    slots = [*range(n - 1), MAX_VERTICES - 1]  # where each of the cell's vertices goes
    matrix = np.zeros((MAX_VERTICES, MAX_VERTICES), dtype=np.int64)
    matrix[np.ix_(slots, slots)] = arch.adjacency()
    ops = [INPUT, *([_FILLER_OP] * (MAX_VERTICES - 2)), OUTPUT]
    for v, slot in enumerate(slots):
        ops[slot] = arch.ops[v]
    return matrix, ops


def to_optuna_params(arch: Nb101Arch) -> dict[str, Any]:
    """Optuna parameters of the cell padded to 7 vertices (see :func:`padded`)."""
    matrix, ops = padded(arch)
    params: dict[str, Any] = {name: int(matrix[i, j]) for name, (i, j) in zip(EDGE_PARAMS, _EDGE_PAIRS, strict=True)}
    params.update({name: ops[v] for v, name in enumerate(OP_PARAMS, start=1)})
    return params


def from_optuna_params(params: Mapping[str, Any]) -> Nb101Arch:
    """The cell the parameters describe; ``ValueError`` (ArchStringError) if it is not a valid cell."""
    missing = [name for name in (*EDGE_PARAMS, *OP_PARAMS) if name not in params]
    if missing:
        raise ArchStringError(f"missing NB101 parameters: {', '.join(missing)}")
    matrix = np.zeros((MAX_VERTICES, MAX_VERTICES), dtype=np.int64)
    for name, (i, j) in zip(EDGE_PARAMS, _EDGE_PAIRS, strict=True):
        value = params[name]
        if value not in (0, 1):  # True/False pass too
            raise ArchStringError(f"parameter {name} must be 0 or 1, got {value!r}")
        matrix[i, j] = int(value)
    ops = [INPUT, *(str(params[name]) for name in OP_PARAMS), OUTPUT]
    return make_arch(matrix, ops, source=_describe(params))


def _describe(params: Mapping[str, Any]) -> str:
    edges = " ".join(f"{i}{j}" for name, (i, j) in zip(EDGE_PARAMS, _EDGE_PAIRS, strict=True) if params[name])
    ops = ",".join(str(params[name]) for name in OP_PARAMS)
    return f"edges {edges or '(none)'}; ops {ops}"
