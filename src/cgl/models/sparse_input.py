"""A GraphConv that also reads sparse input features: X·W with X sparse, then DGL's aggregation.

Bag-of-words features (Cora: 1.3 % non-zero) make the dense product X·W (and its gradient
Xᵀ·δ) most of a GCN epoch. With X as CSR the products cost in proportion to its non-zeros
(bench/bench_feature_density.py). GraphConv's source normalisation is a diagonal scaling, so
(D X) W = D (X W): the sparse path multiplies first, then scales, aggregates over in-edges with
DGL's update_all and scales again, as GraphConv does; the results agree to float rounding.
Dense input takes GraphConv's own forward unchanged.
"""

from __future__ import annotations

import warnings
import weakref

import dgl.function as fn
import torch
from dgl.base import DGLError
from dgl.nn import GraphConv


def degree_norm(degrees: torch.Tensor, norm: str, like: torch.Tensor) -> torch.Tensor:
    """GraphConv's factor for node degrees: deg^-1/2 under 'both', 1/deg otherwise."""
    degrees = degrees.to(like).clamp(min=1)
    return degrees.pow(-0.5) if norm == "both" else 1.0 / degrees


class SparseRows:
    """A sparse feature matrix in the layouts its products read: X as CSR for X·W, and Xᵀ
    as CSR for the weight's gradient Xᵀ·δ, built on the first backward pass (evaluation never
    needs it)."""

    def __init__(self, feat: torch.Tensor) -> None:
        with warnings.catch_warnings():  # torch calls CSR "beta"; the products used are stable
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            self.rows = feat.to_sparse_csr()
        self._columns: torch.Tensor | None = None

    def columns(self) -> torch.Tensor:
        if self._columns is None:
            self._columns = self.rows.t().to_sparse_csr()
        return self._columns


#: id of a live sparse feature tensor -> its CSR forms (the entry goes when the tensor does)
_FORMS: dict[int, SparseRows] = {}


def sparse_rows(feat: torch.Tensor) -> SparseRows:
    """The CSR forms of `feat`, built once while it lives: trainers pass the same feature
    tensors (the graph's, an evaluation field's) every epoch."""
    forms = _FORMS.get(id(feat))
    if forms is None:
        forms = _FORMS[id(feat)] = SparseRows(feat)
        weakref.finalize(feat, _FORMS.pop, id(feat), None)
    return forms


class SparseProduct(torch.autograd.Function):
    """X·W for a sparse X (no gradient) and a dense W."""

    @staticmethod
    def forward(ctx, weight: torch.Tensor, feat: SparseRows) -> torch.Tensor:
        ctx.feat = feat
        return torch.sparse.mm(feat.rows, weight)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return torch.sparse.mm(ctx.feat.columns(), grad), None


class SparseInputGraphConv(GraphConv):
    """GraphConv (same parameters, same state dict) whose `feat` may be a sparse COO tensor."""

    def forward(self, graph, feat, weight=None, edge_weight=None) -> torch.Tensor:
        if not (isinstance(feat, torch.Tensor) and feat.is_sparse):
            return super().forward(graph, feat, weight=weight, edge_weight=edge_weight)
        if weight is not None or self.weight is None:
            raise DGLError("a sparse input is projected by the layer's own weight only")
        with graph.local_scope():
            if not self._allow_zero_in_degree and bool((graph.in_degrees() == 0).any()):
                raise DGLError("0-in-degree nodes in the graph (see dgl.nn.GraphConv)")
            h = SparseProduct.apply(self.weight, sparse_rows(feat))
            if self._norm in ("left", "both"):
                h = h * degree_norm(graph.out_degrees(), self._norm, h).unsqueeze(-1)
            graph.srcdata["h"] = h
            message = fn.copy_u("h", "m")
            if edge_weight is not None:
                graph.edata["_edge_weight"] = edge_weight
                message = fn.u_mul_e("h", "_edge_weight", "m")
            graph.update_all(message, fn.sum(msg="m", out="h"))
            rst = graph.dstdata["h"]
            if self._norm in ("right", "both"):
                rst = rst * degree_norm(graph.in_degrees(), self._norm, rst).unsqueeze(-1)
            if self.bias is not None:
                rst = rst + self.bias
            return rst if self._activation is None else self._activation(rst)
