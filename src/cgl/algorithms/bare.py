"""Bare: plain fine-tuning, task after task (the lower bound). It is the level trainer itself."""

from cgl.scenarios.common import SUPPORTED
from cgl.trainers import LEVEL_TRAINERS

TRAINERS = {
    (level, scenario, minibatch): trainer
    for (level, minibatch), trainer in LEVEL_TRAINERS.items()
    for scenario in SUPPORTED[level]
}
