"""Citation networks for node classification: Cora and Citeseer (Planetoid) and CoraFull.

Files are fetched from where DGL hosts them and unpacked in DGL's own layout
(`<data_dir>/cora_v2_d697a464/ind.cora_v2.*`), so a data_dir that DGL's CoraGraphDataset
already filled is reused. The parsing is ours and follows DGL's (features row-normalised,
edges in both directions), with two differences that matter for a safe benchmark: the
Planetoid files are pickles, so they are read with an unpickler that can only build numpy
arrays, scipy CSR matrices, lists and dicts; and CoraFull's npz is read without pickle.
Nodes without a label (Citeseer's 15 isolated test ids) get label -1, so no task uses them.
Self-loops are dropped: the trainers add their own. The public split of Yang et al. (as DGL's
train/val/test masks: the first len(y) nodes train, the next 500 validate, the listed test ids
test; 140/500/1000 on Cora) is published as `split`; nodes outside it get -1. The bag-of-words
features stay sparse, as in the files (cgl.datasets.layout).
"""

from __future__ import annotations

import pickle
from collections import defaultdict
from pathlib import Path

import dgl
import numpy as np
import scipy.sparse as sp
import torch

from cgl.datasets.base import SPLIT_TEST, SPLIT_TRAIN, SPLIT_VAL, ContinualData
from cgl.datasets.cache import cached
from cgl.datasets.download import RawArchive, dgl_archive, fetch_archive
from cgl.datasets.layout import from_scipy
from cgl.datasets.structure import undirected_graph

PLANETOID_PARTS = ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")
#: sha256 of the Planetoid files (the same for DGL's copies, only renamed to `cora_v2`).
PLANETOID_SHA256 = {
    "cora": {
        "x": "23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab",
        "y": "94465c14eb53e04ca262198dcbb2521ee8af60fb3f3d546cd6ca24a511b0e7d1",
        "tx": "b9afbaa4a400df991f6f02ef677e1e44da55ffc04801fd02f9e673987829226a",
        "ty": "41f5ac76596a1699cc33f53084a2419e92961c42bb75f36fc38e616d348532ad",
        "allx": "9419ba2f26f5c35243db64aba110e0f35a04851609e0dc5433450676ca6b8543",
        "ally": "2b998f5cc7fedc86e7f97ca2498f47a1ffc1462c29e2d578b23bf3f62b6e7d71",
        "graph": "58f13302f39dde8852dad6fe6d15b89b077b6d7f837626bce671ef80344b383d",
        "test.index": "297ce89af2b51a6a194181c7dbe1796c6a1cf9cd9349a88383b1b1e227867875",
    },
    "citeseer": {
        "x": "d20de19150741e555de0ed037195630fc194114ebc7fd72ced62810148aa22f6",
        "y": "8ba87e515d8e3ee3cf52f6d2c5b86aa73f11ecad825a808455209ec26cd54924",
        "tx": "539a8906a2da97628d212f2fdd668c109a8b3f0d36574b59e5d3fd5b5303da21",
        "ty": "55e5bd1ba1e733a04598753ad1a8d57957f4b8f89e74519f41f4f4938767e4ce",
        "allx": "2ac30345d95c9ec933a817ee0bdd6a5f077f8c184a20e696910192d534414668",
        "ally": "f704b2d986dde6c2669934de1f3ae5696a6cf9455c0f6b2646a2d135ea0a1c95",
        "graph": "d79a4ef9d3e7169aee8946145f6b7306e35bc79bffad26346cfb94e10e9912a7",
        "test.index": "2af990671580b6b2df5d158d1038f8292e30c9cd821b5453f399659b25b723d4",
    },
}
#: DGL renamed Cora's files to `cora_v2` when it switched to the GCN paper's preprocessing.
DGL_PREFIX = {"cora": "cora_v2", "citeseer": "citeseer"}


class PlanetoidUnpickler(pickle.Unpickler):
    """Builds only what the Planetoid files hold; any other class in a file is refused."""

    ALLOWED = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        # numpy's array rebuilder, taken from the array protocol (its module moved in numpy 2)
        ("numpy.core.multiarray", "_reconstruct"): np.zeros(0).__reduce__()[0],
        ("scipy.sparse.csr", "csr_matrix"): sp.csr_matrix,
        ("collections", "defaultdict"): defaultdict,
        ("__builtin__", "list"): list,
    }

    def find_class(self, module: str, name: str) -> object:
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}") from None


def read_planetoid_object(path: Path) -> object:
    with open(path, "rb") as handle:
        obj = PlanetoidUnpickler(handle, encoding="latin1").load()
    if isinstance(obj, sp.csr_matrix):  # rebuilt from its parts: old pickles lack new fields
        obj = sp.csr_matrix((obj.data, obj.indices, obj.indptr), shape=obj._shape)
    return obj


def parse_planetoid(folder: Path, prefix: str, name: str) -> ContinualData:
    """One graph from the eight `ind.<prefix>.*` files (Yang et al. 2016's format)."""
    part = {p: folder / f"ind.{prefix}.{p}" for p in PLANETOID_PARTS}
    x, y, tx, ty, allx, ally, adjacency = (
        read_planetoid_object(part[p]) for p in PLANETOID_PARTS[:-1]
    )
    test_ids = np.loadtxt(part["test.index"], dtype=np.int64)
    # test rows come in file order; ids not listed (Citeseer's isolated nodes) stay empty
    num_nodes = max(allx.shape[0] + tx.shape[0], int(test_ids.max()) + 1)
    feats = sp.lil_matrix((num_nodes, x.shape[1]), dtype=np.float32)
    feats[: allx.shape[0]] = allx
    feats[test_ids] = tx
    onehot = np.zeros((num_nodes, y.shape[1]), dtype=np.float32)
    onehot[: ally.shape[0]] = ally
    onehot[test_ids] = ty
    labels = np.where(onehot.sum(1) > 0, onehot.argmax(1), -1)
    src, dst = edges_in_dgl_order(adjacency)
    keep = src != dst
    graph = dgl.graph(
        (torch.from_numpy(src[keep]), torch.from_numpy(dst[keep])), num_nodes=num_nodes
    )
    graph.ndata["feat"] = from_scipy(row_normalize(feats.tocsr()))  # bag-of-words: sparse
    return ContinualData(
        name=name,
        level="nc",
        num_classes=int(onehot.shape[1]),
        label=torch.from_numpy(labels).long(),
        graph=graph,
        split=public_split(num_nodes, y.shape[0], test_ids),
    )


def public_split(num_nodes: int, num_train: int, test_ids: np.ndarray) -> torch.Tensor:
    """Planetoid's public split as DGL builds its masks: nodes 0..num_train-1 train, the next
    500 validate, the listed test ids test; -1 for every other node."""
    split = torch.full((num_nodes,), -1, dtype=torch.long)
    split[:num_train] = SPLIT_TRAIN
    split[num_train : num_train + 500] = SPLIT_VAL
    split[torch.from_numpy(test_ids)] = SPLIT_TEST
    return split


def edges_in_dgl_order(adjacency: dict) -> tuple[np.ndarray, np.ndarray]:
    """Both directions of every link, once each, in the order DGL's Cora and Citeseer list
    them (DGL builds them through networkx: nodes in the order first met in the adjacency dict,
    each node's neighbours in the order first met). GraphConv sums a node's messages in edge
    order, so this order makes message passing add in DGL's order, and runs match BeGin's to
    the last bit instead of flipping the odd borderline node. Written by hand to keep networkx
    out of the loader."""
    neighbours: dict[int, dict[int, None]] = {}
    for node in adjacency:
        neighbours.setdefault(int(node), {})
    for node, linked in adjacency.items():
        for other in linked:
            neighbours[int(node)].setdefault(int(other))
            neighbours.setdefault(int(other), {}).setdefault(int(node))
    src = np.fromiter((u for u, vs in neighbours.items() for _ in vs), dtype=np.int64)
    dst = np.fromiter((v for vs in neighbours.values() for v in vs), dtype=np.int64)
    return src, dst


def row_normalize(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Each row divided by its sum (GCN's preprocessing); empty rows stay zero."""
    sums = np.asarray(matrix.sum(1)).ravel()
    scale = np.divide(1.0, sums, out=np.zeros_like(sums, dtype=np.float64), where=sums > 0)
    return (sp.diags(scale) @ matrix).astype(np.float32)


def planetoid_archive(name: str) -> RawArchive:
    """DGL's zip of Cora or Citeseer, with the checksum of every file in it."""
    prefix = DGL_PREFIX[name]
    members = {f"ind.{prefix}.{p}": digest for p, digest in PLANETOID_SHA256[name].items()}
    return dgl_archive(prefix, members)


def load_planetoid(name: str, data_dir: str) -> ContinualData:
    """Cora or Citeseer (`name`), downloaded into data_dir in DGL's layout on first use."""

    def build() -> ContinualData:
        folder = fetch_archive(data_dir, planetoid_archive(name), name)
        return parse_planetoid(folder, DGL_PREFIX[name], name)

    return cached(data_dir, name, version=4, build=build)  # v4: DGL's edge order, sparse features


def parse_gnn_benchmark_npz(path: Path, name: str) -> ContinualData:
    """A graph in Shchur et al.'s npz format (adjacency, attributes, labels as CSR parts).

    Read with allow_pickle=False: the object arrays of names in the file are never touched.
    """
    with np.load(path, allow_pickle=False) as npz:

        def csr(key: str) -> sp.csr_matrix:
            parts = (npz[f"{key}_data"], npz[f"{key}_indices"], npz[f"{key}_indptr"])
            return sp.csr_matrix(parts, shape=tuple(npz[f"{key}_shape"]))

        adjacency = csr("adj").tocoo()
        feats = from_scipy(csr("attr"))  # bag-of-words: sparse
        labels = npz["labels"].astype(np.int64)
    graph = undirected_graph(
        adjacency.row.astype(np.int64), adjacency.col.astype(np.int64), len(labels)
    )
    graph.ndata["feat"] = feats
    return ContinualData(
        name=name,
        level="nc",
        num_classes=int(labels.max()) + 1,
        label=torch.from_numpy(labels),
        graph=graph,
    )


def load_corafull(data_dir: str) -> ContinualData:
    """CoraFull (Bojchevski & Günnemann 2018), from DGL's copy of `cora_full.npz`."""
    archive = dgl_archive("cora_full", {"cora_full.npz": None})

    def build() -> ContinualData:
        folder = fetch_archive(data_dir, archive, "corafull")
        return parse_gnn_benchmark_npz(folder / "cora_full.npz", "corafull")

    return cached(data_dir, "corafull", version=3, build=build)  # v3: sparse features
