"""Open Graph Benchmark datasets, read from OGB's own zips in OGB's layout.

Each zip is fetched from snap.stanford.edu/ogb and unpacked where OGB's DGL datasets put it
(`<data_dir>/ogbn_arxiv/raw/...`), so a data_dir that the `ogb` package already filled is
reused. We read OGB's raw CSV files ourselves (no `ogb` dependency, no interactive prompts);
the only binary files read are ogbl-collab's split files, through torch's weights-only
loader with numpy arrays allowed and nothing else.

Node datasets are made undirected, except ogbn-arxiv with `directed=True` (its citations
as OGB ships them, citing -> cited, which CGLB trains on). ogbn-arxiv and ogbn-products
publish OGB's own split (`split/time/`, `split/sales_ranking/`: train/valid/test node ids) as
`split`; a protocol decides whether to use it. Time steps follow BeGin: ogbn-arxiv's first
time step holds the papers up to 1997, then one step per year (24 steps); ogbl-collab's first
holds the links up to 1970, then one per year (50 steps); ogbn-mag's are the years 2010-2019
(10 steps).
"""

from __future__ import annotations

from pathlib import Path

import dgl
import numpy as np
import pandas as pd
import torch

from cgl.datasets.base import SPLIT_TEST, SPLIT_TRAIN, SPLIT_VAL, ContinualData
from cgl.datasets.cache import cached
from cgl.datasets.download import RawArchive, fetch_archive
from cgl.datasets.molecules import active_molecules
from cgl.datasets.structure import link_prediction_data, undirected_graph, unique_links

OGB_DATA_URL = "http://snap.stanford.edu/ogb/data"
_RECONSTRUCT = np.zeros(0).__reduce__()[0]  # numpy's array rebuilder (its module moved in 2.0)
#: What ogbl-collab's split files may hold: numpy arrays of plain dtypes, nothing else.
NUMPY_SAFE_GLOBALS = [
    np.ndarray,
    np.dtype,
    (_RECONSTRUCT, "numpy.core.multiarray._reconstruct"),
    (_RECONSTRUCT, "numpy._core.multiarray._reconstruct"),
    *(type(np.dtype(t)) for t in (np.int64, np.int32, np.float32, np.float64, np.bool_)),
]


def ogb_archive(name: str, kind: str, members: list[str], stem: str | None = None) -> RawArchive:
    """OGB's zip of `name` (e.g. ogbn-arxiv -> nodeproppred/arxiv.zip -> ogbn_arxiv/)."""
    stem = stem or name.split("-", 1)[1]
    return RawArchive(
        url=f"{OGB_DATA_URL}/{kind}/{stem}.zip",
        file_name=f"{stem}.zip",
        folder=name.replace("-", "_"),
        members=dict.fromkeys(members),
        strip=f"{stem}/",
    )


def read_table(path: Path) -> np.ndarray:
    """One of OGB's header-less .csv.gz tables as an array."""
    return pd.read_csv(path, header=None).to_numpy(copy=True)


def read_split(path: Path) -> dict[str, np.ndarray]:
    """An OGB split file (a torch-saved dict of numpy arrays), without unpickling anything else."""
    with torch.serialization.safe_globals(NUMPY_SAFE_GLOBALS):
        return torch.load(path, weights_only=True)


#: OGB's split files (header-less node-id tables) and the split code each stands for.
SPLIT_FILES = {"train": SPLIT_TRAIN, "valid": SPLIT_VAL, "test": SPLIT_TEST}


def split_members(kind: str) -> list[str]:
    """The three files of one of OGB's node splits, e.g. `split/time/train.csv.gz`."""
    return [f"split/{kind}/{part}.csv.gz" for part in SPLIT_FILES]


def read_node_split(folder: Path, num_nodes: int) -> np.ndarray:
    """OGB's train/valid/test node ids as one split code per node (-1: in none)."""
    split = np.full(num_nodes, -1, dtype=np.int64)
    for part, code in SPLIT_FILES.items():
        split[read_table(folder / f"{part}.csv.gz").ravel()] = code
    return split


def node_data(
    name: str,
    edges: np.ndarray,
    feat: np.ndarray,
    label: np.ndarray,
    directed: bool = False,
    **per_node: np.ndarray,
) -> ContinualData:
    """NC data on the undirected graph of `edges` (an OGB [E, 2] edge table), or with
    `directed` on its edges as listed (self-loops left out: trainers add their own)."""
    num_nodes = len(feat)
    src, dst = edges[:, 0].astype(np.int64), edges[:, 1].astype(np.int64)
    if directed:
        keep = src != dst
        graph = dgl.graph(
            (torch.from_numpy(src[keep]), torch.from_numpy(dst[keep])), num_nodes=num_nodes
        )
    else:
        graph = undirected_graph(src, dst, num_nodes)
    graph.ndata["feat"] = torch.as_tensor(feat, dtype=torch.float32)
    label = torch.as_tensor(label, dtype=torch.long)
    num_classes = int(label.shape[1]) if label.dim() > 1 else int(label.max()) + 1
    return ContinualData(
        name=name,
        level="nc",
        num_classes=num_classes,
        label=label,
        graph=graph,
        **{k: torch.as_tensor(v, dtype=torch.long) for k, v in per_node.items()},
    )


def years_to_steps(years: np.ndarray, first_year: int) -> np.ndarray:
    """Time step per year: everything up to `first_year` is step 0, then one step a year."""
    return np.maximum(years, first_year) - first_year


ARXIV = ogb_archive(
    "ogbn-arxiv",
    "nodeproppred",
    [
        "raw/edge.csv.gz",
        "raw/node-feat.csv.gz",
        "raw/node-label.csv.gz",
        "raw/node_year.csv.gz",
        *split_members("time"),
    ],
)


def load_arxiv(data_dir: str, first_year: int = 1997, directed: bool = False) -> ContinualData:
    """ogbn-arxiv: 40 subject areas (Task/Class-IL), publication years (Time-IL); `directed`
    keeps OGB's citation direction instead of both directions."""

    def build() -> ContinualData:
        folder = fetch_archive(data_dir, ARXIV, "ogbn-arxiv")
        raw = folder / "raw"
        years = read_table(raw / "node_year.csv.gz").ravel()
        return node_data(
            "ogbn-arxiv",
            read_table(raw / "edge.csv.gz"),
            read_table(raw / "node-feat.csv.gz"),
            read_table(raw / "node-label.csv.gz").ravel(),
            time=years_to_steps(years, first_year),
            directed=directed,
            split=read_node_split(folder / "split" / "time", len(years)),
        )

    key = f"ogbn-arxiv-from{first_year}{'-directed' if directed else ''}"
    return cached(data_dir, key, version=2, build=build)


PRODUCTS = ogb_archive(
    "ogbn-products",
    "nodeproppred",
    [
        "raw/edge.csv.gz",
        "raw/node-feat.csv.gz",
        "raw/node-label.csv.gz",
        *split_members("sales_ranking"),
    ],
)


def load_products(data_dir: str) -> ContinualData:
    """ogbn-products: 47 product categories (Class-IL; 2.4M nodes, minibatch training)."""

    def build() -> ContinualData:
        folder = fetch_archive(data_dir, PRODUCTS, "ogbn-products")
        raw = folder / "raw"
        label = read_table(raw / "node-label.csv.gz").ravel()
        return node_data(
            "ogbn-products",
            read_table(raw / "edge.csv.gz"),
            read_table(raw / "node-feat.csv.gz"),
            label,
            split=read_node_split(folder / "split" / "sales_ranking", len(label)),
        )

    return cached(data_dir, "ogbn-products", version=2, build=build)


PROTEINS = ogb_archive(
    "ogbn-proteins",
    "nodeproppred",
    [
        "raw/edge.csv.gz",
        "raw/edge-feat.csv.gz",
        "raw/node-label.csv.gz",
    ],
)


def proteins_data(
    edges: np.ndarray, edge_feat: np.ndarray, labels: np.ndarray, species: np.ndarray
) -> ContinualData:
    """Node features are the mean of the 8-d features of a protein's associations (as in
    OGB's example and BeGin); the domain is the species (8, numbered in increasing taxon id);
    the label is the 112 binary functions (multi-label, ROC-AUC)."""
    num_nodes = len(labels)
    ends = np.concatenate([edges[:, 0], edges[:, 1]])  # an association counts for both proteins
    # bincount per feature: tens of times faster than np.add.at on 39.6M associations
    sums = np.stack(
        [
            np.bincount(ends, weights=np.tile(edge_feat[:, k], 2), minlength=num_nodes)
            for k in range(edge_feat.shape[1])
        ],
        axis=1,
    )
    counts = np.bincount(ends, minlength=num_nodes)
    feat = sums / np.maximum(counts, 1)[:, None]
    _, domain = np.unique(species.ravel(), return_inverse=True)
    return node_data("ogbn-proteins", edges, feat, labels, domain=domain)


def load_proteins(data_dir: str) -> ContinualData:
    """ogbn-proteins: species as domains (Domain-IL), 112 binary labels."""

    def build() -> ContinualData:
        raw = fetch_archive(data_dir, PROTEINS, "ogbn-proteins") / "raw"
        species_file = next(
            raw / n for n in ("species.csv.gz", "node_species.csv.gz") if (raw / n).exists()
        )
        return proteins_data(
            read_table(raw / "edge.csv.gz"),
            read_table(raw / "edge-feat.csv.gz"),
            read_table(raw / "node-label.csv.gz"),
            read_table(species_file),
        )

    return cached(data_dir, "ogbn-proteins", version=1, build=build)


MAG_CITES = "relations/paper___cites___paper/edge.csv.gz"
MAG = ogb_archive(
    "ogbn-mag",
    "nodeproppred",
    [
        f"raw/{MAG_CITES}",
        "raw/node-feat/paper/node-feat.csv.gz",
        "raw/node-feat/paper/node_year.csv.gz",
        "raw/node-label/paper/node-label.csv.gz",
    ],
)


def load_mag(data_dir: str, first_year: int = 2010) -> ContinualData:
    """ogbn-mag's paper citation network: 349 fields of study, years 2010-2019 (Time-IL)."""

    def build() -> ContinualData:
        folder = fetch_archive(data_dir, MAG, "ogbn-mag") / "raw"
        paper = folder / "node-feat" / "paper"
        years = read_table(paper / "node_year.csv.gz").ravel()
        return node_data(
            "ogbn-mag",
            read_table(folder / MAG_CITES),
            read_table(paper / "node-feat.csv.gz"),
            read_table(folder / "node-label/paper/node-label.csv.gz").ravel(),
            time=years_to_steps(years, first_year),
        )

    return cached(data_dir, f"ogbn-mag-from{first_year}", version=1, build=build)


COLLAB = ogb_archive(
    "ogbl-collab",
    "linkproppred",
    [
        "raw/edge.csv.gz",
        "raw/edge_year.csv.gz",
        "raw/node-feat.csv.gz",
        "split/time/valid.pt",
        "split/time/test.pt",
    ],
)


def collab_data(folder: Path, first_year: int) -> ContinualData:
    """All of collab's co-authorships (OGB's train, valid and test links together), each
    author pair once at the year of its first collaboration."""
    raw = folder / "raw"
    edges = [read_table(raw / "edge.csv.gz")]
    years = [read_table(raw / "edge_year.csv.gz").ravel()]
    for split in ("valid", "test"):
        part = read_split(folder / "split" / "time" / f"{split}.pt")
        edges.append(np.asarray(part["edge"]))
        years.append(np.asarray(part["year"]).ravel())
    edges, years = np.concatenate(edges).astype(np.int64), np.concatenate(years)
    order = np.argsort(years, kind="stable")
    edges, years = edges[order], years[order]
    keep = unique_links(edges[:, 0], edges[:, 1])
    feat = torch.as_tensor(read_table(raw / "node-feat.csv.gz"), dtype=torch.float32)
    return link_prediction_data(
        "ogbl-collab",
        edges[keep, 0],
        edges[keep, 1],
        len(feat),
        feat=feat,
        time=years_to_steps(years[keep], first_year),
    )


def load_collab(data_dir: str, first_year: int = 1970) -> ContinualData:
    """ogbl-collab co-authorship links by year (LP Time-IL, Hits@50)."""

    def build() -> ContinualData:
        return collab_data(fetch_archive(data_dir, COLLAB, "ogbl-collab"), first_year)

    return cached(data_dir, f"ogbl-collab-from{first_year}", version=1, build=build)


MOLHIV = ogb_archive(
    "ogbg-molhiv", "graphproppred/csv_mol_download", ["mapping/mol.csv.gz"], stem="hiv"
)


def load_molhiv(
    data_dir: str, num_domains: int = 20, max_molecules: int | None = None
) -> ContinualData:
    """ogbg-molhiv from OGB's SMILES mapping, through the same RDKit path as `hiv`
    (molecules.py), with scaffold-derived domains (GC Domain-IL, ROC-AUC)."""

    def build() -> ContinualData:
        folder = fetch_archive(data_dir, MOLHIV, "ogbg-molhiv")
        table = pd.read_csv(folder / "mapping" / "mol.csv.gz", nrows=max_molecules)
        return active_molecules("ogbg-molhiv", table, num_domains)

    key = f"ogbg-molhiv-{num_domains}domains-{max_molecules or 'all'}"
    return cached(data_dir, key, version=1, build=build)
