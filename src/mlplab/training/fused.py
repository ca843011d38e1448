"""The fused path: hand-written forward, backward and optimizer step, on one flat parameter vector.

Why: autograd and the optimizer's per-parameter loop cost time that these models cannot hide. The
course's models are tiny (2-unit layers, a few hundred points): a step is dispatch overhead, about
3-6 us per PyTorch op against NumPy's 1-1.5 us, so small steps run on the NumPy backend. The d2l
MLP on 60000 images is the opposite: a step is a few large matrix products, so it runs on the torch
backend (its BLAS, no graph, no per-step allocations beyond the products). The same layer code
serves both: NumPy and torch share the operators and names used here, and `_Backend` covers the
few calls that differ (measured in ``benchmarks/bench_training.py`` and ``bench_minibatch.py``).

The torch model's parameters (and batch-norm buffers) are rebound to views of the flat vector, so the
recorder, views and metrics read the live values at no cost. Batches come from the same seeded
permutation as the reference loop. Results match the reference loop to float32 rounding (the tests
hold it to 1e-5 relative per step).

Scope: MSE (mean or sum) and cross-entropy; full batch or mini-batches; Adam / SGD (momentum, weight
decay) / the seeds' manual SGD; Linear, ReLU, leaky ReLU, tanh, sigmoid, identity and residual
blocks, polynomial features in front, and batch norm (training mode, NumPy backend). Anything else
uses the reference loop.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..models.mlp import PolyFeatures, ResidualBlock
from .callbacks import Callback

_ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.Identity)


def backend_for(model: nn.Module, batch: int) -> _Backend:
    """NumPy for dispatch-bound steps, torch for compute-bound ones (the same threshold as the thread policy)."""
    from .loop import SMALL_STEP

    work = batch * sum(p.numel() for p in model.parameters())
    return NUMPY if work < SMALL_STEP else TORCH


def fused_supported(model: nn.Module, spec, t) -> bool:
    if spec.loss in ("mse", "mse_sum"):
        if t.task != "regression":
            return False
    elif spec.loss != "ce" or t.task != "multiclass":
        return False
    net = getattr(model, "net", None)
    if not isinstance(net, nn.Sequential) or (spec.loss == "ce" and isinstance(net[-1], nn.Softmax)):
        return False
    numpy_only = backend_for(model, t.batch) is NUMPY
    for i, m in enumerate(net):
        if isinstance(m, nn.BatchNorm1d) or (isinstance(m, ResidualBlock) and isinstance(m.norm, nn.BatchNorm1d)):
            if not numpy_only:
                return False
        if isinstance(m, PolyFeatures) and i == 0:
            continue
        if isinstance(m, ResidualBlock):
            if not isinstance(m.act, _ELEMENTWISE) or not isinstance(m.norm, (nn.Identity, nn.BatchNorm1d)):
                return False
            continue
        if isinstance(m, (nn.Linear, nn.BatchNorm1d) + _ELEMENTWISE):
            if isinstance(m, nn.BatchNorm1d) and (not m.affine or not m.track_running_stats or m.momentum is None):
                return False
            continue
        return False
    return True


class _Backend:
    """The calls where NumPy and torch differ; everything else (operators, where, exp, tanh, abs,
    sqrt, log, .T, ravel) is spelled the same in both."""

    def __init__(self, xp):
        self.xp, self.is_numpy = xp, xp is np
        self._ones: dict[int, object] = {}

    def matmul(self, a, b, out=None):
        return self.xp.matmul(a, b, out=out)

    def colsum(self, a, out=None):
        """Column sums (n, d) -> (d,) as a matrix-vector product: ~1 us where NumPy's ``a.sum(0)`` costs ~5 us."""
        n = a.shape[0]
        ones = self._ones.get(n)
        if ones is None:
            ones = self._ones[n] = np.ones(n, np.float32) if self.is_numpy else torch.ones(n)
        if self.is_numpy:
            return np.matmul(ones, a, out=out)
        return torch.mv(a.T, ones, out=out)  # (d, n) @ (n,): torch's matmul would reshape ``out`` to (1, d)

    def rowmax(self, a):
        return a.max(1, keepdims=True) if self.is_numpy else a.amax(1, keepdim=True)

    def rowsum(self, a):
        return a.sum(1, keepdims=True) if self.is_numpy else a.sum(1, keepdim=True)

    def arange(self, n):
        return np.arange(n) if self.is_numpy else torch.arange(n)

    def zeros_like(self, a):
        return self.xp.zeros_like(a)

    def dot(self, a, b) -> float:
        return float(self.xp.dot(a, b))

    def array(self, t: torch.Tensor):
        """A tensor's data in this backend, float32 (ints stay ints: class labels); no copy when it can
        share memory. Layers never write into their inputs, so the training data is never copied."""
        t = t.detach()
        if t.is_floating_point() and t.dtype != torch.float32:
            t = t.float()
        return t.numpy() if self.is_numpy else t

    def tensor(self, a) -> torch.Tensor:
        """A torch view of a backend array (no copy)."""
        return torch.from_numpy(a) if self.is_numpy else a


NUMPY, TORCH = _Backend(np), _Backend(torch)


class _Params:
    """All trainable parameters in one float32 vector; torch parameters become views of it."""

    def __init__(self, model: nn.Module, B: _Backend = NUMPY):
        self.B = B
        self.torch_params = [p for p in model.parameters()]
        sizes = [p.numel() for p in self.torch_params]
        if B.is_numpy:
            self.flat = np.concatenate([p.detach().numpy().astype(np.float32).ravel() for p in self.torch_params])
        else:
            self.flat = torch.cat([p.detach().float().reshape(-1) for p in self.torch_params])
        self.grad = B.zeros_like(self.flat)
        self.views, self.grads = {}, {}
        off = 0
        for p, n in zip(self.torch_params, sizes):
            shape = tuple(p.shape)
            self.views[id(p)] = self.flat[off : off + n].reshape(shape)
            self.grads[id(p)] = self.grad[off : off + n].reshape(shape)
            p.data = B.tensor(self.views[id(p)])  # share memory: torch sees every update
            off += n

    def of(self, p: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        return self.views[id(p)], self.grads[id(p)]

    def release(self) -> None:
        """Give the torch parameters their own memory again."""
        for p in self.torch_params:
            p.data = p.data.clone()


# Each layer: forward(x) keeps what backward needs; backward(dy) writes parameter gradients into
# the flat gradient and returns dx. Shapes: x (n, d_in) -> y (n, d_out).


class _Linear:
    def __init__(self, m: nn.Linear, P: _Params):
        self.B = P.B
        self.W, self.gW = P.of(m.weight)  # (out, in)
        self.b, self.gb = P.of(m.bias) if m.bias is not None else (None, None)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        y = x @ self.W.T  # (n, in) @ (in, out)
        if self.b is not None:
            y += self.b
        return y

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        self.B.matmul(dy.T, self.x, out=self.gW)  # (out, n) @ (n, in)
        if self.gb is not None:
            self.B.colsum(dy, out=self.gb)
        return dy @ self.W if need_dx else None


class _ReLU:
    def __init__(self, B: _Backend, slope: float = 0.0):
        self.xp, self.slope, self.is_numpy = B.xp, slope, B.is_numpy

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = x > 0
        if self.slope:
            return self.xp.where(self.mask, x, x * self.slope)
        # NumPy multiplies by a boolean mask cheaply; torch would first copy it to float, where() does not
        return x * self.mask if self.is_numpy else x.clamp(min=0)

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray:
        if self.slope:
            return self.xp.where(self.mask, dy, dy * self.slope)
        return dy * self.mask if self.is_numpy else torch.where(self.mask, dy, 0.0)


class _Tanh:
    def __init__(self, B: _Backend):
        self.xp = B.xp

    def forward(self, x):
        self.y = self.xp.tanh(x)
        return self.y

    def backward(self, dy, need_dx=True):
        return dy * (1 - self.y * self.y)


class _Sigmoid:
    def __init__(self, B: _Backend):
        self.xp = B.xp

    def forward(self, x):
        # exp(-|x|) never overflows; the two branches give the same value where both are finite
        e = self.xp.exp(-self.xp.abs(x))
        self.y = self.xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
        return self.y

    def backward(self, dy, need_dx=True):
        return dy * self.y * (1 - self.y)


class _Identity:
    def forward(self, x):
        return x

    def backward(self, dy, need_dx=True):
        return dy


class _BatchNorm:
    """Training-mode batch norm (NumPy backend); running statistics updated as torch does (unbiased variance)."""

    def __init__(self, m: nn.BatchNorm1d, P: _Params):
        self.colsum = P.B.colsum
        self.g, self.gg = P.of(m.weight)
        self.b, self.gb = P.of(m.bias)
        self.eps, self.momentum, self.module = m.eps, m.momentum, m
        self.hist, self.k = np.zeros((256, 2, m.num_features), dtype=np.float64), 0
        self.rm = m.running_mean.numpy().astype(np.float32).copy()
        self.rv = m.running_var.numpy().astype(np.float32).copy()
        m.running_mean, m.running_var = torch.from_numpy(self.rm), torch.from_numpy(self.rv)

    def forward(self, x: np.ndarray) -> np.ndarray:
        n = x.shape[0]
        if self.k and n != self.n:
            self.sync()  # pending statistics were of another batch size (sync uses one n for them all)
        self.n, self.inv_n = n, 1.0 / n
        mean = self.colsum(x) * self.inv_n
        xc = x - mean
        var = self.colsum(xc * xc) * self.inv_n
        self.rstd = 1.0 / np.sqrt(var + self.eps)
        self.xhat = xc * self.rstd
        # Running statistics are only read in eval mode: keep this step's batch statistics and fold
        # them in when someone looks (sync), instead of paying four array updates every step.
        if self.k == len(self.hist):
            self.sync()
        self.hist[self.k, 0], self.hist[self.k, 1] = mean, var
        self.k += 1
        return self.xhat * self.g + self.b

    def sync(self) -> None:
        """Fold the pending batch statistics into the running ones, as k steps of torch's update would."""
        k = self.k
        if k:
            mo, n = self.momentum, self.n
            w = mo * (1 - mo) ** np.arange(k - 1, -1, -1)  # weight of step j's statistics after k updates
            keep = (1 - mo) ** k
            self.rm *= keep
            self.rm += (w @ self.hist[:k, 0]).astype(np.float32)
            self.rv *= keep
            self.rv += (w @ self.hist[:k, 1] * (n / (n - 1))).astype(np.float32)
            self.module.num_batches_tracked += k
            self.k = 0

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray:
        self.colsum(dy * self.xhat, out=self.gg)
        self.colsum(dy, out=self.gb)
        # dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) with dxhat = dy * gamma; the two
        # means are gamma * gb / n and gamma * gg / n, so no (n, d) array is needed for them.
        scale = self.rstd * self.g
        return (dy - self.gb * self.inv_n - self.xhat * (self.gg * self.inv_n)) * scale


class _Residual:
    def sync(self) -> None:
        for layer in self.inner:
            getattr(layer, "sync", lambda: None)()

    def __init__(self, m: ResidualBlock, P: _Params):
        self.inner = [_Linear(m.fc1, P)]
        if isinstance(m.norm, nn.BatchNorm1d):
            self.inner.append(_BatchNorm(m.norm, P))
        self.inner += [_layer(m.act, P), _Linear(m.fc2, P)]

    def forward(self, x):
        y = x
        for layer in self.inner:
            y = layer.forward(y)
        return y + x

    def backward(self, dy, need_dx=True):
        d = dy
        for layer in reversed(self.inner):
            d = layer.backward(d)
        return d + dy


def _layer(m: nn.Module, P: _Params):
    if isinstance(m, nn.Linear):
        return _Linear(m, P)
    if isinstance(m, nn.ReLU):
        return _ReLU(P.B)
    if isinstance(m, nn.LeakyReLU):
        return _ReLU(P.B, m.negative_slope)
    if isinstance(m, nn.Tanh):
        return _Tanh(P.B)
    if isinstance(m, nn.Sigmoid):
        return _Sigmoid(P.B)
    if isinstance(m, nn.Identity):
        return _Identity()
    if isinstance(m, nn.BatchNorm1d):
        return _BatchNorm(m, P)
    if isinstance(m, ResidualBlock):
        return _Residual(m, P)
    raise TypeError(f"the fused path has no layer for {type(m).__name__}")  # guarded by fused_supported


class _Adam:
    """torch.optim.Adam's update (L2 weight decay added to the gradient, bias correction, eps outside sqrt)."""

    def __init__(self, P: _Params, lr: float, weight_decay: float, betas=(0.9, 0.999), eps=1e-8):
        self.P, self.lr, self.wd, (self.b1, self.b2), self.eps = P, lr, weight_decay, betas, eps
        self.m, self.v = P.B.zeros_like(P.flat), P.B.zeros_like(P.flat)
        self.t = 0

    def step(self) -> None:
        p, g = self.P.flat, self.P.grad
        if self.wd:
            g = g + self.wd * p
        self.t += 1
        self.m += (1 - self.b1) * (g - self.m)
        self.v *= self.b2
        self.v += (1 - self.b2) * g * g
        step_size = self.lr / (1 - self.b1**self.t)
        denom = self.P.B.xp.sqrt(self.v) / math.sqrt(1 - self.b2**self.t)
        denom += self.eps
        p -= step_size * self.m / denom


class _SGD:
    """torch.optim.SGD's update (momentum buffer starts as the first gradient), or the seeds' manual step."""

    def __init__(self, P: _Params, lr: float, momentum: float, weight_decay: float):
        self.P, self.lr, self.mu, self.wd = P, lr, momentum, weight_decay
        self.buf = None

    def step(self) -> None:
        p, g = self.P.flat, self.P.grad
        if self.wd:
            g = g + self.wd * p
        if self.mu:
            if self.buf is None:
                self.buf = g.copy() if self.P.B.is_numpy else g.clone()
            else:
                self.buf *= self.mu
                self.buf += g
            g = self.buf
        p -= self.lr * g


def _mse_grad(h, Y, B: _Backend, mean: bool):
    """(loss, dL/dh) of the squared error, averaged (``mse``) or summed (``mse_sum``)."""
    diff = h - Y
    flat = diff.ravel()
    size = flat.shape[0]
    loss = B.dot(flat, flat) / (size if mean else 1)
    return loss, diff * ((2.0 / size) if mean else 2.0)


def _ce_grad(h, labels, B: _Backend):
    """(loss, dL/dh) of softmax cross-entropy on logits h (n, C), in the log-sum-exp form: subtracting
    each row's maximum keeps exp() from overflowing without changing the softmax."""
    n = h.shape[0]
    rows = B.arange(n)
    z = h - B.rowmax(h)
    e = B.xp.exp(z)
    s = B.rowsum(e)
    loss = float((B.xp.log(s)[:, 0] - z[rows, labels]).mean())
    d = e / s
    d[rows, labels] -= 1.0
    d *= 1.0 / n
    return loss, d


def fused_train(t, losses: torch.Tensor) -> None:
    """Run ``t.total_steps`` steps; same batches, callbacks and bookkeeping as the reference loop."""
    model, spec = t.model, t.spec
    B = backend_for(model, t.batch)
    P = _Params(model, B)
    # Overflow becomes inf and then a NaN loss, which the divergence callback reports: no warnings.
    errstate = np.errstate(over="ignore", invalid="ignore", divide="ignore")
    errstate.__enter__()
    layers: list = []
    try:
        layers = [_layer(m, P) for m in model.net if not isinstance(m, PolyFeatures)]
        X = t.X
        if isinstance(model.net[0], PolyFeatures):  # the inputs never change: expand them once
            with torch.no_grad():
                X = model.net[0](t.X)
        X, Y = B.array(X), B.array(t.Y)
        if spec.loss == "ce":
            grad_of = lambda h, y: _ce_grad(h, y, B)  # noqa: E731
        else:
            grad_of = lambda h, y: _mse_grad(h, y, B, spec.loss == "mse")  # noqa: E731
        if spec.optimizer == "adam":
            opt = _Adam(P, spec.lr, spec.weight_decay)
        else:
            opt = _SGD(P, spec.lr, spec.momentum if spec.optimizer == "sgd" else 0.0, spec.weight_decay)
        loss_np = losses.numpy()
        syncs = [layer for layer in layers if hasattr(layer, "sync")]
        callbacks = t.callbacks
        recorders = [cb for cb in callbacks if hasattr(cb, "wants")]
        recorder_steps = {s for s in range(t.total_steps) if any(cb.wants(s) for cb in recorders)}
        others = [cb for cb in callbacks if not hasattr(cb, "wants") and type(cb).on_step_end is not Callback.on_step_end]
        epoch_readers = [cb for cb in callbacks if type(cb).on_epoch_end is not Callback.on_epoch_end]
        n, batch = len(t.X), t.batch
        full = batch == n
        gen = torch.Generator().manual_seed(spec.seed)  # the reference loop's batches, draw for draw
        with torch.no_grad():
            for epoch in range(spec.epochs):
                t.epoch = epoch
                order = None if full else torch.randperm(n, generator=gen)
                if order is not None and B.is_numpy:
                    order = order.numpy()
                for b in range(t.batches_per_epoch):
                    if full:
                        xb, yb = X, Y
                    else:
                        idx = order[b * batch : (b + 1) * batch]
                        xb, yb = X[idx], Y[idx]
                    h = xb
                    for layer in layers:
                        h = layer.forward(h)
                    loss, d = grad_of(h, yb)
                    for i in range(len(layers) - 1, -1, -1):
                        d = layers[i].backward(d, i > 0)
                    step = t.steps_done
                    loss_np[step] = loss
                    if step in recorder_steps:
                        for layer in syncs:  # the recorder may read batch-norm buffers (snapshots, grid)
                            layer.sync()
                        pred = B.tensor(h)
                        for cb in recorders:
                            cb.on_step_end(t, step, None, pred)
                    for cb in others:
                        cb.on_step_end(t, step, loss, None)
                    opt.step()
                    t.steps_done += 1
                if epoch_readers:  # e.g. validation metrics in eval mode read the running statistics
                    for layer in syncs:
                        layer.sync()
                    for cb in epoch_readers:
                        cb.on_epoch_end(t, epoch)
    finally:
        for layer in layers:
            getattr(layer, "sync", lambda: None)()
        errstate.__exit__(None, None, None)
        P.release()
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean, m.running_var = m.running_mean.clone(), m.running_var.clone()
