"""Sweeps through Hydra's launcher plugins (joblib, submitit, Ray): the same jobs, results and
W&B runs as with the basic launcher, each job's share of the cores, and stop signals that
reach the jobs (SIGTERM to the sweep, a Slurm-style preemption that submitit requeues)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from filelock import FileLock
from hydra import compose, initialize_config_dir
from processes import finish, start_cli
from runs import REPO, make_cfg, results_under, run_cli
from wandb_offline import offline_runs

from cgl.config.errors import ConfigError
from cgl.config.validation import validate
from cgl.runtime.experiment import run
from cgl.runtime.launchers import available_cores, launcher_threads, set_job_threads

TINY = ["progress=false", "epochs=5", "dataset.loader.nodes.num_nodes=300", "model.nc.hidden=16"]
#: 2 seeds x 2 lamb, with `-m` in the middle of the line as a user may type it
SWEEP = ["seed=0,1", "-m", "lamb=1,10"]
#: where each launcher's test puts `-m`: first, between the overrides, last
MULTIRUN_AT = {"joblib": 0, "submitit_local": 5, "ray": -1}
LAUNCHERS = {
    "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "logger=wandb"],
    "submitit_local": ["hydra/launcher=submitit_local", "logger=wandb"],
    "ray": [  # a local Ray instance of one CPU: one job at a time, the cheapest to start here
        "hydra/launcher=ray",
        "++hydra.launcher.ray.init.num_cpus=1",
        "++hydra.launcher.ray.init.include_dashboard=false",
        "logger=wandb",
    ],
}
# About a second per task on 2 cores: a signal sent after task 1 arrives during task 2.
SLOW = [
    "progress=false", "epochs=150", "patience=1000",
    "dataset.loader.nodes.num_nodes=300", "model.nc.hidden=16",
]  # fmt: skip


def hydra_cfg(*overrides: str):
    """The composed config with its hydra node (launcher settings included)."""
    import cgl  # noqa: F401  registers the schema

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=True)


def by_job(sweep_dir: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sweep_dir.glob("*/results.json")}


def swept(result: dict) -> dict:
    return {key: result["hyperparameters"][key] for key in ("seed", "lamb")}


def assert_same_matrices(result: dict, reference: dict) -> None:
    """Bit for bit at the same torch thread count, within 1e-5 otherwise."""
    tolerance = 0.0 if result["threads"] == reference["threads"] else 1e-5
    for split in ("val", "test"):
        np.testing.assert_allclose(
            result["matrices"][split], reference["matrices"][split], rtol=0, atol=tolerance
        )
        np.testing.assert_allclose(
            result["init"][split], reference["init"][split], rtol=0, atol=tolerance
        )


@pytest.fixture(scope="session")
def basic_sweep(tmp_path_factory, worker_id) -> dict[str, dict]:
    """The 4-job sweep through Hydra's basic launcher, one job after the other; run once for
    all pytest-xdist workers (the first to need it runs it, under a lock)."""
    shared = tmp_path_factory.getbasetemp()
    shared = shared.parent if worker_id != "master" else shared
    sweep_dir = shared / "basic-launcher-sweep"
    with FileLock(str(sweep_dir) + ".lock"):
        if not (sweep_dir / "3" / "results.json").exists():
            proc = run_cli(*TINY, "logger=none", *SWEEP, f"hydra.sweep.dir={sweep_dir}")
            assert proc.returncode == 0, proc.stderr[-3000:]
    return by_job(sweep_dir)


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_a_sweep_through_a_launcher_matches_the_basic_launcher(tmp_path, basic_sweep, launcher):
    sweep_dir = tmp_path / "sweep"
    args = [*TINY, "seed=0,1", "lamb=1,10", *LAUNCHERS[launcher], f"hydra.sweep.dir={sweep_dir}"]
    args.insert(MULTIRUN_AT[launcher] % (len(args) + 1), "-m")
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = by_job(sweep_dir)
    assert sorted(results) == sorted(basic_sweep) == ["0", "1", "2", "3"]
    # joblib: the cores shared by its 2 workers; submitit and Ray: the 1 CPU a job asks for
    share = max(1, available_cores() // 2) if launcher == "joblib" else 1
    for job, result in results.items():
        assert result["status"] == "completed"
        assert swept(result) == swept(basic_sweep[job])
        assert result["threads"] == share
        assert_same_matrices(result, basic_sweep[job])
    runs = [run for job in results for run in offline_runs(sweep_dir / job)]
    assert len(runs) == 4 and len({run["id"] for run in runs}) == 4  # a W&B run per job
    assert {run["group"] for run in runs} == {str(sweep_dir)}  # ... in the sweep's group
    assert all(run["exit_codes"] == ["0"] for run in runs)
    processes = {run["pid"] for run in runs}  # where a process ran several jobs, each had its run
    if launcher == "joblib":
        assert len(processes) == 2  # its two workers
    if launcher == "ray":
        assert len(processes) < 4  # Ray reuses its worker processes


def test_each_launcher_gives_a_job_its_share_of_the_cores():
    def threads(*overrides: str, cores: int = 8):
        return launcher_threads(hydra_cfg(*overrides).hydra.launcher, cores)

    assert threads() is None  # basic: one job at a time keeps torch's default
    assert threads("hydra/launcher=joblib") == 1  # n_jobs=-1: a worker per core
    assert threads("hydra/launcher=joblib", "hydra.launcher.n_jobs=2") == 4
    assert threads("hydra/launcher=joblib", "hydra.launcher.n_jobs=-3") == 1  # 6 workers
    assert threads("hydra/launcher=joblib", "hydra.launcher.n_jobs=3", cores=2) == 1
    assert threads("hydra/launcher=submitit_local") == 1
    assert threads("hydra/launcher=submitit_slurm", "hydra.launcher.cpus_per_task=6") == 6
    assert threads("hydra/launcher=ray") == 1
    assert threads("hydra/launcher=ray", "++hydra.launcher.ray.remote.num_cpus=3") == 3


def test_threads_overrides_the_launchers_share():
    before = torch.get_num_threads()
    try:
        assert set_job_threads(2) == 2
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ConfigError, match="threads must be at least 1"):
        validate(hydra_cfg("threads=0"))


# The preflight's two paths: jobs run on this machine (also submitit_local) or elsewhere (also
# Ray); no Slurm here, so the Slurm case also shows that bad input is named first.
@pytest.mark.parametrize("launcher", ["joblib", "submitit_slurm"])
def test_bad_input_is_refused_before_any_launcher_starts(tmp_path, launcher):
    sweep_dir = tmp_path / "sweep"
    proc = run_cli(
        "seed=0", "-m", "lamb=1,-1", f"hydra/launcher={launcher}", f"hydra.sweep.dir={sweep_dir}"
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert proc.stderr.startswith("cgl: error: lamb must be a finite number")
    assert not sweep_dir.exists()


def test_slurm_settings_reach_the_job_script(tmp_path, monkeypatch):
    """The Slurm overrides of docs/cluster.md, through the real plugin and submitit, up to `sbatch`
    (a stand-in here that keeps the script and refuses the submission)."""
    bin_dir, script = tmp_path / "bin", tmp_path / "job.sh"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "sbatch").write_text(f'#!/bin/sh\ncp "$1" {script}\nexit 1\n')
    for tool in ("srun", "sbatch"):
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    run_cli(
        *TINY, *SWEEP, "hydra/launcher=submitit_slurm", "hydra.launcher.partition=gpu",
        "hydra.launcher.timeout_min=120", "hydra.launcher.cpus_per_task=4",
        "hydra.launcher.gpus_per_node=1", "hydra.launcher.array_parallelism=2",
        "hydra.launcher.max_num_timeout=3", f"hydra.sweep.dir={tmp_path / 'sweep'}",
    )  # fmt: skip
    lines = set(script.read_text().splitlines())
    assert {
        "#SBATCH --partition=gpu",
        "#SBATCH --time=120",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --gpus-per-node=1",
        "#SBATCH --array=0-3%2",
        "#SBATCH --signal=USR2@120",  # the preemption / time-limit warning a job stops on
    } <= lines


def test_the_slurm_launcher_without_slurm_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no srun
    proc = run_cli(
        "-m", "seed=0,1", "hydra/launcher=submitit_slurm", f"hydra.sweep.dir={tmp_path / 's'}"
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("cgl: error: hydra/launcher=submitit_slurm submits the jobs")
    assert "Traceback" not in proc.stderr and not (tmp_path / "s").exists()


def test_sigterm_to_a_joblib_sweep_stops_every_job_and_the_same_command_resumes(tmp_path):
    """Three jobs, two workers: the two running jobs record `interrupted` (joblib kills no
    worker while they write), the third does not start; the same command resumes the two and
    runs the third."""
    sweep_dir = tmp_path / "sweep"
    args = [*SLOW, "seed=0,1,2", "-m", *LAUNCHERS["joblib"][:-1], "logger=none"]
    proc = start_cli(*args, f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path)
    wait_for(lambda: all(first_task_done(sweep_dir / job) for job in ("0", "1")), proc)
    proc.send_signal(signal.SIGTERM)  # the launching process only, as `kill` or `timeout`
    code, _, err = finish(proc)
    assert code == 143, err[-3000:]
    stopped = by_job(sweep_dir)
    assert {job: r["status"] for job, r in stopped.items()} == {
        "0": "interrupted",
        "1": "interrupted",
    }
    assert all(r["signal"] == "SIGTERM" for r in stopped.values())
    assert "stopped before this job started" in (sweep_dir / "2" / "main.log").read_text()

    code, _, err = finish(start_cli(*args, f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path))
    assert code == 0, err[-3000:]
    resumed = by_job(sweep_dir)
    assert {job: (r["status"], r["attempt"]) for job, r in resumed.items()} == {
        "0": ("completed", 2),
        "1": ("completed", 2),
        "2": ("completed", 1),
    }


def test_a_preempted_submitit_job_records_interrupted_is_requeued_and_resumes(tmp_path):
    """Slurm warns of a preemption or the time limit with submitit's USR2; submitit_local
    does the same, and requeues a job that asks for it."""
    sweep_dir, job = tmp_path / "sweep", [*SLOW, "seed=0"]
    args = [*job, "logger=wandb", "-m", "hydra/launcher=submitit_local"]
    proc = start_cli(*args, f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path)
    wait_for(lambda: first_task_done(sweep_dir / "0"), proc)
    os.kill(submitit_task_pid(sweep_dir), signal.SIGUSR2)
    code, _, err = finish(proc)
    assert code == 0, err[-3000:]
    (result,) = results_under(sweep_dir)
    assert result["status"] == "completed" and result["attempt"] == 2
    log = "\n".join(p.read_text() for p in sweep_dir.glob(".submitit/*/*_log.out"))
    assert "stopped by SIGUSR2 after 1 of 4 tasks" in log  # the first attempt's record
    assert "Requeued job" in log and "resuming at task 2/4" in log
    first, second = offline_runs(sweep_dir / "0")
    assert (first["exit_codes"], second["exit_codes"]) == (["1"], ["0"])  # one per attempt

    whole = run(make_cfg(*job, "logger=none"), output_dir=tmp_path / "whole")  # 1 thread
    assert_same_matrices(result, whole.payload)


def submitit_task_pid(sweep_dir: Path) -> int:
    """The process of submitit's local job (not its controller) for this sweep."""
    import psutil

    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if "submitit.core._submit" in cmdline and any(str(sweep_dir) in a for a in cmdline):
            return proc.pid
    raise AssertionError(f"no submitit job process for {sweep_dir}")


def first_task_done(job_dir: Path) -> bool:
    """A fresh job writes its first checkpoint after its first task (cheaper to watch than
    reading the checkpoint ten times a second)."""
    return (job_dir / "checkpoint.pt").exists()


def wait_for(condition, proc, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the sweep ended first: {proc.communicate()[1][-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"not reached within {timeout} s")
        time.sleep(0.1)
