"""The optimizers of the NumPy engines, written once: torch.optim's update rules on one flat vector.

The fused, from-scratch and stacked engines all keep their parameters in one flat vector (NumPy, or a
torch tensor for the stacked engine) and call ``opt.step(flat, grad)``. The rules follow torch.optim
operation by operation (tested against it to 1e-12 in float64), so an engine's trajectory matches
autograd + torch.optim to float32 rounding. ``lr`` and ``weight_decay`` may be arrays the size of the
flat vector: the stacked engine gives every run its own values that way. The torch engine uses
torch.optim itself.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from .errors import SpecError

Array = Any  # np.ndarray, or torch.Tensor for the stacked engine: only operators and sqrt are used


def _sqrt(a: Array) -> Array:
    if isinstance(a, np.ndarray):
        return np.sqrt(a)
    return a.sqrt()


def _copy(a: Array) -> Array:
    return a.copy() if isinstance(a, np.ndarray) else a.clone()


def _zeros_like(a: Array) -> Array:
    return np.zeros_like(a) if isinstance(a, np.ndarray) else a.new_zeros(a.shape)


def _has_decay(wd: Any) -> bool:
    return bool(np.any(np.asarray(wd) != 0)) if not hasattr(wd, "any") else bool((wd != 0).any())


class Optimizer(ABC):
    """Updates ``params`` in place from ``grad`` (same shape). ``lr`` may be changed between steps."""

    @abstractmethod
    def step(self, params: Array, grad: Array) -> None:
        """One update of ``params`` from ``grad``."""

    def state_dict(self) -> dict[str, Any]:
        return {k: (_copy(v) if hasattr(v, "shape") else v) for k, v in vars(self).items()}

    # Settings, not state: a resumed run keeps the values its own spec gives (a changed lr or momentum).
    HYPERPARAMETERS = frozenset({"lr", "momentum", "weight_decay", "l1", "decay", "l1_on", "betas", "eps"})

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from `state_dict`: moments and step counts; the hyperparameters stay this optimizer's."""
        for k, v in state.items():
            if k not in self.HYPERPARAMETERS:
                setattr(self, k, _copy(v) if hasattr(v, "shape") else v)

    def _decayed(self, params: Array, grad: Array) -> Array:
        """L1 and L2 penalties added to the gradient (L2 as torch's ``weight_decay``)."""
        g = grad + self.weight_decay * params if self.decay else grad
        if self.l1_on:
            sign = np.sign(params) if isinstance(params, np.ndarray) else params.sign()
            g = g + self.l1 * sign
        return g


class SGD(Optimizer):
    """torch.optim.SGD without dampening or Nesterov: d = g + wd p; buf = m buf + d (buf = d at first);
    p -= lr d (or lr buf with momentum)."""

    def __init__(self, lr: Any, momentum: float = 0.0, weight_decay: Any = 0.0, l1: Any = 0.0):
        self.lr, self.momentum, self.weight_decay, self.l1 = lr, momentum, weight_decay, l1
        self.decay, self.l1_on = _has_decay(weight_decay), _has_decay(l1)
        self.buf: Array | None = None

    def step(self, params: Array, grad: Array) -> None:
        d = self._decayed(params, grad)
        if self.momentum:
            if self.buf is None:
                self.buf = _copy(d)
            else:
                self.buf *= self.momentum
                self.buf += d
            d = self.buf
        params -= self.lr * d


class ManualSGD(SGD):
    """Notebook 002's hand-written step ``p -= lr * grad`` (weight decay, if any, added to the gradient)."""

    def __init__(self, lr: Any, weight_decay: Any = 0.0, l1: Any = 0.0):
        super().__init__(lr, 0.0, weight_decay, l1)


class Adam(Optimizer):
    """torch.optim.Adam (amsgrad off), in torch's order of operations.

    wd is added to the gradient (L2, not AdamW's decoupled decay); m and v are exponential averages;
    the step is lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps): eps is added *after* the bias
    correction of sqrt(v), which matters while v is tiny.
    """

    def __init__(self, lr: Any = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: Any = 0.0, l1: Any = 0.0):
        self.lr, self.betas, self.eps, self.weight_decay, self.l1 = lr, betas, eps, weight_decay, l1
        self.decay, self.l1_on = _has_decay(weight_decay), _has_decay(l1)
        self.t = 0
        self.m: Array | None = None
        self.v: Array | None = None

    def step(self, params: Array, grad: Array) -> None:
        b1, b2 = self.betas
        if self.m is None:
            self.m, self.v = _zeros_like(params), _zeros_like(params)
        self.t += 1
        g = self._decayed(params, grad)
        self.m += (g - self.m) * (1.0 - b1)  # torch's lerp_: m + (1 - b1)(g - m)
        self.v *= b2
        self.v += (1.0 - b2) * g * g
        step_size = self.lr / (1.0 - b1**self.t)
        denom = _sqrt(self.v) / math.sqrt(1.0 - b2**self.t) + self.eps
        params -= step_size * (self.m / denom)


def make_optimizer(train_spec: Any, lr: Any = None, weight_decay: Any = None, l1: Any = None) -> Optimizer:
    """The optimizer a TrainSpec names. ``lr``/``weight_decay``/``l1`` override the spec's (per-element arrays
    for stacked runs)."""
    ts = train_spec
    lr = ts.lr if lr is None else lr
    wd = ts.weight_decay if weight_decay is None else weight_decay
    l1 = getattr(ts, "l1", 0.0) if l1 is None else l1
    if ts.optimizer == "adam":
        return Adam(lr, weight_decay=wd, l1=l1)
    if ts.optimizer == "sgd":
        return SGD(lr, ts.momentum, wd, l1)
    if ts.optimizer == "manual_sgd":
        return ManualSGD(lr, wd, l1)
    raise SpecError("train.optimizer", "one of adam, sgd, manual_sgd (lbfgs runs on the torch engine)", ts.optimizer)
