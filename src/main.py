"""Command line: python src/main.py [group=option ...] [-m key=v1,v2 ...]

Thin on purpose: Hydra composes conf/, cgl.runtime.cli.run_job does the work.
"""

import sys

from cgl.runtime.allocator import keep_freed_memory

if __name__ == "__main__":
    keep_freed_memory()  # first: glibc reads its malloc settings only when a process starts

import hydra
from omegaconf import DictConfig

from cgl.runtime.cli import exit_on_user_error, hoist_multirun_flag, run_job
from cgl.runtime.launchers import exit_as_passed_on


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float:
    return run_job(cfg)


if __name__ == "__main__":
    sys.argv = hoist_multirun_flag(sys.argv)
    with exit_on_user_error(), exit_as_passed_on():
        main()
