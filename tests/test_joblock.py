"""One writer per job directory, and two checkpoint generations: a second process on a held
directory refuses (a sweep skips that job), a dead holder's lock is taken over (by PID on this
host, by heartbeat across hosts), and a damaged newest checkpoint costs one task."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from processes import finish, signal_after_task, start_cli, tasks_done
from runs import FAST, make_cfg, run_cli

from cgl.config import preflight
from cgl.config.errors import ConfigError
from cgl.runtime import checkpoint, joblock
from cgl.runtime.experiment import run

NODES = ["dataset.loader.nodes.num_nodes=300", "model.nc.hidden=16"]
# A few tenths of a second per task: long enough to stop the run (SIGSTOP) during its run.
SLOW = ["logger=none", "progress=false", "patience=1000", "epochs=30", *NODES]
#: fast settings for the in-process lock tests (the marker records stale_after: all agree)
QUICK = SimpleNamespace(heartbeat=0.1, stale_after=0.5)


def outcome(job_dir: Path) -> dict:
    result = json.loads((job_dir / "results.json").read_text())
    return {"matrices": result["matrices"], "init": result["init"], "status": result["status"]}


# ---- through the command line ---------------------------------------------------------------
def test_a_second_process_on_a_held_directory_refuses_and_the_first_completes(tmp_path):
    job = tmp_path / "run"
    first = start_cli(*SLOW, f"hydra.run.dir={job}", cwd=tmp_path)
    signal_after_task(first, job, task=1, signum=signal.SIGSTOP)  # held while the second runs
    try:
        code, _, err = finish(start_cli(*SLOW, f"hydra.run.dir={job}", cwd=tmp_path))
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert code == 2, err[-3000:]
    assert f"cgl: error: {job} is in use by another run: PID {first.pid} on " in err
    assert f"host {socket.gethostname()}, since " in err and "Traceback" not in err
    assert not (job / "results.json").exists()  # nothing written by the second
    code, _, err = finish(first)
    assert code == 0, err[-3000:]
    result = json.loads((job / "results.json").read_text())
    assert result["status"] == "completed" and result["attempt"] == 1  # the first's, whole
    assert sorted(p.name for p in job.iterdir()) == [".hydra", "main.log", "results.json"]
    assert "is in use" not in (job / "main.log").read_text()  # refused before Hydra wrote


def test_a_killed_holders_lock_is_taken_over_and_the_run_resumes(tmp_path):
    job = tmp_path / "run"
    proc = start_cli(*SLOW, f"hydra.run.dir={job}", cwd=tmp_path)
    signal_after_task(proc, job, task=1, signum=signal.SIGSTOP)
    done = tasks_done(job)  # 1, or 2 on a slow machine: the process stands still now
    os.kill(proc.pid, signal.SIGKILL)
    assert finish(proc)[0] == -signal.SIGKILL
    assert (job / joblock.LOCK_NAME).exists()  # SIGKILL leaves the lock behind
    code, out, err = finish(start_cli(*SLOW, f"hydra.run.dir={job}", cwd=tmp_path))
    assert code == 0, err[-3000:]
    assert f"took over the lock left by PID {proc.pid} on host" in out
    assert "that process is gone" in out
    assert f"resuming at task {done + 1}/4: {done} finished task(s) restored" in out
    assert json.loads((job / "results.json").read_text())["status"] == "completed"
    assert not (job / joblock.LOCK_NAME).exists()


def test_a_sweep_launched_twice_at_once_runs_every_job_once(tmp_path):
    """Two joblib sweeps into one sweep directory, started together: each job is trained by
    one of them, which writes its results.json; the other skips it, held or finished."""
    sweep = tmp_path / "sweep"
    args = [*SLOW, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    args += [f"hydra.sweep.dir={sweep}", "-m", "lamb=1,10"]
    procs = [start_cli(*args, cwd=tmp_path) for _ in range(2)]
    outs = [finish(proc) for proc in procs]
    assert [code for code, _, _ in outs] == [0, 0], outs[0][2][-2000:] + outs[1][2][-2000:]
    logs = {job: (sweep / job / "main.log").read_text() for job in ("0", "1")}
    for log in logs.values():
        assert log.count("NCClassILMASTrainer on synthetic nc/classil: 4 tasks") == 1, log
        assert log.count("results: ") == 1  # one run wrote results.json
        skipped = log.count("is in use by another run") + log.count("finished run (completed)")
        assert skipped == 1, log
    for job in ("0", "1"):
        result = json.loads((sweep / job / "results.json").read_text())
        assert result["status"] == "completed" and result["attempt"] == 1
    print({job: "in use" if "in use" in log else "finished" for job, log in logs.items()})


def test_a_sweep_skips_a_held_job_and_the_same_command_later_runs_it(tmp_path):
    """Hydra's basic launcher: job 0's directory is held (here, by this test), job 1 runs;
    once it is free, the same command runs job 0 and skips the finished job 1."""
    sweep = tmp_path / "sweep"
    args = [*FAST, "epochs=3", *NODES, f"hydra.sweep.dir={sweep}", "-m", "lamb=1,10"]
    with joblock.hold(sweep / "0", QUICK):
        proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"skipped: {sweep / '0'} is in use by another run: PID {os.getpid()}" in proc.stdout
    assert not (sweep / "0" / "results.json").exists()
    assert json.loads((sweep / "1" / "results.json").read_text())["status"] == "completed"

    proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((sweep / "0" / "results.json").read_text())["status"] == "completed"
    assert f"{sweep / '1'} already holds this configuration's finished run" in proc.stdout


def test_a_truncated_newest_checkpoint_resumes_from_the_one_before(tmp_path, monkeypatch):
    """What a rerun finds after a crash that damaged the newest checkpoint (after task 2):
    it resumes from the one before (after task 1) and ends with an uninterrupted run's
    matrices."""
    monkeypatch.setattr("cgl.runtime.experiment.TaskCheckpoint", KeepGenerations)
    run(make_cfg(*FAST, *NODES), output_dir=tmp_path / "reference")
    job = tmp_path / "job"
    job.mkdir()
    shutil.copyfile(tmp_path / "reference" / "gen_1.pt", job / "checkpoint.prev.pt")
    newest = (tmp_path / "reference" / "gen_2.pt").read_bytes()
    (job / "checkpoint.pt").write_bytes(newest[: len(newest) // 2])

    code, out, err = finish(start_cli(*FAST, *NODES, f"hydra.run.dir={job}", cwd=tmp_path))
    assert code == 0, err[-3000:]
    assert "checkpoint.pt cannot be read as a cgl checkpoint" in out
    assert "resuming from the checkpoint before it (checkpoint.prev.pt, 1 finished task(s))" in out
    assert "resuming at task 2/4" in out
    assert outcome(job) == outcome(tmp_path / "reference")
    assert not any(job.glob("checkpoint*"))  # a finished run keeps no generation


def test_neither_generation_readable_is_refused(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"half a file")
    (tmp_path / "checkpoint.prev.pt").write_bytes(b"not one either")
    with pytest.raises(ConfigError, match=r"checkpoint.pt cannot be read .*; nor can"):
        run(make_cfg(*FAST, *NODES), output_dir=tmp_path)
    assert not (tmp_path / joblock.LOCK_NAME).exists()  # released on the refusal


class KeepGenerations(checkpoint.TaskCheckpoint):
    """Also keeps copies of both generations as they are after task 2."""

    def save(self, trainer_state):
        super().save(trainer_state)
        if trainer_state["tasks_done"] == 2:
            shutil.copyfile(self.path, self.path.with_name("gen_2.pt"))
            shutil.copyfile(self.previous, self.path.with_name("gen_1.pt"))


# ---- the lock, in process -------------------------------------------------------------------
def plant_lock(job_dir: Path, host: str, pid: int, heartbeat_age: float) -> None:
    """A lock as a holder on `host` leaves it: filelock's lease marker and our record, the
    marker last touched `heartbeat_age` seconds ago."""
    job_dir.mkdir(exist_ok=True)
    marker = job_dir / joblock.LOCK_NAME
    marker.write_text(
        f"filelock/2\npid={pid}\nhost={host}\nmode=lease\ntoken={'ab' * 16}\n"
        f"duration={QUICK.stale_after!r}\n"
    )
    record = {"pid": pid, "host": host, "since": "2026-01-02T03:04:05+00:00", "process_start": 1.0}
    (job_dir / joblock.HOLDER_NAME).write_text(json.dumps(record))
    stamp = time.time() - heartbeat_age
    os.utime(marker, (stamp, stamp))


def test_another_hosts_lock_with_an_old_heartbeat_is_taken_over(tmp_path, caplog):
    plant_lock(tmp_path, "elsewhere", 4242, heartbeat_age=3600)
    assert not joblock.is_held(tmp_path, QUICK)
    start = time.monotonic()
    with caplog.at_level(logging.WARNING), joblock.hold(tmp_path, QUICK):
        waited = time.monotonic() - start
        assert json.loads((tmp_path / joblock.HOLDER_NAME).read_text())["pid"] == os.getpid()
    assert QUICK.stale_after <= waited < 5  # watched unchanged for stale_after first
    assert "took over the lock left by PID 4242 on host elsewhere" in caplog.text
    assert "its heartbeat had stopped" in caplog.text
    assert not (tmp_path / joblock.LOCK_NAME).exists()


def test_where_names_cannot_be_swapped_a_stale_lock_is_still_taken_over(tmp_path, monkeypatch):
    """NFS and Lustre lack the atomic swap of names filelock takes a marker over with."""
    monkeypatch.setattr("filelock._soft._exclusive._recovery.exchange_names", lambda *_: False)
    plant_lock(tmp_path, socket.gethostname(), 4242, heartbeat_age=3600)  # PID 4242: gone
    with joblock.hold(tmp_path, QUICK):
        assert json.loads((tmp_path / joblock.HOLDER_NAME).read_text())["pid"] == os.getpid()
    assert sorted(tmp_path.iterdir()) == []  # no marker left aside


def test_another_hosts_lock_with_a_fresh_heartbeat_is_not(tmp_path):
    plant_lock(tmp_path, "elsewhere", 4242, heartbeat_age=0)
    assert joblock.is_held(tmp_path, QUICK)
    start = time.monotonic()
    with pytest.raises(joblock.JobDirBusyError) as refused, joblock.hold(tmp_path, QUICK):
        pass
    assert time.monotonic() - start < QUICK.stale_after  # refused at once
    assert "PID 4242 on host elsewhere, since 2026-01-02T03:04:05+00:00" in str(refused.value)
    assert (tmp_path / joblock.LOCK_NAME).exists()  # left to its holder


def test_an_old_heartbeat_that_moves_while_watched_is_not_taken_over(tmp_path):
    """A clock ahead of the holder's makes its heartbeat look old: watching shows it alive."""
    plant_lock(tmp_path, "elsewhere", 4242, heartbeat_age=3600)
    marker, stop = tmp_path / joblock.LOCK_NAME, threading.Event()

    def beat():
        stamp = time.time() - 3600
        while not stop.wait(QUICK.heartbeat):
            stamp += 1
            os.utime(marker, (stamp, stamp))

    beater = threading.Thread(target=beat)
    beater.start()
    try:
        with pytest.raises(joblock.JobDirBusyError), joblock.hold(tmp_path, QUICK):
            pass
    finally:
        stop.set()
        beater.join()


def test_the_holder_refreshes_its_heartbeat_and_same_host_liveness_is_by_process(tmp_path):
    with joblock.hold(tmp_path, QUICK):
        assert joblock.is_held(tmp_path, QUICK)  # this very process
        before = (tmp_path / joblock.LOCK_NAME).stat().st_mtime
        time.sleep(4 * QUICK.heartbeat)
        assert (tmp_path / joblock.LOCK_NAME).stat().st_mtime > before
    plant_lock(tmp_path, socket.gethostname(), os.getpid(), heartbeat_age=0)
    assert not joblock.is_held(tmp_path, QUICK)  # same PID, another process start: gone


def test_run_refuses_a_held_directory_before_reading_or_writing_anything(tmp_path):
    with joblock.hold(tmp_path, QUICK):
        (tmp_path / "checkpoint.pt").write_bytes(b"being written by the holder")
        with pytest.raises(joblock.JobDirBusyError, match=f"PID {os.getpid()}"):
            run(make_cfg(*FAST, *NODES), output_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]


def test_the_preflight_leaves_a_held_directory_to_its_holder(tmp_path):
    """A sweep's preflight reads no job directory another process holds (its checkpoint may
    be changing): the job is skipped when its turn comes, the sweep is not refused."""
    cfg = make_cfg(*FAST, *NODES)
    (tmp_path / "checkpoint.pt").write_bytes(b"half written")
    with joblock.hold(tmp_path, cfg.lock):
        preflight.check_job(cfg, tmp_path, "hydra.sweep.dir")
    with pytest.raises(ConfigError, match="cannot be read as a cgl checkpoint"):
        preflight.check_job(cfg, tmp_path, "hydra.sweep.dir")  # free: read, and refused
