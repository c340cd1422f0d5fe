"""Command-line glue that Hydra does not provide: `-m` anywhere, one paragraph per bad input
(exit 2), the task function's body, and exit 130/143 when a signal stopped the run."""

from __future__ import annotations

import contextlib
import difflib
import logging
import math
import os
import sys
import typing
from collections.abc import Iterator
from pathlib import Path

from hydra.errors import (
    CompactHydraException,
    ConfigCompositionException,
    MissingConfigException,
    OverrideParseException,
)
from omegaconf import DictConfig
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

from cgl.config.errors import CglError
from cgl.config.preflight import Refused
from cgl.runtime.interrupts import exit_status, signal_name

MULTIRUN_FLAGS = ("-m", "--multirun")
USAGE_ERROR = 2

log = logging.getLogger(__name__)


def hoist_multirun_flag(argv: list[str]) -> list[str]:
    """Move -m/--multirun to the front so it may stand anywhere on the line (plain Hydra
    rejects it after an override such as `level=lc`)."""
    flags = [arg for arg in argv[1:] if arg in MULTIRUN_FLAGS]
    rest = [arg for arg in argv[1:] if arg not in MULTIRUN_FLAGS]
    return [argv[0], *flags[:1], *rest]


def run_job(cfg: DictConfig) -> float:
    """The task function's body: run one job and return its validation AP (for sweepers).

    The job first takes its share of the cores (`cgl.runtime.launchers`). A job refused while
    setting up (e.g. its dataset is missing offline) removes the directory Hydra made for it; a
    job of a sweep whose directory another process holds is reported and skipped
    (`cgl.runtime.joblock`; the same command later runs it like any unfinished job); a job
    stopped by a signal ends the process with 128 + the signal's number, which also stops a
    sweep, unless submitit requeues it after a preemption or it ran in a joblib worker
    (`cgl.runtime.launchers.end_stopped_job`).
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from cgl.config.preflight import remove_created
    from cgl.runtime.experiment import run
    from cgl.runtime.joblock import JobDirBusyError
    from cgl.runtime.launchers import (
        end_stopped_job,
        requeue_if_preempted,
        set_job_threads,
        stop_before_job,
    )

    set_job_threads(cfg.threads)
    stopped = stop_before_job()
    if stopped is not None:
        log.warning("%s: the sweep was stopped before this job started", signal_name(stopped))
        return math.nan
    try:
        result = run(cfg)
    except JobDirBusyError as err:  # the directory is another process's: never removed
        if HydraConfig.get().mode != RunMode.MULTIRUN:
            refuse(err)
        log.warning("skipped: %s", err)
        return math.nan
    except CglError as err:
        remove_created(Path(HydraConfig.get().runtime.output_dir))
        refuse(err)  # here, not raised through Hydra, which would print the job's overrides too
    if result.signal is not None:
        log.warning(
            "%s: %s; exiting with status %d",
            signal_name(result.signal),
            result.payload.get("message") or f"the run is {result.status}",
            exit_status(result.signal),
        )
        requeue_if_preempted(result.signal)  # under submitit: requeued, and the process ends
        end_stopped_job(result.signal)  # the process ends, except in a joblib worker
        return math.nan
    val_ap = result.summary.get("val_AP")
    return math.nan if val_ap is None else val_ap


@contextlib.contextmanager
def exit_on_user_error() -> Iterator[None]:
    """Turn bad input into one paragraph on stderr and exit status 2, no traceback: our
    CglError and Hydra's composition errors (unknown key or option, wrong type, bad syntax).
    Anything else is a bug and keeps its traceback."""
    # Hydra prints its errors itself and exits 1 unless HYDRA_FULL_ERROR=1, which makes it
    # raise them instead, so that they can be phrased here.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        yield
    except (CglError, CompactHydraException, Refused) as err:
        refuse(getattr(err, "error", err))


def refuse(err: Exception) -> typing.NoReturn:
    """Print the one paragraph for bad input on stderr and exit with status 2."""
    print(f"cgl: error: {describe(err)}", file=sys.stderr)
    sys.exit(USAGE_ERROR)


def describe(err: Exception) -> str:
    """One paragraph that says what is wrong and how to fix it."""
    cause = err.__cause__
    if isinstance(err, MissingConfigException) and err.options is not None:
        return _missing_option(err)
    if isinstance(err, ConfigCompositionException) and isinstance(
        cause, ConfigKeyError | ConfigAttributeError
    ):
        return _unknown_key(cause)
    if isinstance(err, ConfigCompositionException) and isinstance(cause, ValidationError):
        return _wrong_type(str(err), cause)
    if isinstance(err, OverrideParseException):
        return f"cannot read an override: {_one_line(str(err))}"
    return _one_line(str(err))


def _missing_option(err: MissingConfigException) -> str:
    group, _, option = (err.missing_cfg_file or "").rpartition("/")
    close = difflib.get_close_matches(option, err.options, n=1)
    hint = f" Did you mean {group}={close[0]}?" if close else ""
    return (
        f"{group}={option}: there is no such option. The options for {group} are "
        f"{', '.join(err.options)}.{hint}"
    )


def _unknown_key(cause: ConfigKeyError | ConfigAttributeError) -> str:
    key = cause.full_key
    parent = getattr(cause, "parent_node", None)
    known = [str(k) for k in parent] if isinstance(parent, DictConfig) else []
    close = difflib.get_close_matches(str(cause.key), known, n=1)
    prefix = key.rpartition(".")[0]
    hint = f" Did you mean {prefix + '.' if prefix else ''}{close[0]}?" if close else ""
    return f"There is no config key {key}.{hint} (`+{key}=...` would add a key nothing reads.)"


def _wrong_type(message: str, cause: ValidationError) -> str:
    override = message.removeprefix("Error merging override ").strip()
    expected = _schema_type(cause)
    takes = f"{cause.full_key} takes {expected}: " if expected else ""
    return f"{override}: {takes}{cause.msg.splitlines()[0]}."


def _schema_type(cause: ValidationError) -> str | None:
    """'a float', 'a list of float', ... for the key as the schema declares it."""
    owner, key = getattr(cause, "object_type", None), getattr(cause, "key", None)
    try:
        kind = typing.get_type_hints(owner)[key]
    except (TypeError, KeyError, NameError):
        return None
    names = {int: "an integer", float: "a float", bool: "true or false", str: "a string"}
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if kind in names:
        return names[kind]
    if typing.get_origin(kind) is list:
        return f"a list of {args[0].__name__} such as [0.6,0.2,0.2]"
    if len(args) == 1 and args[0] in names:
        return f"{names[args[0]]} or null"
    return None


def _one_line(text: str) -> str:
    """Hydra's multi-line messages as one paragraph, without its search-path listing."""
    text = text.split("\nConfig search path")[0]
    return " ".join(line.strip() for line in text.splitlines() if line.strip())
