"""Joint: after each task, retrain from scratch on the data of all tasks seen so far.

The usual upper bound; INT compares a method's diagonal with joint's.
"""

from cgl.scenarios.common import SUPPORTED
from cgl.trainers import LEVEL_TRAINERS


class JointMixin:
    """Put before a level trainer: accumulated data and fresh weights for every task."""

    uses_accumulated_data = True

    def processBeforeTraining(
        self, task_id, curr_dataset, curr_model, curr_optimizer, curr_training_states
    ):
        for module in curr_model.modules():
            if module is not curr_model and hasattr(module, "reset_parameters"):
                module.reset_parameters()
        super().processBeforeTraining(
            task_id, curr_dataset, curr_model, curr_optimizer, curr_training_states
        )


def _joint(trainer: type) -> type:
    name = trainer.__name__.replace("Trainer", "JointTrainer")
    return type(name, (JointMixin, trainer), {"__doc__": f"Joint training on {trainer.__name__}."})


TRAINERS = {
    (level, scenario, minibatch): _joint(trainer)
    for (level, minibatch), trainer in LEVEL_TRAINERS.items()
    for scenario in SUPPORTED[level]
}
