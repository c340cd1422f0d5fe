"""`hydra.sweeper._target_` of cgl's searches (conf/hparams_search/).

Hydra instantiates a sweeper only from the `hydra_plugins` package and imports every module
here at start-up, so this one stays light: Optuna, the Optuna plugin and the search loop
(`cgl.sweeps.study_sweeper`) are imported when a search starts.
"""

from __future__ import annotations

from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class StudySweeper(Sweeper):
    """hydra-optuna-sweeper's settings (`hydra/sweeper=optuna`), cgl's study loop."""

    def __init__(self, **settings: Any) -> None:
        from cgl.sweeps.study_sweeper import StudySearch

        self.search = StudySearch(**settings)

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.search.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> None:
        self.search.sweep(arguments)
