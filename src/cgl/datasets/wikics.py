"""Wiki-CS (Mernyei & Cangea 2020) for link prediction, Domain-IL.

Read from DGL's copy (`wiki_cs.zip` -> `data.json`), unpacked in DGL's layout. Nodes are
computer-science articles with 300-d GloVe features; items are the hyperlinks, each
unordered pair once. A link's domain is the larger subfield label of its two articles (so a
link between two subfields belongs to the later task, as in BeGin): 10 domains.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from cgl.datasets.base import ContinualData
from cgl.datasets.cache import cached
from cgl.datasets.download import dgl_archive, fetch_archive
from cgl.datasets.structure import link_prediction_data, unique_links

WIKICS = dgl_archive("wiki_cs", {"data.json": None})


def parse_wikics(path: Path) -> ContinualData:
    with open(path) as handle:
        data = json.load(handle)
    labels = np.asarray(data["labels"], dtype=np.int64)
    src = np.fromiter((i for i, js in enumerate(data["links"]) for _ in js), dtype=np.int64)
    dst = np.fromiter((j for js in data["links"] for j in js), dtype=np.int64)
    keep = unique_links(src, dst)
    src, dst = src[keep], dst[keep]
    feat = torch.tensor(data["features"], dtype=torch.float32)
    domain = np.maximum(labels[src], labels[dst])
    return link_prediction_data("wikics", src, dst, len(labels), feat=feat, domain=domain)


def load_wikics(data_dir: str) -> ContinualData:
    def build() -> ContinualData:
        return parse_wikics(fetch_archive(data_dir, WIKICS, "wikics") / "data.json")

    return cached(data_dir, "wikics", version=1, build=build)
