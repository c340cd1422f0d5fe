"""The node level through the real command line: every scenario x method, sweeps, errors, W&B."""

from __future__ import annotations

import json

import numpy as np
import pytest
from runs import FAST, make_cfg, results_under, run_cli

from cgl.config.errors import ConfigError
from cgl.runtime.cli import hoist_multirun_flag
from cgl.runtime.experiment import run

SMALL = [*FAST, "dataset.loader.nodes.num_nodes=400", "model.nc.hidden=32"]


def test_multirun_flag_may_stand_anywhere():
    argv = ["main.py", "level=lc", "scenario=timeil", "-m", "lamb=1,10"]
    assert hoist_multirun_flag(argv) == [
        "main.py",
        "-m",
        "level=lc",
        "scenario=timeil",
        "lamb=1,10",
    ]


def test_every_scenario_and_method_completes(tmp_path):
    proc = run_cli(
        *SMALL,
        "level=nc",
        f"hydra.sweep.dir={tmp_path}",
        "-m",
        "scenario=classil,taskil,domainil,timeil",
        "method=mas,bare,joint",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = results_under(tmp_path)
    assert len(results) == 12
    seen = {(r["choices"]["scenario"], r["choices"]["method"]) for r in results}
    assert len(seen) == 12
    for r in results:
        n = r["num_tasks"]
        assert r["status"] == "completed"
        assert np.array(r["matrices"]["test"], dtype=float).shape == (n, n + 1)
        assert np.array(r["matrices"]["val"], dtype=float).shape == (n, n + 1)
        assert len(r["init"]["test"]) == n + 1


def test_lamb_sweep_as_users_type_it(tmp_path):
    proc = run_cli(
        *SMALL, f"hydra.sweep.dir={tmp_path}", "level=nc", "scenario=classil", "-m", "lamb=1,10,100"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = sorted(p.parent.name for p in tmp_path.rglob("results.json"))
    assert jobs == ["0", "1", "2"]
    results = results_under(tmp_path)
    assert sorted(r["hyperparameters"]["lamb"] for r in results) == [1, 10, 100]
    assert {r["method_kwargs"]["lamb"] for r in results} == {1, 10, 100}
    assert all(r["trainer_class"] == "NCClassILMASTrainer" for r in results)


def test_minibatch_switch_runs_the_minibatch_mas_trainers(tmp_path):
    proc = run_cli(
        "-m", *SMALL, f"hydra.sweep.dir={tmp_path}", "trainer=minibatch",
        "trainer.kwargs.batch_size=64", "scenario=classil,taskil,domainil,timeil",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = results_under(tmp_path)
    assert sorted(r["trainer_class"] for r in results) == [
        f"NC{name}MASMinibatchTrainer" for name in ("ClassIL", "DomainIL", "TaskIL", "TimeIL")
    ]
    for result in results:
        assert np.array(result["matrices"]["test"], dtype=float).shape == (4, 5)


def test_sampled_training_and_evaluation_repeat_exactly_by_seed(tmp_path):
    """DGL's sampler draws from its own generator: the run's seed must reach it."""
    overrides = [*SMALL, "trainer=minibatch", "trainer.kwargs.batch_size=64"]
    sampled = [*overrides, "trainer.kwargs.fanouts=[3,3,3]", "trainer.kwargs.eval_fanouts=[2,2,2]"]
    first, second = (run(make_cfg(*sampled), output_dir=tmp_path / n) for n in "ab")
    test_matrix = first.payload["matrices"]["test"]
    assert np.array_equal(test_matrix, second.payload["matrices"]["test"])
    other = run(make_cfg(*sampled, "seed=1"), output_dir=tmp_path / "c")
    assert not np.array_equal(other.payload["matrices"]["test"], test_matrix)
    with pytest.raises(ConfigError, match="one entry per GNN layer"):
        run(make_cfg(*overrides, "trainer.kwargs.eval_fanouts=[2]"), output_dir=tmp_path / "d")


def test_wandb_offline_run_is_written_next_to_results(tmp_path):
    proc = run_cli(
        *[a for a in SMALL if a != "logger=none"], "logger=wandb", f"hydra.run.dir={tmp_path}"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    assert list(runs[0].glob("*.wandb"))
    assert (tmp_path / "results.json").exists()


def test_bare_fine_tuning_forgets_in_class_il(tmp_path):
    result = run(
        make_cfg("logger=none", "progress=false", "method=bare", "epochs=60"), output_dir=tmp_path
    )
    assert result.summary["AF"] < -0.3
    matrix = np.array(result.payload["matrices"]["test"], dtype=float)
    assert np.diag(matrix)[:4].min() > 0.6  # every task is learnt when it is current


def test_diverging_run_is_recorded_not_lost(tmp_path):
    result = run(make_cfg(*SMALL, "lr=1e30", "epochs=20"), output_dir=tmp_path)
    assert result.status == "diverged"
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["status"] == "diverged" and "loss" in saved["message"]
