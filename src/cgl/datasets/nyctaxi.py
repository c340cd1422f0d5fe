"""NYC-Taxi (GC Time-IL): one graph per hour of yellow-taxi traffic, built from TLC's trip records.

As in BeGin: nodes are the city's taxi zones, with their borough one-hot as features; a
directed edge joins the pickup and drop-off zones of at least one trip in that hour, its
feature log(1 + trips). The label says whether the hour falls on a weekend (1) or a weekday
(0), scored by ROC-AUC (weekends are 2 days in 7); the time step is the month. The raw data
are TLC's monthly parquet files (reading them needs pyarrow: pip install 'cgl[taxi]') and the
zone table.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import dgl
import numpy as np
import pandas as pd
import torch

from cgl.config.errors import DatasetUnavailableError
from cgl.datasets.base import ContinualData
from cgl.datasets.cache import cached
from cgl.datasets.download import RawFile, fetch

TLC_URL = "https://d37ci6vzurychx.cloudfront.net"
ZONES = RawFile(url=f"{TLC_URL}/misc/taxi_zone_lookup.csv", path="nyctaxi/taxi_zone_lookup.csv")
TRIP_COLUMNS = ["tpep_pickup_datetime", "PULocationID", "DOLocationID"]


def trips_file(year: int, month: int) -> RawFile:
    name = f"yellow_tripdata_{year}-{month:02d}.parquet"
    return RawFile(url=f"{TLC_URL}/trip-data/{name}", path=f"nyctaxi/{name}")


def zone_features(zones: pd.DataFrame) -> torch.Tensor:
    """One-hot borough per zone, rows in LocationID order (boroughs in alphabetical order)."""
    zones = zones.sort_values("LocationID")
    boroughs = zones["Borough"].fillna("Unknown")
    codes = pd.Categorical(boroughs, categories=sorted(boroughs.unique())).codes
    return torch.nn.functional.one_hot(torch.tensor(codes, dtype=torch.long)).float()


def hourly_graphs(
    trips: pd.DataFrame, year: int, month: int, zone_feat: torch.Tensor
) -> tuple[list[dgl.DGLGraph], list[int]]:
    """The month's graphs, one per hour in order, and their weekend labels.

    Trips stamped outside the month (a few in every TLC file) or with a zone id outside the
    zone table are dropped.
    """
    num_zones = zone_feat.shape[0]
    stamps = pd.to_datetime(trips["tpep_pickup_datetime"])
    src = trips["PULocationID"].to_numpy(dtype=np.int64) - 1
    dst = trips["DOLocationID"].to_numpy(dtype=np.int64) - 1
    keep = ((stamps.dt.year == year) & (stamps.dt.month == month)).to_numpy()
    keep = keep & (src >= 0) & (src < num_zones) & (dst >= 0) & (dst < num_zones)
    stamps, src, dst = stamps[keep], src[keep], dst[keep]
    hour = ((stamps.dt.day - 1) * 24 + stamps.dt.hour).to_numpy()
    trips_per_pair = pd.DataFrame({"hour": hour, "src": src, "dst": dst}).value_counts()
    by_hour = dict(tuple(trips_per_pair.sort_index().groupby(level="hour")))
    days = pd.Period(year=year, month=month, freq="M").days_in_month
    graphs, labels = [], []
    for h in range(days * 24):
        counts = by_hour.get(h, trips_per_pair.iloc[:0])
        edge_src = torch.tensor(counts.index.get_level_values("src").to_numpy(), dtype=torch.long)
        edge_dst = torch.tensor(counts.index.get_level_values("dst").to_numpy(), dtype=torch.long)
        graph = dgl.graph((edge_src, edge_dst), num_nodes=num_zones)
        graph.ndata["feat"] = zone_feat
        trips = torch.tensor(counts.to_numpy(), dtype=torch.float32)
        graph.edata["feat"] = torch.log1p(trips)[:, None]
        graphs.append(graph)
        labels.append(int(pd.Timestamp(year=year, month=month, day=h // 24 + 1).dayofweek >= 5))
    return graphs, labels


def read_trips(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path, columns=TRIP_COLUMNS)
    except ImportError:
        raise DatasetUnavailableError(
            "NYC-Taxi reads TLC's parquet files, which needs pyarrow: pip install 'cgl[taxi]' "
            "(or pip install pyarrow)."
        ) from None


def load_nyctaxi(
    data_dir: str, year: int = 2021, months: Sequence[int] = tuple(range(1, 13))
) -> ContinualData:
    """Hourly taxi graphs of `year` (BeGin: 2021, 8,760 graphs, 12 monthly time steps)."""

    def build() -> ContinualData:
        zone_feat = zone_features(pd.read_csv(fetch(data_dir, ZONES, "nyctaxi")))
        paths = [fetch(data_dir, trips_file(year, m), "nyctaxi") for m in months]
        graphs, labels, steps = [], [], []
        for step, (month, path) in enumerate(zip(months, paths, strict=True)):
            month_graphs, month_labels = hourly_graphs(read_trips(path), year, month, zone_feat)
            graphs += month_graphs
            labels += month_labels
            steps += [step] * len(month_graphs)
        return ContinualData(
            name="nyctaxi",
            level="gc",
            num_classes=2,
            label=torch.tensor(labels),
            graphs=graphs,
            time=torch.tensor(steps),
        )

    key = f"nyctaxi-{year}-" + "-".join(str(m) for m in months)
    return cached(data_dir, key, version=1, build=build)
