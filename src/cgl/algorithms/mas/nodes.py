"""MAS trainers for node-level problems: MAS composed with the node trainers."""

from cgl.algorithms.mas.core import MASMixin
from cgl.trainers.nodes import NCMinibatchTrainer, NCTrainer


class NCClassILMASTrainer(MASMixin, NCTrainer):
    """MAS for node-level Class-IL."""


class NCClassILMASMinibatchTrainer(MASMixin, NCMinibatchTrainer):
    """MAS for node-level Class-IL with neighbour-sampled minibatches."""


class NCTaskILMASTrainer(MASMixin, NCTrainer):
    """MAS for node-level Task-IL (inference restricted by `task_specific_mask`)."""


class NCDomainILMASTrainer(MASMixin, NCTrainer):
    """MAS for node-level Domain-IL."""


class NCTimeILMASTrainer(MASMixin, NCTrainer):
    """MAS for node-level Time-IL (the graph grows with the tasks)."""


class NCTaskILMASMinibatchTrainer(MASMixin, NCMinibatchTrainer):
    """MAS for node-level Task-IL with neighbour-sampled minibatches."""


class NCDomainILMASMinibatchTrainer(MASMixin, NCMinibatchTrainer):
    """MAS for node-level Domain-IL with neighbour-sampled minibatches (ogbn-proteins)."""


class NCTimeILMASMinibatchTrainer(MASMixin, NCMinibatchTrainer):
    """MAS for node-level Time-IL with neighbour-sampled minibatches (ogbn-arxiv, ogbn-mag)."""
