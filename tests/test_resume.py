"""Task-level resume: a killed or interrupted run continues after its last finished task and
ends with the matrices of an uninterrupted run, bit for bit (CPU, same seed); a finished job
is skipped; a directory of another configuration is refused; resume=false starts over."""

from __future__ import annotations

import json
import random
import shutil
import signal

import numpy as np
import pytest
import torch
from processes import finish, signal_after_task, start_cli
from runs import FAST, make_cfg

from cgl.config.errors import ConfigError
from cgl.reports.make_tables import main as make_tables
from cgl.runtime import checkpoint
from cgl.runtime.experiment import run

NODES = ["dataset.loader.nodes.num_nodes=300", "model.nc.hidden=16"]
# About a second per task, so that a kill sent after task 2 lands in task 3.
SLOW = ["logger=none", "progress=false", "patience=1000"]
KILLED_RUNS = {
    "mas-batch-nc": [*NODES, "epochs=100"],
    "mas-sample-nc": [*NODES, "epochs=100", "method.kwargs.importance=sample"],
    "mas-gc": ["level=gc", "dataset.loader.graphs.num_graphs=200", "model.gc.hidden=32",
               "epochs=40"],
}  # fmt: skip


def outcome(job_dir) -> dict:
    result = json.loads((job_dir / "results.json").read_text())
    return {"matrices": result["matrices"], "init": result["init"], "status": result["status"]}


@pytest.mark.parametrize("name", KILLED_RUNS)
def test_sigkill_after_task_2_then_the_same_command_resumes_at_task_3(tmp_path, name):
    args = [*SLOW, *KILLED_RUNS[name]]
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    proc = start_cli(*args, f"hydra.run.dir={killed}", cwd=tmp_path)
    uninterrupted = start_cli(*args, f"hydra.run.dir={reference}", cwd=tmp_path)
    assert signal_after_task(proc, killed, task=2, signum=signal.SIGKILL) == 2
    assert finish(proc)[0] == -signal.SIGKILL
    assert not (killed / "results.json").exists()  # SIGKILL leaves only the checkpoint

    code, out, err = finish(start_cli(*args, f"hydra.run.dir={killed}", cwd=tmp_path))
    assert code == 0, err[-3000:]
    assert "resuming at task 3/4: 2 finished task(s) restored" in out
    assert finish(uninterrupted)[0] == 0
    resumed = json.loads((killed / "results.json").read_text())
    assert resumed["attempt"] == 2
    assert [len(resumed["timings"][key]) for key in ("per_task", "training")] == [4, 4]
    assert outcome(killed) == outcome(reference)  # val and test matrices, initial rows: exact
    assert outcome(killed)["status"] == "completed"
    assert not (killed / "checkpoint.pt").exists()  # a finished run needs none


def test_interrupted_sweep_reruns_only_what_is_left(tmp_path):
    """A 3-job sweep stopped by SIGINT in job 2, then the same command again: job 1 is
    skipped, job 2 resumes after its last task, job 3 runs; the reports count 3 runs."""
    sweep = tmp_path / "sweep"
    args = [*SLOW, *NODES, "epochs=100", f"hydra.sweep.dir={sweep}", "-m", "lamb=1,10,100"]
    proc = start_cli(*args, cwd=tmp_path)
    signal_after_task(proc, sweep / "1", task=1, signum=signal.SIGINT)
    code, _, err = finish(proc)
    assert code == 130, err[-3000:]
    assert json.loads((sweep / "1" / "results.json").read_text())["status"] == "interrupted"
    assert not (sweep / "2").exists()  # the sweep stopped at the interrupt
    first_job = (sweep / "0" / "results.json").read_bytes()

    code, out, err = finish(start_cli(*args, cwd=tmp_path))
    assert code == 0, err[-3000:]
    assert f"{sweep / '0'} already holds this configuration's finished run" in out
    assert (sweep / "0" / "results.json").read_bytes() == first_job  # not run again
    second = json.loads((sweep / "1" / "results.json").read_text())
    assert "resuming at task 2/4: 1 finished task(s) restored" in out
    assert second["status"] == "completed" and second["attempt"] == 2
    third = json.loads((sweep / "2" / "results.json").read_text())
    assert third["status"] == "completed" and third["attempt"] == 1
    assert out.count("resuming at task") == 1  # only job 2 resumed: no job repeats work

    report = tmp_path / "report"
    assert make_tables([str(sweep), "--out", str(report), "--jobs", "1"]) == 0
    table = (report / "runs.csv").read_text().splitlines()
    assert len(table) == 4 and sum(",completed,True," in row for row in table) == 3


class KeepCheckpoint(checkpoint.TaskCheckpoint):
    """A TaskCheckpoint that also keeps a copy of the file written after task `KEEP`."""

    KEEP = 2

    def save(self, trainer_state):
        super().save(trainer_state)
        if trainer_state["tasks_done"] == self.KEEP:
            shutil.copyfile(self.path, self.path.with_name("after_task_2.pt"))


IN_PROCESS = {
    "lp-mas": ["level=lp", "scenario=timeil"],  # training negatives from torch's generator
    "lc-joint": ["level=lc", "scenario=classil", "method=joint"],  # weights reset every task
    "nc-minibatch-sampled": [  # DGL's sampler, in training and evaluation
        *NODES, "trainer=minibatch", "trainer.kwargs.batch_size=64",
        "trainer.kwargs.fanouts=[3,3,3]", "trainer.kwargs.eval_fanouts=[2,2,2]",
    ],
    "nc-gat": [*NODES, "model=gat", "model.layer.attn_dropout=0.3"],  # attention dropout draws
    "gc-gin-eps": [  # a learnt eps in the checkpoint
        "level=gc", "model=gin", "model.layer.learn_eps=true", "model.gc.hidden=16",
        "dataset.loader.graphs.num_graphs=120",
    ],
}  # fmt: skip


@pytest.mark.parametrize("name", IN_PROCESS)
def test_resuming_from_the_checkpoint_after_task_2_gives_the_same_matrices(
    tmp_path, monkeypatch, name
):
    """What the same command finds after SIGKILL (a checkpoint, no results.json), for
    trainers that draw from every kind of generator, in process."""
    monkeypatch.setattr("cgl.runtime.experiment.TaskCheckpoint", KeepCheckpoint)
    cfg = make_cfg(*FAST, *IN_PROCESS[name])
    run(cfg, output_dir=tmp_path / "reference")
    killed = tmp_path / "killed"
    killed.mkdir()
    shutil.copyfile(tmp_path / "reference" / "after_task_2.pt", killed / "checkpoint.pt")
    resumed = run(cfg, output_dir=killed)
    assert resumed.payload["attempt"] == 2
    assert outcome(killed) == outcome(tmp_path / "reference")


def test_finished_job_is_skipped_other_config_refused_resume_false_starts_over(tmp_path):
    cfg = make_cfg(*FAST, *NODES, "epochs=2")
    first = run(cfg, output_dir=tmp_path)
    written = (tmp_path / "results.json").read_bytes()

    again = run(make_cfg(*FAST, *NODES, "epochs=2", "progress=true"), output_dir=tmp_path)
    assert again.skipped and again.status == "completed"  # progress does not change numbers
    assert (tmp_path / "results.json").read_bytes() == written

    with pytest.raises(ConfigError, match=r"another configuration \(epochs: 2 there, 3 here\)"):
        run(make_cfg(*FAST, *NODES, "epochs=3"), output_dir=tmp_path)
    assert (tmp_path / "results.json").read_bytes() == written

    over = run(make_cfg(*FAST, *NODES, "epochs=3", "resume=false"), output_dir=tmp_path)
    assert not over.skipped and over.payload["hyperparameters"]["epochs"] == 3
    assert not np.array_equal(first.payload["matrices"]["test"], over.payload["matrices"]["test"])


def test_checkpoint_of_another_config_or_unreadable_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr("cgl.runtime.experiment.TaskCheckpoint", KeepCheckpoint)
    run(make_cfg(*FAST, *NODES), output_dir=tmp_path / "done")
    job = tmp_path / "job"
    job.mkdir()
    shutil.copyfile(tmp_path / "done" / "after_task_2.pt", job / "checkpoint.pt")
    with pytest.raises(ConfigError, match=r"lamb: 1.0 there, 2.0 here"):
        run(make_cfg(*FAST, *NODES, "lamb=2"), output_dir=job)
    (job / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="cannot be read as a cgl checkpoint"):
        run(make_cfg(*FAST, *NODES), output_dir=job)


def test_refusal_on_rerun_leaves_the_directory_as_it_was(tmp_path):
    """Through the command line: not even Hydra's .hydra/ of the first run is overwritten."""
    job = tmp_path / "run"
    run(make_cfg("logger=none", "progress=false", "epochs=2", *NODES), output_dir=job)
    (job / ".hydra").mkdir()
    (job / ".hydra" / "config.yaml").write_text("the first run's config")
    saved = {p: p.read_bytes() for p in job.rglob("*") if p.is_file()}
    args = ["logger=none", "progress=false", "epochs=2", *NODES, f"hydra.run.dir={job}"]
    code, _, err = finish(start_cli(*args, "lr=0.01", cwd=tmp_path))
    assert code == 2 and "holds a run of another configuration (lr: 0.001 there" in err
    assert {p: p.read_bytes() for p in job.rglob("*") if p.is_file()} == saved


def test_every_generator_survives_the_weights_only_checkpoint(tmp_path):
    random.gauss(0, 1)  # python's and numpy's cached Gaussians are part of their state
    np.random.standard_normal()
    path = checkpoint.save_atomic(tmp_path / "c.pt", {"rng": checkpoint.capture_rng()})
    draws = torch.rand(4), np.random.standard_normal(3), random.gauss(0, 1), random.random()
    checkpoint.restore_rng(checkpoint.load(path)["rng"])
    again = torch.rand(4), np.random.standard_normal(3), random.gauss(0, 1), random.random()
    assert torch.equal(draws[0], again[0]) and np.array_equal(draws[1], again[1])
    assert draws[2:] == again[2:]
