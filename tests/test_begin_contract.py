"""BeGin's trainer contract: trainers written in BeGin's style (tests/begin_style.py) run
through cgl at NC (full batch and minibatch), LC, LP and GC, and where cgl has the same method
they give its matrices; BeGin's trainer keys get BeGin's meaning or a one-paragraph refusal."""

from __future__ import annotations

import functools

import begin_style
import numpy as np
import pytest
import torch
from helpers import build_trainer, make_trainer
from test_graphs import make_gc_trainer
from test_links import link_scenario, make_link_trainer

from cgl.algorithms.ewc import NCClassILEWCTrainer, NCTaskILEWCTrainer
from cgl.algorithms.lwf import NCClassILLwFTrainer, NCTaskILLwFTrainer
from cgl.config.errors import ConfigError
from cgl.trainers import GCTrainer, LCTrainer, LPTrainer

#: BeGin's benchmark loss: hidden labels (-1) are ignored
BEGIN_LOSS = torch.nn.CrossEntropyLoss(ignore_index=-1)


def matrices(trainer) -> dict[str, np.ndarray]:
    out = trainer.run()
    return {key: np.asarray(value) for key, value in out.items()}


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(a[key], b[key], atol=1e-6, err_msg=key)


def nc(trainer_cls, incr_type, **kwargs):
    trainer = make_trainer(trainer_cls, incr_type=incr_type, epochs=4, **kwargs)
    trainer.loss_fn = BEGIN_LOSS
    return trainer


@pytest.mark.parametrize(
    ("incr_type", "begin_cls", "cgl_cls", "cgl_kwargs"),
    [
        ("class", begin_style.NCClassILEWCStyle, NCClassILEWCTrainer, {}),
        ("task", begin_style.NCTaskILEWCStyle, NCTaskILEWCTrainer, {}),
        ("class", begin_style.NCClassILLwFStyle, NCClassILLwFTrainer, {"T": 2.0}),
        ("task", begin_style.NCTaskILLwFStyle, NCTaskILLwFTrainer, {"extra_forwards": True}),
    ],
    ids=["ewc-class", "ewc-task", "lwf-class", "lwf-task"],
)
def test_begin_style_node_trainers_give_cgls_matrices(incr_type, begin_cls, cgl_cls, cgl_kwargs):
    """The BeGin-style EWC (batch Fisher, no 1/2) and LwF equal cgl's EWC with fisher=batch
    half_penalty=false and cgl's LwF (BeGin's extra forwards under Task-IL), same seed."""
    lamb = 100.0 if "EWC" in begin_cls.__name__ else 1.0
    extra = {"fisher": "batch", "half_penalty": False} if "EWC" in cgl_cls.__name__ else {}
    ported = matrices(nc(begin_cls, incr_type, lamb=lamb))
    own = matrices(nc(cgl_cls, incr_type, lamb=lamb, **extra, **cgl_kwargs))
    assert_same(ported, own)
    bare = matrices(nc(begin_style.NCTrainer, incr_type))
    assert not np.allclose(ported["test"], bare["test"])  # the method changed something


def test_begin_style_minibatch_trainer_runs_on_begin_batches():
    trainer = make_trainer(
        begin_style.NCMinibatchStyle, epochs=2, batch_size=64, fanouts=[5, 5], verbose=True
    )
    trainer.loss_fn = BEGIN_LOSS
    out = matrices(trainer)
    assert out["test"].shape == (4, 5) and np.isfinite(out["test"]).all()
    assert out["test"][np.arange(4), np.arange(4)].mean() > 0.3  # it learned the tasks


@pytest.mark.parametrize("incr_type", ["class", "task"])
def test_begin_style_link_classifier_gives_cgls_matrices(incr_type):
    def run(cls):
        trainer = make_link_trainer(cls, link_scenario("lc", incr_type, num_nodes=120))
        trainer.loss_fn = BEGIN_LOSS
        trainer.max_num_epochs = 3
        return matrices(trainer)

    assert_same(run(begin_style.LCStyle), run(LCTrainer))


def test_begin_style_link_predictor_runs_with_its_own_negatives_and_schedule():
    scenario = link_scenario(
        "lp", "time", num_nodes=300, num_edges=1200, loader_kw={"num_negatives": 50}
    )
    trainer = make_link_trainer(begin_style.LPStyle, scenario)
    trainer.max_num_epochs = 3
    trainer.scheduler_fn = functools.partial(
        torch.optim.lr_scheduler.ReduceLROnPlateau, mode="max", patience=0, min_lr=1e-4
    )
    out = matrices(trainer)
    assert out["test"].shape == (4, 5) and np.isfinite(out["test"][:, :4]).all()


def test_link_prediction_takes_begins_score_loss():
    """BeGin's LP loss_fn scores the link logits with binary cross-entropy: cgl's own LP
    inference gives the same loss as with its cross-entropy over (no link, link)."""
    scenario = link_scenario(
        "lp", "time", num_nodes=300, num_edges=1200, loader_kw={"num_negatives": 50}
    )
    trainer = make_link_trainer(LPTrainer, scenario)
    loader = trainer.prepareLoader(scenario.get_current_dataset(), {})[0]
    batch = trainer.training_batch(next(iter(loader)))
    cross_entropy = trainer.inference(trainer.model, batch, {})["loss"]
    trainer.loss_fn = lambda preds, gt: torch.nn.BCEWithLogitsLoss()(preds, gt.float())
    torch.testing.assert_close(trainer.inference(trainer.model, batch, {})["loss"], cross_entropy)


@pytest.mark.parametrize("incr_type", ["class", "task"])
def test_begin_style_graph_classifier_gives_cgls_matrices(incr_type):
    def run(cls):
        trainer = make_gc_trainer(cls, incr_type=incr_type, epochs=3)
        trainer.loss_fn = BEGIN_LOSS
        return matrices(trainer)

    assert_same(run(begin_style.GCStyle), run(GCTrainer))


# ---- the events' rhythm and the training states ------------------------------------------
class EpochCounter(begin_style.NCTrainer):
    def initTrainingStates(self, scenario, model, optimizer):
        self.calls, self.seen = 0, []
        return {}

    def processAfterEachIteration(self, model, optimizer, states, results):
        self.calls += 1
        self.seen.append((sorted(results), sorted(states)))
        return super().processAfterEachIteration(model, optimizer, states, results)


def test_after_each_iteration_fires_once_per_epoch_with_begins_results_and_states():
    trainer = make_trainer(EpochCounter, epochs=3)
    trainer.run()
    assert trainer.calls == sum(trainer.timings["epochs"])
    results, states = trainer.seen[0]
    assert results == ["train_stats", "val_metric", "val_stats"]
    assert {"scheduler", "best_val_loss", "best_weights"} <= set(states)


def test_returning_false_ends_the_task_and_per_task_states_stay_out_of_checkpoints():
    class StopAtOnce(begin_style.NCTrainer):
        def processAfterEachIteration(self, *args):
            super().processAfterEachIteration(*args)
            return False

    trainer = make_trainer(StopAtOnce, epochs=5)
    trainer.run()
    assert trainer.timings["epochs"] == [1, 1, 1, 1]
    optimizer = trainer.optimizer_fn(trainer.model.parameters())
    states = {"scheduler": object(), "best_weights": {}, "best_val_loss": 1.0, "kept": 2}
    saved = trainer.training_state(1, optimizer, states)["training_states"]
    assert saved == {"kept": 2}


def test_scheduler_fn_is_the_tasks_plateau_schedule_and_ends_it_at_min_lr():
    # no epoch counts as an improvement (threshold 100%): lr falls every epoch
    begin_schedule = functools.partial(
        torch.optim.lr_scheduler.ReduceLROnPlateau, patience=0, threshold=1.0, min_lr=1e-4
    )
    trainer = make_trainer(begin_style.NCTrainer, epochs=50, scheduler_fn=begin_schedule)
    trainer.run()
    # lr 1e-2 -> 1e-3 -> 1e-4, its floor: the task ends after its second epoch
    assert trainer.timings["epochs"] == [2, 2, 2, 2]
    assert "scheduler_fn" not in trainer.kwargs


def test_observed_labels_per_task_and_begin_model_calls():
    trainer = make_trainer(begin_style.NCTrainer, incr_type="task", epochs=1)
    trainer.run()
    model, scenario = trainer.model, trainer.scenario
    for tid in range(scenario.num_tasks):
        want = scenario.task_class_mask()[tid]
        assert torch.equal(model.get_observed_labels(tid), want)
    assert torch.equal(model.get_observed_labels(), model.classifier.observed)
    assert bool(model.get_observed_labels().all())
    classil = make_trainer(begin_style.NCTrainer, incr_type="class", epochs=1)
    classil.run()
    first, second = (classil.model.get_observed_labels(t) for t in (0, 1))
    assert bool((second & first).eq(first).all()) and second.sum() > first.sum()


def test_trainer_attributes_have_begins_meaning():
    trainer = make_trainer(begin_style.NCTrainer, incr_type="task", lamb=3.0, T=2.0)
    assert trainer.incr_type == "task" and trainer.curr_task == 0
    assert trainer.num_tasks == 4 and trainer.max_num_epochs == 3
    assert trainer.kwargs == {"lamb": 3.0, "T": 2.0}
    assert trainer.eval_fn(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0])) == pytest.approx(2 / 3)
    assert trainer.binary is False


# ---- BeGin's constructor keys --------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "value"),
    [("full_mode", True), ("pretraining", lambda model: model), ("binary", True)],
)
def test_keys_cgl_does_not_do_are_refused_in_one_paragraph(key, value):
    with pytest.raises(ConfigError) as refused:
        make_trainer(begin_style.NCTrainer, **{key: value})
    message = str(refused.value)
    assert key in message and "\n" not in message


def test_run_benchmarks_keys_are_accepted_with_begins_meaning(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    trainer = make_trainer(begin_style.NCTrainer)
    build_trainer(begin_style.NCTrainer, trainer.model, trainer.scenario, benchmark=True, seed=7)
    drawn = torch.rand(3)  # the trainer re-seeded every generator with 7 when built
    torch.manual_seed(7)
    assert torch.equal(drawn, torch.rand(3))
    trainer = make_trainer(
        begin_style.NCTrainer,
        benchmark=True,
        seed=7,
        verbose=True,
        binary=False,
        pretraining=None,
        full_mode=False,
        tmp_save_path="tmp",
    )
    assert trainer.kwargs == {} and trainer.verbose
    assert list(tmp_path.iterdir()) == []  # no temporary files
