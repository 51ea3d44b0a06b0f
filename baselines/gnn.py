"""Graph predictors on the cell DAG (ops on nodes, see :mod:`baselines.encoding`).

* ``gcn``: the Neural Predictor of Wen et al. 2019: a bidirectional GCN (each layer averages a
  forward pass along the edges and a backward pass against them), mean over nodes, then an MLP.
* ``gin``: a Graph Isomorphism Network (Xu et al. 2019) via torch_geometric, over both edge
  directions, with the sum-pooled output of every layer concatenated (jumping knowledge).
* ``brp``: the BRP-NAS latency predictor (Dudziak et al. 2020): a 4-layer, 600-wide GCN on the DAG
  plus a global node that every node feeds; the global node's embedding is the readout. By default
  the DAG's edges carry messages both ways (``directed=False``): with messages only along the edges
  (``directed=True``) torch_geometric's GCNConv trains badly on these 8-node cells (200 archs,
  Eyeriss latency, 4 x 128 layers, 300 epochs: train tau 0.68, test 0.64, against 0.94 / 0.95 both
  ways in 50 epochs).

All three read a batch as padded dense tensors (one-hot ops [B, N, K], adjacency [B, N, N], node mask
[B, N]); the torch_geometric models flatten it to one disjoint graph with vectorized index arithmetic,
which is much faster than building ``Data`` objects per arch at every step.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import torch
from torch import nn

from .encoding import dag_spec_for, encode_dags
from .neural import Inputs, NeuralConfig, NeuralPredictor

__all__ = ["BrpConfig", "BrpPredictor", "GcnConfig", "GcnPredictor", "GinConfig", "GinPredictor"]


def _edge_index(adjacency: torch.Tensor, *, both_directions: bool) -> torch.Tensor:
    """[2, E] edges of the disjoint union of a padded batch; node ``n`` of graph ``b`` is ``b * N + n``."""
    graph, source, target = adjacency.nonzero(as_tuple=True)
    offset = graph * adjacency.shape[1]
    edges = torch.stack([source + offset, target + offset])
    return torch.cat([edges, edges.flip(0)], dim=1) if both_directions else edges


def _head(width: int, hidden: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1))


class _GraphPredictor(NeuralPredictor):
    def _input_meta(self, archs: list[Any]) -> dict[str, Any]:
        spec = dag_spec_for(archs)
        return {"space": spec.space, "num_ops": len(spec.op_names), "max_nodes": spec.max_nodes}

    def _inputs(self, archs: list[Any]) -> Inputs:
        spec = dag_spec_for(archs)
        if spec.space != self._meta["space"]:
            raise ValueError(f"{self.name} was fitted on {self._meta['space']} archs, got {spec.space} archs")
        batch = encode_dags(archs, spec)
        return (
            torch.from_numpy(batch.one_hot()),
            torch.from_numpy(batch.adjacency),
            torch.from_numpy(batch.mask.astype("float32")),
        )


# --- GCN (Wen et al.) -----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class GcnConfig(NeuralConfig):
    hidden: int = 144
    layers: int = 3
    head_hidden: int = 128
    dropout: float = 0.1


def _row_normalized(adjacency: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``D^-1 (A + I)`` per graph, self-loops on real nodes only."""
    looped = adjacency + torch.diag_embed(mask)
    return looped / looped.sum(-1, keepdim=True).clamp(min=1.0)


class _BiGcn(nn.Module):
    def __init__(self, num_ops: int, config: GcnConfig) -> None:
        super().__init__()
        widths = [num_ops] + [config.hidden] * config.layers
        self.forward_weights = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(widths))
        self.backward_weights = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(widths))
        self.norms = nn.ModuleList(nn.LayerNorm(width) for width in widths[1:])
        self.dropout = nn.Dropout(config.dropout)
        self.head = _head(config.hidden, config.head_hidden, config.dropout)

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # Node j gathers its predecessors going forward (A^T) and its successors going backward (A).
        along = _row_normalized(adjacency.transpose(1, 2), mask)
        against = _row_normalized(adjacency, mask)
        h = x
        for forward, backward, norm in zip(self.forward_weights, self.backward_weights, self.norms, strict=True):
            h = torch.relu(norm(0.5 * (along @ forward(h) + against @ backward(h))))
            h = self.dropout(h)
        pooled = (h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1.0)
        return self.head(pooled).squeeze(-1)


class GcnPredictor(_GraphPredictor):
    """Wen et al. 2019 Neural Predictor (bidirectional GCN)."""

    name = "gcn"
    config_type = GcnConfig
    config: GcnConfig

    def _build(self, meta: dict[str, Any]) -> nn.Module:
        return _BiGcn(meta["num_ops"], self.config)


# --- GIN --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class GinConfig(NeuralConfig):
    # Tuned on NB201 accuracy (3 seeds): 128 wide with dropout 0.1 beat 64 wide at 78-156 archs, and
    # weight decay 1e-4 instead of 5e-4 raised tau at 1,563 archs from 0.81 to 0.84.
    hidden: int = 128
    layers: int = 4
    head_hidden: int = 128
    dropout: float = 0.1
    weight_decay: float = 1e-4


class _Gin(nn.Module):
    def __init__(self, num_ops: int, config: GinConfig) -> None:
        super().__init__()
        from torch_geometric.nn import GINConv

        widths = [num_ops] + [config.hidden] * config.layers
        self.convs = nn.ModuleList(
            GINConv(nn.Sequential(nn.Linear(a, b), nn.ReLU(), nn.Linear(b, b)), train_eps=True)
            for a, b in itertools.pairwise(widths)
        )
        self.dropout = nn.Dropout(config.dropout)
        self.head = _head(config.hidden * config.layers, config.head_hidden, config.dropout)

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch, nodes, _ = x.shape
        edges = _edge_index(adjacency, both_directions=True)
        h = x.reshape(batch * nodes, -1)
        pooled = []
        for conv in self.convs:
            h = self.dropout(torch.relu(conv(h, edges)))
            # Sum pooling over real nodes (padding nodes have no edges but do have bias activations).
            pooled.append((h.reshape(batch, nodes, -1) * mask[..., None]).sum(1))
        return self.head(torch.cat(pooled, dim=-1)).squeeze(-1)


class GinPredictor(_GraphPredictor):
    """Graph Isomorphism Network with jumping-knowledge sum readout (torch_geometric)."""

    name = "gin"
    config_type = GinConfig
    config: GinConfig

    def _build(self, meta: dict[str, Any]) -> nn.Module:
        return _Gin(meta["num_ops"], self.config)


# --- BRP-NAS GCN ------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class BrpConfig(NeuralConfig):
    hidden: int = 600
    layers: int = 4
    dropout: float = 0.2
    directed: bool = False


class _BrpGcn(nn.Module):
    def __init__(self, num_ops: int, config: BrpConfig) -> None:
        super().__init__()
        from torch_geometric.nn import GCNConv

        # One extra op type marks the global node.
        widths = [num_ops + 1] + [config.hidden] * config.layers
        self.convs = nn.ModuleList(GCNConv(a, b) for a, b in itertools.pairwise(widths))
        self.dropout = nn.Dropout(config.dropout)
        self.out = nn.Linear(config.hidden, 1)
        self.directed = config.directed

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch, nodes, num_ops = x.shape
        # Append the global node (index ``nodes``): its own op type, fed by every real node.
        global_x = torch.zeros(batch, 1, num_ops + 1, dtype=x.dtype)
        global_x[..., -1] = 1.0
        x = torch.cat([nn.functional.pad(x, (0, 1)), global_x], dim=1)
        if not self.directed:
            adjacency = adjacency + adjacency.transpose(1, 2)
        adjacency = nn.functional.pad(adjacency, (0, 1, 0, 1))
        adjacency[:, :nodes, nodes] = mask  # the global node only listens
        edges = _edge_index(adjacency, both_directions=False)
        h = x.reshape(batch * (nodes + 1), -1)
        for conv in self.convs:
            h = self.dropout(torch.relu(conv(h, edges)))
        return self.out(h.reshape(batch, nodes + 1, -1)[:, nodes]).squeeze(-1)


class BrpPredictor(_GraphPredictor):
    """BRP-NAS GCN: DAG + global node, 4 x 600 GCN layers, global-node readout."""

    name = "brp"
    config_type = BrpConfig
    config: BrpConfig

    def _build(self, meta: dict[str, Any]) -> nn.Module:
        return _BrpGcn(meta["num_ops"], self.config)
