"""Networks from SNAP (snap.stanford.edu/data): Bitcoin-OTC (LC), Ask-Ubuntu and Facebook (LP).

None of them has node features; as in BeGin, node degrees stand in (as log(1 + degree)).
Node ids are renumbered 0..n-1 over the nodes that appear in the kept edges.
"""

from __future__ import annotations

import dgl
import numpy as np
import pandas as pd
import torch

from cgl.datasets.base import ContinualData
from cgl.datasets.cache import cached
from cgl.datasets.download import RawArchive, RawFile, fetch, fetch_archive
from cgl.datasets.structure import compact_ids, degree_features, link_prediction_data, unique_links

BITCOIN = RawFile(
    url="https://snap.stanford.edu/data/soc-sign-bitcoinotc.csv.gz",
    path="snap/soc-sign-bitcoinotc.csv.gz",
    sha256="76bd9d8f1d3ff9a1813d9fc8e6902a0ee4d0a2f8c1003842dbc9ec79149ab60c",  # decompressed
)
#: Rating bands that become Bitcoin-OTC's six classes for Task/Class-IL, in class-id order:
#: strong and mild distrust, then four levels of trust. Three tasks take two bands each.
RATING_BANDS = ((-10, -5), (-4, -1), (1, 1), (2, 2), (3, 4), (5, 10))
#: BeGin's time unit for Bitcoin-OTC: 14-day windows from the first rating.
BITCOIN_WINDOW_SECONDS = 14 * 24 * 3600

ASKUBUNTU = RawFile(
    url="https://snap.stanford.edu/data/sx-askubuntu.txt.gz", path="snap/sx-askubuntu.txt.gz"
)
FACEBOOK_CATEGORIES = (
    "artist",
    "athletes",
    "company",
    "government",
    "new_sites",
    "politician",
    "public_figure",
    "tvshow",
)
FACEBOOK = RawArchive(
    url="https://snap.stanford.edu/data/gemsec_facebook_dataset.tar.gz",
    file_name="snap/gemsec_facebook_dataset.tar.gz",
    folder="snap/gemsec_facebook",
    members={f"facebook_clean_data/{c}_edges.csv": None for c in FACEBOOK_CATEGORIES},
)


def rating_classes(ratings: np.ndarray) -> np.ndarray:
    """Class of each rating by RATING_BANDS (-1 for a rating outside every band)."""
    classes = np.full(len(ratings), -1, dtype=np.int64)
    for cls, (low, high) in enumerate(RATING_BANDS):
        classes[(ratings >= low) & (ratings <= high)] = cls
    return classes


def parse_bitcoin(table: pd.DataFrame, scenario: str) -> ContinualData:
    """Items are the rated edges (rater -> ratee), in file order.

    Labels: the rating band (six classes) for Task/Class-IL; for Time-IL, as in BeGin, the
    sign of the rating (0 distrust, 1 trust), scored by ROC-AUC. Time: the 14-day window.
    """
    num_nodes, (src, dst) = compact_ids(table["src"].to_numpy(), table["dst"].to_numpy())
    ratings = table["rating"].to_numpy()
    if scenario == "timeil":
        label, num_classes = (ratings > 0).astype(np.int64), 2
    else:
        label, num_classes = rating_classes(ratings), len(RATING_BANDS)
    seconds = table["time"].to_numpy()
    window = ((seconds - seconds.min()) // BITCOIN_WINDOW_SECONDS).astype(np.int64)
    graph = dgl.graph((torch.from_numpy(src), torch.from_numpy(dst)), num_nodes=num_nodes)
    graph.ndata["feat"] = degree_features(graph)
    return ContinualData(
        name="bitcoin",
        level="lc",
        num_classes=num_classes,
        label=torch.from_numpy(label),
        graph=graph,
        time=torch.from_numpy(window),
    )


def load_bitcoin(data_dir: str, scenario: str) -> ContinualData:
    """Bitcoin-OTC who-trusts-whom ratings (Kumar et al. 2016) for link classification."""
    labels = "sign" if scenario == "timeil" else "bands"

    def build() -> ContinualData:
        path = fetch(data_dir, BITCOIN, "bitcoin")
        table = pd.read_csv(path, header=None, names=["src", "dst", "rating", "time"])
        return parse_bitcoin(table, scenario)

    return cached(data_dir, f"bitcoin-{labels}", version=1, build=build)


def parse_askubuntu(table: pd.DataFrame, skip_months: int) -> ContinualData:
    """Items are user pairs that interacted (answers and comments), each pair once, at the
    month of its first interaction; pairs first seen in the first `skip_months` calendar months
    are left out (as BeGin does: Ask Ubuntu's first 18 months are sparse)."""
    table = table.sort_values("time", kind="stable")
    first = unique_links(table["src"].to_numpy(), table["dst"].to_numpy())
    table = table.iloc[first]
    stamps = pd.to_datetime(table["time"], unit="s", utc=True)
    months = (stamps.dt.year * 12 + stamps.dt.month).to_numpy()
    months = months - months.min() - skip_months
    table, months = table[months >= 0], months[months >= 0]
    num_nodes, (src, dst) = compact_ids(table["src"].to_numpy(), table["dst"].to_numpy())
    return link_prediction_data("askubuntu", src, dst, num_nodes, time=months)


def load_askubuntu(data_dir: str, skip_months: int = 18) -> ContinualData:
    """Ask-Ubuntu's temporal interaction network (Paranjape et al. 2017) for LP Time-IL."""

    def build() -> ContinualData:
        path = fetch(data_dir, ASKUBUNTU, "askubuntu")
        table = pd.read_csv(path, sep=" ", header=None, names=["src", "dst", "time"])
        return parse_askubuntu(table, skip_months)

    return cached(data_dir, f"askubuntu-skip{skip_months}", version=1, build=build)


def parse_facebook(tables: list[pd.DataFrame]) -> ContinualData:
    """One graph per page category, side by side; a link's domain is its category."""
    srcs, dsts, domains, offset = [], [], [], 0
    for category, table in enumerate(tables):
        src, dst = table["node_1"].to_numpy(), table["node_2"].to_numpy()
        keep = unique_links(src, dst)
        srcs.append(src[keep] + offset)
        dsts.append(dst[keep] + offset)
        domains.append(np.full(len(keep), category, dtype=np.int64))
        offset += int(max(src.max(), dst.max())) + 1
    src, dst = np.concatenate(srcs).astype(np.int64), np.concatenate(dsts).astype(np.int64)
    return link_prediction_data("facebook", src, dst, offset, domain=np.concatenate(domains))


def load_facebook(data_dir: str) -> ContinualData:
    """GEMSEC's Facebook page-page networks (Rozemberczki et al. 2019), 8 categories."""

    def build() -> ContinualData:
        folder = fetch_archive(data_dir, FACEBOOK, "facebook")
        tables = [
            pd.read_csv(folder / f"facebook_clean_data/{c}_edges.csv") for c in FACEBOOK_CATEGORIES
        ]
        return parse_facebook(tables)

    return cached(data_dir, "facebook", version=1, build=build)
