"""MAS: the shared core and one thin trainer per level x scenario (BeGin's class names)."""

from cgl.algorithms.mas.core import MASMixin, MASRegularizer, batch_importance
from cgl.algorithms.mas.nodes import (
    NCClassILMASMinibatchTrainer,
    NCClassILMASTrainer,
    NCDomainILMASTrainer,
    NCTaskILMASTrainer,
    NCTimeILMASTrainer,
)

#: (level, scenario, minibatch) -> trainer class
TRAINERS = {
    ("nc", "classil", False): NCClassILMASTrainer,
    ("nc", "classil", True): NCClassILMASMinibatchTrainer,
    ("nc", "taskil", False): NCTaskILMASTrainer,
    ("nc", "domainil", False): NCDomainILMASTrainer,
    ("nc", "timeil", False): NCTimeILMASTrainer,
}

__all__ = [
    "TRAINERS",
    "MASMixin",
    "MASRegularizer",
    "NCClassILMASMinibatchTrainer",
    "NCClassILMASTrainer",
    "NCDomainILMASTrainer",
    "NCTaskILMASTrainer",
    "NCTimeILMASTrainer",
    "batch_importance",
]
