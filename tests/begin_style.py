"""Trainers written the way a BeGin 0.4 user writes them (BeGin's attributes, training-state
keys, event signatures and batch tuples), importing only cgl's level trainers: what
tests/test_begin_contract.py runs through cgl. This is test code written for cgl, not
BeGin's own trainers."""

from __future__ import annotations

import copy

import torch
from torch.nn import functional

from cgl.trainers import GCTrainer, LCTrainer, LPTrainer, NCMinibatchTrainer, NCTrainer


def node_labels(batch) -> torch.Tensor:
    graph, mask = batch
    return graph.ndata["label"][mask]


# ---- EWC, BeGin's way: a batch Fisher after each task, one penalty per task -----------------
class EWCStyle:
    """Mixed before an NC trainer: stores (params, fishers) per task in training_states."""

    def __init__(self, model, scenario, optimizer_fn, loss_fn, device, **kwargs):
        super().__init__(model, scenario, optimizer_fn, loss_fn, device, **kwargs)
        self.lamb = kwargs.get("lamb", 10000.0)

    def initTrainingStates(self, scenario, model, optimizer):
        return {"fishers": [], "params": []}

    def afterInference(self, results, model, optimizer, _curr_batch, training_states):
        penalty = 0.0
        anchors, fishers = training_states["params"], training_states["fishers"]
        for anchor, fisher in zip(anchors, fishers, strict=True):
            for name, weight in model.named_parameters():
                penalty = penalty + (self.lamb * fisher[name] * (weight - anchor[name]) ** 2).sum()
        loss = results["loss"] + penalty
        loss.backward()
        optimizer.step()
        acc = self.eval_fn(self.predictionFormat(results), node_labels(_curr_batch))
        return {"loss": loss.item(), "acc": acc}

    def processAfterTraining(
        self, task_id, curr_dataset, curr_model, curr_optimizer, curr_training_states
    ):
        super().processAfterTraining(
            task_id, curr_dataset, curr_model, curr_optimizer, curr_training_states
        )
        fisher = {name: torch.zeros_like(w) for name, w in curr_model.named_parameters()}
        count = 0
        for batch in self.prepareLoader(curr_dataset, curr_training_states)[0]:
            curr_model.zero_grad()
            self.inference(curr_model, batch, curr_training_states)["loss"].backward()
            items = batch[1].shape[0]
            count += items
            for name, weight in curr_model.named_parameters():
                fisher[name] += weight.grad.detach() ** 2 * items
        curr_training_states["fishers"].append({k: v / count for k, v in fisher.items()})
        curr_training_states["params"].append(
            {name: w.detach().clone() for name, w in curr_model.named_parameters()}
        )


class TaskMaskedInference:
    """BeGin's Task-IL node inference: the graph's task masks go to the model."""

    def inference(self, model, _curr_batch, training_states):
        graph, mask = _curr_batch
        task_masks = graph.ndata["task_specific_mask"]
        preds = model(graph, graph.ndata["feat"], task_masks=task_masks)[mask]
        return {"preds": preds, "loss": self.loss_fn(preds, graph.ndata["label"][mask])}


class NCClassILEWCStyle(EWCStyle, NCTrainer):
    pass


class NCTaskILEWCStyle(EWCStyle, TaskMaskedInference, NCTrainer):
    pass


# ---- LwF, BeGin's way ---------------------------------------------------------------------
def soft_cross_entropy(teacher, student, temperature):
    target = functional.softmax(teacher / temperature, dim=-1)
    return -(target * functional.log_softmax(student / temperature, dim=-1)).sum(-1)


class NCClassILLwFStyle(NCTrainer):
    """KD over the classes observed before the task, from the model after the last task."""

    def __init__(self, model, scenario, optimizer_fn, loss_fn, device, **kwargs):
        super().__init__(model, scenario, optimizer_fn, loss_fn, device, **kwargs)
        self.lamb, self.T = kwargs.get("lamb", 1.0), kwargs.get("T", 2.0)

    def afterInference(self, results, model, optimizer, _curr_batch, training_states):
        loss = results["loss"]
        if "prev_model" in training_states:
            old = training_states["prev_observed_labels"]
            teacher = self.inference(training_states["prev_model"], _curr_batch, training_states)
            kd = soft_cross_entropy(
                teacher["preds"][..., old].detach(), results["preds"][..., old], self.T
            )
            loss = loss + self.lamb * kd.mean()
        loss.backward()
        optimizer.step()
        acc = self.eval_fn(self.predictionFormat(results), node_labels(_curr_batch))
        return {"loss": loss.item(), "acc": acc}

    def processAfterTraining(
        self, task_id, curr_dataset, curr_model, curr_optimizer, curr_training_states
    ):
        curr_model.load_state_dict(curr_training_states["best_weights"])
        curr_training_states["prev_model"] = copy.deepcopy(curr_model)
        curr_training_states["prev_observed_labels"] = curr_model.get_observed_labels().clone()


class NCTaskILLwFStyle(TaskMaskedInference, NCTrainer):
    """KD per earlier task over that task's classes (`get_observed_labels(tid)`), each
    earlier task's forward run on a copy of the batch whose task masks are that task's."""

    def __init__(self, model, scenario, optimizer_fn, loss_fn, device, **kwargs):
        super().__init__(model, scenario, optimizer_fn, loss_fn, device, **kwargs)
        self.lamb, self.T = kwargs.get("lamb", 1.0), kwargs.get("T", 2.0)

    def processBeforeTraining(
        self, task_id, curr_dataset, curr_model, curr_optimizer, curr_training_states
    ):
        super().processBeforeTraining(
            task_id, curr_dataset, curr_model, curr_optimizer, curr_training_states
        )
        curr_training_states["task_id"] = task_id
        curr_training_states["prev_model"] = copy.deepcopy(curr_model)

    def afterInference(self, results, model, optimizer, _curr_batch, training_states):
        kd = 0.0
        for tid in range(training_states["task_id"]):
            classes = model.get_observed_labels(tid)
            batch = copy.deepcopy(_curr_batch)
            batch[0].ndata["task_specific_mask"] = classes.expand(batch[1].shape[0], -1)
            teacher = self.inference(training_states["prev_model"], batch, training_states)
            student = self.inference(model, batch, training_states)
            term = functional.softmax(teacher["preds"] / self.T, -1) * functional.log_softmax(
                student["preds"] / self.T, -1
            )
            term[..., ~classes] = 0.0
            kd = kd - term.sum(-1).mean()
        loss = results["loss"] + self.lamb * kd
        loss.backward()
        optimizer.step()
        acc = self.eval_fn(self.predictionFormat(results), node_labels(_curr_batch))
        return {"loss": loss.item(), "acc": acc}


# ---- minimal trainers at the other levels and batch formats --------------------------------
class NCMinibatchStyle(NCMinibatchTrainer):
    """BeGin's minibatch node inference over `(input_nodes, output_nodes, blocks)`."""

    def inference(self, model, _curr_batch, training_states):
        _input_nodes, _output_nodes, blocks = _curr_batch
        preds = model.bforward(blocks, blocks[0].srcdata["feat"])
        return {"preds": preds, "loss": self.loss_fn(preds, blocks[-1].dstdata["label"])}


class LCStyle(LCTrainer):
    """BeGin's LC batches: `(graph, srcs, dsts, labels)`; Task-IL `(graph, srcs, dsts,
    task_masks, labels)`; the model called as `model(graph, feat, srcs, dsts)`."""

    def inference(self, model, _curr_batch, training_states):
        if len(_curr_batch) == 5:
            graph, srcs, dsts, task_masks, labels = _curr_batch
        else:
            (graph, srcs, dsts, labels), task_masks = _curr_batch, None
        preds = model(graph, graph.ndata["feat"], srcs, dsts, task_masks=task_masks)
        return {"preds": preds, "loss": self.loss_fn(preds, labels)}


class LPStyle(LPTrainer):
    """BeGin's LP events: training batches `(edges, labels)` with the graph in
    training_states['graph'] and negatives drawn by the trainer, evaluation batches
    `(graph, feats, edges, labels)` scored without a loss, the best weights by `val_metric`
    under the scheduler given as `scheduler_fn` (mode 'max')."""

    def processTrainIteration(self, model, optimizer, _curr_batch, training_states):
        graph, feats = training_states["graph"]
        edges, labels = _curr_batch
        optimizer.zero_grad()
        negatives = torch.randint(0, graph.num_nodes(), (edges.shape[0],))
        preds = model(graph, feats, edges[:, 0].repeat(2), torch.cat([edges[:, 1], negatives]))
        targets = torch.cat([labels, torch.zeros_like(labels)]).float()
        loss = functional.binary_cross_entropy_with_logits(preds, targets)
        loss.backward()
        optimizer.step()
        return {"_num_items": preds.shape[0], "loss": loss.item()}

    def processEvalIteration(self, model, _curr_batch):
        graph, feats, edges, _ = _curr_batch
        return model(graph, feats, edges[:, 0], edges[:, 1]), {}

    def processAfterEachIteration(
        self, curr_model, curr_optimizer, curr_training_states, curr_iter_results
    ):
        score = curr_iter_results["val_metric"]
        if score > curr_training_states.get("best_val_score", -1.0):
            curr_training_states["best_val_score"] = score
            curr_training_states["best_weights"] = copy.deepcopy(curr_model.state_dict())
        scheduler = curr_training_states["scheduler"]
        scheduler.step(score)
        return abs(curr_optimizer.param_groups[0]["lr"] - scheduler.min_lrs[0]) > 1e-9


class GCStyle(GCTrainer):
    """BeGin's GC batches: `(graphs, labels)`; Task-IL `(graphs, labels, task_masks)`."""

    def inference(self, model, _curr_batch, training_states):
        graphs, labels, *masks = _curr_batch
        preds = model(
            graphs,
            graphs.ndata["feat"],
            task_masks=masks[0] if masks else None,
            edge_attr=graphs.edata.get("feat"),
            edge_weight=None,
        )
        return {"preds": preds, "loss": self.loss_fn(preds, labels)}
