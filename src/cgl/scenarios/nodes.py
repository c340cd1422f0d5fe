"""Node-level scenarios (NC): one graph, items are nodes.

Task/Class/Domain-IL train transductively on the whole graph with only the current task's
train/val labels shown (BeGin). Time-IL shows the graph as it was: task t sees the subgraph
induced by the nodes that arrived in time steps of tasks 0..t, and no later node or edge. A
plan with a growing graph (CGLB) lets the nodes of a task arrive with it, so task t sees only
the nodes of tasks 0..t; a plan without inter-task edges drops every edge whose ends lie in
different tasks (or in none), and a growing graph without them trains task t on task t's nodes
alone (CGLB's `--inter-task-edges False`; evaluation may still use the union, whose tasks are
then disconnected).
"""

from __future__ import annotations

import dgl
import torch

from cgl.scenarios.common import EvalView, ScenarioLoader
from cgl.scenarios.protocols import bucket_by_value


class NCScenarioLoader(ScenarioLoader):
    level = "nc"

    def __init__(self, data, incr_type, num_tasks, **kwargs) -> None:
        super().__init__(data, incr_type, num_tasks, **kwargs)
        num_nodes = data.graph.num_nodes()
        src, dst = data.graph.edges()
        if not self.plan.inter_task_edges:
            task = self.task_of_item
            keep = (task[src] == task[dst]) & (task[src] >= 0)
            src, dst = src[keep], dst[keep]
        # structure only, so that no per-node or per-edge field of the raw data travels along
        self._structure = dgl.graph((src, dst), num_nodes=num_nodes)
        self.grows = incr_type == "time" or self.plan.growing_graph
        if incr_type == "time":
            self.arrival = bucket_by_value(
                data.time, self.num_tasks, what=f"{data.name}'s time steps"
            )
        elif self.plan.growing_graph:  # a node arrives with its task; one of no task never
            self.arrival = self.task_of_item.masked_fill(self.task_of_item < 0, self.num_tasks)
        else:
            self.arrival = torch.zeros(num_nodes, dtype=torch.long)
        self.isolated_tasks = self.plan.growing_graph and not self.plan.inter_task_edges

    def _nodes_until(self, task: int) -> torch.Tensor:
        return torch.nonzero(self.arrival <= task).view(-1)

    def _graph_until(self, task: int) -> dgl.DGLGraph:
        """The graph as the learner may see it at `task`: structure and features, no labels."""
        return self._graph_on(self._nodes_until(task))

    def _graph_on(self, nodes: torch.Tensor) -> dgl.DGLGraph:
        """The subgraph induced by `nodes`, with their features (and task masks)."""
        graph = dgl.node_subgraph(self._structure, nodes, store_ids=True)
        graph.ndata["feat"] = self.data.graph.ndata["feat"].index_select(0, nodes)  # or sparse
        if self.incr_type == "task":
            node_task = self.task_of_item[graph.ndata[dgl.NID]]
            masks = self.task_class_mask()[node_task.clamp(min=0)]
            masks[node_task < 0] = True
            graph.ndata["task_specific_mask"] = masks
        return graph

    def _dataset(self, tasks: list[int]) -> dgl.DGLGraph:
        graph = self._graph_on(self._dataset_nodes(tasks))
        ids = graph.ndata[dgl.NID]
        graph.ndata["label"] = self.visible_labels(tasks)[ids]
        for split in ("train", "val", "test"):
            graph.ndata[f"{split}_mask"] = self.split_mask(split, tasks)[ids]
        return graph

    def get_current_dataset(self) -> dgl.DGLGraph:
        return self._dataset([self._curr_task])

    def get_accumulated_dataset(self) -> dgl.DGLGraph:
        return self._dataset(list(range(self._curr_task + 1)))

    def _dataset_nodes(self, tasks: list[int]) -> torch.Tensor:
        """The nodes a training dataset for `tasks` holds: those seen so far, or with
        isolated tasks only the nodes of `tasks` (no other task is connected to them)."""
        if self.isolated_tasks:
            return torch.nonzero(torch.isin(self.task_of_item, torch.tensor(tasks))).view(-1)
        return self._nodes_until(self._curr_task)

    def current_item_ids(self) -> torch.Tensor:
        return self._dataset_nodes([self._curr_task])

    def eval_views(self) -> list[EvalView]:
        """One view for the tasks seen so far (and, on a graph that does not grow, all tasks);
        on a growing graph (Time-IL, CGLB) each future task is predicted on the graph of its
        own time."""
        now = self._curr_task
        last = now if self.grows else self.num_tasks - 1
        views = [self._view(now, list(range(last + 1)))]
        views += [self._view(task, [task]) for task in range(last + 1, self.num_tasks)]
        return views

    def _view(self, at_task: int, tasks: list[int]) -> EvalView:
        graph = self._graph_until(at_task)
        ids = graph.ndata[dgl.NID]
        graph.ndata["label"] = self.hidden_labels(graph.num_nodes())
        evaluate = self.split_mask("val", tasks) | self.split_mask("test", tasks)
        graph.ndata["test_mask"] = evaluate[ids]
        graph.ndata["train_mask"] = graph.ndata["val_mask"] = torch.zeros_like(evaluate[ids])
        return EvalView(dataset=graph, item_ids=ids, tasks=tasks)
