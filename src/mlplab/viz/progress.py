"""A rich progress bar over training steps: a view of a run in progress, added by the API and the CLI."""

from __future__ import annotations

import sys
from typing import Any

from ..training.callbacks import Callback


class Progress(Callback):
    """Steps done, the loss, the time left; refreshed a few times a second; gone when training ends."""

    def __init__(self, description: str = "training"):
        self.description = description

    def on_train_start(self, t: Any) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeRemainingColumn

        self.bar = Bar(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn(), transient=True,
        )
        self.bar.start()
        self.task = self.bar.add_task(self.description, total=t.total_steps, loss="-")
        self.every = max(1, t.total_steps // 200)

    def on_step_end(self, t: Any, step: int, loss: Any, pred: Any) -> None:
        if step % self.every == 0:
            value = float(loss) if getattr(loss, "ndim", 0) == 0 else float(loss.mean())
            self.bar.update(self.task, completed=step + 1, loss=f"{value:.4g}")

    def on_train_end(self, t: Any) -> None:
        self.bar.stop()


def default_progress() -> bool:
    """Progress bars by default only where a person watches a terminal."""
    return sys.stderr.isatty() and "pytest" not in sys.modules
