"""Trainers: the BaseTrainer event loop and the plain fine-tuning trainer of each level."""

from cgl.trainers.base import BaseTrainer, TrainingDiverged
from cgl.trainers.nodes import NCMinibatchTrainer, NCTrainer

__all__ = ["LEVEL_TRAINERS", "BaseTrainer", "NCMinibatchTrainer", "NCTrainer", "TrainingDiverged"]

#: (level, minibatch) -> the plain fine-tuning trainer of that level
LEVEL_TRAINERS = {("nc", False): NCTrainer, ("nc", True): NCMinibatchTrainer}
