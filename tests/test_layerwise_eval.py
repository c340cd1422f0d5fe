"""Evaluation computes what full-batch evaluation on the whole graph computes: on the
receptive field of the evaluated nodes when that is small (blocks with the whole graph's
degrees), else layer by layer on the whole graph, for the full-batch and the minibatch
trainer alike; and full-neighbour blocks without the graph's degrees would not."""

from __future__ import annotations

import dgl
import pytest
import torch
from helpers import make_trainer
from test_mas_sample import randomise_batch_norm

from cgl.trainers import NCMinibatchTrainer, NCTrainer
from cgl.trainers.nodes import FieldBlocks, WholeGraph, with_self_loops


def trained_looking(trainer_cls, **kwargs):
    """A trainer on tiny nodes whose model has non-trivial eval-mode batch norms and sees
    the first task's classes; its dataset; and the self-looped graph the trainer runs on."""
    trainer = make_trainer(trainer_cls, epochs=1, **kwargs)
    randomise_batch_norm(trainer.model)
    dataset = trainer.scenario.get_current_dataset()
    trainer.processBeforeTraining(0, dataset, trainer.model, None, {})
    trainer.model.eval()
    return trainer, dataset, with_self_loops(dataset)


def whole_graph_logits(model, graph, mask) -> torch.Tensor:
    with torch.no_grad():
        return model(graph, graph.ndata["feat"], task_masks=None)[mask]


def batch_logits(trainer, batch) -> torch.Tensor:
    with torch.no_grad():
        return trainer.inference(trainer.model, batch, None)["preds"]


@pytest.mark.parametrize("trainer_cls", [NCTrainer, NCMinibatchTrainer])
def test_evaluation_equals_the_whole_graph_forward(trainer_cls):
    """A few nodes (one task's validation nodes): their receptive field, computed as blocks;
    most nodes: the whole graph, layer by layer. Both give the whole graph's logits."""
    sampling = {"batch_size": 4, "fanouts": [3, 3]} if trainer_cls is NCMinibatchTrainer else {}
    trainer, _, graph = trained_looking(trainer_cls, **sampling)
    few = graph.ndata["val_mask"]
    most = torch.ones_like(few)
    most[::7] = False
    for mask, kind in ((few, FieldBlocks), (most, WholeGraph)):
        (batch,) = trainer.eval_batches(graph, mask)
        assert isinstance(batch, kind)
        want = whole_graph_logits(trainer.model, graph, mask)
        torch.testing.assert_close(batch_logits(trainer, batch), want, rtol=0, atol=1e-6)
        assert torch.equal(trainer.batch_item_ids(batch), torch.nonzero(mask).view(-1))
        assert torch.equal(trainer.batch_targets(batch), graph.ndata["label"][mask])


def test_the_receptive_field_holds_fewer_rows_than_the_graph():
    trainer, _, graph = trained_looking(NCTrainer)
    (field,) = trainer.eval_batches(graph, graph.ndata["val_mask"])
    rows = sum(block.num_dst_nodes() for block in field.blocks)
    assert rows < 0.5 * len(field.blocks) * graph.num_nodes()
    assert field.blocks[-1].num_dst_nodes() == int(graph.ndata["val_mask"].sum())


def test_minibatch_trainer_evaluates_as_the_full_batch_trainer():
    """The same weights: the minibatch trainer's validation and test predictions and loss
    are the full-batch trainer's."""
    full, dataset, _ = trained_looking(NCTrainer)
    mini, _, _ = trained_looking(NCMinibatchTrainer, batch_size=4, fanouts=[3, 3])
    mini.model.load_state_dict(full.model.state_dict())
    for split in (1, 2):  # val, test
        (want,) = full.prepareLoader(dataset, {})[split]
        (got,) = mini.prepareLoader(dataset, {})[split]
        with torch.no_grad():
            want_preds, want_stats = full.processEvalIteration(full.model, want)
            got_preds, got_stats = mini.processEvalIteration(mini.model, got)
        assert torch.equal(got_preds, want_preds)
        assert got_stats["loss"] == pytest.approx(want_stats["loss"], abs=1e-6)


def test_full_neighbour_blocks_without_the_graphs_degrees_are_not_exact():
    """Why the blocks carry the whole graph's out-degrees: DGL's full-neighbour blocks count
    a source node's edges into the batch only, so GraphConv normalises differently."""
    trainer, _, graph = trained_looking(NCTrainer)
    val = torch.nonzero(graph.ndata["val_mask"]).view(-1)
    _, _, blocks = dgl.dataloading.MultiLayerFullNeighborSampler(2).sample_blocks(graph, val)
    with torch.no_grad():
        logits = trainer.model(blocks, blocks[0].srcdata["feat"])
    want = whole_graph_logits(trainer.model, graph, graph.ndata["val_mask"])
    finite = torch.isfinite(want)
    assert float((logits[finite] - want[finite]).abs().max()) > 1e-3
