"""The fused path: hand-written forward, backward and optimizer step in NumPy float32, on one flat vector.

Why: the course's models are tiny (2-unit layers, a few hundred points), so a PyTorch step costs its
dispatch overhead, not its arithmetic: about 3-6 us per op against NumPy's 1-1.5 us (measured in
``benchmarks/bench_training.py``). Here each layer's forward and backward are a few NumPy calls into
preallocated buffers, and the optimizer updates one flat parameter vector. The torch model's
parameters and batch-norm buffers are rebound to views of those arrays, so the recorder, views and
metrics read the live values at no cost. Batches come from the same seeded permutation as the
reference loop. Results match the reference loop to float32 rounding (the tests hold it to 1e-5
relative per step).

It pays for large steps too: on the d2l MLP (60000 x 784, batch 256) the epoch runs within about
1.1-1.3x of the bare matrix products, faster than autograd + torch.optim (``bench_minibatch.py``),
because nothing but the products and a few in-place array passes is left. (A torch version of the
same layers was measured as well and ran no faster than autograd, so NumPy it is.)

Scope: MSE (mean or sum) and cross-entropy; full batch or mini-batches; Adam / SGD (momentum, weight
decay) / the notebooks' manual SGD; Linear, ReLU, leaky ReLU, tanh, sigmoid, identity, batch norm
(training mode) and residual blocks, with polynomial features in front. Anything else uses the
reference loop.
"""

from __future__ import annotations


import numpy as np
import torch
from torch import nn

from ..models.mlp import PolyFeatures, ResidualBlock
from ..autograd.train import make_optimizer
from .callbacks import Callback

_ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.Identity)


def fused_supported(model: nn.Module, spec, t) -> bool:
    if spec.loss in ("mse", "mse_sum"):
        if t.task != "regression":
            return False
    elif spec.loss != "ce" or t.task != "multiclass":
        return False
    net = getattr(model, "net", None)
    if not isinstance(net, nn.Sequential) or (spec.loss == "ce" and isinstance(net[-1], nn.Softmax)):
        return False
    for i, m in enumerate(net):
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


_ONES: dict[int, np.ndarray] = {}


def _colsum(a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Column sums (n, d) -> (d,) as a BLAS matrix-vector product: ~1 us where ``a.sum(0)`` costs ~5 us."""
    n = a.shape[0]
    ones = _ONES.get(n)
    if ones is None:
        ones = _ONES[n] = np.ones(n, dtype=np.float32)
    return np.matmul(ones, a, out=out)


class _Params:
    """All trainable parameters in one float32 vector; torch parameters become views of it."""

    def __init__(self, model: nn.Module):
        self.torch_params = [p for p in model.parameters()]
        sizes = [p.numel() for p in self.torch_params]
        self.flat = np.concatenate([p.detach().numpy().astype(np.float32).ravel() for p in self.torch_params])
        self.grad = np.zeros_like(self.flat)
        self.views, self.grads = {}, {}
        off = 0
        for p, n in zip(self.torch_params, sizes):
            shape = tuple(p.shape)
            self.views[id(p)] = self.flat[off : off + n].reshape(shape)
            self.grads[id(p)] = self.grad[off : off + n].reshape(shape)
            p.data = torch.from_numpy(self.views[id(p)])  # share memory: torch sees every update
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
        self.W, self.gW = P.of(m.weight)  # (out, in)
        self.b, self.gb = P.of(m.bias) if m.bias is not None else (None, None)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        y = x @ self.W.T  # (n, in) @ (in, out)
        if self.b is not None:
            y += self.b
        return y

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        np.matmul(dy.T, self.x, out=self.gW)  # (out, n) @ (n, in)
        if self.gb is not None:
            _colsum(dy, out=self.gb)
        return dy @ self.W if need_dx else None


class _ReLU:
    def __init__(self, slope: float = 0.0):
        self.slope = slope

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = x > 0
        if self.slope:
            return np.where(self.mask, x, x * self.slope)
        return x * self.mask

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray:
        if self.slope:
            return np.where(self.mask, dy, dy * self.slope)
        return dy * self.mask


class _Tanh:
    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, dy, need_dx=True):
        return dy * (1 - self.y * self.y)


class _Sigmoid:
    def forward(self, x):
        # exp(-|x|) never overflows; the two branches give the same value where both are finite
        e = np.exp(-np.abs(x))
        self.y = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
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
        self.colsum = _colsum
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
        return _ReLU()
    if isinstance(m, nn.LeakyReLU):
        return _ReLU(m.negative_slope)
    if isinstance(m, nn.Tanh):
        return _Tanh()
    if isinstance(m, nn.Sigmoid):
        return _Sigmoid()
    if isinstance(m, nn.Identity):
        return _Identity()
    if isinstance(m, nn.BatchNorm1d):
        return _BatchNorm(m, P)
    if isinstance(m, ResidualBlock):
        return _Residual(m, P)
    raise TypeError(f"the fused path has no layer for {type(m).__name__}")  # guarded by fused_supported


def _mse_grad(h: np.ndarray, Y: np.ndarray, mean: bool) -> tuple[float, np.ndarray]:
    """(loss, dL/dh) of the squared error, averaged (``mse``) or summed (``mse_sum``)."""
    diff = h - Y
    flat = diff.ravel()
    size = flat.shape[0]
    loss = float(np.dot(flat, flat)) / (size if mean else 1)
    return loss, diff * ((2.0 / size) if mean else 2.0)


def _ce_grad(h: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """(loss, dL/dh) of softmax cross-entropy on logits h (n, C), in the log-sum-exp form: subtracting
    each row's maximum keeps exp() from overflowing without changing the softmax."""
    n = h.shape[0]
    rows = np.arange(n)
    z = h - h.max(1, keepdims=True)
    e = np.exp(z)
    s = e.sum(1, keepdims=True)
    loss = float((np.log(s)[:, 0] - z[rows, labels]).mean())
    d = e / s
    d[rows, labels] -= 1.0
    d *= 1.0 / n
    return loss, d


def _forward(layers: list, x: np.ndarray) -> np.ndarray:
    for layer in layers:
        x = layer.forward(x)
    return x


def _inputs(model: nn.Module, X: torch.Tensor) -> np.ndarray:
    """The first layer's input for rows X: polynomial features expanded when the model has them."""
    if isinstance(model.net[0], PolyFeatures):
        with torch.no_grad():
            X = model.net[0](X)
    return X.detach().numpy()


def fused_train(t, losses: torch.Tensor) -> None:
    """Run ``t.total_steps`` steps; same batches, callbacks and bookkeeping as the reference loop."""
    model, spec = t.model, t.spec
    P = _Params(model)
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
        X, Y = X.numpy(), t.Y.numpy()  # shared memory, never written: layers do not modify their inputs
        if spec.loss == "ce":
            grad_of = _ce_grad
        else:
            grad_of = lambda h, y: _mse_grad(h, y, spec.loss == "mse")  # noqa: E731
        # The NumPy engine's optimizers update a flat vector in place with torch.optim's rules (tested
        # against it to 1e-12): the same ones serve here.
        opt = make_optimizer(spec)
        loss_np = losses.numpy()
        syncs = [layer for layer in layers if hasattr(layer, "sync")]
        callbacks = t.callbacks
        recorders = [cb for cb in callbacks if hasattr(cb, "wants")]
        recorder_steps = {s for s in range(t.total_steps) if any(cb.wants(s) for cb in recorders)}
        others = [cb for cb in callbacks if not hasattr(cb, "wants") and type(cb).on_step_end is not Callback.on_step_end]
        epoch_readers = [cb for cb in callbacks if type(cb).on_epoch_end is not Callback.on_epoch_end]
        n, batch = len(t.X), t.batch
        full = batch == n
        if not syncs:  # no batch norm: the forward pass is the same in eval mode, so predict in NumPy too
            t.predict = lambda Xq: torch.from_numpy(_forward(layers, _inputs(model, Xq)))
        gen = torch.Generator().manual_seed(spec.seed)  # the reference loop's batches, draw for draw
        if not full:
            xbuf, ybuf = np.empty((batch,) + X.shape[1:], X.dtype), np.empty((batch,) + Y.shape[1:], Y.dtype)
        with torch.no_grad():
            for epoch in range(spec.epochs):
                t.epoch = epoch
                order = None if full else torch.randperm(n, generator=gen).numpy()
                for b in range(t.batches_per_epoch):
                    if full:
                        xb, yb = X, Y
                    else:
                        idx = order[b * batch : (b + 1) * batch]
                        if len(idx) == batch:  # gather into one reused buffer: no fresh pages per step
                            xb, yb = np.take(X, idx, axis=0, out=xbuf), np.take(Y, idx, axis=0, out=ybuf)
                        else:
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
                        pred = torch.from_numpy(h)
                        for cb in recorders:
                            cb.on_step_end(t, step, None, pred)
                    for cb in others:
                        cb.on_step_end(t, step, loss, None)
                    opt.step(P.flat, P.grad)
                    t.steps_done += 1
                if epoch_readers:  # e.g. validation metrics in eval mode read the running statistics
                    for layer in syncs:
                        layer.sync()
                    for cb in epoch_readers:
                        cb.on_epoch_end(t, epoch)
    finally:
        t.__dict__.pop("predict", None)  # back to the trainer's own (torch, eval mode) predict
        for layer in layers:
            getattr(layer, "sync", lambda: None)()
        errstate.__exit__(None, None, None)
        P.release()
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean, m.running_var = m.running_mean.clone(), m.running_var.clone()
