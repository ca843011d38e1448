"""The compiled engine: the fused engine's layers, losses and optimizers as numba kernels (`kernels`).

Why: on the course's tiny models a fused NumPy step is some fifty NumPy calls of about a microsecond
each, almost all dispatch; here a step is one compiled call (forward, loss and backward on the
rows the loop names) and an update is another, on arrays allocated once. The kernels are compiled
once and cached on disk (``make install`` warms the cache). They run on one thread (BLAS too, for the
layers large enough to call it): results never depend on the thread count.

It runs linear layers, the elementwise activations, layer norm, residual blocks and the input
expansions (applied once, as the fused engine does), every loss and every optimizer but L-BFGS. It
refuses batch norm, which the fused engine runs in torch's float32 order ("auto" falls back to it).
"""

from __future__ import annotations

import importlib.util
import math
from typing import Any, Sequence

import numpy as np
from torch import nn

from .. import layers as L
from ..models.mlp import ResidualBlock
from .base import Engine
from .fused import _expand

ACTS = {nn.ReLU: 0, nn.LeakyReLU: 1, nn.Tanh: 2, nn.Sigmoid: 3}


def available() -> bool:
    """numba can be imported (without importing it: that costs ~0.2 s)."""
    return importlib.util.find_spec("numba") is not None


def unsupported(model: nn.Module) -> str | None:
    """Why the kernels cannot run ``model`` (None: they can)."""
    net = getattr(model, "net", None)
    if not isinstance(net, nn.Sequential):
        return "a model built by mlplab.build_model"
    for i, m in enumerate(net):
        if isinstance(m, L.EXPANSIONS) and i == 0:
            continue
        parts = [m.norm, m.act] if isinstance(m, ResidualBlock) else [m]
        for part in parts:
            if isinstance(part, nn.BatchNorm1d):
                return "a model without batch norm (the fused engine runs it in torch's float32 order)"
            if isinstance(part, nn.LayerNorm):
                if len(part.normalized_shape) != 1 or part.weight is None or part.bias is None:
                    return "layer norm over the features with a gain and a bias"
            elif not isinstance(part, (nn.Linear,) + L.ELEMENTWISE):
                return f"layers it has code for (not {type(part).__name__})"
    return None


class _Program:
    """The model as the kernels' program (`kernels` explains the rows) over one workspace layout."""

    def __init__(self, model: nn.Module, P: L.FlatParams, d_in: int):
        self.rows: list[list[int]] = []
        self.slopes: list[float] = []
        self.widths = [d_in]  # slot widths; slot 0 holds the inputs
        base = P.flat.ctypes.data
        self.offset = lambda name: (P.views[name].ctypes.data - base) // P.flat.itemsize
        slot = 0
        for i, m in enumerate(model.net):
            if not isinstance(m, L.EXPANSIONS):
                slot = self._module(m, f"net.{i}.", slot)
        self.out_slot = slot
        self.ops = np.asarray(self.rows, np.int64).reshape(-1, 8)
        self.slope_array = np.asarray(self.slopes, np.float32)

    def _new(self, kind: int, src: int, width: int, other: int, din: int, w_off: int = 0, b_off: int = -1,
             slope: float = 0.0) -> int:
        self.widths.append(width)
        self.rows.append([kind, src, len(self.widths) - 1, other, din, width, w_off, b_off])
        self.slopes.append(slope)
        return len(self.widths) - 1

    def _module(self, m: nn.Module, prefix: str, slot: int) -> int:
        from . import kernels as K

        width = self.widths[slot]
        if isinstance(m, nn.Linear):
            b_off = self.offset(prefix + "bias") if m.bias is not None else -1
            return self._new(K.LINEAR, slot, m.out_features, 0, width, self.offset(prefix + "weight"), b_off)
        if isinstance(m, ResidualBlock):
            h = slot
            for name in ("fc1", "norm", "act", "fc2"):
                h = self._module(getattr(m, name), f"{prefix}{name}.", h)
            return self._new(K.ADD, h, width, slot, width)  # x + fc2(act(fc1(x)))
        if isinstance(m, nn.LayerNorm):
            return self._new(K.LNORM, slot, width, 0, width, self.offset(prefix + "weight"), self.offset(prefix + "bias"),
                             slope=m.eps)
        if type(m) in ACTS:
            return self._new(K.ACT, slot, width, ACTS[type(m)], width, slope=getattr(m, "negative_slope", 0.0))
        return slot  # identity

    def layout(self, rows: int) -> tuple[np.ndarray, int, int]:
        """Ops with slot numbers turned into workspace offsets for ``rows`` rows, the workspace size and
        the outputs' offset."""
        starts = np.concatenate([[0], np.cumsum(self.widths)]) * rows
        ops = self.ops.copy()
        ops[:, 1] = starts[self.ops[:, 1]]
        ops[:, 2] = starts[self.ops[:, 2]]
        adds = self.ops[:, 0] == 2
        ops[adds, 3] = starts[self.ops[adds, 3]]
        return ops, int(starts[-1]), int(starts[self.out_slot])


class CompiledEngine(Engine):
    name = "compiled"

    @classmethod
    def refuses(cls, model: nn.Module, spec: Any, task: str) -> str | None:
        if not available():
            return "numba, which is not installed (pip install numba)"
        if spec.optimizer == "lbfgs":
            return "an optimizer it has code for (L-BFGS runs on the torch engine)"
        why = unsupported(model)
        return f"it needs {why}" if why else None

    def __init__(self, models: Sequence[nn.Module], spec: Any, X: np.ndarray, Y: np.ndarray,
                 lr: Sequence[float] | None = None, weight_decay: Sequence[float] | None = None):
        from . import kernels as K

        self.K = K
        (self.model,) = models
        self.P = L.FlatParams([self.model], L.NUMPY, False)
        self.X = np.ascontiguousarray(_expand(self.model, X), dtype=np.float32)
        n, d_in = self.X.shape
        self.prog = _Program(self.model, self.P, d_in)
        self.slopes = self.prog.slope_array
        self.ops, size, self.out_off = self.prog.layout(n)
        self.act, self.gact = np.zeros(size, np.float32), np.zeros(size, np.float32)
        self.act[: n * d_in] = self.X.T.ravel()  # full batches read slot 0 as it is (feature-major)
        self.loss_kind = K.LOSSES[spec.loss]
        ce = spec.loss == "ce"
        self.labels = np.ascontiguousarray(Y, np.int64) if ce else np.zeros(1, np.int64)
        # targets feature-major (d_out, n), as the outputs
        self.Y = np.zeros((1, 1), np.float32) if ce else np.ascontiguousarray(np.asarray(Y, np.float32).reshape(n, -1).T)
        self.out_dim = self.prog.widths[self.prog.out_slot]
        self.n, self.no_rows, self.no_out = n, np.zeros(0, np.int64), np.zeros((0, self.out_dim), np.float32)
        self.no_out_full = np.empty((n, self.out_dim), np.float32)  # run_steps' outputs, read by no one
        self.optimizer, self.momentum = spec.optimizer, spec.momentum if spec.optimizer == "sgd" else 0.0
        self._lr, self.wd, self.l1 = float(spec.lr), float(spec.weight_decay), float(spec.l1)
        self.t = 0  # updates made (Adam's bias correction; SGD's first momentum step)
        # Layers large enough for BLAS: one BLAS thread while training, so that no result depends on the
        # thread count (a multi-threaded sgemm rounds differently); the loop already sets one for small steps
        self._threads = None
        lin = self.ops[:, 0] == K.LINEAR
        if (self.ops[lin, 4] * self.ops[lin, 5] * n >= K.BLAS_WORK).any():
            from threadpoolctl import threadpool_limits

            self._threads = threadpool_limits(limits=1, user_api="blas")
        self.m = np.zeros_like(self.P.flat)
        self.v = np.zeros_like(self.P.flat) if spec.optimizer == "adam" else self.m

    def step(self, idx: np.ndarray | None) -> tuple[Any, np.ndarray | None]:
        full = idx is None
        if full:  # a fresh array each step: a callback may keep it
            rows, out = self.no_rows, np.empty((self.n, self.out_dim), np.float32)
        else:
            rows, out = np.ascontiguousarray(idx, np.int64), self.no_out
        loss = self.K.train_step(self.ops, self.slopes, self.P.flat, self.P.grad, self.act, self.gact,
                                 self.X, self.Y, self.labels, rows, full, self.loss_kind, self.out_off, out)
        return np.float32(loss), (out if full else None)

    def update(self) -> None:
        self.t += 1
        if self.optimizer == "adam":
            b1, b2 = 0.9, 0.999
            self.K.adam(self.P.flat, self.P.grad, self.m, self.v, self._lr / (1.0 - b1**self.t), b1, b2, 1e-8,
                        math.sqrt(1.0 - b2**self.t), self.wd, self.l1)
        else:
            self.K.sgd(self.P.flat, self.P.grad, self.m, self._lr, self.momentum, self.t == 1, self.wd, self.l1)

    def run_steps(self, k: int) -> np.ndarray:
        """``k`` full-batch steps, each with its update, in one compiled call: what ``step(None)`` and
        ``update()`` k times give, bit for bit, for a loop with nothing to do between them. Stops after a
        non-finite loss (not applied); returns the losses (float32), that one last."""
        losses = np.empty(k, np.float32)
        if k <= 0:
            return losses
        hyper = np.array([0 if self.optimizer == "adam" else 1, self._lr, self.momentum, self.wd, self.l1])
        done = self.K.train_steps(self.ops, self.slopes, self.P.flat, self.P.grad, self.act, self.gact, self.X,
                                  self.Y, self.labels, self.loss_kind, self.out_off, self.no_out_full, self.m,
                                  self.v, hyper, self.t, losses)
        self.t += done - int(not np.isfinite(losses[done - 1]))  # updates made
        return losses[:done]

    def predict(self, X: np.ndarray) -> np.ndarray:
        Xe = np.ascontiguousarray(_expand(self.model, X), dtype=np.float32)
        m = len(Xe)
        ops, size, off = self.prog.layout(m)
        act = np.empty(size, np.float32)
        act[: Xe.size] = Xe.T.ravel()
        self.K.predict(ops, self.slopes, self.P.flat, act, m)
        return np.ascontiguousarray(act[off : off + m * self.out_dim].reshape(self.out_dim, m).T)

    @property
    def lr(self) -> float:
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = float(value)

    def state_dict(self) -> dict[str, np.ndarray]:
        return self.P.state_dict()

    def optimizer_state(self) -> Any:
        """Moments and the update count (the learning rate and the rest come from the spec)."""
        return {"t": self.t, "m": self.m.copy(), "v": self.v.copy()}

    def load_optimizer_state(self, state: Any) -> None:
        self.t = int(state["t"])
        self.m[:] = state["m"]
        if self.v is not self.m:
            self.v[:] = state["v"]

    def finish(self) -> None:
        self.P.release()
        if self._threads is not None:
            self._threads.restore_original_limits()
            self._threads = None
