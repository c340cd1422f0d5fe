"""Joint: after each task, retrain from scratch on the data of all tasks seen so far.

The usual upper bound; INT compares a method's diagonal with joint's.
"""

from cgl.algorithms.method import Method, export


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


METHOD = Method(name="joint", title="Joint", mixin=JointMixin)
__all__ = [*export(METHOD, globals()), "JointMixin"]
