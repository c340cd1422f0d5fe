"""MAS trainers for link-level problems: MAS composed with the link trainers.

The level trainers carry what BeGin's classes override: LCTrainer's `prepareLoader` and
`inference` carry Task-IL masks, its `processBeforeTraining` and `processEvalIteration` handle
the binary (ROC-AUC) Time-IL task, and LPTrainer's `processTrainIteration` samples negatives.
MAS's importance for LP is taken on the scores of positive and sampled negative pairs.
"""

from cgl.algorithms.mas.core import MASMixin
from cgl.trainers.links import LCTrainer, LPTrainer


class LCClassILMASTrainer(MASMixin, LCTrainer):
    """MAS for link-level Class-IL."""


class LCTaskILMASTrainer(MASMixin, LCTrainer):
    """MAS for link-level Task-IL (inference restricted by `task_specific_mask`)."""


class LCTimeILMASTrainer(MASMixin, LCTrainer):
    """MAS for link-level Time-IL: a binary link label scored by ROC-AUC on a growing graph."""


class LPTimeILMASTrainer(MASMixin, LPTrainer):
    """MAS for link prediction under Time-IL (the graph grows with the tasks)."""


class LPDomainILMASTrainer(LPTimeILMASTrainer):
    """MAS for link prediction under Domain-IL; the same behaviour as LPTimeILMASTrainer."""
