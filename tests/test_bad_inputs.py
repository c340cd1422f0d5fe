"""Every bad input through the real command line: refused before anything runs, with exit
status 2, one paragraph that names the fix, printed once, and no directory left behind.

Most refusals come before torch is imported (about a second each); the few that need the
trainer registry or the data (unsupported pairs, too many tasks, a missing dataset) cost a
few seconds more.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from runs import REPO

# (command-line arguments, a fragment of the message); {tmp} is the test's directory.
BAD_INPUTS = [
    # wrong types: refused by the schema when Hydra composes the config
    (["lamb=abc"], "lamb=abc: lamb takes a float"),
    (["lr=abc"], "lr takes a float"),
    (["num_tasks=abc"], "num_tasks takes an integer or null"),
    (["split_ratio=abc"], "split_ratio takes a list of float"),
    (["epochs=1.5"], "epochs takes an integer"),
    (["patience=2.5"], "patience takes an integer"),
    (["seed=1.5"], "seed takes an integer"),
    (["progress=maybe"], "progress takes true or false"),
    (["resume=maybe"], "resume takes true or false"),
    (["lamb=[1"], "cannot read an override"),
    # unknown keys and options
    (["lamd=1"], "There is no config key lamd. Did you mean lamb?"),
    (["+lamd=1"], "There is no config key lamd: nothing reads it. Did you mean lamb?"),
    (["level.nme=nc"], "There is no config key level.nme. Did you mean level.name?"),
    (["method=nosuch"], "The options for method are bare, ergnn, ewc, gem, joint, lwf, mas,"),
    (["dataset=cor"], "Did you mean dataset=cora?"),
    # values out of range: cgl.config.validation
    (["seed=-1"], "seed must be an integer in [0, 2^32), got -1"),
    (["seed=4294967296"], "seed must be an integer in [0, 2^32)"),
    (["lamb=nan"], "lamb must be a finite number >= 0"),
    (["lamb=inf"], "lamb must be a finite number >= 0"),
    (["lamb=-1"], "lamb must be a finite number >= 0"),
    (["lr=0"], "lr must be a finite number > 0"),
    (["weight_decay=-0.1"], "weight_decay must be a finite number >= 0"),
    (["dropout=1.5"], "dropout must be a finite number in [0, 1)"),
    (["lr_factor=1"], "lr_factor must be a finite number in (0, 1)"),
    (["min_lr_ratio=0"], "min_lr_ratio must be a finite number in (0, 1]"),
    (["epochs=0"], "epochs must be at least 1"),
    (["patience=-1"], "patience must be >= 0"),
    (["num_tasks=0"], "num_tasks must be at least 1"),
    (["split_ratio=[0.5,0.6,0.2]"], "split_ratio must be three shares"),
    (["split_ratio=[1.2,-0.1,-0.1]"], "split_ratio must be three shares"),
    (["split_ratio=[0.8,0.2]"], "split_ratio must be three shares"),
    (["split_ratio=[0,0.5,0.5]"], "each in (0, 1]"),
    (["device=cuda"], "Run on the CPU with device=cpu"),
    (["device=xyz"], "device must be cpu, cuda or cuda:N"),
    (["method.kwargs.importance=xx"], "importance=xx is not one of batch, cglb, sample"),
    (["method.kwargs.chunk_size=0"], "method.kwargs.chunk_size must be a positive integer"),
    (["model.nc.hidden=abc"], "model.nc.hidden must be a positive integer"),
    (["trainer=minibatch", "trainer.kwargs.fanouts=[10]"], "needs one entry per GNN layer"),
    (["trainer=minibatch", "trainer.kwargs.eval_fanouts=[2]"], "needs one entry per GNN layer"),
    (["trainer=minibatch", "trainer.kwargs.fanouts=[10,0,10]"], "list of positive integers"),
    (["trainer=minibatch", "trainer.kwargs.batch_size=0"], "batch_size must be a positive"),
    (["level=gc", "level.trainer_kwargs.batch_size=0"], "must be a positive integer"),
    (["logger=wandb", "logger.mode=xx"], "logger.mode=xx is not a W&B mode"),
    (["hydra.run.dir=/proc/x"], "The output directory /proc/x cannot be used"),
    (["hydra.run.dir={tmp}/a_file/run"], "is a file, not a directory"),
    # combinations (need the trainer registry)
    (["level=lp", "scenario=classil"], "level=lp with scenario=classil is not supported"),
    (["level=lc", "trainer=minibatch"], "has no trainer for level=lc scenario=classil"),
    (["dataset=cora", "level=gc"], "dataset=cora does not offer level=gc"),
    # found while setting up, before training (the job directory is removed again)
    (["num_tasks=9"], "9 tasks would leave tasks without a class"),
    (["+model.nc.foo=1"], "unexpected keyword argument 'foo'"),
    (["dataset=cora", "data_dir={tmp}/empty"], "is not available"),
    (["dataset=cora", "data_dir={tmp}/damaged"], "with the wrong checksum"),
    # a sweep is refused as a whole before its first job
    (["-m", "lamb=1,abc"], "lamb=abc: lamb takes a float"),
    (["-m", "seed=0,-1"], "seed must be an integer in [0, 2^32)"),
]


def damage_cora(shared, data_dir) -> None:
    """Cora's raw files in place, one of them altered (a wrong checksum)."""
    from real_files import place_planetoid

    part = place_planetoid(shared, data_dir, "cora") / "ind.cora_v2.x"
    blob = bytearray(part.read_bytes())
    blob[100] ^= 0xFF
    part.write_bytes(bytes(blob))


@pytest.mark.parametrize(("args", "fragment"), BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_is_refused_once_before_anything_runs(tmp_path, args, fragment, request):
    (tmp_path / "a_file").write_text("not a directory")
    (tmp_path / "empty").mkdir()
    if "damaged" in " ".join(args):
        damage_cora(request.getfixturevalue("shared_datasets"), tmp_path / "damaged")
    before = set(tmp_path.iterdir())
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    env = dict(os.environ, WANDB_MODE="offline", OMP_NUM_THREADS="1", CGL_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, str(REPO / "src" / "main.py"), "progress=false", "logger=none",
         f"hydra.run.dir={tmp_path / 'run'}", f"hydra.sweep.dir={tmp_path / 'sweep'}", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("cgl: error: ")]
    assert len(errors) == 1 and fragment in errors[0], proc.stderr[-2000:]
    assert proc.stderr.strip() == errors[0]  # nothing else: no traceback, no Hydra lines
    assert fragment not in proc.stdout  # printed once
    assert set(tmp_path.iterdir()) == before  # no job or sweep directory left behind
