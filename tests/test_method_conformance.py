"""What every registered method must keep (a method is registered by its conf/method file).

Parametrised over the files in conf/method/, so a new method is held to all of it by adding
its config and module: it runs at every level x scenario it claims (in process, tiny data;
and through the command line on node level), strength 0 is bare, a run cut after a task
resumes to the same matrices, its state survives a checkpoint round trip, no hidden label
reaches it, and its bad settings are refused before anything runs.
"""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from runs import REPO, make_cfg, run_cli

from cgl.algorithms import get_method, trainer_class
from cgl.config.errors import ConfigError
from cgl.config.validation import validate
from cgl.runtime.experiment import run

METHODS = sorted(path.stem for path in (REPO / "conf" / "method").glob("*.yaml"))

#: Every level's synthetic data and model made tiny: a run takes about a second.
TINY = [
    "logger=none", "progress=false", "epochs=2",
    *(f"model.{level}.hidden=16" for level in ("nc", "lc", "lp", "gc")),
    *(f"model.{level}.num_layers=2" for level in ("nc", "lc", "lp", "gc")),
    "dataset.loader.nodes.num_nodes=160", "dataset.loader.links.num_nodes=120",
    "dataset.loader.links.num_edges=480", "dataset.loader.graphs.num_graphs=96",
]  # fmt: skip
#: A method switched off: its strength at 0, and its other weights too where it has them.
OFF = {
    "twp": ["method.kwargs.lambda_l=0", "method.kwargs.beta=0"],
    "gem": ["method.kwargs.num_memories=0"],  # its strength is a margin: no memory is off
}
#: A bad value of one of each method's own settings, and a phrase its refusal must say.
BAD = {
    "mas": ("method.kwargs.importance=nope", "importance=nope is not one of"),
    "ewc": ("method.kwargs.fisher=nope", "fisher=nope is not one of"),
    "lwf": ("method.kwargs.T=0", "method.kwargs.T (the distillation temperature)"),
    "twp": ("method.kwargs.beta=-1", "method.kwargs.beta (the weight of the gradient-norm"),
    "replay": ("method.kwargs.memory_size=0", "method.kwargs.memory_size must be a positive"),
    "ergnn": ("method.kwargs.sampler_name=nope", "sampler_name=nope is not one of"),
    "gem": ("method.kwargs.num_memories=-1", "method.kwargs.num_memories (items remembered"),
}


def claimed(method: str) -> list[tuple[str, str, bool]]:
    return sorted(get_method(method).trainers("probe"))


def level_args(level: str, scenario: str, minibatch: bool = False) -> list[str]:
    return [
        f"level={level}",
        f"scenario={scenario}",
        *(
            ["trainer=minibatch", "trainer.kwargs.fanouts=[4,4]", "trainer.kwargs.batch_size=64"]
            if minibatch
            else []
        ),
        *(["level.scenario_kwargs.num_negatives=40"] if level == "lp" else []),
    ]


def assert_same_matrices(got: dict, want: dict) -> None:
    """Bit for bit (the run's payload holds numpy arrays)."""
    assert got.keys() == want.keys()
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)


def run_tiny(tmp_path, *overrides: str):
    return run(make_cfg(*TINY, *overrides), output_dir=tmp_path)


@pytest.mark.parametrize("method", METHODS)
def test_every_claimed_pair_runs_to_completion(method, tmp_path):
    """In process, every (level, scenario, minibatch) the method claims: completed, with
    N x (N+1) matrices and the BeGin-named trainer class."""
    for number, (level, scenario, minibatch) in enumerate(claimed(method)):
        result = run_tiny(
            tmp_path / str(number), f"method={method}", *level_args(level, scenario, minibatch)
        )
        assert result.status == "completed", (level, scenario, minibatch, result.payload)
        test = result.payload["matrices"]["test"]
        n = result.payload["num_tasks"]
        assert len(test) == n and all(len(row) == n + 1 for row in test)
        expected = trainer_class(method, level, scenario, minibatch).__name__
        assert result.payload["trainer_class"] == expected


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_node_level_sweep_through_the_command_line(method, tmp_path):
    """The user's command line: one sweep over node level's four scenarios."""
    done = run_cli(
        *TINY, f"method={method}", "level=nc", f"hydra.sweep.dir={tmp_path}",
        "-m", "scenario=taskil,classil,domainil,timeil",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    statuses = [json.loads(p.read_text())["status"] for p in tmp_path.glob("*/results.json")]
    assert statuses == ["completed"] * 4


@pytest.mark.parametrize("method", [m for m in METHODS if OmegaConf.load(
    REPO / "conf" / "method" / f"{m}.yaml").get("strength")])  # fmt: skip
@pytest.mark.parametrize(
    ("level", "scenario"), [("nc", "taskil"), ("nc", "classil"), ("gc", "classil")]
)
def test_strength_zero_is_bare(method, level, scenario, tmp_path):
    """Switched off, a method trains exactly what bare trains: the same matrices, bit for bit."""
    args = level_args(level, scenario)
    off = run_tiny(tmp_path / "off", f"method={method}", "lamb=0", *OFF.get(method, []), *args)
    bare = run_tiny(tmp_path / "bare", "method=bare", *args)
    assert_same_matrices(off.payload["matrices"], bare.payload["matrices"])


class DieAfterTask:
    """A callback that stops the run once `task` is checkpointed, as a SIGKILL would."""

    def __init__(self, task: int) -> None:
        self.task = task

    def on_epoch_end(self, *args) -> None:
        pass

    def on_task_end(self, task_id, rows) -> None:
        if task_id == self.task + 1:  # task `task`'s checkpoint is on disk by now
            raise SystemExit("killed")


@pytest.mark.parametrize("method", METHODS)
def test_a_run_cut_after_a_task_resumes_to_the_same_matrices(method, tmp_path, monkeypatch):
    """Cut after task 1 (its checkpoint written), the same config in the same directory resumes
    and ends with the matrices of an uninterrupted run: the method's state is in the checkpoint."""
    args = [f"method={method}", *level_args("nc", "taskil")]
    whole = run_tiny(tmp_path / "whole", *args)
    import cgl.trainers.base as base

    original = base.BaseTrainer.run

    def dying_run(self, epoch_per_task=None, checkpoint=None):
        self.callbacks.append(DieAfterTask(0))
        return original(self, epoch_per_task, checkpoint)

    monkeypatch.setattr(base.BaseTrainer, "run", dying_run)
    with pytest.raises(SystemExit):
        run_tiny(tmp_path / "cut", *args)
    monkeypatch.setattr(base.BaseTrainer, "run", original)
    resumed = run_tiny(tmp_path / "cut", *args)
    assert resumed.payload["attempt"] == 2
    assert_same_matrices(resumed.payload["matrices"], whole.payload["matrices"])


@pytest.mark.parametrize("method", METHODS)
def test_its_state_survives_a_checkpoint_round_trip(method, tmp_path):
    """After two tasks, every training-state entry saved and loaded (weights only) into a new
    trainer's states gives back the same tensors."""
    from cgl.runtime.experiment import build_scenario_and_model, load_dataset
    from cgl.trainers.base import BaseTrainer

    cfg = make_cfg(*TINY, f"method={method}", *level_args("nc", "classil"), "num_tasks=2")
    validate(cfg)
    scenario, model = build_scenario_and_model(cfg, load_dataset(cfg))
    cls = trainer_class(method, "nc", "classil", False)
    kwargs = OmegaConf.to_container(cfg.method.kwargs, resolve=True)
    trainer = cls(model, scenario, lambda p: torch.optim.Adam(p), torch.nn.CrossEntropyLoss(),
                  "cpu", num_epochs=2, progress=False, **kwargs)  # fmt: skip
    captured = {}
    original = BaseTrainer.training_state

    def keep(self, tasks_done, optimizer, states):
        captured["state"] = original(self, tasks_done, optimizer, states)
        return captured["state"]

    trainer.training_state = keep.__get__(trainer)

    class Sink:
        def save(self, state):
            pass

        trainer_state = None

    trainer.run(checkpoint=Sink())
    buffer = io.BytesIO()
    torch.save(captured["state"], buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    fresh = cls(model, scenario, lambda p: torch.optim.Adam(p), torch.nn.CrossEntropyLoss(),
                "cpu", num_epochs=2, progress=False, **kwargs)  # fmt: skip
    states = fresh.initTrainingStates(scenario, fresh.model, torch.optim.Adam(model.parameters()))
    fresh.load_training_state(loaded, torch.optim.Adam(model.parameters()), states)
    from cgl.runtime.checkpoint import checkpoint_data

    for key, value in states.items():
        again = checkpoint_data(key, value)
        _assert_same(again, captured["state"]["training_states"][key])


def _assert_same(left, right) -> None:
    if isinstance(left, torch.Tensor):
        assert torch.equal(left, right)
    elif isinstance(left, dict):
        assert left.keys() == right.keys()
        for key in left:
            _assert_same(left[key], right[key])
    elif isinstance(left, list | tuple):
        assert len(left) == len(right)
        for a, b in zip(left, right, strict=True):
            _assert_same(a, b)
    else:
        assert left == right


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("scenario", ["classil", "taskil"])
def test_no_hidden_label_reaches_it(method, scenario, tmp_path, monkeypatch):
    """Every batch the method's trainer runs inference on (training, validation, its teachers,
    importance or Fisher passes, its memory) shows labels only on the current task's training
    and validation nodes, and, for a method that remembers items, earlier tasks' training
    nodes: test nodes, other tasks' validation nodes and later tasks' nodes are -1."""
    import cgl.scenarios.nodes as nodes

    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    cfg = make_cfg(*TINY, f"method={method}", *level_args("nc", scenario))
    original_init = nodes.NCScenarioLoader.__init__

    def remember(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        scenarios.append(self)

    scenarios: list = []
    monkeypatch.setattr(nodes.NCScenarioLoader, "__init__", remember)
    from cgl.trainers.nodes import NCTrainer

    original_inference = NCTrainer.inference

    def spy(self, model, batch, states):
        graph = batch[0] if not hasattr(batch, "blocks") else batch.graph
        seen.append((graph.ndata["label"].clone(), self.scenario.current_task))
        return original_inference(self, model, batch, states)

    monkeypatch.setattr(NCTrainer, "inference", spy)
    result = run(cfg, output_dir=tmp_path)
    assert result.status == "completed"
    loader = scenarios[-1]
    cls = trainer_class(method, "nc", scenario, False)
    accumulates = cls.uses_accumulated_data
    remembers = getattr(cls, "remembers_past_items", False)
    assert seen
    for labels, task in seen:
        shown = torch.nonzero(labels.view(labels.shape[0], -1)[:, 0] >= 0).view(-1)
        task = min(task, loader.num_tasks - 1)
        tasks = list(range(task + 1)) if accumulates else [task]  # joint: all tasks so far
        allowed = loader.split_mask("train", tasks) | loader.split_mask("val", tasks)
        if remembers:  # its memory: training nodes of the tasks it has trained
            allowed |= loader.split_mask("train", list(range(task)))
        if labels.shape[0] == allowed.shape[0]:  # the task's graph: node ids are global
            assert bool(allowed[shown].all()), f"a hidden label was shown in task {task}"
        else:  # a chunk of items in copies: only its training items carry their labels
            assert shown.numel() <= int(loader.split_mask("train", tasks).sum())


@pytest.mark.parametrize("method", sorted(BAD))
def test_bad_settings_are_refused_before_anything_runs(method):
    override, phrase = BAD[method]
    with pytest.raises(ConfigError, match=re.escape(phrase)):
        validate(make_cfg(*TINY, f"method={method}", override))


def test_a_bad_method_setting_on_the_command_line_exits_2_with_one_paragraph(tmp_path):
    done = run_cli(*TINY, "method=ewc", "method.kwargs.fisher=nope", f"hydra.run.dir={tmp_path}/r")
    assert done.returncode == 2
    assert "fisher=nope is not one of" in done.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("model", ["gat", "gin", "sage"])
def test_every_method_runs_on_every_backbone(model, tmp_path):
    """Each method on the other backbones (GCN is the default everywhere above): node
    Class-IL and graph Task-IL, where it runs, to completion."""
    for method in METHODS:
        pairs = {(level, scenario) for level, scenario, _ in claimed(method)}
        for level, scenario in pairs & {("nc", "classil"), ("gc", "taskil")}:
            args = [f"method={method}", f"model={model}", *level_args(level, scenario)]
            result = run_tiny(tmp_path / f"{method}-{level}", *args)
            assert result.status == "completed", (method, level, result.payload["message"])
