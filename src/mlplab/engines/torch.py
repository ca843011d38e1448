"""The reference engine: autograd and torch.optim, the notebooks' own step.

``step`` is forward, loss, ``zero_grad``, backward, exactly as the notebooks' ``train_model`` does it, and
``update`` is ``optimizer.step()``; with the same thread policy the losses equal the notebooks' bit for
bit. It runs every model mlplab builds (and any torch module with the right shapes).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .base import Engine

LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mse": lambda pred, y: F.mse_loss(pred, y),
    "mse_sum": lambda pred, y: F.mse_loss(pred, y, reduction="sum"),
    "bce": lambda prob, y: F.binary_cross_entropy(prob, y),
    "bce_logits": lambda logit, y: F.binary_cross_entropy_with_logits(logit, y),
    "ce": lambda logits, labels: F.cross_entropy(logits, labels),
}


class ManualSGD:
    """Notebook 002's hand-written update, ``p -= lr * grad`` (plus an L2 term when weight_decay > 0)."""

    def __init__(self, params, lr: float, weight_decay: float = 0.0):
        self.params, self.wd = list(params), weight_decay
        self.param_groups = [{"lr": lr}]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        lr = self.param_groups[0]["lr"]
        for p in self.params:
            if p.grad is not None:
                grad = p.grad + self.wd * p if self.wd else p.grad
                p.add_(-lr * grad)

    def state_dict(self) -> dict[str, Any]:
        return {"lr": self.param_groups[0]["lr"]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.param_groups[0]["lr"] = state["lr"]


# L-BFGS: one iteration per loop step (so a step is one update, as for every optimizer), with a strong
# Wolfe line search: torch's default fixed step of lr is unstable on these losses.
LBFGS_HISTORY = 20
LBFGS_LINE_SEARCH_EVALS = 25  # torch derives max_eval from max_iter (1.25): one iteration would allow one evaluation


def make_torch_optimizer(model: nn.Module, spec: Any):
    params = model.parameters()
    if spec.optimizer == "lbfgs":
        return torch.optim.LBFGS(params, lr=spec.lr, max_iter=1, max_eval=LBFGS_LINE_SEARCH_EVALS, history_size=LBFGS_HISTORY,
                                 line_search_fn="strong_wolfe")
    if spec.optimizer == "adam":
        return torch.optim.Adam(params, lr=spec.lr, weight_decay=spec.weight_decay)
    if spec.optimizer == "sgd":
        return torch.optim.SGD(params, lr=spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay)
    return ManualSGD(params, lr=spec.lr, weight_decay=spec.weight_decay)


class TorchEngine(Engine):
    name = "torch"

    @classmethod
    def refuses(cls, model: nn.Module, spec: Any, task: str) -> str | None:
        if spec.optimizer == "lbfgs" and spec.batch_size is not None:
            return "full-batch training with L-BFGS (its line search needs the same loss at every evaluation)"
        return None

    def __init__(self, models: Sequence[nn.Module], spec: Any, X: np.ndarray, Y: np.ndarray,
                 lr: Sequence[float] | None = None, weight_decay: Sequence[float] | None = None):
        (self.model,) = models
        self.model.train()
        self.X, self.Y = torch.from_numpy(X), torch.from_numpy(Y)
        self.loss_fn = LOSSES[spec.loss]
        self.optimizer = make_torch_optimizer(self.model, spec)
        self.params = list(self.model.parameters())
        self.l1 = spec.l1
        self.lbfgs = spec.optimizer == "lbfgs"

    def step(self, idx: np.ndarray | None) -> tuple[Any, np.ndarray | None]:
        if idx is None:
            xb, yb = self.X, self.Y
        else:
            rows = torch.from_numpy(idx)
            xb, yb = self.X[rows], self.Y[rows]
        pred = self.model(xb)
        loss = self.loss_fn(pred, yb)
        self.optimizer.zero_grad()
        loss.backward()
        if self.l1:  # L1 enters the gradient as weight decay does (torch.optim has no L1 term)
            with torch.no_grad():
                for p in self.params:
                    if p.grad is not None:
                        p.grad.add_(torch.sign(p), alpha=self.l1)
        return np.float32(loss.item()), (pred.detach().numpy() if idx is None else None)

    def update(self) -> None:
        if self.lbfgs:  # L-BFGS evaluates the loss again inside its line search
            self.optimizer.step(self._closure)
        else:
            self.optimizer.step()

    def _closure(self) -> torch.Tensor:
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(self.X), self.Y)
        loss.backward()
        if self.l1:
            with torch.no_grad():
                for p in self.params:
                    p.grad.add_(torch.sign(p), alpha=self.l1)
        return loss

    def predict(self, X: np.ndarray) -> np.ndarray:
        was = self.model.training
        self.model.eval()
        with torch.no_grad():
            out = self.model(torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))).numpy()
        self.model.train(was)
        return out

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = float(value)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {k: v.detach().numpy() for k, v in self.model.state_dict().items() if v.is_floating_point()}

    def optimizer_state(self) -> Any:
        import copy

        return copy.deepcopy(self.optimizer.state_dict())

    def load_optimizer_state(self, state: Any) -> None:
        """Moments and step counts from ``state``; lr, momentum and weight decay stay this engine's spec's."""
        now = self.optimizer.state_dict()["param_groups"]
        groups = [{**saved, **{k: v for k, v in own.items() if k != "params"}, "params": saved["params"]}
                  for saved, own in zip(state["param_groups"], now)]
        self.optimizer.load_state_dict({**state, "param_groups": groups})
