"""cgl's Hydra sweeper: the basic sweeper without repeated jobs (see cgl.sweeps.sweeper)."""

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

from cgl.sweeps.sweeper import distinct_jobs


class DistinctJobsSweeper(BasicSweeper):
    """BasicSweeper whose job list leaves out repeats (cgl.sweeps.sweeper)."""

    def split_arguments(self, overrides: list, max_batch_size: int | None) -> list[list[list[str]]]:
        batches = BasicSweeper.split_arguments(overrides, max_batch_size)
        return distinct_jobs(batches, self.hydra_context.config_loader, self.config)
