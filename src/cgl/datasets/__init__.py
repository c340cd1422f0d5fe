"""Datasets: the embedded synthetic generators and loaders of real benchmark datasets."""

from cgl.datasets.base import SPLIT_TEST, SPLIT_TRAIN, SPLIT_VAL, ContinualData

__all__ = ["SPLIT_TEST", "SPLIT_TRAIN", "SPLIT_VAL", "ContinualData"]
