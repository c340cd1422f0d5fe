"""Processed datasets cached as plain tensors, so raw files are parsed only once.

A cache file is a torch.save'd dict of tensors, strings and ints, read back with
`weights_only=True`: nothing in it is unpickled. Beside it, `<file>.sha256` holds the file's
digest. A cache whose digest, format or recipe does not match is rebuilt, never used: a
truncated or altered file costs one rebuild, not a wrong run.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dgl
import torch

from cgl.datasets.base import ContinualData

log = logging.getLogger(__name__)

#: Bump when the layout written by `save_data` changes.
CACHE_FORMAT = 1
ITEM_FIELDS = ("label", "domain", "time", "split")


def cached(
    data_dir: str | Path, key: str, version: int, build: Callable[[], ContinualData]
) -> ContinualData:
    """`build()`'s result, from `<data_dir>/processed/<key>.pt` when that cache is intact.

    `version` is the loader's recipe version: bump it when the loader's output changes, and
    old caches are rebuilt.
    """
    path = Path(data_dir) / "processed" / f"{key}.pt"
    recipe = f"{key}/v{version}"
    data = load_data(path, recipe)
    if data is None:
        data = build()
        save_data(data, path, recipe)
    return data


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def save_data(data: ContinualData, path: Path, recipe: str) -> None:
    """Write the cache and its digest, each through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {f: getattr(data, f) for f in ITEM_FIELDS if getattr(data, f) is not None}
    if data.graph is not None:
        tensors |= _graph_tensors("graph", data.graph)
    else:
        batched = dgl.batch(data.graphs)
        tensors |= _graph_tensors("graphs", batched)
        tensors["graphs.batch_num_nodes"] = batched.batch_num_nodes()
        tensors["graphs.batch_num_edges"] = batched.batch_num_edges()
    payload = {
        "format": CACHE_FORMAT,
        "recipe": recipe,
        "name": data.name,
        "level": data.level,
        "num_classes": data.num_classes,
        "tensors": tensors,
    }
    partial = path.with_name(path.name + ".part")
    torch.save(payload, partial)
    digest_path = _digest_path(path)
    digest_path.unlink(missing_ok=True)  # never a new file beside an old digest
    os.replace(partial, path)
    digest_path.with_name(digest_path.name + ".part").write_text(file_sha256(path))
    os.replace(digest_path.with_name(digest_path.name + ".part"), digest_path)


def load_data(path: Path, recipe: str) -> ContinualData | None:
    """The cached dataset, or None when there is no intact cache for this recipe."""
    if not path.exists():
        return None
    digest_path = _digest_path(path)
    if not digest_path.exists() or digest_path.read_text().strip() != file_sha256(path):
        log.warning("cache %s is corrupt or incomplete (digest mismatch): rebuilding it", path)
        return None
    try:
        payload = torch.load(path, weights_only=True)
    except Exception as err:  # a damaged file can fail in many ways; all mean "rebuild"
        log.warning("cache %s cannot be read (%s): rebuilding it", path, err)
        return None
    if payload.get("format") != CACHE_FORMAT or payload.get("recipe") != recipe:
        log.info("cache %s was built by another version: rebuilding it", path)
        return None
    tensors = payload["tensors"]
    graph = graphs = None
    if "graph.src" in tensors:
        graph = _graph_from(tensors, "graph")
    else:
        batched = _graph_from(tensors, "graphs")
        batched.set_batch_num_nodes(tensors["graphs.batch_num_nodes"])
        batched.set_batch_num_edges(tensors["graphs.batch_num_edges"])
        graphs = dgl.unbatch(batched)
    return ContinualData(
        name=payload["name"],
        level=payload["level"],
        num_classes=payload["num_classes"],
        graph=graph,
        graphs=graphs,
        **{f: tensors.get(f) for f in ITEM_FIELDS},
    )


def _digest_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _graph_tensors(prefix: str, graph: dgl.DGLGraph) -> dict[str, Any]:
    src, dst = graph.edges()
    tensors = {
        f"{prefix}.src": src,
        f"{prefix}.dst": dst,
        f"{prefix}.num_nodes": torch.tensor(graph.num_nodes()),
    }
    tensors |= {f"{prefix}.ndata.{k}": v for k, v in graph.ndata.items()}
    tensors |= {f"{prefix}.edata.{k}": v for k, v in graph.edata.items()}
    return tensors


def _graph_from(tensors: dict[str, Any], prefix: str) -> dgl.DGLGraph:
    graph = dgl.graph(
        (tensors[f"{prefix}.src"], tensors[f"{prefix}.dst"]),
        num_nodes=int(tensors[f"{prefix}.num_nodes"]),
    )
    for kind, frame in (("ndata", graph.ndata), ("edata", graph.edata)):
        head = f"{prefix}.{kind}."
        frame.update({k[len(head) :]: v for k, v in tensors.items() if k.startswith(head)})
    return graph
