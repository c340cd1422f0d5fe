"""Minibatch evaluation by layer-wise inference over the whole graph: exactly what full-batch
evaluation gives for the same weights, and unlike full-neighbour blocks, whose degrees count
only the block's edges."""

from __future__ import annotations

import dgl
import torch
from helpers import make_trainer
from test_mas_sample import randomise_batch_norm

from cgl.trainers import NCMinibatchTrainer, NCTrainer


def evaluate(trainer, dataset, split: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Logits and predictions per item id, and the item-weighted loss, through the events."""
    trainer.model.eval()
    loaders = trainer.prepareLoader(dataset, {})
    logits, preds, loss, count = {}, {}, 0.0, 0
    with torch.no_grad():
        for batch in loaders[split]:
            result = trainer.inference(trainer.model, batch, None)
            batch_preds, stats = trainer.processEvalIteration(trainer.model, batch)
            for item, row, pred in zip(
                trainer.batch_item_ids(batch).tolist(), result["logits"], batch_preds, strict=True
            ):
                logits[item], preds[item] = row, pred
            loss += stats["loss"] * stats["n"]
            count += stats["n"]
    items = sorted(logits)
    stacked = (torch.stack([values[i] for i in items]) for values in (logits, preds))
    return *stacked, loss / count


def twin_trainers():
    """A full-batch and a minibatch trainer over the same data with the same weights."""
    full = make_trainer(NCTrainer, epochs=1)
    mini = make_trainer(NCMinibatchTrainer, epochs=1, batch_size=4, fanouts=[3, 3])
    randomise_batch_norm(full.model)
    mini.model.load_state_dict(full.model.state_dict())
    dataset = full.scenario.get_current_dataset()
    for trainer in (full, mini):
        trainer.processBeforeTraining(0, dataset, trainer.model, None, {})
    return full, mini, dataset


def test_minibatch_evaluation_equals_full_batch_evaluation():
    full, mini, dataset = twin_trainers()
    for split in (1, 2):  # val, test
        want_logits, want_preds, want_loss = evaluate(full, dataset, split)
        got_logits, got_preds, got_loss = evaluate(mini, dataset, split)
        assert want_logits.shape[0] > 4  # more items than one training batch
        assert torch.equal(got_preds, want_preds)
        torch.testing.assert_close(got_logits, want_logits, rtol=0, atol=1e-6)
        assert abs(got_loss - want_loss) < 1e-6


def test_full_neighbour_blocks_would_not_be_exact():
    """Why the whole graph: on a block, a source node's out-degree counts only its edges into
    the batch, so GraphConv's normalisation, and the logits, differ from the graph's."""
    full, mini, dataset = twin_trainers()
    want_logits, _, _ = evaluate(full, dataset, 1)
    graph = dgl.add_self_loop(dgl.remove_self_loop(dataset))
    val = torch.nonzero(graph.ndata["val_mask"]).view(-1)
    sampler = dgl.dataloading.MultiLayerFullNeighborSampler(2)
    _, _, blocks = sampler.sample_blocks(graph, val)
    with torch.no_grad():
        logits = mini.model(blocks, blocks[0].srcdata["feat"])
    finite = torch.isfinite(want_logits)
    assert float((logits[finite] - want_logits[finite]).abs().max()) > 1e-3
