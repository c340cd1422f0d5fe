"""What a job takes from the Hydra launcher that runs it: its share of the cores, how a stop
signal reaches it, and, under submitit, how a preemption or a time limit ends in a requeue.

Threads. Jobs that run side by side must share the machine, or their torch thread pools fight
over the cores and every job slows down. A job therefore sets torch's (and DGL's) threads to the
cores its launcher gives it, read from the launcher's own settings in the job's Hydra config:

- joblib: the cores of this machine divided among the `n_jobs` workers (joblib's rule for
  n_jobs: -1 all cores, -2 all but one, ...);
- submitit (local or Slurm): `cpus_per_task`, the CPUs the job asked for (1 when unset, as
  Slurm's default);
- Ray: `ray.remote.num_cpus`, the CPUs Ray reserves for the job (1 when unset, Ray's default);
- the basic launcher runs one job at a time: torch's default (all cores, or OMP_NUM_THREADS).

The root key `threads` overrides all of this.

Stop signals. Ctrl-C in a terminal reaches every process of the command, jobs included. SIGTERM
(`kill`, `timeout`, a scheduler) reaches only the process that launched the sweep: while joblib
or submitit_local jobs run in its child processes, it passes SIGTERM (and a SIGINT that did not
come from its terminal) on to them, so that each job records `interrupted` and the sweep can be
resumed, and waits for them. A joblib worker's stopped job returns instead of ending the
worker, and the worker starts no further job: an error would make joblib kill every worker
while their jobs still record what they finished.

Preemption. Under submitit, Slurm announces a preemption or the time limit with submitit's
signal (USR2, `--signal` in the job script). A run treats it like SIGTERM: it stops at the next
batch and records `interrupted` with its finished tasks; then the signal is handed to submitit's
own handler, which calls the launcher's `checkpoint` (the same job again) and requeues it. The
requeued job finds its checkpoint and resumes (`cgl.runtime.resume`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from cgl.config.errors import ConfigError
from cgl.runtime.interrupts import SIGNALS, exit_status

log = logging.getLogger(__name__)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, which Slurm and taskset narrow)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def launcher_threads(launcher: DictConfig | None, cores: int) -> int | None:
    """Threads per job under this launcher config (`hydra.launcher`), None for torch's default
    (a launcher that runs one job at a time, or one we do not know)."""
    target = str(launcher.get("_target_", "")) if launcher is not None else ""
    name = target.rpartition(".")[2]
    if name == "JoblibLauncher":
        return max(1, cores // _joblib_workers(launcher.get("n_jobs"), cores))
    if name in ("LocalLauncher", "SlurmLauncher"):  # hydra-submitit-launcher
        return launcher.get("cpus_per_task") or 1
    if name == "RayLauncher":
        return (launcher.ray.get("remote") or {}).get("num_cpus") or 1
    return None


def _joblib_workers(n_jobs: int | None, cores: int) -> int:
    """How many jobs joblib runs at once for `n_jobs` (its rule: negative counts from the
    number of cores, -1 being all of them)."""
    if n_jobs is None:
        return 1
    return n_jobs if n_jobs > 0 else max(1, cores + 1 + n_jobs)


def set_job_threads(threads: int | None) -> int:
    """Set torch's and DGL's threads for this job: `threads` if given, else the launcher's
    share (see the module docstring). Returns the number torch now uses."""
    import dgl
    import torch

    chosen, why = threads, "threads"
    launcher = _job_launcher()
    if chosen is None and launcher is not None:
        chosen = launcher_threads(launcher, available_cores())
        why = f"{launcher._target_.rpartition('.')[2]}, {available_cores()} cores here"
    if chosen is not None and chosen >= 1:  # below 1: refused by validation, right after
        torch.set_num_threads(chosen)
        dgl.utils.set_num_threads(chosen)  # its OpenMP kernels (message passing)
        log.info("torch threads: %d (%s)", chosen, why)
    return torch.get_num_threads()


def _job_launcher() -> DictConfig | None:
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get().launcher if HydraConfig.initialized() else None


# ---- the launching process --------------------------------------------------------------------
#: Launchers whose jobs run in child processes of the launching one.
CHILD_PROCESS_LAUNCHERS = ("JoblibLauncher", "LocalLauncher")


@dataclass
class _Stop:
    """The stop signal this process received, if any (and the launcher its jobs run under)."""

    signum: int | None = None
    launcher: str = ""


_passed = _Stop()  # the launching process: the signal it received while its jobs ran


class LaunchGuard(Callback):
    """Hydra callback for the process that launches a sweep: refuses the Slurm launcher where
    there is no Slurm (one paragraph, not submitit's traceback), and while jobs run in child
    processes (joblib's workers; submitit's local job controllers, which pass SIGTERM on to
    their job) takes over SIGTERM and SIGINT (`_pass_on`)."""

    def __init__(self) -> None:
        self._previous: dict[int, Any] = {}

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        target = str(config.hydra.launcher._target_)
        if target.endswith("SlurmLauncher") and shutil.which("srun") is None:
            from cgl.config.preflight import Refused

            raise Refused(
                ConfigError(
                    "hydra/launcher=submitit_slurm submits the jobs to Slurm, but there is no "
                    "Slurm here (no srun on PATH). Run the sweep on a Slurm login node, or on "
                    "this machine with hydra/launcher=submitit_local (or joblib)."
                )
            )
        if target.endswith(CHILD_PROCESS_LAUNCHERS):
            _passed.launcher = target.rpartition(".")[2]
            self._previous = {signum: signal.signal(signum, _pass_on) for signum in SIGNALS}

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def _pass_on(signum: int, frame: object) -> None:
    """Pass the signal on to the jobs' processes, unless it is a Ctrl-C, which the terminal
    sent them too; the launching process itself keeps waiting for its jobs, which record
    what they finished, and exits with the signal's status after them (`exit_as_passed_on`).
    Ending it at once would make joblib kill its workers mid-record. A second Ctrl-C ends it
    at once."""
    import psutil

    again, _passed.signum = _passed.signum is not None, signum
    if signum == signal.SIGINT and again:
        raise KeyboardInterrupt
    children = [] if signum == signal.SIGINT and _from_terminal() else psutil.Process().children()
    log.warning(
        "%s received: the jobs stop after their current batch (%s)",
        signal.Signals(signum).name,
        f"passed on to {len(children)} processes" if children else "the terminal told them",
    )
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.send_signal(signum)


def _from_terminal() -> bool:
    """Whether this process is in its terminal's foreground process group, which a Ctrl-C
    reaches as a whole (its jobs' processes included)."""
    try:
        tty = os.open("/dev/tty", os.O_RDONLY)
    except OSError:  # no controlling terminal
        return False
    try:
        return os.tcgetpgrp(tty) == os.getpgrp()
    finally:
        os.close(tty)


@contextlib.contextmanager
def exit_as_passed_on() -> Iterator[None]:
    """A sweep whose jobs were stopped by a signal exits with 128 + its number (as a job
    does), also when the launcher complains that a job returned nothing."""
    try:
        yield
    except Exception:
        if _passed.signum is None:
            raise
        if _passed.launcher == "LocalLauncher":
            _wait_for_submitit_jobs()
        raise SystemExit(exit_status(_passed.signum)) from None
    if _passed.signum is not None:
        raise SystemExit(exit_status(_passed.signum))


def _wait_for_submitit_jobs() -> None:
    """submitit_local's launcher gives up at the first job that a signal ended, while others
    may still be recording what they finished: wait for their controllers, this process's
    children (a signal sent again stops them at once)."""
    import psutil

    children = psutil.Process().children()
    log.warning("waiting for the %d job processes to record their state", len(children))
    psutil.wait_procs(children)


# ---- joblib's workers: one process runs several jobs of the sweep -----------------------------
_worker_stop = _Stop()  # a joblib worker: the signal that stopped one of its jobs


def _in_joblib_worker() -> bool:
    launcher = _job_launcher()
    return launcher is not None and str(launcher._target_).endswith("JoblibLauncher")


def stop_before_job() -> int | None:
    """In a joblib worker: the signal that already stopped one of its jobs, if any (the next
    job then does not start). From here on, a signal between two jobs is kept for the next
    one: by default it would end the worker, and joblib would abort the sweep and kill the
    other workers while their jobs record what they finished."""
    if not _in_joblib_worker():
        return None
    for signum in SIGNALS:
        signal.signal(signum, _keep)
    return _worker_stop.signum


def _keep(signum: int, frame: object) -> None:
    _worker_stop.signum = signum


def end_stopped_job(signum: int) -> None:
    """After a job stopped by a signal has recorded what it finished, end its process with
    128 + the signal's number (which also stops the basic launcher's sweep) - except in a
    joblib worker: there the job returns, the worker starts no further job, and the launching
    process exits with that status once every job has returned."""
    if _in_joblib_worker():
        _worker_stop.signum = signum
        return
    raise SystemExit(exit_status(signum))


# ---- submitit: preemption and time limit ----------------------------------------------------
def preemption_signals() -> tuple[int, ...]:
    """The signal submitit announces a preemption or time limit with, when this process is a
    submitit job; nothing otherwise."""
    if not os.environ.get("SUBMITIT_EXECUTOR"):
        return ()
    from submitit.core.job_environment import JobEnvironment

    return (JobEnvironment._usr_sig(),)  # USR2, or $SUBMITIT_PREEMPT_SIGNAL: submitit's rule


def requeue_if_preempted(signum: int) -> None:
    """After a run stopped by submitit's preemption signal has recorded what it finished, let
    submitit's handler (installed before the job started) checkpoint and requeue the job; it
    ends the process. Any other signal: nothing to do here."""
    if signum not in preemption_signals():
        return
    handler = signal.getsignal(signum)
    if callable(handler):
        log.warning("%s: submitit requeues the job", signal.Signals(signum).name)
        handler(signum, None)
