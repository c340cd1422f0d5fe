"""What a run shows while it trains: a live bar per task on a terminal, and one log line per
task everywhere.

The bar shows the epoch, the training loss, the validation metric and how many of the
learning-rate cuts that end a task have happened, instead of tqdm's ETA to the epoch cap:
early stopping ends a task after tens or hundreds of epochs, so a count to 1000 misleads.
Off a terminal (a cluster log, a pipe) tqdm draws no bar, as a carriage return per epoch
would fill the log; the per-task line, through logging, says what happened.
"""

from __future__ import annotations

import logging
import math
import time

from tqdm.auto import tqdm

from cgl.output.display import metric_label

log = logging.getLogger(__name__)


def cuts_to_stop(lr_factor: float, min_lr_ratio: float) -> int | None:
    """How many ReduceLROnPlateau cuts bring lr below initial lr x `min_lr_ratio` (the end of
    a task): 3 for BeGin's factor 0.1 and ratio 0.002. None when cuts never get there."""
    if not 0 < lr_factor < 1 or min_lr_ratio <= 0:
        return None
    cuts = 1
    while lr_factor**cuts >= min_lr_ratio:
        cuts += 1
    return cuts


class TaskProgress:
    """One task's progress: `update` after every epoch, `close` when training stops."""

    def __init__(
        self,
        task_id: int,
        num_tasks: int,
        metric: str,
        initial_lr: float,
        lr_factor: float,
        min_lr_ratio: float,
        bar: bool = True,
        keep_last: bool = False,
    ) -> None:
        self.keep_last = keep_last  # the trainer keeps the last epoch, not the best one
        self.name = f"task {task_id + 1}/{num_tasks}"
        self.metric = metric_label(metric)
        self.lr_factor = lr_factor
        self.cuts_to_stop = cuts_to_stop(lr_factor, min_lr_ratio)
        self.start = time.perf_counter()
        self.epochs = 0
        self.best: tuple[float, int, float] = (math.inf, -1, math.nan)  # val loss, epoch, metric
        self.initial_lr = initial_lr
        self.cuts = 0
        # disable=None: tqdm draws only when stderr is a terminal
        self.bar = tqdm(
            desc=self.name,
            disable=None if bar else True,
            leave=False,
            bar_format="{desc}{postfix} [{elapsed}]",
        )

    def update(
        self, epoch: int, train_loss: float, val_loss: float, val_metric: float, lr: float
    ) -> None:
        """After an epoch: its training loss, validation loss and metric, and the current lr."""
        self.epochs = epoch + 1
        if self.keep_last or val_loss < self.best[0]:  # the epoch whose weights are kept
            self.best = (val_loss, epoch, val_metric)
        if self.lr_factor < 1 and lr < self.initial_lr:
            self.cuts = round(math.log(lr / self.initial_lr) / math.log(self.lr_factor))
        self.bar.set_postfix_str(
            f"epoch {self.epochs}, loss {train_loss:.4f}, val {self.metric} {val_metric:.4f}, "
            f"lr cuts {self._cuts_text()}",
            refresh=False,
        )
        self.bar.update()

    def close(self) -> None:
        """Remove the bar and log the task's one line."""
        self.bar.close()
        _, best_epoch, best_metric = self.best
        log.info(
            "%s: %d epochs, val %s %.4f (epoch %d kept), lr cuts %s, %.1f s",
            self.name,
            self.epochs,
            self.metric,
            best_metric,
            best_epoch + 1,
            self._cuts_text(),
            time.perf_counter() - self.start,
        )

    def _cuts_text(self) -> str:
        return f"{self.cuts}/{self.cuts_to_stop}" if self.cuts_to_stop else str(self.cuts)
