"""MNIST and CIFAR10 superpixel graphs (Dwivedi et al. 2020) for graph classification.

Read from the copy PyG hosts (`MNIST_v2.zip` -> `MNIST_v2.pt`, unpacked in PyG's layout
`<data_dir>/MNIST/raw/`): a torch-saved (train, val, test) triple of lists of dicts of
tensors, so torch's weights-only loader reads it without unpickling anything. Node features
are the superpixel's colour (1 or 3 values) and position (2), edge features the kNN
distances' kernel weights. The benchmark's own train/val/test split is kept.
"""

from __future__ import annotations

from pathlib import Path

import dgl
import torch

from cgl.datasets.base import SPLIT_TEST, SPLIT_TRAIN, SPLIT_VAL, ContinualData
from cgl.datasets.cache import cached
from cgl.datasets.download import RawArchive, fetch_archive

PYG_BENCHMARK_URL = "https://data.pyg.org/datasets/benchmarking-gnns"
SUPERPIXEL_NAMES = {"mnist": "MNIST", "cifar10": "CIFAR10"}


def superpixel_archive(name: str) -> RawArchive:
    stem = f"{SUPERPIXEL_NAMES[name]}_v2"
    return RawArchive(
        url=f"{PYG_BENCHMARK_URL}/{stem}.zip",
        file_name=f"{stem}.zip",
        folder=f"{SUPERPIXEL_NAMES[name]}/raw",
        members={f"{stem}.pt": None},
    )


def parse_superpixels(path: Path, name: str) -> ContinualData:
    splits = torch.load(path, weights_only=True)
    graphs, labels, split = [], [], []
    for code, items in zip((SPLIT_TRAIN, SPLIT_VAL, SPLIT_TEST), splits, strict=True):
        for item in items:
            src, dst = item["edge_index"]
            graph = dgl.graph((src, dst), num_nodes=item["x"].shape[0])
            graph.ndata["feat"] = torch.cat([item["x"], item["pos"]], dim=1).float()
            graph.edata["feat"] = item["edge_attr"].float().view(src.shape[0], -1)
            graphs.append(graph)
            labels.append(int(item["y"]))
            split.append(code)
    return ContinualData(
        name=name,
        level="gc",
        num_classes=max(labels) + 1,
        label=torch.tensor(labels),
        graphs=graphs,
        split=torch.tensor(split),
    )


def load_superpixels(name: str, data_dir: str) -> ContinualData:
    """`mnist` or `cifar10` superpixel graphs, 10 classes."""
    archive = superpixel_archive(name)

    def build() -> ContinualData:
        folder = fetch_archive(data_dir, archive, name)
        return parse_superpixels(folder / next(iter(archive.members)), name)

    return cached(data_dir, name, version=1, build=build)
