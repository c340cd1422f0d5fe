"""Link-level trainers: LCTrainer (classify links) and LPTrainer (predict links).

Both train full-graph: one batch per split, the node embeddings of the whole visible graph
and the split's pairs in it. Plain fine-tuning; methods (MAS, joint, ...) are mixed in on top.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import dgl
import torch

from cgl.scenarios.link_data import LinkDataset, pair_keys, sample_negative_pairs
from cgl.trainers.base import BaseTrainer
from cgl.trainers.classification import ClassificationEvents
from cgl.trainers.copies import ItemCopies, ReceptiveFields, message_passing_depth
from cgl.trainers.nodes import masked_loss, with_self_loops


@dataclasses.dataclass(frozen=True)
class PairBatch:
    """Pairs to predict on a graph: dataset-local ids, (src, dst), visible labels, and the
    Task-IL class masks (or None). cgl reads the fields by name; unpacked or indexed, the
    batch is BeGin's tuple of its level (`begin`):
    - "lc": `(graph, srcs, dsts, labels)`, under Task-IL `(graph, srcs, dsts, task_masks,
      labels)`;
    - "lp_train": `(edges, labels)` (the graph is in training_states['graph']);
    - "lp_eval": `(graph, feats, edges, labels)`."""

    graph: dgl.DGLGraph
    item_ids: torch.Tensor
    pairs: torch.Tensor
    labels: torch.Tensor
    task_masks: torch.Tensor | None
    begin: str = "lc"

    def begin_tuple(self) -> tuple:
        if self.begin == "lp_train":
            return self.pairs, self.labels
        if self.begin == "lp_eval":
            return self.graph, self.graph.ndata["feat"], self.pairs, self.labels
        srcs, dsts = self.pairs[:, 0], self.pairs[:, 1]
        if self.task_masks is None:
            return self.graph, srcs, dsts, self.labels
        return self.graph, srcs, dsts, self.task_masks, self.labels

    def __iter__(self) -> Iterator:
        return iter(self.begin_tuple())

    def __getitem__(self, index: int) -> Any:
        return self.begin_tuple()[index]

    def __len__(self) -> int:
        return len(self.begin_tuple())


class LinkTrainer(BaseTrainer):
    """What LC and LP trainers share: batching a LinkDataset."""

    #: BeGin's batch formats of the level: (training, evaluation), see PairBatch
    begin_forms = ("lc", "lc")

    def prepareLoader(self, curr_dataset: LinkDataset, curr_training_states):
        """One batch per split (an empty split gets no batch). Under Task-IL the batch carries
        each pair's task mask, which is the task information inference needs."""
        data = curr_dataset.to(self.device)
        graph = with_self_loops(data.graph)
        loaders = []
        train_form, eval_form = self.begin_forms
        for mask, form in zip(
            (data.train_mask, data.val_mask, data.test_mask),
            (train_form, eval_form, eval_form),
            strict=True,
        ):
            ids = torch.nonzero(mask).view(-1)
            task_masks = None if data.task_specific_mask is None else data.task_specific_mask[ids]
            batch = PairBatch(graph, ids, data.pairs[ids], data.label[ids], task_masks, form)
            loaders.append([batch] if ids.numel() else [])
        return tuple(loaders)

    def batch_targets(self, batch: PairBatch) -> torch.Tensor:
        return batch.labels

    def batch_item_ids(self, batch: PairBatch) -> torch.Tensor:
        return batch.item_ids

    def training_items(self, dataset: LinkDataset) -> dict[str, torch.Tensor]:
        """The task's training pairs as a training step scores them (LP: the positives and
        negatives drawn for them now), with their labels and Task-IL masks. Node ids are the
        scenario's: every task's graph holds all nodes."""
        items: dict[str, list[torch.Tensor]] = {"pair": [], "label": [], "task_mask": []}
        for batch in self.training_batches(dataset, {}):
            batch = self.training_batch(batch)
            items["pair"].append(batch.pairs)
            items["label"].append(batch.labels)
            items["task_mask"].append(batch.task_masks)
        if not items["pair"] or items["task_mask"][0] is None:
            del items["task_mask"]
        return {key: torch.cat(value) if value else torch.zeros(0, 2, dtype=torch.long)
                for key, value in items.items()}  # fmt: skip

    def with_remembered(self, batch: PairBatch, items, dataset, only=False):
        """The batch's pairs followed by the remembered ones (pairs need no lookup)."""
        pairs, labels = items["pair"].to(self.device), items["label"].to(self.device)
        ids = torch.full((pairs.shape[0],), -1, dtype=torch.long, device=self.device)
        masks = items.get("task_mask")
        masks = None if masks is None else masks.to(self.device)
        remembered = torch.ones(pairs.shape[0], dtype=torch.bool, device=self.device)
        if not only:
            pairs, labels = torch.cat([batch.pairs, pairs]), torch.cat([batch.labels, labels])
            ids = torch.cat([batch.item_ids, ids])
            if masks is not None:
                masks = torch.cat([batch.task_masks, masks])
            remembered = torch.cat([torch.zeros_like(batch.item_ids, dtype=torch.bool), remembered])
        return PairBatch(batch.graph, ids, pairs, labels, masks), remembered

    def item_copies(
        self, dataset: LinkDataset, training_states: dict, chunk_size: int
    ) -> Iterator[ItemCopies]:
        """Each training pair (LP: with its sampled negatives) in its own copy of its two
        ends' receptive fields in the (self-looped) graph, in chunks of `chunk_size` copies:
        PairBatches whose pairs point into their copy. Memory grows as chunk_size x a
        receptive field's size."""
        depth = message_passing_depth(self.model)
        for batch in self.training_batches(dataset, training_states):
            batch = self.training_batch(batch)
            fields = ReceptiveFields(batch.graph, depth)
            for start in range(0, batch.pairs.shape[0], chunk_size):
                part = slice(start, start + chunk_size)
                cut = fields.copies(batch.pairs[part])
                masks = None if batch.task_masks is None else batch.task_masks[part]
                chunk = dataclasses.replace(
                    batch,
                    graph=cut.graph,
                    item_ids=batch.item_ids[part],
                    pairs=cut.seeds,
                    labels=batch.labels[part],
                    task_masks=masks,
                )
                yield ItemCopies(chunk, cut.owner, cut.seeds.shape[0])


class LCTrainer(ClassificationEvents, LinkTrainer):
    """Link classification. Under a binary scenario (the scenario's `binary`, e.g. BeGin's
    Bitcoin Time-IL scored by ROC-AUC) the two classes are known from the start and evaluation
    predicts a score per link instead of a class."""

    def train_labels(self, dataset: LinkDataset) -> torch.Tensor:
        return dataset.label[dataset.train_mask]

    def _logits(self, model, batch: PairBatch) -> torch.Tensor:
        return model(
            batch.graph, batch.graph.ndata["feat"], batch.pairs, task_masks=batch.task_masks
        )

    def inference(self, model, _curr_batch, training_states) -> dict:
        """Class logits of the batch's pairs as `preds`, restricted to each pair's task under
        Task-IL, and the loss over their visible labels."""
        logits = self._logits(model, _curr_batch)
        return {"preds": logits, "loss": masked_loss(self.loss_fn, logits, _curr_batch.labels)}

    def batch_outputs(self, model, batch: PairBatch) -> torch.Tensor:
        graph = batch.graph
        return model.observed_logits(
            graph, graph.ndata["feat"], batch.pairs, task_masks=batch.task_masks
        )


class LPTrainer(LinkTrainer):
    """Link prediction: each training step scores the batch's positive links and
    `negative_ratio` (kwarg, default 1) sampled non-links per positive.

    Training negatives: pairs of the positives' endpoints drawn uniformly, never a self-loop
    or an edge of the visible graph; a hidden (val/test) link can be drawn only by chance.
    The score is a logit: the loss is `loss_fn` over the logits (0, score), which for
    CrossEntropyLoss is exactly binary cross-entropy on the score.
    """

    begin_forms = ("lp_train", "lp_eval")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.negative_ratio = int(kwargs.pop("negative_ratio", 1))
        super().__init__(*args, **kwargs)

    def prepareLoader(self, curr_dataset: LinkDataset, curr_training_states):
        """LinkTrainer's batches; BeGin's LP events also find the visible graph and its node
        features in `training_states['graph']`."""
        loaders = super().prepareLoader(curr_dataset, curr_training_states)
        graph = next((batch.graph for loader in loaders for batch in loader), None)
        if curr_training_states is not None and graph is not None:
            curr_training_states["graph"] = (graph, graph.ndata["feat"])
        return loaders

    def with_negatives(self, batch: PairBatch) -> PairBatch:
        """The batch's positive pairs followed by freshly sampled negatives (label 0)."""
        graph, pairs = batch.graph, batch.pairs
        num_nodes = graph.num_nodes()
        visible = pair_keys(*graph.edges(), num_nodes)
        nodes = torch.unique(pairs)
        negatives = sample_negative_pairs(
            nodes, self.negative_ratio * pairs.shape[0], visible, num_nodes
        )
        no_ids = torch.full((negatives.shape[0],), -1, dtype=torch.long, device=pairs.device)
        return PairBatch(
            graph,
            torch.cat([batch.item_ids, no_ids]),
            torch.cat([pairs, negatives]),
            torch.cat([batch.labels, torch.zeros_like(no_ids)]),
            None,
            batch.begin,
        )

    def _scores(self, model, batch: PairBatch) -> torch.Tensor:
        return model(batch.graph, batch.graph.ndata["feat"], batch.pairs)

    def inference(self, model, _curr_batch, training_states) -> dict:
        """The pairs' scores as `preds` and the loss over their visible labels: a
        cross-entropy `loss_fn` over the logits (no link, link), any other `loss_fn` over
        the scores, as BeGin's LP trainers call theirs (e.g. binary cross-entropy)."""
        scores = self._scores(model, _curr_batch)
        if isinstance(self.loss_fn, torch.nn.CrossEntropyLoss):
            logits = torch.stack([torch.zeros_like(scores), scores], dim=-1)
            return {"preds": scores, "loss": masked_loss(self.loss_fn, logits, _curr_batch.labels)}
        return {"preds": scores, "loss": masked_loss(self.loss_fn, scores, _curr_batch.labels)}

    def batch_outputs(self, model, batch: PairBatch) -> torch.Tensor:
        """Link scores of the training positives and of sampled negatives (MAS's output)."""
        return self._scores(model, self.with_negatives(batch)).unsqueeze(-1)

    def training_batch(self, batch: PairBatch) -> PairBatch:
        """The training positives and freshly sampled negatives, as a training step scores."""
        return self.with_negatives(batch)

    def item_copy_outputs(self, model, batch: PairBatch) -> torch.Tensor:
        """Link scores of the copies' pairs, whose negatives were drawn with the items."""
        return self._scores(model, batch).unsqueeze(-1)
