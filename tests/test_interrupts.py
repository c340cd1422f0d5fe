"""SIGINT and SIGTERM: the run stops at a safe point, says so in results.json, closes its
W&B run as failed and exits 130 / 143; the W&B sink logs partial and diverged matrices."""

from __future__ import annotations

import json
import os
import signal
import stat

import numpy as np
import pytest
from processes import finish, signal_after_task, start_cli

from cgl.output.sinks import WandbLogger
from cgl.runtime import interrupts

# About a second per task: a signal sent after task 1 arrives during task 2.
SLOW = [
    "progress=false", "epochs=150", "patience=1000",
    "dataset.loader.nodes.num_nodes=300", "model.nc.hidden=16",
]  # fmt: skip


def wandb_exit_codes(job_dir) -> list[str]:
    """The exit codes the W&B SDK recorded when it finished the job's offline runs."""
    logs = sorted(job_dir.glob("wandb/offline-run-*/logs/debug.log"))
    assert logs, "no offline W&B run"
    return [
        line.rsplit(":", 1)[1].strip()
        for log in logs
        for line in log.read_text().splitlines()
        if "got exitcode:" in line
    ]


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_during_task_2_records_an_interrupted_run(tmp_path, signum, status):
    job = tmp_path / "run"
    proc = start_cli(*SLOW, "logger=wandb", f"hydra.run.dir={job}", cwd=tmp_path)
    done_when_sent = signal_after_task(proc, job, task=1, signum=signum)
    code, _, err = finish(proc)
    assert code == status, err[-3000:]
    result = json.loads((job / "results.json").read_text())
    assert result["status"] == "interrupted"
    assert result["signal"] == signal.Signals(signum).name
    assert done_when_sent == 1 and len(result["matrices"]["test"]) == 1  # the finished row
    assert len(result["matrices"]["val"]) == 1 and len(result["init"]["test"]) == 5
    assert "after 1 of 4 tasks" in result["message"]
    assert result["summary"]["AP"] is None  # no summary of a partial matrix
    assert wandb_exit_codes(job) == ["1"]  # closed, as failed
    assert (job / "checkpoint.pt").exists()  # kept for the rerun
    assert "Traceback" not in err


def test_results_and_checkpoint_are_readable_by_the_group(tmp_path):
    job = tmp_path / "run"
    proc = start_cli(*SLOW, "logger=none", f"hydra.run.dir={job}", cwd=tmp_path)
    signal_after_task(proc, job, task=1, signum=signal.SIGTERM)
    assert finish(proc)[0] == 143
    for name in ("results.json", "checkpoint.pt"):
        assert stat.S_IMODE(os.stat(job / name).st_mode) == 0o644, name


@pytest.mark.parametrize("rows", [0, 1, 3])
def test_wandb_sink_logs_partial_and_diverged_matrices(tmp_path, rows):
    """0, 1 and N-1 of N=4 finished tasks, and a diverged matrix full of NaN."""
    matrix = np.random.default_rng(rows).random((rows, 5))
    for status, values in (("interrupted", matrix), ("diverged", np.full((rows, 5), np.nan))):
        sink = WandbLogger(
            config={"rows": rows}, run_dir=tmp_path / status, project="cgl-test",
            mode="offline", group=None, tags=[],
        )  # fmt: skip
        sink.finish({"AP": float("nan")}, values, status)
        assert wandb_exit_codes(tmp_path / status) == ["1"]


def test_first_signal_sets_the_flag_second_raises_and_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM)
    with interrupts.stop_on_signals() as flag:
        interrupts.raise_if_requested()  # nothing yet
        os.kill(os.getpid(), signal.SIGTERM)
        assert flag.signum == signal.SIGTERM
        with pytest.raises(interrupts.RunInterrupted) as stop:
            interrupts.raise_if_requested()
        assert stop.value.signum == signal.SIGTERM
        with pytest.raises(interrupts.RunInterrupted):
            os.kill(os.getpid(), signal.SIGINT)  # the second one does not wait
    assert signal.getsignal(signal.SIGTERM) is before
    interrupts.raise_if_requested()  # outside the block nothing is pending
