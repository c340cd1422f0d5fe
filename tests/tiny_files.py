"""Tiny raw files in each real dataset's own format, placed where its download puts them.

Two layers, one per need:

- `write_<dataset>(data_dir, <content>)` writes the given content in the source's format (OGB's
  header-less .csv.gz tables inside OGB's zip, DGL's zip of an npz or a JSON, SNAP's gzip text
  and tar, PyG's zip of a torch-saved triple, TLC's parquet, Sentiment140's latin-1 CSV in its
  zip), as the archive or file the loader downloads. The loader unit tests call them with a
  few hand-made rows whose result they know.
- `tiny_<dataset>(data_dir)` builds content big enough for every level x scenario the
  dataset's yaml declares (enough classes per task, distinct time steps or domains, every task
  with train, val and test items, both classes in every binary test split) and writes it
  through the writer. `TINY_DATASETS` maps each dataset name to its builder.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import tarfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from cgl.datasets import nyctaxi, sentiment140, snap
from cgl.datasets.superpixels import superpixel_archive


# ---- file formats -------------------------------------------------------------------------------
def gz_table(rows) -> bytes:
    """A header-less gzip CSV, as OGB stores every table."""
    buffer = io.BytesIO()
    pd.DataFrame(np.asarray(rows)).to_csv(buffer, header=False, index=False, compression="gzip")
    return buffer.getvalue()


def torch_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def write_zip(path: Path, files: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, body in files.items():
            archive.writestr(name, body)
    return path


def write_tar_gz(path: Path, files: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode="w:gz") as archive:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    return path


def write_ogb_zip(data_dir: Path, stem: str, tables: dict[str, object], **other: bytes) -> Path:
    """OGB's `<stem>.zip` as served: every file under `<stem>/`, tables as header-less .csv.gz."""
    files = {f"{stem}/{name}": gz_table(rows) for name, rows in tables.items()}
    files |= {f"{stem}/{name}": body for name, body in other.items()}
    return write_zip(data_dir / f"{stem}.zip", files)


# ---- one writer per dataset ---------------------------------------------------------------------
def write_corafull(data_dir: Path, adjacency, features, labels) -> Path:
    """DGL's `cora_full.zip`: Shchur et al.'s npz of CSR parts, with the object arrays of
    names the real file has (np.load would need pickle for them)."""
    adj, attr = sp.csr_matrix(adjacency), sp.csr_matrix(features)
    names = np.array([{"name": "field"}], dtype=object)
    buffer = io.BytesIO()
    np.savez(
        buffer,
        adj_data=adj.data, adj_indices=adj.indices, adj_indptr=adj.indptr, adj_shape=adj.shape,
        attr_data=attr.data, attr_indices=attr.indices, attr_indptr=attr.indptr,
        attr_shape=attr.shape, labels=np.asarray(labels), node_names=names, attr_names=names,
        class_names=names,
    )  # fmt: skip
    return write_zip(data_dir / "cora_full.zip", {"cora_full.npz": buffer.getvalue()})


def write_wikics(data_dir: Path, features, labels, links: list[list[int]]) -> Path:
    """DGL's `wiki_cs.zip`: Wiki-CS's data.json (features, labels, adjacency lists, masks)."""
    num_nodes = len(labels)
    doc = {
        "features": np.asarray(features).round(4).tolist(),
        "labels": [int(x) for x in labels],
        "links": [[int(j) for j in js] for js in links],
        "train_masks": [[True] * num_nodes],
        "val_masks": [[False] * num_nodes],
        "stopping_masks": [[False] * num_nodes],
        "test_mask": [False] * num_nodes,
    }
    return write_zip(data_dir / "wiki_cs.zip", {"data.json": json.dumps(doc).encode()})


def ogb_split_tables(kind: str, split) -> dict[str, np.ndarray]:
    """OGB's `split/<kind>/{train,valid,test}.csv.gz` from one code per node (0 train,
    1 valid, 2 test)."""
    split = np.asarray(split)
    parts = ("train", "valid", "test")
    return {
        f"split/{kind}/{part}.csv.gz": np.c_[np.flatnonzero(split == code)]
        for code, part in enumerate(parts)
    }


def per_class_split(label, shares=(3, 1, 1)) -> np.ndarray:
    """A split code per node that gives every class train, valid and test nodes: within a
    class, nodes cycle through `shares` trains, valids and tests in id order."""
    label = np.asarray(label)
    cycle = np.repeat([0, 1, 2], shares)
    rank = np.zeros(len(label), dtype=np.int64)
    for c in np.unique(label):
        members = np.flatnonzero(label == c)
        rank[members] = np.arange(len(members))
    return cycle[rank % len(cycle)]


def write_arxiv(data_dir: Path, edges, feat, label, year, split=None) -> Path:
    """OGB's arxiv.zip; `split` (a code per node, default `per_class_split`) is its time split."""
    tables = {"raw/edge.csv.gz": edges, "raw/node-feat.csv.gz": np.asarray(feat).round(4)}
    tables |= {"raw/node-label.csv.gz": np.c_[label], "raw/node_year.csv.gz": np.c_[year]}
    split = per_class_split(label) if split is None else split
    return write_ogb_zip(data_dir, "arxiv", tables | ogb_split_tables("time", split))


def write_products(data_dir: Path, edges, feat, label, split=None) -> Path:
    """OGB's products.zip; `split` as for write_arxiv (OGB's sales-ranking split)."""
    tables = {"raw/edge.csv.gz": edges, "raw/node-feat.csv.gz": np.asarray(feat).round(4)}
    tables |= {"raw/node-label.csv.gz": np.c_[label]}
    split = per_class_split(label) if split is None else split
    return write_ogb_zip(data_dir, "products", tables | ogb_split_tables("sales_ranking", split))


def write_proteins(data_dir: Path, edges, edge_feat, labels, species) -> Path:
    """OGB's proteins.zip; the species table is the additional node file `node_species`."""
    tables = {
        "raw/edge.csv.gz": edges,
        "raw/edge-feat.csv.gz": np.asarray(edge_feat).round(4),
        "raw/node-label.csv.gz": labels,
        "raw/node_species.csv.gz": np.c_[species],
    }
    return write_ogb_zip(data_dir, "proteins", tables)


def write_mag(data_dir: Path, cites, feat, year, label) -> Path:
    """OGB's mag.zip (heterogeneous layout); only the paper tables the loader reads."""
    tables = {
        "raw/relations/paper___cites___paper/edge.csv.gz": cites,
        "raw/node-feat/paper/node-feat.csv.gz": np.asarray(feat).round(4),
        "raw/node-feat/paper/node_year.csv.gz": np.c_[year],
        "raw/node-label/paper/node-label.csv.gz": np.c_[label],
    }
    return write_ogb_zip(data_dir, "mag", tables)


def write_collab(
    data_dir: Path,
    edges,
    years,
    feat,
    valid: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
) -> Path:
    """OGB's collab.zip: the training links as raw tables, the valid and test links (with
    their years, weights and 'edge_neg') as torch-saved dicts of numpy arrays."""
    edges, years = np.asarray(edges, dtype=np.int64), np.asarray(years, dtype=np.int64)
    tables = {
        "raw/edge.csv.gz": edges,
        "raw/edge_year.csv.gz": np.c_[years],
        "raw/edge_weight.csv.gz": np.ones((len(edges), 1), dtype=np.int64),
        "raw/node-feat.csv.gz": np.asarray(feat).round(4),
    }
    splits = {"train": (edges, years), "valid": valid, "test": test}
    other = {}
    for name, (split_edges, split_years) in splits.items():
        part = {
            "edge": np.asarray(split_edges, dtype=np.int64),
            "weight": np.ones(len(split_edges), dtype=np.int64),
            "year": np.asarray(split_years, dtype=np.int64),
        }
        if name != "train":
            part["edge_neg"] = np.array([[0, 1], [1, 2]], dtype=np.int64)
        other[f"split/time/{name}.pt"] = torch_bytes(part)
    return write_ogb_zip(data_dir, "collab", tables, **other)


def write_molhiv(data_dir: Path, smiles: Sequence[str], active: Sequence[int]) -> Path:
    """OGB's hiv.zip (csv_mol_download): the SMILES mapping `mapping/mol.csv.gz`."""
    table = pd.DataFrame({"HIV_active": active, "smiles": smiles, "mol_id": range(len(smiles))})
    buffer = io.BytesIO()
    table.to_csv(buffer, index=False, compression="gzip")
    return write_zip(data_dir / "hiv.zip", {"hiv/mapping/mol.csv.gz": buffer.getvalue()})


def write_askubuntu(data_dir: Path, interactions: Sequence[tuple[int, int, int]]) -> Path:
    """SNAP's sx-askubuntu.txt.gz: `src dst unix_seconds` per line."""
    lines = "".join(f"{u} {v} {t}\n" for u, v, t in interactions)
    path = data_dir / snap.ASKUBUNTU.path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(lines.encode()))
    return path


def write_facebook(data_dir: Path, edges_by_category: dict[str, np.ndarray]) -> Path:
    """GEMSEC's tar: `facebook_clean_data/<category>_edges.csv` with a node_1,node_2 header."""
    files = {}
    for category, edges in edges_by_category.items():
        body = "node_1,node_2\n" + "".join(f"{u},{v}\n" for u, v in edges)
        files[f"facebook_clean_data/{category}_edges.csv"] = body.encode()
    return write_tar_gz(data_dir / snap.FACEBOOK.file_name, files)


def superpixel_graph(x, pos, edge_index, edge_attr, label: int) -> dict[str, torch.Tensor]:
    """One graph as PyG's MNIST_v2.pt / CIFAR10_v2.pt store it (1-d edge_attr, y of shape 1)."""
    return {
        "x": torch.as_tensor(x, dtype=torch.float32),
        "pos": torch.as_tensor(pos, dtype=torch.float32),
        "edge_index": torch.as_tensor(edge_index, dtype=torch.long),
        "edge_attr": torch.as_tensor(edge_attr, dtype=torch.float32),
        "y": torch.tensor([label]),
    }


def write_superpixels(data_dir: Path, name: str, splits: Sequence[list[dict]]) -> Path:
    """PyG's `<NAME>_v2.zip`: one torch-saved (train, val, test) triple of graph dicts."""
    archive = superpixel_archive(name)
    member = next(iter(archive.members))
    return write_zip(data_dir / archive.file_name, {member: torch_bytes(tuple(splits))})


def write_nyctaxi(data_dir: Path, zones: pd.DataFrame, trips: dict[tuple[int, int], pd.DataFrame]):
    """TLC's zone table (CSV) and one yellow-taxi parquet file per (year, month)."""
    zones_path = data_dir / nyctaxi.ZONES.path
    zones_path.parent.mkdir(parents=True, exist_ok=True)
    zones.to_csv(zones_path, index=False)
    for (year, month), table in trips.items():
        table.to_parquet(data_dir / nyctaxi.trips_file(year, month).path, index=False)


def write_sentiment140(data_dir: Path, rows: Sequence[tuple]) -> Path:
    """Sentiment140's zip: the header-less latin-1 training CSV (polarity, id, date, query,
    user, text) beside the small manually labelled test file."""
    buffer = io.BytesIO()
    table = pd.DataFrame(list(rows))
    table.to_csv(buffer, header=False, index=False, encoding="latin-1", quoting=csv.QUOTE_ALL)
    test = b'"4","3","Mon May 11 03:17:40 UTC 2009","kindle2","tpryan","loving my kindle2"\n'
    files = {
        next(iter(sentiment140.SENTIMENT140.members)): buffer.getvalue(),
        "testdata.manual.2009.06.14.csv": test,
    }
    return write_zip(data_dir / sentiment140.SENTIMENT140.file_name, files)


# ---- content big enough for every declared scenario ---------------------------------------------
def group_edges(rng, groups: np.ndarray, per_node: int = 3, homophily: float = 0.8) -> np.ndarray:
    """[E, 2] directed edges: each node links to `per_node` others, of its own group with
    probability `homophily` (so a GNN has something to learn), never to itself."""
    members = {g: np.flatnonzero(groups == g) for g in np.unique(groups)}
    edges = []
    for i, group in enumerate(groups):
        for _ in range(per_node):
            pool = members[group] if rng.random() < homophily else np.arange(len(groups))
            j = int(rng.choice(pool))
            if j != i:
                edges.append((i, j))
    return np.array(edges, dtype=np.int64)


def group_features(rng, groups: np.ndarray, num_feats: int) -> np.ndarray:
    centres = rng.normal(size=(int(groups.max()) + 1, num_feats))
    return centres[groups] + rng.normal(size=(len(groups), num_feats))


def spread_labels(rng, num_items: int, num_classes: int) -> np.ndarray:
    """Every class about equally often, in random order."""
    return rng.permutation(np.arange(num_items) % num_classes)


def tiny_corafull(data_dir: Path) -> None:
    """70 fields x 4 papers: each of the 35 tasks of 2 fields has 8 papers (5/2/1 split)."""
    rng = np.random.default_rng(0)
    labels = spread_labels(rng, 70 * 4, 70)
    edges = group_edges(rng, labels)
    adjacency = sp.coo_matrix((np.ones(len(edges)), edges.T), shape=(len(labels),) * 2)
    features = (group_features(rng, labels, 16) > 0.5).astype(np.float32)  # binary bag of words
    write_corafull(data_dir, adjacency, features, labels)


def tiny_arxiv(data_dir: Path) -> None:
    """40 subject areas x 6 papers; 10 papers per time step: 1990-1997 (step 0), then one
    step a year up to 2020, so Time-IL has BeGin's 24 steps and Task/Class-IL 8 tasks of 5."""
    rng = np.random.default_rng(1)
    step = np.repeat(np.arange(24), 10)
    year = np.where(step == 0, rng.integers(1990, 1998, len(step)), 1997 + step)
    label = spread_labels(rng, len(step), 40)
    write_arxiv(data_dir, group_edges(rng, label), group_features(rng, label, 8), label, year)


def tiny_products(data_dir: Path) -> None:
    """47 categories x 5 products (the last two categories used by no task: 9 tasks of 5)."""
    rng = np.random.default_rng(2)
    label = spread_labels(rng, 47 * 5, 47)
    write_products(data_dir, group_edges(rng, label), group_features(rng, label, 8), label)


def tiny_proteins(data_dir: Path, per_species: int = 60, num_labels: int = 6) -> None:
    """A small graph of 8 species whose labels can be learnt: each protein has a hidden group
    that sets its likely functions, its associations stay in its species and group, and the
    association features are centred on the group."""
    rng = np.random.default_rng(0)
    species = np.repeat([3702, 4932, 6239, 7227, 7955, 9606, 10090, 511145], per_species)
    num_nodes = len(species)
    group = rng.integers(0, 4, num_nodes)
    functions = rng.random((4, num_labels)) < 0.5
    noise = rng.random((num_nodes, num_labels)) < 0.1
    labels = (functions[group] ^ noise).astype(int)
    peers = [
        np.flatnonzero((species == species[i]) & (group == group[i]) & (np.arange(num_nodes) != i))
        for i in range(num_nodes)
    ]
    edges = np.array([(i, j) for i in range(num_nodes) for j in rng.choice(peers[i], 3)])
    edge_feat = rng.normal(size=(4, 8))[group[edges[:, 0]]] + rng.normal(size=(len(edges), 8))
    write_proteins(data_dir, edges, edge_feat, labels, species)


def tiny_mag(data_dir: Path) -> None:
    """12 papers a year over 2010-2019 (10 steps), in a handful of the 349 fields (field 348
    among them, so the label space is the real one)."""
    rng = np.random.default_rng(3)
    year = np.repeat(np.arange(2010, 2020), 12)
    label = rng.choice([0, 5, 17, 120, 348], len(year))
    write_mag(data_dir, group_edges(rng, label), group_features(rng, label, 8), year, label)


def yearly_links(rng, num_steps: int, num_nodes: int, per_step: int = 16, authors: int = 24):
    """Per time step, `per_step` distinct pairs among `authors` nodes drawn for that step,
    each of them an endpoint: enough node pairs per task for Hits@50's val/test negatives."""
    links = []
    for step in range(num_steps):
        pool = rng.choice(num_nodes, authors, replace=False)
        pairs = {tuple(sorted(pair)) for pair in pool.reshape(-1, 2)}  # every author once
        while len(pairs) < per_step:
            pairs.add(tuple(sorted(rng.choice(pool, 2, replace=False))))
        links += [(u, v, step) for u, v in sorted(pairs)]
    return np.array(links, dtype=np.int64)


def tiny_collab(data_dir: Path) -> None:
    """Co-authorships over 1963-2019: up to 1970 the first of BeGin's 50 steps, then one step
    a year; OGB's split: training links up to 2017, valid 2018, test 2019. Some pairs
    collaborate again in a later year (the loader keeps a pair at its first year)."""
    rng = np.random.default_rng(4)
    links = yearly_links(rng, num_steps=50, num_nodes=300)
    again = links[rng.choice(len(links), 40, replace=False)]
    again[:, 2] = rng.integers(again[:, 2], 50)
    links = np.concatenate([links, again[:, [1, 0, 2]]])  # either order
    step = links[:, 2]
    year = np.where(step == 0, rng.integers(1963, 1971, len(step)), 1970 + step)
    edges = links[:, :2]
    feat = rng.normal(size=(300, 8))
    train, valid, test = year <= 2017, year == 2018, year == 2019
    write_collab(
        data_dir,
        edges[train],
        year[train],
        feat,
        valid=(edges[valid], year[valid]),
        test=(edges[test], year[test]),
    )


def tiny_wikics(data_dir: Path) -> None:
    """10 subfields x 24 articles; most links inside a subfield, so each of the 10 domains
    (a link's later subfield) has links among enough articles for its negatives."""
    rng = np.random.default_rng(5)
    labels = np.repeat(np.arange(10), 24)
    edges = group_edges(rng, labels, per_node=2, homophily=0.9)
    links = [[] for _ in labels]
    for u, v in edges:
        links[u].append(int(v))
    write_wikics(data_dir, group_features(rng, labels, 8), labels, links)


def tiny_facebook(data_dir: Path) -> None:
    """Each of the 8 page categories: 24 pages, about 40 page-page links."""
    rng = np.random.default_rng(6)
    tables = {}
    for category in snap.FACEBOOK_CATEGORIES:
        edges = group_edges(rng, rng.integers(0, 3, 24), per_node=2)
        tables[category] = edges
    write_facebook(data_dir, tables)


def tiny_askubuntu(data_dir: Path) -> None:
    """87 months of interactions from 2009-01: BeGin skips the first 18, leaving 69 steps.
    As in SNAP's file, users also comment on their own posts (self-loops) and pairs meet again
    (neither is a new link)."""
    rng = np.random.default_rng(7)
    links = yearly_links(rng, num_steps=87, num_nodes=400)
    interactions = []
    for u, v, month in links:
        first = dt.datetime(2009 + month // 12, month % 12 + 1, 1, tzinfo=dt.UTC)
        seconds = int(first.timestamp()) + int(rng.integers(0, 27 * 24 * 3600))
        interactions.append((u + 1, v + 1, seconds))  # SNAP's user ids start at 1
        if rng.random() < 0.2:
            interactions.append((v + 1, u + 1, seconds + 3600))
        if rng.random() < 0.1:
            interactions.append((u + 1, u + 1, seconds + 60))
    write_askubuntu(data_dir, interactions)


def superpixel_splits(name: str, per_class: tuple[int, int, int] = (6, 2, 2)) -> list[list[dict]]:
    """Train/val/test lists of kNN superpixel graphs, whose colour depends on the class."""
    rng = np.random.default_rng(8)
    channels = 1 if name == "mnist" else 3
    splits = []
    for count in per_class:
        graphs = []
        for label in range(10):
            for _ in range(count):
                n = int(rng.integers(6, 10))
                pos = rng.random((n, 2))
                x = label / 10 + 0.1 * rng.normal(size=(n, channels))
                distance = np.linalg.norm(pos[:, None] - pos[None], axis=2)
                near = np.argsort(distance, axis=1)[:, 1:3]  # 2 nearest neighbours
                src = np.repeat(np.arange(n), 2)
                dst = near.ravel()
                weight = np.exp(-distance[src, dst])
                graphs.append(superpixel_graph(x, pos, np.stack([src, dst]), weight, label))
        splits.append(graphs)
    return splits


def tiny_superpixels(name: str) -> Callable[[Path], None]:
    return lambda data_dir: write_superpixels(data_dir, name, superpixel_splits(name))


#: Acyclic side chains: they leave a molecule's Bemis-Murcko scaffold as it is.
SIDE_CHAINS = ("C", "CC", "O", "N", "F", "Cl", "OC", "NC", "CCC", "Br")


#: Acyclic molecules HIV.csv has too: a five-valent nitrogen RDKit reads only without the
#: valence check, a salt without bonds, and a SMILES RDKit cannot read at all (left out).
ODD_MOLECULES = ("C[N](C)(C)(C)C", "[Na+].[Cl-]", "C1CC")


def tiny_molhiv(data_dir: Path, per_scaffold: int = 100) -> None:
    """20 scaffold families (a benzene or cyclohexane ring linked by 0-9 carbons to a
    benzene) and the acyclic family (scaffold ""), `per_scaffold` molecules each with side
    chains; half the molecules of every family are active, so every one of the 20 scaffold
    domains has both classes in its test split for ROC-AUC (BeGin's 10% of a domain)."""
    rng = np.random.default_rng(9)
    smiles, active = [], []
    for ring in ("c1ccc(cc1)", "C1CCC(CC1)"):
        for linker in range(10):
            for i in range(per_scaffold):
                a, b = rng.choice(len(SIDE_CHAINS), 2)
                smiles.append(f"{SIDE_CHAINS[a]}{ring}{'C' * linker}c1ccc({SIDE_CHAINS[b]})cc1")
                active.append(i % 2)
    for i in range(per_scaffold):
        a, b = rng.choice(len(SIDE_CHAINS), 2)
        chain = f"{SIDE_CHAINS[a]}C{'C' * (i % 5)}{SIDE_CHAINS[b]}"
        smiles.append(ODD_MOLECULES[i] if i < len(ODD_MOLECULES) else chain)
        active.append(i % 2)
    write_molhiv(data_dir, smiles, active)


def tiny_nyctaxi(data_dir: Path, year: int = 2021) -> None:
    """Eight zones (one without a borough, as TLC's 'Unknown' rows); each month a few hundred
    trips, weekend trips between other zones than weekday ones, plus the stray rows real files
    hold (a pickup in the previous month, a zone id outside the table)."""
    rng = np.random.default_rng(10)
    zones = pd.DataFrame({
        "LocationID": range(1, 9),
        "Borough": ["EWR", "Queens", "Queens", "Bronx", "Manhattan", "Manhattan", "Brooklyn", None],
        "Zone": [f"zone {i}" for i in range(1, 9)],
        "service_zone": ["EWR", "Boro Zone", "Boro Zone", "Boro Zone", "Yellow Zone",
                         "Yellow Zone", "Boro Zone", None],
    })  # fmt: skip
    trips = {}
    for month in range(1, 13):
        start = pd.Timestamp(year=year, month=month, day=1)
        pickup = start + pd.to_timedelta(rng.integers(0, start.days_in_month * 24 * 60, 300), "min")
        weekend = np.asarray(pickup.dayofweek) >= 5
        pu = np.where(weekend, rng.integers(1, 5, 300), rng.integers(5, 9, 300))
        do = np.where(weekend, rng.integers(1, 5, 300), rng.integers(4, 9, 300))
        pickup = pickup.append(pd.DatetimeIndex([start - pd.Timedelta(hours=1), start]))
        pu, do = np.r_[pu, 1, 264], np.r_[do, 2, 3]
        trips[year, month] = pd.DataFrame({
            "VendorID": np.ones(len(pu), dtype=np.int64),
            "tpep_pickup_datetime": pickup,
            "tpep_dropoff_datetime": pickup + pd.Timedelta(minutes=12),
            "passenger_count": np.ones(len(pu)),
            "trip_distance": rng.random(len(pu)) * 5,
            "PULocationID": pu.astype(np.int64),
            "DOLocationID": do.astype(np.int64),
        })  # fmt: skip
    write_nyctaxi(data_dir, zones, trips)


TWEET_WORDS = {
    0: ("sad", "hate", "awful", "tired", "miss", "sick", ":("),
    4: ("happy", "love", "great", "fun", "thanks", "good", ":)"),
}
FILLER = ("the", "day", "work", "my", "is", "so", "@friend", "#monday", "café", "http://bit.ly/x1")
#: Whole tweets pandas would read as missing values by default.
NA_LIKE_TWEETS = ("NA", "null", "nan", "N/A")


def tweet_rows(num_days: int, per_polarity: int, first_day: dt.date = dt.date(2009, 4, 6)):
    """Sentiment140 rows: `per_polarity` negative and positive tweets on each of `num_days`
    days (a day apart), a few on a day that has too few to be chosen, ids interleaved; a
    few tweets are just "NA" or "null"."""
    rng = np.random.default_rng(11)
    rows, tweet_id = [], 1467810369
    days = [first_day + dt.timedelta(days=d) for d in range(num_days + 1)]
    for number, day in enumerate(days):
        count = per_polarity if number < num_days else 1  # the last day: too few tweets
        for _ in range(count):
            for polarity, words in TWEET_WORDS.items():
                stamp = dt.datetime.combine(day, dt.time(int(rng.integers(0, 24)), 17, 40))
                text = " ".join(rng.choice(words + FILLER, int(rng.integers(3, 9))))
                if rng.random() < 0.05:
                    text = str(rng.choice(NA_LIKE_TWEETS))
                date = stamp.strftime("%a %b %d %H:%M:%S PDT %Y")
                rows.append((polarity, tweet_id, date, "NO_QUERY", f"user{tweet_id % 97}", text))
                tweet_id += int(rng.integers(1, 5))
    return rows


def tiny_sentiment140(data_dir: Path) -> None:
    """11 days of 10 negative and 10 positive tweets (run with dataset.loader.per_day=20)."""
    write_sentiment140(data_dir, tweet_rows(num_days=11, per_polarity=10))


#: dataset name (conf/dataset/<name>.yaml) -> the builder of its tiny raw files
TINY_DATASETS: dict[str, Callable[[Path], None]] = {
    "corafull": tiny_corafull,
    "ogbn-arxiv": tiny_arxiv,
    "ogbn-products": tiny_products,
    "ogbn-proteins": tiny_proteins,
    "ogbn-mag": tiny_mag,
    "ogbl-collab": tiny_collab,
    "wikics": tiny_wikics,
    "facebook": tiny_facebook,
    "askubuntu": tiny_askubuntu,
    "mnist": tiny_superpixels("mnist"),
    "cifar10": tiny_superpixels("cifar10"),
    "ogbg-molhiv": tiny_molhiv,
    "nyctaxi": tiny_nyctaxi,
    "sentiment140": tiny_sentiment140,
}
