"""MAS: the shared core and one thin trainer per level x scenario (BeGin's class names)."""

from cgl.algorithms.mas.core import MASMixin, MASRegularizer, batch_importance
from cgl.algorithms.mas.graphs import (
    GCClassILMASTrainer,
    GCDomainILMASTrainer,
    GCTaskILMASTrainer,
    GCTimeILMASTrainer,
)
from cgl.algorithms.mas.links import (
    LCClassILMASTrainer,
    LCTaskILMASTrainer,
    LCTimeILMASTrainer,
    LPDomainILMASTrainer,
    LPTimeILMASTrainer,
)
from cgl.algorithms.mas.nodes import (
    NCClassILMASMinibatchTrainer,
    NCClassILMASTrainer,
    NCDomainILMASMinibatchTrainer,
    NCDomainILMASTrainer,
    NCTaskILMASMinibatchTrainer,
    NCTaskILMASTrainer,
    NCTimeILMASMinibatchTrainer,
    NCTimeILMASTrainer,
)
from cgl.algorithms.mas.per_item import sample_importance

#: (level, scenario, minibatch) -> trainer class
TRAINERS = {
    ("nc", "classil", False): NCClassILMASTrainer,
    ("nc", "classil", True): NCClassILMASMinibatchTrainer,
    ("nc", "taskil", False): NCTaskILMASTrainer,
    ("nc", "taskil", True): NCTaskILMASMinibatchTrainer,
    ("nc", "domainil", False): NCDomainILMASTrainer,
    ("nc", "domainil", True): NCDomainILMASMinibatchTrainer,
    ("nc", "timeil", False): NCTimeILMASTrainer,
    ("nc", "timeil", True): NCTimeILMASMinibatchTrainer,
    ("gc", "classil", False): GCClassILMASTrainer,
    ("gc", "taskil", False): GCTaskILMASTrainer,
    ("gc", "domainil", False): GCDomainILMASTrainer,
    ("gc", "timeil", False): GCTimeILMASTrainer,
    ("lc", "classil", False): LCClassILMASTrainer,
    ("lc", "taskil", False): LCTaskILMASTrainer,
    ("lc", "timeil", False): LCTimeILMASTrainer,
    ("lp", "timeil", False): LPTimeILMASTrainer,
    ("lp", "domainil", False): LPDomainILMASTrainer,
}

__all__ = [
    "TRAINERS",
    "GCClassILMASTrainer",
    "GCDomainILMASTrainer",
    "GCTaskILMASTrainer",
    "GCTimeILMASTrainer",
    "LCClassILMASTrainer",
    "LCTaskILMASTrainer",
    "LCTimeILMASTrainer",
    "LPDomainILMASTrainer",
    "LPTimeILMASTrainer",
    "MASMixin",
    "MASRegularizer",
    "NCClassILMASMinibatchTrainer",
    "NCClassILMASTrainer",
    "NCDomainILMASMinibatchTrainer",
    "NCDomainILMASTrainer",
    "NCTaskILMASMinibatchTrainer",
    "NCTaskILMASTrainer",
    "NCTimeILMASMinibatchTrainer",
    "NCTimeILMASTrainer",
    "batch_importance",
    "sample_importance",
]
