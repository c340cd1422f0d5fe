"""Sentiment140 (Go et al. 2009) for GC Time-IL: one small graph per tweet, one time step a day.

Tweets come from the Sentiment140 training CSV (polarity 0 or 4, id, date, query, user, text;
latin-1). Selection, as BeGin's sizes (11 days x 500 tweets): the first `num_days` calendar
days (as dated in the file) with at least `per_day / 2` tweets of each polarity; from each
day the `per_day / 2` negative and positive tweets of smallest id. Label: positive (1) or
negative (0); time step: the day.

BeGin parsed tweets with spaCy and its pretrained word vectors, which cannot be fetched
here. Instead a tweet is the path of its tokens (each token joined to the next, both ways),
and a token's features are its character trigrams hashed into `num_feats` buckets (CRC32,
so the same on every machine): deterministic, and sensitive to the words themselves.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import dgl
import numpy as np
import pandas as pd
import torch

from cgl.datasets.base import ContinualData
from cgl.datasets.cache import cached
from cgl.datasets.download import RawArchive, fetch_archive

SENTIMENT140 = RawArchive(
    url="https://cs.stanford.edu/people/alecmgo/trainingandtestdata.zip",
    file_name="trainingandtestdata.zip",
    folder="sentiment140",
    members={"training.1600000.processed.noemoticon.csv": None},
)
COLUMNS = ["polarity", "id", "date", "query", "user", "text"]
TOKEN = re.compile(r"[a-z0-9#@']+|[^\sa-z0-9#@']")


def select_tweets(table: pd.DataFrame, num_days: int, per_day: int) -> pd.DataFrame:
    """The selected tweets with a `day` column (0..num_days-1), by the rule above."""
    day = pd.to_datetime(
        table["date"].str.slice(4, 10) + " " + table["date"].str[-4:], format="%b %d %Y"
    )
    table = table.assign(day=day, positive=(table["polarity"] == 4).astype(np.int64))
    half = per_day // 2
    counts = table.groupby(["day", "positive"]).size().unstack(fill_value=0)
    days = counts.index[(counts >= half).all(axis=1)].sort_values()[:num_days]
    if len(days) < num_days:
        raise ValueError(f"only {len(days)} days have {half} tweets of each polarity")
    chosen = table[table["day"].isin(days)].sort_values("id", kind="stable")
    chosen = chosen.groupby(["day", "positive"], group_keys=False).head(half)
    chosen = chosen.assign(day=chosen["day"].map({d: i for i, d in enumerate(days)}))
    return chosen.sort_values(["day", "id"], kind="stable")


def token_features(tokens: list[str], num_feats: int) -> torch.Tensor:
    """Per token, counts of its character trigrams (of `<token>`) in `num_feats` hash buckets."""
    feat = np.zeros((len(tokens), num_feats), dtype=np.float32)
    for row, token in enumerate(tokens):
        padded = f"<{token}>"
        for i in range(len(padded) - 2):
            feat[row, zlib.crc32(padded[i : i + 3].encode()) % num_feats] += 1.0
    return torch.from_numpy(feat)


def tweet_graph(text: str, num_feats: int) -> dgl.DGLGraph:
    tokens = TOKEN.findall(text.lower()) or ["<empty>"]
    ids = torch.arange(len(tokens) - 1)
    graph = dgl.graph((torch.cat([ids, ids + 1]), torch.cat([ids + 1, ids])), num_nodes=len(tokens))
    graph.ndata["feat"] = token_features(tokens, num_feats)
    return graph


def parse_sentiment140(path: Path, num_days: int, per_day: int, num_feats: int) -> ContinualData:
    # keep_default_na=False: a tweet reading "NA", "null" or "nan" is text, not a missing value
    table = pd.read_csv(path, header=None, names=COLUMNS, encoding="latin-1", keep_default_na=False)
    chosen = select_tweets(table, num_days, per_day)
    return ContinualData(
        name="sentiment140",
        level="gc",
        num_classes=2,
        label=torch.tensor(chosen["positive"].to_numpy()),
        graphs=[tweet_graph(text, num_feats) for text in chosen["text"]],
        time=torch.tensor(chosen["day"].to_numpy(dtype=np.int64)),
    )


def load_sentiment140(
    data_dir: str, num_days: int = 11, per_day: int = 500, num_feats: int = 300
) -> ContinualData:
    def build() -> ContinualData:
        folder = fetch_archive(data_dir, SENTIMENT140, "sentiment140")
        path = folder / next(iter(SENTIMENT140.members))
        return parse_sentiment140(path, num_days, per_day, num_feats)

    key = f"sentiment140-{num_days}x{per_day}-{num_feats}"
    return cached(data_dir, key, version=1, build=build)
