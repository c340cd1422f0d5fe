"""NCScenarioLoader invariants: tasks, hidden labels, Task-IL masks, the growing Time-IL graph."""

from __future__ import annotations

import dgl
import pytest
import torch
from helpers import build_trainer, make_trainer, tiny_multilabel_nodes, tiny_nodes

from cgl.config.errors import ConfigError
from cgl.datasets.base import SPLIT_TEST
from cgl.models import GCNNode
from cgl.scenarios.nodes import NCScenarioLoader
from cgl.trainers import NCTrainer

INCR_TYPES = ["task", "class", "domain", "time"]


def walk(scenario):
    """Yield (task, current dataset) for every task, advancing with empty predictions."""
    for task in range(scenario.num_tasks):
        yield task, scenario.get_current_dataset()
        views = scenario.eval_views()
        preds = [torch.zeros(v.item_ids.numel(), dtype=torch.long) for v in views]
        scenario.next_task(views, preds)


@pytest.mark.parametrize("incr_type", INCR_TYPES)
def test_only_current_train_and_val_labels_are_visible(incr_type):
    scenario = NCScenarioLoader(tiny_nodes(), incr_type, 4, seed=0)
    truth = scenario.data.label
    for task, graph in walk(scenario):
        ids = graph.ndata[dgl.NID]
        shown = graph.ndata["label"] >= 0
        assert shown.any()
        assert torch.all(scenario.task_of_item[ids[shown]] == task)
        assert torch.all(scenario.split_of_item[ids[shown]] != SPLIT_TEST)
        assert torch.equal(graph.ndata["label"][shown], truth[ids[shown]])
        assert not graph.ndata["label"][graph.ndata["test_mask"]].ge(0).any()


@pytest.mark.parametrize("incr_type", INCR_TYPES)
def test_eval_views_hide_every_label_and_cover_every_task(incr_type):
    scenario = NCScenarioLoader(tiny_nodes(), incr_type, 4, seed=0)
    views = scenario.eval_views()
    assert sorted(t for v in views for t in v.tasks) == [0, 1, 2, 3]
    for view in views:
        assert torch.all(view.dataset.ndata["label"] == -1)


class LabelSpy(NCTrainer):
    """Records every label the training loop is ever handed."""

    seen: list

    def inference(self, model, _curr_batch, training_states):
        graph = _curr_batch[0]
        self.seen.append((graph.ndata[dgl.NID].clone(), graph.ndata["label"].clone()))
        return super().inference(model, _curr_batch, training_states)


@pytest.mark.parametrize("incr_type", ["class", "time"])
def test_test_labels_never_reach_the_trainer(incr_type):
    trainer = make_trainer(LabelSpy, incr_type=incr_type, epochs=2)
    trainer.seen = []
    trainer.run()
    scenario = trainer.scenario
    assert trainer.seen
    for ids, labels in trainer.seen:
        visible = ids[labels >= 0]
        assert not torch.any(scenario.split_of_item[visible] == SPLIT_TEST)


def test_task_il_masks_hold_the_task_classes_and_predictions_stay_inside():
    trainer = make_trainer(NCTrainer, incr_type="task", epochs=3)
    scenario = trainer.scenario
    graph = scenario.get_current_dataset()
    task = scenario.task_of_item[graph.ndata[dgl.NID]]
    masks = graph.ndata["task_specific_mask"]
    for node in torch.nonzero(task >= 0).view(-1)[:50].tolist():
        allowed = torch.nonzero(masks[node]).view(-1).tolist()
        assert allowed == scenario.task_classes[task[node]]
    trainer.run()
    views = scenario.eval_views()
    _, preds = trainer._predict_views({})
    for view, pred in zip(views, preds, strict=True):
        evaluated = view.dataset.ndata["test_mask"]
        item_task = scenario.task_of_item[view.item_ids[evaluated]]
        mask = scenario.task_class_mask()[item_task]
        assert torch.all(mask[torch.arange(item_task.numel()), pred[evaluated]])


def test_time_il_graph_grows_without_future_nodes_or_edges():
    data = tiny_nodes()
    scenario = NCScenarioLoader(data, "time", 4, seed=0)
    sizes = []
    for task, graph in walk(scenario):
        ids = graph.ndata[dgl.NID]
        assert torch.all(scenario.arrival[ids] <= task)
        src, dst = graph.edges()
        assert torch.all(scenario.arrival[ids[src]] <= task)
        assert torch.all(scenario.arrival[ids[dst]] <= task)
        sizes.append(graph.num_nodes())
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1] == data.graph.num_nodes()


def test_matrices_have_shape_n_by_n_plus_one():
    trainer = make_trainer(NCTrainer, incr_type="domain", epochs=2)
    result = trainer.run()
    assert result["test"].shape == (4, 5) and result["val"].shape == (4, 5)
    assert result["init_test"].shape == (5,)


def test_too_many_tasks_for_the_classes_is_refused():
    with pytest.raises(ConfigError, match="classes"):
        NCScenarioLoader(tiny_nodes(), "class", 9, seed=0)


def test_same_seed_same_matrices_on_cpu():
    first, second = (make_trainer(NCTrainer, seed=4).run() for _ in range(2))
    assert (first["test"] == second["test"]).all()


# ---- multi-label nodes (ogbn-proteins' kind: a row of binary labels per node) ------------------
@pytest.mark.parametrize("incr_type", ["domain", "time"])
def test_multilabel_rows_are_shown_whole_or_hidden_whole(incr_type):
    scenario = NCScenarioLoader(tiny_multilabel_nodes(), incr_type, 4, metric="rocauc", seed=0)
    truth = scenario.data.label
    for task, graph in walk_scores(scenario):
        ids, labels = graph.ndata[dgl.NID], graph.ndata["label"]
        assert labels.shape == (graph.num_nodes(), 5)
        shown = scenario.split_mask("train", [task]) | scenario.split_mask("val", [task])
        assert torch.equal(labels[shown[ids]], truth[ids[shown[ids]]])
        assert torch.all(labels[~shown[ids]] == -1)
    for view in scenario.eval_views():
        assert view.dataset.ndata["label"].shape[1] == 5
        assert torch.all(view.dataset.ndata["label"] == -1)


def walk_scores(scenario):
    """`walk` for a score metric: every item gets a score per label."""
    for task in range(scenario.num_tasks):
        yield task, scenario.get_current_dataset()
        views = scenario.eval_views()
        preds = [torch.rand(v.item_ids.numel(), scenario.num_classes) for v in views]
        scenario.next_task(views, preds)


@pytest.mark.parametrize(
    ("incr_type", "metric", "message"),
    [("class", "rocauc", "multi-label"), ("task", "rocauc", "multi-label"),
     ("domain", "accuracy", "scored per label")],
)  # fmt: skip
def test_multilabel_refuses_class_cuts_and_accuracy(incr_type, metric, message):
    with pytest.raises(ConfigError, match=message):
        NCScenarioLoader(tiny_multilabel_nodes(), incr_type, 4, metric=metric, seed=0)


def test_multilabel_training_scores_every_label_without_seeing_test_rows():
    torch.manual_seed(0)
    scenario = NCScenarioLoader(tiny_multilabel_nodes(), "domain", 4, metric="rocauc", seed=0)
    model = GCNNode(scenario.num_feats, scenario.num_classes, hidden=16, num_layers=2)
    trainer = build_trainer(LabelSpy, model, scenario, num_epochs=30)
    trainer.loss_fn = torch.nn.BCEWithLogitsLoss()
    trainer.seen = []
    result = trainer.run()
    for ids, labels in trainer.seen:
        visible = ids[(labels >= 0).any(dim=1)]
        assert not torch.any(scenario.split_of_item[visible] == SPLIT_TEST)
    assert bool(model.head.observed.all())  # every label is live from the first task
    assert result["test"].shape == (4, 5) and torch.isfinite(torch.tensor(result["test"])).all()
    # label j follows class j, which the features carry: well above chance after training
    assert result["test"][-1, -1] > 0.65 > result["init_test"][-1]
