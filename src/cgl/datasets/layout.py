"""Node features sparse or dense: the layout the first GCN layer multiplies fastest.

A sparse first layer (cgl.models.sparse_input) costs in proportion to the features' non-zeros,
a dense one to their full size; bench/bench_feature_density.py puts the break-even near 20 %
non-zeros at every width it tries (64 to 4000 columns) and the sparse layer twice as fast at
10 % (1.35x for 64 columns): the default `sparse_max_density`. Loaders hand features in
their natural layout (bag-of-words stay sparse from the raw file on, so no dense copy is ever
made); `with_feature_layout` then applies the one rule for every dataset. Sparse features are
COO tensors: DGL gathers their rows (subgraphs, sampled blocks) like dense ones.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from cgl.datasets.base import ContinualData


def from_scipy(matrix: sp.spmatrix) -> torch.Tensor:
    """A scipy sparse matrix as a coalesced float32 torch COO tensor."""
    coo = matrix.tocoo()
    indices = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    values = torch.from_numpy(coo.data.astype(np.float32))
    return torch.sparse_coo_tensor(indices, values, coo.shape, check_invariants=True).coalesce()


def density(feat: torch.Tensor) -> float:
    """The share of non-zero entries."""
    if feat.numel() == 0:
        return 0.0
    nonzero = feat.coalesce().values().count_nonzero() if feat.is_sparse else feat.count_nonzero()
    return int(nonzero) / feat.numel()


def in_layout(feat: torch.Tensor, max_density: float) -> torch.Tensor:
    """`feat` as a coalesced sparse COO tensor if at most `max_density` of it is non-zero,
    else dense."""
    if feat.dim() != 2:
        return feat.to_dense() if feat.is_sparse else feat
    sparse = density(feat) <= max_density
    if sparse:
        return feat.coalesce() if feat.is_sparse else feat.to_sparse().coalesce()
    return feat.to_dense() if feat.is_sparse else feat


def with_feature_layout(data: ContinualData, max_density: float) -> ContinualData:
    """`data`, its graph's node features put in the layout `in_layout` picks (in place).
    Graph-level datasets keep dense features: they are narrow (at most a few hundred
    columns) and their graphs are batched anew every step, where a sparse layout would be
    converted again every time."""
    if data.graph is not None and "feat" in data.graph.ndata:
        data.graph.ndata["feat"] = in_layout(data.graph.ndata["feat"], max_density)
    return data
