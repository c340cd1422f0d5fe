"""The memory of past items (cgl.algorithms.memory) and the methods on it: each level's hook
puts remembered labels, and only those, into a training batch; a run's memory holds training
items of trained tasks with their true labels; GEM's projection against hand-solved QPs;
ER-GNN's samplers against hand counts."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from runs import make_cfg
from scipy.optimize import minimize
from test_method_conformance import TINY, level_args

from cgl.algorithms import gem, trainer_class
from cgl.algorithms.ergnn import class_groups, coverage_counts, sample
from cgl.algorithms.gem import project
from cgl.algorithms.memory import Memory, balanced_quotas, class_balanced_reservoir
from cgl.config.validation import validate
from cgl.runtime.experiment import build_scenario_and_model, load_dataset

PAIRS = [
    ("nc", "classil", False),
    ("nc", "taskil", True),
    ("lc", "taskil", False),
    ("lp", "timeil", False),
    ("gc", "classil", False),
]


def build(method: str, level: str, scenario: str, minibatch: bool = False, *extra: str):
    cfg = make_cfg(*TINY, f"method={method}", *level_args(level, scenario, minibatch), *extra)
    validate(cfg)
    scen, model = build_scenario_and_model(cfg, load_dataset(cfg))
    kwargs = OmegaConf.to_container(cfg.method.kwargs, resolve=True)
    kwargs.update(OmegaConf.to_container(cfg.trainer.kwargs, resolve=True))
    cls = trainer_class(method, level, scenario, minibatch)
    return cls(model, scen, lambda p: torch.optim.Adam(p), torch.nn.CrossEntropyLoss(), "cpu",
               num_epochs=2, progress=False, **kwargs)  # fmt: skip


@pytest.mark.parametrize(("level", "scenario", "minibatch"), PAIRS)
def test_the_hook_puts_remembered_labels_and_only_those_into_the_loss(level, scenario, minibatch):
    """Task 0's training items, remembered, come back in a task-1 batch with their own labels
    (task 1's data shows them as -1): the loss on them is the loss of those labels, changing a
    remembered label changes it, and no other hidden label appears in the batch."""
    trainer = build("replay", level, scenario, minibatch)
    states = trainer.initTrainingStates(trainer.scenario, trainer.model, None)
    first = trainer.scenario.get_current_dataset()
    trainer.processBeforeTraining(0, first, trainer.model, None, states)
    items = {key: value[:6] for key, value in trainer.training_items(first).items()}
    assert bool((items["label"] >= 0).all())
    trainer.scenario.next_task(*trainer._predict_views(states))
    second = trainer.scenario.get_current_dataset()
    trainer.processBeforeTraining(1, second, trainer.model, None, states)
    trainer.model.eval()
    batch = trainer.training_batch(next(iter(trainer.prepareLoader(second, states)[0])))
    shown_before = trainer.batch_targets(batch).clone()

    mixed, rows = trainer.with_remembered(batch, items, second)
    targets = trainer.batch_targets(mixed)
    assert int(rows.sum()) == 6
    assert torch.equal(targets[rows].cpu(), items["label"])  # remembered labels, in order
    assert torch.equal(targets[~rows].cpu(), shown_before.cpu())  # the batch's own, unchanged
    assert torch.equal(trainer.batch_targets(batch), shown_before)  # no label leaked back

    alone, rows = trainer.with_remembered(batch, items, second, only=True)
    assert bool(rows.all())
    loss = trainer.inference(trainer.model, alone, states)["loss"]
    results = trainer.inference(trainer.model, alone, states)
    logits = results["preds"]  # raw logits; LP: one score per pair
    if logits.dim() == 1:
        logits = torch.stack([torch.zeros_like(logits), logits], -1)
    assert torch.allclose(loss, torch.nn.functional.cross_entropy(logits, items["label"]))
    flipped = dict(items, label=(items["label"] + 1) % 2)
    other, _ = trainer.with_remembered(batch, flipped, second, only=True)
    assert not torch.allclose(trainer.inference(trainer.model, other, states)["loss"], loss)


@pytest.mark.parametrize("method", ["replay", "ergnn", "gem"])
def test_a_runs_memory_holds_trained_tasks_training_items_with_their_labels(method):
    """After a whole run: every remembered node is a training node of the task it was
    remembered in (none of the last task, which has no later task to replay for, beyond what
    it gave), with its true label; and the memory is the checkpoint's."""
    trainer = build(method, "nc", "classil", False, "num_tasks=3")
    trainer.run()
    scenario, memory = trainer.scenario, trainer.memory
    assert len(memory) > 0
    for task in memory.tasks():
        items = memory.of_task(task)
        assert bool(scenario.split_mask("train", [task])[items["item"]].all())
        assert torch.equal(items["label"], scenario.data.label[items["item"]])


def test_the_class_balanced_reservoir_keeps_its_size_balanced_over_classes():
    memory, seen = Memory(), torch.zeros(0, dtype=torch.long)
    torch.manual_seed(0)
    for task, classes in enumerate([(0, 1), (2, 3), (4, 5)]):
        labels = torch.tensor(classes).repeat_interleave(torch.tensor([30, 5]))
        items = {"item": torch.arange(35) + 100 * task, "label": labels}
        seen = class_balanced_reservoir(memory, items, task, 24, seen)
    counts = torch.bincount(memory.items["label"], minlength=6)
    assert len(memory) == 24
    assert counts.tolist() == [4] * 6
    assert seen.tolist() == [30, 5, 30, 5, 30, 5]
    assert balanced_quotas(torch.tensor([1, 10, 10]), 12).tolist() == [1, 6, 5]


def closest_feasible(gradient: np.ndarray, memories: np.ndarray) -> np.ndarray:
    """The primal problem solved by a general-purpose solver: min |z - g|^2 s.t. G z >= 0."""
    found = minimize(
        lambda z: 0.5 * np.sum((z - gradient) ** 2),
        gradient,
        jac=lambda z: z - gradient,
        constraints=[{"type": "ineq", "fun": lambda z: memories @ z, "jac": lambda z: memories}],
        method="SLSQP",
        options={"ftol": 1e-12, "maxiter": 500},
    )
    return found.x


def test_gem_projection_is_the_closest_gradient_that_hurts_no_memory():
    # by hand: the cone z1 >= |z2| is closest to (-1, 0, 1) at (0, 0, 1)
    g = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)
    memories = torch.tensor([[1.0, 1.0, 0.0], [1.0, -1.0, 0.0]], dtype=torch.float64)
    assert torch.allclose(
        project(g, memories, 0.0, eps=0.0), torch.tensor([0.0, 0.0, 1.0]).double()
    )
    # one constraint active: (-1, -1, 2) moves along (1, 1, 0) to (0, 0, 2)
    memories = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    g = torch.tensor([-1.0, -1.0, 2.0], dtype=torch.float64)
    assert torch.allclose(
        project(g, memories, 0.0, eps=0.0), torch.tensor([0.0, 0.0, 2.0]).double()
    )
    generator = torch.Generator().manual_seed(0)
    for _ in range(5):
        memories = torch.randn(3, 8, generator=generator, dtype=torch.float64)
        g = torch.randn(8, generator=generator, dtype=torch.float64)
        projected = project(g, memories, 0.0, eps=1e-12)
        assert bool((memories @ projected >= -1e-9).all())
        expected = closest_feasible(g.numpy(), memories.numpy())
        assert np.allclose(projected.numpy(), expected, atol=1e-5)
    # a margin bounds the dual from below: the step is G^T v with every v_k >= margin
    moved = (project(g, memories, 0.5) - g).numpy()
    v = np.linalg.lstsq(memories.numpy().T, moved, rcond=None)[0]
    assert np.allclose(memories.numpy().T @ v, moved) and bool((v >= 0.5 - 1e-6).all())


def gem_run(scenario: str, shared: bool, *extra: str):
    """A whole tiny GEM run (3 tasks, memory from task 0 on), its memory's losses from one
    forward pass (`shared`) or from one per task (memory_forward switched off)."""
    torch.manual_seed(0)
    trainer = build("gem", "nc", scenario, False, "num_tasks=3", *extra)
    if not shared:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(gem, "memory_forward", lambda *args, **kwargs: None)
            trainer.run()
    else:
        trainer.run()
    return trainer


@pytest.mark.parametrize("scenario", ["classil", "taskil"])
def test_gem_one_forward_gives_begins_per_task_passes_bit_for_bit(scenario):
    """BeGin's reference gradients (train mode, a pass per earlier task before the step's):
    one pass for the step and every memory gives the same run, weights and batch-norm running
    statistics equal to the bit."""
    extra = ("method.kwargs.train_mode_forwards=true", "method.kwargs.num_memories=9")
    apart, shared = gem_run(scenario, False, *extra), gem_run(scenario, True, *extra)
    assert len(shared.memory.tasks()) == 3
    before, after = apart.model.state_dict(), shared.model.state_dict()
    assert any("running_mean" in name for name in after)
    for name, value in after.items():
        assert torch.equal(value, before[name]), name


def test_gem_reference_gradients_from_the_memorys_receptive_field():
    """The paper's reference gradients (eval mode, between backward and step): one pass over
    the remembered nodes' receptive field gives each task's gradient as a pass per task over
    the whole graph does, up to summation order."""
    trainer = gem_run("taskil", True, "method.kwargs.num_memories=9")
    model, states = trainer.model.eval(), {}
    batch = next(iter(trainer.prepareLoader(trainer.memory_dataset, states)[0]))
    shared = trainer._reference_gradients(model, batch, states)
    assert trainer._memory_field[2] is not None  # the field, not the whole graph
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gem, "memory_forward", lambda *args, **kwargs: None)
        apart = trainer._reference_gradients(model, batch, states)
    assert shared.shape == apart.shape == (3, shared.shape[1])
    assert float(apart.abs().max()) > 1e-3
    assert torch.allclose(shared, apart, rtol=1e-5, atol=1e-7)


def test_gem_receptive_field_follows_a_memory_that_swaps_a_node():
    """The receptive field is cut once per memory and reused at every step; a memory that
    swaps a node at the same size gets a fresh cut, not the field of the nodes it no longer
    holds."""
    trainer = gem_run("taskil", True, "method.kwargs.num_memories=9")
    model, states = trainer.model.eval(), {}
    batch = next(iter(trainer.prepareLoader(trainer.memory_dataset, states)[0]))
    trainer._reference_gradients(model, batch, states)  # the field of the memory as it was
    cut = trainer._memory_field
    trainer._reference_gradients(model, batch, states)
    assert trainer._memory_field is cut  # the same memory: the field is not cut again
    items = trainer.memory.items
    outside = torch.ones(batch[0].num_nodes(), dtype=torch.bool)
    outside[items["item"]] = False
    items["item"][0] = torch.nonzero(outside)[-1, 0]  # same size, another node
    shared = trainer._reference_gradients(model, batch, states)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gem, "memory_forward", lambda *args, **kwargs: None)
        apart = trainer._reference_gradients(model, batch, states)
    assert torch.allclose(shared, apart, rtol=1e-5, atol=1e-7)


#: one feature per node; class 0 at 0, 3 and 10, class 1 at 0.2, 3.1 and 7
VECS = torch.tensor([[0.0], [0.2], [3.0], [3.1], [10.0], [7.0]])
LABELS = [0, 1, 0, 1, 0, 1]


def test_the_samplers_against_hand_counts():
    groups = class_groups(LABELS)
    assert groups == [[0, 2, 4], [1, 3, 5]]
    # CM: class-1 nodes within 0.5 of 0, 3, 10 are 1, 1, 0; of 0.2, 3.1, 7: 1, 1, 0
    assert sample("CM", groups, 2, VECS, 0.5, begin=False) == [4, 0, 5, 1]
    # MF: class 0's mean is 13/3: 3 is closest, then 0; class 1's is 3.43: 3.1, then 0.2
    assert sample("MF", groups, 2, VECS, 0.5, begin=False) == [2, 0, 3, 1]
    # BeGin's MF: the lowest dot product with the mean, 0 then 3; 0.2 then 3.1
    assert sample("MF", groups, 2, VECS, 0.5, begin=True) == [0, 2, 1, 3]
    # BeGin's CM draws the other class with replacement: draw as it does, count by hand
    random.seed(3)
    draws = random.choices([1, 3, 5], k=3)
    near = [sum(abs(float(VECS[i, 0] - VECS[j, 0])) < 0.5 for j in draws) for i in (0, 2, 4)]
    random.seed(3)
    own, counted = coverage_counts(groups, 0, VECS, 0.5, begin=True)
    assert own == [0, 2, 4] and counted.tolist() == near
    random.seed(5)
    picked = sample("random", groups, 2, VECS, 0.5, begin=False)
    assert len(picked) == 4 and set(picked[:2]) <= {0, 2, 4} and set(picked[2:]) <= {1, 3, 5}
