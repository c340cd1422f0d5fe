"""Trainers: the BaseTrainer event loop and the plain fine-tuning trainer of each level."""

from cgl.trainers.base import BaseTrainer, TrainingDivergedError
from cgl.trainers.graphs import GCTrainer
from cgl.trainers.links import LCTrainer, LPTrainer
from cgl.trainers.nodes import NCMinibatchTrainer, NCTrainer

__all__ = [
    "LEVEL_TRAINERS",
    "BaseTrainer",
    "GCTrainer",
    "LCTrainer",
    "LPTrainer",
    "NCMinibatchTrainer",
    "NCTrainer",
    "TrainingDivergedError",
]

#: (level, minibatch) -> the plain fine-tuning trainer of that level
LEVEL_TRAINERS = {
    ("nc", False): NCTrainer,
    ("nc", True): NCMinibatchTrainer,
    ("gc", False): GCTrainer,
    ("lc", False): LCTrainer,
    ("lp", False): LPTrainer,
}
