"""One writer per job directory: a lock held from the resume decision to the last write.

Two processes in one job directory (a sweep launched twice, a Slurm job requeued while the old
one is still being killed) would both train and write each other's checkpoint and results.json.
`hold(job_dir)` takes the lock or refuses at once (`JobDirBusyError`, naming the holder).

The lock is filelock's `SoftFileLease`: a marker file created exclusively (which works on the
shared file systems a cluster puts job directories on, where OS locks may not reach other
hosts), recording the holder's PID and host, which a background thread of the holder touches
every `lock.heartbeat` seconds. A marker left by a dead process is taken over:
- on the same host, at once, when its PID is gone (filelock checks the PID and its start time);
- from another host, once its heartbeat is older than `lock.stale_after` by this host's clock,
  and filelock has then watched the marker stay unchanged for `lock.stale_after` seconds more
  (so a clock that runs ahead, or a file system that caches file times, cannot make a live
  holder look dead). Every run on one directory must use the same `lock.stale_after`.
  On file systems where filelock cannot take a marker over (NFS, Lustre: see
  `_remove_if_unchanged`), this rule also applies to a dead holder on the same host.

Beside the marker, `job.lock.json` says since when the holder holds it, for the messages.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil
from filelock import LeaseCompromise, LeaseSettingsMismatch, SoftFileLease, Timeout

from cgl.config.errors import CglError, ConfigError

log = logging.getLogger(__name__)

LOCK_NAME = "job.lock"  # filelock's marker
HOLDER_NAME = "job.lock.json"  # who holds it and since when (`Holder`)


class JobDirBusyError(CglError):
    """Another live process holds the job directory."""


@dataclass(frozen=True)
class Holder:
    """The process that holds a job directory: PID, host, when it took the lock (ISO, UTC)
    and when the process started (to tell it from a later process with the same PID)."""

    pid: int
    host: str
    since: str
    process_start: float

    @classmethod
    def this_process(cls) -> Holder:
        now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        return cls(os.getpid(), socket.gethostname(), now, psutil.Process().create_time())

    @classmethod
    def read(cls, job_dir: Path) -> Holder | None:
        """The recorded holder, None when there is no record or it cannot be read."""
        try:
            return cls(**json.loads((job_dir / HOLDER_NAME).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    def alive_here(self) -> bool:
        """On this host: whether the process still runs (the same one, not a reused PID)."""
        try:
            return psutil.Process(self.pid).create_time() == self.process_start
        except psutil.Error:
            return False

    def describe(self, heartbeat_age: float | None) -> str:
        beat = "" if heartbeat_age is None else f", last heartbeat {heartbeat_age:.0f} s ago"
        return f"PID {self.pid} on host {self.host}, since {self.since}{beat}"


def heartbeat_age(job_dir: Path) -> float | None:
    """Seconds since the holder last touched the marker (this host's clock); None: no marker."""
    try:
        return max(0.0, time.time() - (job_dir / LOCK_NAME).stat().st_mtime)
    except FileNotFoundError:
        return None


def is_held(job_dir: Path, settings: Any) -> bool:
    """Whether a live process holds `job_dir`, asked without touching anything (the
    preflight's question): a marker whose holder runs on this host, or on another host with a
    heartbeat younger than `settings.stale_after`. A marker without a record (its holder is
    starting or finishing) is judged by its heartbeat alone."""
    age = heartbeat_age(job_dir)
    if age is None:
        return False
    holder = Holder.read(job_dir)
    if holder is not None and holder.host == socket.gethostname():
        return holder.alive_here()
    return age < settings.stale_after


@contextlib.contextmanager
def hold(job_dir: Path, settings: Any) -> Iterator[None]:
    """Hold `job_dir`'s lock inside the block (see the module docstring for `settings`:
    `heartbeat` and `stale_after`, in seconds). Raises JobDirBusyError when a live process holds
    it; a lock left by a dead one is taken over, and the log says so."""
    job_dir.mkdir(parents=True, exist_ok=True)
    lease = SoftFileLease(
        job_dir / LOCK_NAME,
        lease_duration=float(settings.stale_after),
        heartbeat_interval=float(settings.heartbeat),
        on_compromise=_lost,
    )
    previous = Holder.read(job_dir) if heartbeat_age(job_dir) is not None else None
    _acquire(lease, job_dir, settings)
    if previous is not None:
        log.warning(
            "%s: took over the lock left by %s: %s",
            job_dir,
            previous.describe(None),
            "that process is gone"
            if previous.host == socket.gethostname()
            else "its heartbeat had stopped",
        )
    try:
        _write_holder(job_dir, Holder.this_process())
        yield
    finally:
        (job_dir / HOLDER_NAME).unlink(missing_ok=True)  # first: the marker still keeps others out
        lease.release()


def _acquire(lease: SoftFileLease, job_dir: Path, settings: Any) -> None:
    """Take the lock at once, or, when its holder has missed its heartbeats for `stale_after`
    (a holder on another host, or any where filelock cannot take a marker over), after
    watching it for `stale_after` more; otherwise refuse."""
    try:
        try:
            lease.acquire(blocking=False)
            return
        except (Timeout, LeaseSettingsMismatch):  # a live holder may have other settings
            age = heartbeat_age(job_dir)
            if age is None or age < settings.stale_after:
                raise JobDirBusyError(busy_message(job_dir, settings)) from None
        holder, watched = Holder.read(job_dir), _marker_stat(job_dir)
        log.warning(
            "%s is locked by %s: watching it %g s more before taking it over",
            job_dir,
            holder.describe(age) if holder else "an unknown process",
            settings.stale_after,
        )
        try:
            lease.acquire(timeout=settings.stale_after + settings.heartbeat)
        except Timeout:
            _remove_if_unchanged(job_dir / LOCK_NAME, watched)
            lease.acquire(blocking=False)
    except Timeout:
        raise JobDirBusyError(busy_message(job_dir, settings)) from None
    except LeaseSettingsMismatch:
        raise ConfigError(
            f"{job_dir} is locked by a run with another lock.stale_after than this one's "
            f"({settings.stale_after:g} s), and its heartbeat stopped {age:.0f} s ago. Every "
            f"run on one directory must use the same lock.stale_after: rerun with that run's."
        ) from None


def _marker_stat(job_dir: Path) -> os.stat_result | None:
    try:
        return (job_dir / LOCK_NAME).stat()
    except FileNotFoundError:  # released meanwhile
        return None


def _remove_if_unchanged(marker: Path, watched: os.stat_result | None) -> None:
    """filelock takes a stale marker over by swapping two names atomically (renameat2), which
    NFS and Lustre do not offer: there it gives up. Then remove the marker by hand if it is
    still the very file watched, unchanged: moved aside first (atomic), and put back if a
    contender's new marker was moved instead."""
    if watched is None:
        return
    aside = marker.with_name(f"{marker.name}.stale.{os.getpid()}")
    try:
        os.rename(marker, aside)
    except FileNotFoundError:
        return
    moved = aside.stat()
    if (moved.st_ino, moved.st_mtime_ns) != (watched.st_ino, watched.st_mtime_ns):
        with contextlib.suppress(FileExistsError):
            os.link(aside, marker)
    aside.unlink()


def busy_message(job_dir: Path, settings: Any) -> str:
    """One paragraph: who holds `job_dir`, and what to do."""
    holder, age = Holder.read(job_dir), heartbeat_age(job_dir)
    who = holder.describe(age) if holder else "a process that is just starting or finishing"
    if holder and holder.host == socket.gethostname() and not holder.alive_here():
        who += (  # only where filelock cannot take a marker over: see _remove_if_unchanged
            f" (gone; on this file system its lock is taken over once its heartbeat is "
            f"{settings.stale_after:g} s old)"
        )
    stop = f" (kill {holder.pid} on {holder.host})" if holder else ""
    return (
        f"{job_dir} is in use by another run: {who}. Nothing was done here, so that two "
        f"processes do not write one job's checkpoint and results. Wait for that run to "
        f"finish, or stop it{stop}, then rerun the same command: it skips or resumes the job. "
        f"A lock whose process died is taken over by itself (on another host, once its "
        f"heartbeat is {settings.stale_after:g} s old)."
    )


def _write_holder(job_dir: Path, holder: Holder) -> None:
    from cgl.output.sinks import write_json_atomic

    write_json_atomic(job_dir / HOLDER_NAME, asdict(holder))


def _lost(compromise: LeaseCompromise) -> None:
    """Called by the heartbeat thread when the marker was removed or taken over (this process
    was paused longer than `stale_after`, or someone removed the file)."""
    log.error(
        "lost the lock %s (%s): another process may now write in this job directory",
        compromise.lock_file,
        compromise.reason,
    )
