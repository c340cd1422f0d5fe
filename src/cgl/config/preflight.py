"""Check every job of a command before Hydra creates any directory (a Hydra callback).

Hydra makes a job's directory and writes `.hydra/` into it before the task function runs,
so a refusal found there would leave a directory behind, and a rerun in a directory of
another config would already have overwritten its `.hydra/`. This callback, named in
`conf/hydra/default.yaml`, runs first: for a single run on the composed config; for a sweep
on every job's config, composed as the launcher will compose it, so one bad value refuses
the whole sweep before its first job starts. It validates the config, the output directory
and what the job directory already holds (`cgl.runtime.resume`). A job directory that another live
process holds (`cgl.runtime.joblock`) refuses a single run; in a sweep it is left to that process,
unread (it may be changing), and the job is skipped when its turn comes.

Hydra turns an exception raised by a callback into a warning and goes on, so a refusal
leaves here as `Refused`, a BaseException that `cgl.runtime.cli.exit_on_user_error` prints.

It also notes which directories the command is about to create: a job refused later (say,
its dataset is missing offline) removes its directory again (`remove_created`).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hydra.errors import CompactHydraException
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

from cgl.config.errors import CglError
from cgl.config.validation import check_output_dir, validate
from cgl.runtime.joblock import JobDirBusyError, busy_message, is_held
from cgl.runtime.resume import check_job_dir

#: Launchers that run jobs on this machine (basic, joblib, submitit_local): the device a job
#: asks for must exist here. Others (Slurm, Ray) run them where the job checks it itself.
LOCAL_LAUNCHERS = ("BasicLauncher", "JoblibLauncher", "LocalLauncher")
#: job directory -> the outermost directory this command creates for it
_created: dict[Path, Path] = {}
#: sweep directory -> the outermost directory this command creates for it
_created_sweeps: dict[Path, Path] = {}


class Refused(BaseException):  # carries the error to the CLI
    """Bad input found by the preflight: `error` is the CglError or Hydra error to print."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


@contextlib.contextmanager
def _refusing() -> Iterator[None]:
    try:
        yield
    except (CglError, CompactHydraException) as err:
        raise Refused(err) from err


class Preflight(Callback):
    """Hydra callback: refuse bad input before any job directory exists."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        job_dir = Path(config.hydra.run.dir).absolute()
        with _refusing():
            check_job(config, job_dir, "hydra.run.dir")
            if is_held(job_dir, config.lock):
                raise JobDirBusyError(busy_message(job_dir, config.lock))
        if not job_dir.exists():
            _created[job_dir] = _outermost_missing(job_dir)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir).absolute()
        runs_here = config.hydra.launcher._target_.endswith(LOCAL_LAUNCHERS)
        with _refusing():
            check_output_dir(sweep_dir, "hydra.sweep.dir")
            jobs = sweep_jobs(config)
            if not jobs:  # another sweeper: the command's own values now, each job as it starts
                validate(config, runs_here)
            for job_config in jobs:
                job_dir = sweep_dir / str(job_config.hydra.sweep.subdir)
                check_job(job_config, job_dir, "hydra.sweep.dir", runs_here)
                if not job_dir.exists():
                    _created[job_dir] = job_dir
        if not sweep_dir.exists():
            _created_sweeps[sweep_dir] = _outermost_missing(sweep_dir)


def check_job(config: DictConfig, job_dir: Path, dir_key: str, runs_here: bool = True) -> None:
    """Everything `cgl.runtime.experiment.run` would refuse before training, for one job; what its
    directory holds only if no other live process holds the directory."""
    check_output_dir(job_dir, dir_key)
    validate(config, runs_here)
    if not is_held(job_dir, config.lock):
        check_job_dir(job_dir, job_container(config), resume=config.resume)


def job_container(config: DictConfig) -> dict[str, Any]:
    """The config as the job will see it: resolved, without the hydra node (some of whose
    keys, such as a run's sweep subdir, are unset here)."""
    return {
        key: OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
        for key, node in config.items()
        if key != "hydra"
    }


def sweep_jobs(config: DictConfig) -> list[DictConfig]:
    """Every job of the sweep, composed as the launcher composes it (Hydra's basic sweeper:
    the product of the swept values, jobs numbered in that order). Another sweeper (Optuna,
    Ax...) picks its jobs while it runs: then none is known in advance; the command's own
    values are validated here, and each job when it starts (cgl's Optuna sweeper checks each
    trial before its job starts, `cgl.sweeps.study_sweeper`)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from cgl.sweeps.sweeper import distinct_jobs
    from hydra_plugins.cgl_sweeper import DistinctJobsSweeper

    grid = {f"{cls.__module__}.{cls.__name__}" for cls in (BasicSweeper, DistinctJobsSweeper)}
    if config.hydra.sweeper._target_ not in grid:
        return []
    loader = GlobalHydra.instance().config_loader()
    params = [f"{key}={value}" for key, value in (config.hydra.sweeper.params or {}).items()]
    overrides = OverridesParser.create(config_loader=loader).parse_overrides(
        params + list(config.hydra.overrides.task)
    )
    jobs = []
    batches = BasicSweeper.split_arguments(overrides, max_batch_size=None)
    if config.hydra.sweeper._target_.endswith(DistinctJobsSweeper.__name__):
        batches = distinct_jobs(batches, loader, config)
    for batch in batches:
        for number, job_overrides in enumerate(batch):
            job = loader.load_sweep_config(config, list(job_overrides))
            with open_dict(job):
                job.hydra.job.id = job.hydra.job.num = number
            jobs.append(job)
    return jobs


def remove_created(job_dir: Path) -> None:
    """Remove a refused job's directory if this command created it (never one that existed
    before, whatever it holds), and then its sweep directory if nothing else is in it."""
    job_dir = job_dir.absolute()
    if job_dir in _created:
        shutil.rmtree(_created.pop(job_dir), ignore_errors=True)
    for sweep_dir, outermost in list(_created_sweeps.items()):
        leftover = {p.name for p in sweep_dir.iterdir()} if sweep_dir.is_dir() else set()
        if job_dir.is_relative_to(sweep_dir) and leftover <= {"multirun.yaml"}:
            shutil.rmtree(outermost, ignore_errors=True)
            del _created_sweeps[sweep_dir]


def _outermost_missing(path: Path) -> Path:
    """The outermost of `path` (which does not exist) and its parents that does not exist."""
    return [p for p in (path, *path.parents) if not p.exists()][-1]
