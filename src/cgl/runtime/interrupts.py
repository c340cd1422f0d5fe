"""SIGINT and SIGTERM as data: a flag the trainer checks at safe points.

Ctrl-C, `kill`, `timeout` and Slurm (SIGTERM before SIGKILL) should stop a run at the next
batch or epoch boundary, so that it can record what it finished instead of unwinding through
arbitrary code. Inside `stop_on_signals()` the first SIGINT or SIGTERM only sets the flag;
`raise_if_requested()`, which the trainer loop calls between batches and tasks, then raises
RunInterrupted. A second signal raises at once, for a run that never reaches a safe point.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunInterrupted(BaseException):  # like KeyboardInterrupt: not an error
    """A run stopped by a signal. A BaseException, so `except Exception` does not swallow it."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {signal_name(signum)}")


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


def exit_status(signum: int) -> int:
    """What a shell reports for a process ended by this signal: 128 + its number."""
    return 128 + signum


@dataclass
class StopFlag:
    """The first signal received inside `stop_on_signals`, if any."""

    signum: int | None = None


_active = StopFlag()


def raise_if_requested() -> None:
    """A safe point: raise RunInterrupted if a signal arrived inside `stop_on_signals`."""
    if _active.signum is not None:
        raise RunInterrupted(_active.signum)


def _handle(signum: int, frame: object) -> None:
    if _active.signum is not None:
        raise RunInterrupted(signum)
    _active.signum = signum
    log.warning(
        "%s received: stopping at the next batch (send it again to stop at once)",
        signal_name(signum),
    )


@contextlib.contextmanager
def stop_on_signals(extra: tuple[int, ...] = ()) -> Iterator[StopFlag]:
    """Within the block SIGINT/SIGTERM (and the `extra` signals, such as submitit's preemption
    signal) set the yielded flag (read by `raise_if_requested`); the previous handlers come
    back afterwards. Outside the main thread, where Python cannot install handlers, signals
    keep their usual effect and the flag stays unset."""
    global _active
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    outer, _active = _active, flag
    previous = {signum: signal.signal(signum, _handle) for signum in SIGNALS + extra}
    try:
        yield flag
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _active = outer
