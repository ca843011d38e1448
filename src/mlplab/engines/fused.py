"""The fused engines: hand-written forward and backward (`mlplab.layers`) and one flat optimizer update
(`mlplab.optim`), with no autograd graph.

`FusedEngine` trains one run in NumPy float32. Why: the course's models are tiny (2-unit layers, a few
hundred points), so a PyTorch step costs its dispatch overhead, not its arithmetic (about 3-6 us per op
against NumPy's ~1 us, ``benchmarks/bench_training.py``); on the d2l MLP (60000 x 784) it runs within
about 1.1-1.3x of the bare matrix products (``bench_minibatch.py``). `StackedEngine` is the same code on
torch tensors with a leading run axis: R runs of one architecture in one set of batched products, each
with its own data, initialisation, learning rate and weight decay (the sweeps' engine).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from .. import layers as L
from ..optim import make_optimizer
from .base import Engine


def _expand(model: nn.Module, X: np.ndarray) -> np.ndarray:
    """The first layer's inputs: polynomial or input features expanded once (the inputs never change)."""
    first = model.net[0] if isinstance(getattr(model, "net", None), nn.Sequential) else None
    if isinstance(first, L.EXPANSIONS):
        with torch.no_grad():
            return first(torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))).numpy()
    return X


class FusedEngine(Engine):
    name = "fused"
    backend = L.NUMPY

    @classmethod
    def refuses(cls, model: nn.Module, spec: Any, task: str) -> str | None:
        if spec.optimizer == "lbfgs":
            return "an optimizer it has code for (L-BFGS runs on the torch engine)"
        why = L.unsupported(model)
        return f"it needs {why}" if why else None

    def __init__(self, models: Sequence[nn.Module], spec: Any, X: np.ndarray, Y: np.ndarray,
                 lr: Sequence[float] | None = None, weight_decay: Sequence[float] | None = None):
        B = self.backend
        self.models, self.loss_kind = list(models), spec.loss
        self.P = L.FlatParams(self.models, B, self.stacked)
        self.layers = L.build(self.models[0], self.P)
        self.norms = L.batch_norms(self.layers)
        # Rows stay row-major, (n, d) or (R, n, d): a mini-batch gathers whole rows (contiguous memory; a
        # column gather over 60000 x 784 images is several times slower). The layers get the transposed
        # view, feature-major (d, n), which the matrix products read as it is.
        self.X_rows = B.asarray(self._inputs(X))
        # (torch's batched products copy a strided operand on every call: give them contiguous memory)
        self.X = self.X_rows.mT if B.numpy else self.X_rows.mT.contiguous()
        # Targets: labels (n,) for cross-entropy, else feature-major like the outputs
        self.Y_rows = B.asarray(np.ascontiguousarray(Y))
        self.Y = self.Y_rows if spec.loss == "ce" else (self.Y_rows.mT if B.numpy else self.Y_rows.mT.contiguous())
        if self.stacked:
            self._run_lr = np.asarray(lr, np.float32)
            per = dict(lr=self.P.per_element(lr), weight_decay=self.P.per_element(weight_decay))
            self.opt = make_optimizer(spec, **per)
        else:
            self.opt = make_optimizer(spec)
        self._buffers: tuple[Any, Any] | None = None
        # Overflow becomes inf and then a non-finite loss, which the loop reports as divergence
        self._errstate = np.errstate(over="ignore", invalid="ignore", divide="ignore")
        self._errstate.__enter__()

    def _inputs(self, X: np.ndarray) -> np.ndarray:
        if self.stacked:
            X = np.stack([_expand(self.models[0], x) for x in X])
        else:
            X = _expand(self.models[0], X)
        return np.ascontiguousarray(X, dtype=np.float32)  # (..., n, d)

    def _batch(self, idx: np.ndarray) -> tuple[Any, Any]:
        """Rows ``idx`` gathered into one reused buffer: no fresh pages per step (NumPy)."""
        ce = self.loss_kind == "ce"
        if not self.backend.numpy:
            i = torch.from_numpy(idx)
            xb, yb = self.X_rows[..., i, :], (self.Y_rows[i] if ce else self.Y_rows[..., i, :])
            return xb.mT, (yb if ce else yb.mT)
        if self._buffers is None or self._buffers[0].shape[0] != len(idx):
            xb = np.empty((len(idx),) + self.X_rows.shape[1:], self.X_rows.dtype)
            yb = np.empty((len(idx),) + self.Y_rows.shape[1:], self.Y_rows.dtype)
            self._buffers = (xb, yb)
        xb, yb = self._buffers
        np.take(self.X_rows, idx, axis=0, out=xb)  # (b, d): whole rows
        np.take(self.Y_rows, idx, axis=0, out=yb)
        return xb.T, (yb if ce else yb.T)

    def _forward(self, h: Any, train: bool) -> Any:
        for layer in self.layers:
            h = layer.forward(h, train)
        return h

    def step(self, idx: np.ndarray | None) -> tuple[Any, np.ndarray | None]:
        xb, yb = (self.X, self.Y) if idx is None else self._batch(idx)
        h = self._forward(xb, True)
        loss, d = L.loss_and_grad(self.loss_kind, self.backend, h, yb)
        layers = self.layers
        for i in range(len(layers) - 1, -1, -1):
            d = layers[i].backward(d, i > 0)
        if not self.backend.numpy:
            loss = loss.numpy()
        else:
            loss = np.float32(loss)
        return loss, (self.backend.to_numpy(h).swapaxes(-1, -2) if idx is None else None)

    def update(self) -> None:
        self.opt.step(self.P.flat, self.P.grad)

    def predict(self, X: np.ndarray) -> np.ndarray:
        h = self._forward(self.backend.asarray(self._inputs(X)).mT, False)  # layers read (..., d, m)
        return np.ascontiguousarray(self.backend.to_numpy(h).swapaxes(-1, -2))  # (..., d_out, m) -> (..., m, d_out)

    @property
    def lr(self) -> Any:
        """The learning rate: a float, or (R,) per run when stacked (set a float or (R,) values)."""
        return self._run_lr.copy() if self.stacked else self.opt.lr

    @lr.setter
    def lr(self, value: Any) -> None:
        if self.stacked:
            self._run_lr = np.broadcast_to(np.asarray(value, np.float32), self._run_lr.shape).copy()
            self.opt.lr = self.P.per_element(self._run_lr)
        else:
            self.opt.lr = value

    def state_dict(self) -> dict[str, np.ndarray]:
        return self.P.state_dict()

    def optimizer_state(self) -> Any:
        return self.opt.state_dict()

    def load_optimizer_state(self, state: Any) -> None:
        self.opt.load_state_dict(state)

    def finish(self) -> None:
        for norm in self.norms:
            norm.finish()
        if self.stacked:  # the shared module counted one run's updates; every run made as many
            for m in self.models[1:]:
                for a, b in zip(m.modules(), self.models[0].modules()):
                    if isinstance(a, nn.BatchNorm1d) and a.num_batches_tracked is not None:
                        a.num_batches_tracked.copy_(b.num_batches_tracked)
        self.P.release()
        self._errstate.__exit__(None, None, None)


class StackedEngine(FusedEngine):
    name = "stacked"
    stacked = True
    backend = L.TORCH

    @classmethod
    def refuses(cls, model: nn.Module, spec: Any, task: str) -> str | None:
        if spec.batch_size is not None:
            return "full-batch training (train.batch_size = null): every run would need its own batch order"
        if spec.val_fraction or spec.patience:
            return "no validation split or early stopping (train.val_fraction, train.patience)"
        if spec.loss == "ce":
            return "a loss other than ce (cross-entropy runs one by one)"
        return super().refuses(model, spec, task)

    def step(self, idx: np.ndarray | None) -> tuple[Any, np.ndarray | None]:
        with torch.no_grad():
            return super().step(idx)

    def update(self) -> None:
        with torch.no_grad():
            super().update()

    def predict(self, X: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return super().predict(X)
