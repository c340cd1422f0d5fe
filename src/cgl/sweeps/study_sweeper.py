"""cgl's hyperparameter search: the Optuna sweeper plugin with a study that survives.

Why a subclass of hydra-optuna-sweeper's sweeper: its loop (`_impl.OptunaSweeperImpl.sweep`)
asks `n_trials` new trials every time it runs, numbers the job directories from 0 in every
invocation, and tells the study whatever number a job returned (a stopped run's NaN too).
A search in cgl must instead survive being stopped and share its study, so this loop

- keeps the study in SQLite in the sweep directory (`cgl.sweeps.study.STUDY_FILE`) unless
  `hydra.sweeper.storage` names another, and names every job directory after its trial's
  number: a rerun of the same command finds each trial where it left it, and cgl's own
  resume (`cgl.runtime.resume`) skips the finished ones and continues a cut-off one;
- reads `n_trials` as the study's total: it asks only for the trials still missing;
- tells the study how each run ended, from its results.json: `completed` -> its validation
  AP, `diverged` -> pruned (TPE then ranks the region below every completed trial),
  `failed` -> failed; a run `interrupted` by a signal or never started goes back to the
  study's queue (waiting), keeping its number and parameters, and the search stops; the
  next `study.ask()` (the same command again, or another process sharing the study) takes
  it first and its job resumes in its directory;
- queues again a trial left running by a sweeping process of this machine that is gone
  (killed), and checks every trial's config before its job starts (`cgl.config.preflight`).

Several sweeping processes may share one study: trials are asked under a file lock in the
sweep directory, so together they run `n_trials`, and no trial runs twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import logging
import math
import os
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import optuna
import psutil
from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import CompactHydraException
from hydra_plugins.hydra_optuna_sweeper._impl import (
    OptunaSweeperImpl,
    create_params_from_overrides,
)
from omegaconf import OmegaConf
from optuna.trial import Trial, TrialState

from cgl.config.errors import CglError, ConfigError
from cgl.config.preflight import LOCAL_LAUNCHERS, Refused, check_job
from cgl.runtime.cli import USAGE_ERROR
from cgl.runtime.resume import RESULTS_NAME
from cgl.sweeps.study import DEFAULT_STUDY_NAME, storage_url

log = logging.getLogger(__name__)
# Optuna's messages in Hydra's log format.
optuna.logging.disable_default_handler()
optuna.logging.enable_propagation()

#: Trial system attribute: the sweeping process that asked the trial (host, pid, start time).
OWNER = "cgl_owner"
LOCK_FILE = "study.lock"


class StudySearch(OptunaSweeperImpl):
    """The search loop (see the module docstring), run by the Hydra plugin
    `hydra_plugins.cgl_study_sweeper.study_sweeper.StudySweeper`."""

    def sweep(self, arguments: list[str]) -> None:
        space, fixed = self._search_space(arguments)
        direction = self._direction()
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        self.storage = self.storage or storage_url(sweep_dir)
        study = optuna.create_study(
            study_name=self.study_name or DEFAULT_STUDY_NAME,
            storage=self.storage,
            sampler=self.sampler,
            direction=direction,
            load_if_exists=True,
        )
        self._requeue_abandoned(study)
        log.info("Study %s in %s: %d trials wanted", study.study_name, self.storage, self.n_trials)
        while trials := self._ask(study, sweep_dir):
            if not self._run(study, trials, space, fixed, sweep_dir):
                break
        self._save_best(study, sweep_dir)

    def _search_space(self, arguments: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
        """(parameter -> Optuna distribution, fixed override -> value), as the plugin reads
        `hydra.sweeper.params` and the command line."""
        if isinstance(self.sampler, functools.partial):  # the grid sampler, built per space
            raise Refused(
                ConfigError(
                    "hydra/sweeper/sampler=grid: a grid needs no study; sweep it with the "
                    "basic sweeper (`-m lr=0.001,0.01 dropout=0,0.5`)."
                )
            )
        self._process_searchspace_config()
        params = self._parse_sweeper_params_config() + list(arguments)
        space, fixed = create_params_from_overrides(params)
        space = {**(self.search_space_distributions or {}), **space}
        return {k: v for k, v in space.items() if k not in fixed}, fixed

    def _direction(self) -> str:
        directions = self._get_directions()
        if len(directions) != 1:
            raise Refused(
                ConfigError(
                    f"hydra.sweeper.direction={directions}: a cgl job returns one number, its "
                    f"validation AP; give one direction (maximize)."
                )
            )
        return directions[0]

    def _ask(self, study: optuna.Study, sweep_dir: Path) -> list[Trial]:
        """The next batch (at most `n_jobs`): queued trials first, then new ones, as long as
        the study has fewer than `n_trials` trials that have started."""
        with _locked(sweep_dir / LOCK_FILE):
            trials = study.get_trials(deepcopy=False)
            started = sum(t.state != TrialState.WAITING for t in trials)
            batch = [study.ask() for _ in range(min(self.n_jobs, self.n_trials - started))]
            for trial in batch:
                trial.set_system_attr(OWNER, _this_process())
        return batch

    def _run(
        self,
        study: optuna.Study,
        trials: list[Trial],
        space: dict[str, Any],
        fixed: dict[str, Any],
        sweep_dir: Path,
    ) -> bool:
        """Launch one job per trial, in the directory named after its number, and tell the
        study how each ended. False: stop the search (a job was stopped or did not start)."""
        jobs = [
            (*job, f"hydra.sweep.subdir={trial.number}")
            for job, trial in zip(self._configure_trials(trials, space, fixed), trials, strict=True)
        ]
        self._check(study, trials, jobs, sweep_dir)
        try:
            returns: Sequence[JobReturn | None] = self.launcher.launch(
                jobs, initial_job_idx=trials[0].number
            )
        except BaseException as stop:  # a signal under the basic launcher, a refusal...
            refused = isinstance(stop, SystemExit) and stop.code == USAGE_ERROR
            for trial in trials:
                self._settle(study, trial, sweep_dir, None, refused)
            raise
        states = [
            self._settle(study, trial, sweep_dir, ret)
            for trial, ret in zip(trials, returns, strict=True)
        ]
        failed = [
            ret for ret, state in zip(returns, states, strict=True) if state == TrialState.FAIL
        ]
        if failed and len(failed) / len(returns) > self.max_failure_rate:
            for ret in failed:
                _ = ret.return_value  # raises the job's own error, with its traceback
        return TrialState.WAITING not in states

    def _check(
        self, study: optuna.Study, trials: list[Trial], jobs: list[tuple[str, ...]], sweep_dir: Path
    ) -> None:
        """Refuse bad input before the batch's jobs start (a sampled value out of range, a
        job directory of another config), as cgl.config.preflight does for the basic sweeper."""
        runs_here = str(self.config.hydra.launcher._target_).endswith(LOCAL_LAUNCHERS)
        try:
            for trial, job in zip(trials, jobs, strict=True):
                config = self.hydra_context.config_loader.load_sweep_config(self.config, list(job))
                check_job(config, sweep_dir / str(trial.number), "hydra.sweep.dir", runs_here)
        except (CglError, CompactHydraException) as err:
            for trial in trials:
                study.tell(trial, state=TrialState.FAIL)
            raise Refused(err) from err

    def _settle(
        self,
        study: optuna.Study,
        trial: Trial,
        sweep_dir: Path,
        ret: JobReturn | None,
        refused: bool = False,
    ) -> TrialState:
        state, value = trial_outcome(sweep_dir / str(trial.number), ret, refused)
        if state == TrialState.WAITING:
            _requeue(self.storage, trial._trial_id)
            log.warning(
                "trial %d did not finish: queued again; the same command resumes it in %s",
                trial.number,
                sweep_dir / str(trial.number),
            )
        else:
            study.tell(trial, value, state=state)
        return state

    def _requeue_abandoned(self, study: optuna.Study) -> None:
        """Queue again every trial still `running` whose sweeping process, on this machine,
        is gone (it was killed); a trial of a process on another machine is left to it."""
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            owner = trial.system_attrs.get(OWNER) or {}
            if owner.get("host") == socket.gethostname() and not _alive(owner):
                _requeue(self.storage, trial._trial_id)
                log.info(
                    "trial %d was left running by a killed process: queued again", trial.number
                )

    def _save_best(self, study: optuna.Study, sweep_dir: Path) -> None:
        """Log the best trial and write it to optimization_results.yaml, as the plugin does."""
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not done:
            log.warning("no trial of study %s has completed yet", study.study_name)
            return
        best = study.best_trial
        log.info("Best trial %d: %s, value %s", best.number, best.params, best.value)
        summary = {"name": "optuna", "study": study.study_name, "storage": self.storage}
        summary |= {"best_trial": best.number, "best_params": best.params, "best_value": best.value}
        OmegaConf.save(OmegaConf.create(summary), sweep_dir / "optimization_results.yaml")


def trial_outcome(
    job_dir: Path, ret: JobReturn | None, refused: bool = False
) -> tuple[TrialState, float | None]:
    """The state to tell the study, and the value (the run's validation AP) if completed.

    The job's results.json, not the task's return value, decides: it says how the run ended
    (a stopped run returns NaN), and it is there when the launch itself was ended by a
    signal. No results.json: failed if the job raised or was refused, else not started.
    """
    try:
        results = json.loads((job_dir / RESULTS_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        results = {}
    status = results.get("status")
    if status == "completed":
        value = (results.get("summary") or {}).get("val_AP")
        if value is not None and math.isfinite(value):
            return TrialState.COMPLETE, float(value)
        return TrialState.FAIL, None
    if status == "diverged":
        return TrialState.PRUNED, None
    raised = ret is not None and ret.status == JobStatus.FAILED
    if status == "failed" or (status is None and (raised or refused)):
        return TrialState.FAIL, None
    return TrialState.WAITING, None  # interrupted, or never started


def _requeue(storage: str, trial_id: int) -> None:
    """Set a running trial back to waiting. Through a storage of its own: the study's
    cached storage does not expect a trial it asked to wait again (Optuna 2.10)."""
    optuna.storages.RDBStorage(storage).set_trial_state(trial_id, TrialState.WAITING)


def _this_process() -> dict[str, Any]:
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": psutil.Process().create_time(),
    }


def _alive(owner: dict[str, Any]) -> bool:
    """Whether the process `owner` describes still runs (same pid and start time)."""
    try:
        return psutil.Process(owner["pid"]).create_time() == owner["started"]
    except (psutil.NoSuchProcess, KeyError, TypeError):
        return False


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing) for the block."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
