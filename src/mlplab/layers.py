"""One layer library for the fused and stacked engines: forward and backward side by side, written once.

Activations are feature-major, ``x (..., d, n)``: the optional leading axis holds R runs trained at once
(the stacked engine), and CPU GEMMs of the course's 2-unit layers run several times faster as
(out, in) @ (in, n) than as (n, in) @ (in, out) when batched. Each layer's ``forward(x, train)`` keeps
what ``backward`` needs; ``backward(dy)`` writes the parameter gradients into the flat gradient vector
and returns dx. The same code runs on NumPy arrays (one run: ~1 us per call, where a torch op costs
3-6 us of dispatch) and on torch tensors (R runs: batched products); `Backend` holds the few calls
that differ. The from-scratch engine (`mlplab.autograd`) keeps its own, deliberately plainer layers:
it is the one being taught.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from .models.mlp import InputFeatures, PolyFeatures, ResidualBlock

EXPANSIONS = (PolyFeatures, InputFeatures)  # parameter-free input expansions: the engines apply them once

Array = Any  # np.ndarray or torch.Tensor, by backend
ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.Identity)


class Backend:
    """NumPy: small steps, one run. Torch: a leading run axis, batched products."""

    def __init__(self, kind: str):
        self.kind = kind
        self.numpy = kind == "numpy"
        self._ones: dict[int, Array] = {}

    def asarray(self, a: np.ndarray) -> Array:
        a = np.ascontiguousarray(a)
        return a if self.numpy else torch.from_numpy(a)

    def to_numpy(self, a: Array) -> np.ndarray:
        return a if self.numpy else a.numpy()

    def rowsum(self, a: Array, out: Array | None = None) -> Array:
        """Sums over the last axis (..., d, n) -> (..., d). NumPy: a BLAS product with ones, ~1 us where
        ``a.sum(-1)`` costs ~5 us."""
        if not self.numpy:
            return torch.sum(a, dim=-1, out=out) if out is not None else a.sum(-1)
        n = a.shape[-1]
        ones = self._ones.get(n)
        if ones is None:
            ones = self._ones[n] = np.ones(n, dtype=a.dtype)
        return np.matmul(a, ones, out=out)

    def matmul(self, a: Array, b: Array, out: Array | None = None) -> Array:
        if self.numpy:
            return np.matmul(a, b, out=out)
        if a.dim() == 3 and b.dim() == 3:  # R runs: bmm skips matmul's broadcasting work
            return torch.bmm(a, b, out=out) if out is not None else torch.bmm(a, b)
        return torch.matmul(a, b, out=out) if out is not None else torch.matmul(a, b)

    def relu(self, x: Array) -> tuple[Array, Array]:
        """(relu(x), what its backward needs). NumPy: x times its mask (~1 us). Torch: the fused kernels, ~5x
        faster than a product with a bool mask on (R, d, n) tensors (which converts the mask every time)."""
        if self.numpy:
            mask = x > 0
            return x * mask, mask
        y = torch.relu(x)
        return y, y

    def relu_grad(self, dy: Array, saved: Array) -> Array:
        if self.numpy:
            return dy * saved
        return torch.ops.aten.threshold_backward(dy, saved, 0)  # dy where relu(x) > 0, else 0

    def linear(self, W: Array, x: Array, b: Array | None) -> Array:
        """W @ x (+ b per output row): (..., out, in) @ (..., in, n). Torch, R runs: one baddbmm."""
        if not self.numpy and x.dim() == 3:
            return torch.baddbmm(b.unsqueeze(2), W, x) if b is not None else torch.bmm(W, x)
        y = self.matmul(W, x)
        if b is not None:
            y += b[..., None]
        return y

    def where(self, mask: Array, a: Array, b: Array) -> Array:
        return np.where(mask, a, b) if self.numpy else torch.where(mask, a, b)

    def tanh(self, a: Array) -> Array:
        return np.tanh(a) if self.numpy else torch.tanh(a)

    def sigmoid(self, a: Array) -> Array:
        if not self.numpy:
            return torch.sigmoid(a)
        e = np.exp(-np.abs(a))  # exp(-|x|) never overflows; both branches agree where both are finite
        return np.where(a >= 0, 1 / (1 + e), e / (1 + e))

    def rsqrt(self, a: Array) -> Array:
        return 1.0 / np.sqrt(a) if self.numpy else torch.rsqrt(a)

    def log(self, a: Array) -> Array:
        return np.log(a) if self.numpy else torch.log(a)

    def log1p(self, a: Array) -> Array:
        return np.log1p(a) if self.numpy else torch.log1p(a)

    def exp(self, a: Array) -> Array:
        return np.exp(a) if self.numpy else torch.exp(a)

    def clamp_min(self, a: Array, lo: float) -> Array:
        return np.maximum(a, lo) if self.numpy else a.clamp_min(lo)


NUMPY, TORCH = Backend("numpy"), Backend("torch")


class FlatParams:
    """Every trainable parameter of R models in one float32 vector (NumPy or torch); each parameter a
    contiguous view, (*shape) for one run or (R, *shape) for several. The torch models' parameters
    and batch-norm buffers are rebound to views of the same memory, so the models always show the
    engine's current values (callbacks, recorders and metrics read them at no cost); `release` gives
    them their own memory back."""

    def __init__(self, models: Sequence[nn.Module], backend: Backend, stacked: bool):
        self.models, self.B, self.stacked = list(models), backend, stacked
        self.names = [name for name, _ in models[0].named_parameters()]
        tables = [dict(m.named_parameters()) for m in models]
        blocks = [np.stack([t[n].detach().numpy() for t in tables]) if stacked
                  else tables[0][n].detach().numpy() for n in self.names]
        flat = np.concatenate([b.astype(np.float32).ravel() for b in blocks])
        self.flat = backend.asarray(flat)
        self.grad = self.flat * 0
        self.views: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}
        off = 0
        for name, block in zip(self.names, blocks):
            size = block.size
            self.views[name] = self.flat[off : off + size].reshape(block.shape)
            self.grads[name] = self.grad[off : off + size].reshape(block.shape)
            off += size
        self.buffers: dict[str, Array] = {}  # saved float buffers (batch-norm running statistics), same layout
        for name in _saved_float_buffers(models[0]):
            stack = [m.get_buffer(name).numpy() for m in models]
            self.buffers[name] = backend.asarray(np.stack(stack) if stacked else stack[0].copy())
        self._bind()

    def _bind(self) -> None:
        for r, model in enumerate(self.models):
            for name, p in model.named_parameters():
                p.data = self._torch(self.views[name], r)
            for name, value in self.buffers.items():
                module_name, _, attr = name.rpartition(".")
                setattr(model.get_submodule(module_name), attr, self._torch(value, r))

    def _torch(self, a: Array, r: int) -> torch.Tensor:
        a = a[r] if self.stacked else a
        return torch.from_numpy(a) if self.B.numpy else a

    def per_element(self, values: Sequence[float]) -> Array:
        """A per-run number spread over the flat layout: (R,) -> (P_total,) (the stacked runs' lr, decay)."""
        parts = [np.broadcast_to(np.asarray(values, np.float32).reshape((-1,) + (1,) * (g.ndim - 1)), g.shape).ravel()
                 for g in self.grads.values()]
        return self.B.asarray(np.concatenate(parts))

    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameters and float buffers by name, as NumPy arrays (views: copy to keep)."""
        return {k: self.B.to_numpy(v) for k, v in {**self.views, **self.buffers}.items()}

    def release(self) -> None:
        for model in self.models:
            for p in model.parameters():
                p.data = p.data.clone()
            for m in model.modules():
                if isinstance(m, nn.BatchNorm1d):
                    m.running_mean, m.running_var = m.running_mean.clone(), m.running_var.clone()


def _saved_float_buffers(model: nn.Module) -> list[str]:
    """Names of the float buffers a state_dict holds (running statistics; not PolyFeatures' powers)."""
    out = []
    for name, b in model.named_buffers():
        owner, _, attr = name.rpartition(".")
        module = model.get_submodule(owner) if owner else model
        if b.is_floating_point() and attr not in module._non_persistent_buffers_set:
            out.append(name)
    return out


# ------------------------------------------------------------------------------------------ layers


class Linear:
    def __init__(self, P: FlatParams, prefix: str, has_bias: bool):
        self.B = P.B
        self.W, self.gW = P.views[prefix + "weight"], P.grads[prefix + "weight"]  # (..., out, in)
        self.b = self.gb = None
        if has_bias:
            self.b, self.gb = P.views[prefix + "bias"], P.grads[prefix + "bias"]  # (..., out)

    def forward(self, x: Array, train: bool = True) -> Array:
        self.x = x
        return self.B.linear(self.W, x, self.b)  # (..., out, in) @ (..., in, n) + b

    def backward(self, dy: Array, need_dx: bool = True) -> Array | None:
        self.B.matmul(dy, self.x.mT, out=self.gW)  # (..., out, n) @ (..., n, in)
        if self.gb is not None:
            self.B.rowsum(dy, out=self.gb)
        return self.B.matmul(self.W.mT, dy) if need_dx else None  # (..., in, out) @ (..., out, n)


class Activation:
    """ReLU, leaky ReLU, tanh, sigmoid, identity; the backward uses the saved input sign or output."""

    def __init__(self, m: nn.Module, B: Backend):
        self.kind, self.B = type(m).__name__, B
        self.slope = getattr(m, "negative_slope", 0.0)

    def forward(self, x: Array, train: bool = True) -> Array:
        k = self.kind
        if k == "ReLU":
            y, self.mask = self.B.relu(x)
            return y
        if k == "LeakyReLU":
            self.mask = x > 0
            return self.B.where(self.mask, x, x * self.slope)
        if k == "Tanh":
            self.y = self.B.tanh(x)
            return self.y
        if k == "Sigmoid":
            self.y = self.B.sigmoid(x)
            return self.y
        return x

    def backward(self, dy: Array, need_dx: bool = True) -> Array:
        k = self.kind
        if k == "ReLU":
            return self.B.relu_grad(dy, self.mask)
        if k == "LeakyReLU":
            return self.B.where(self.mask, dy, dy * self.slope)
        if k == "Tanh":
            return dy * (1 - self.y * self.y)
        if k == "Sigmoid":
            return dy * self.y * (1 - self.y)
        return dy


class BatchNorm:
    """Batch norm over the n axis (per run); running statistics updated as torch does (unbiased var)."""

    def __init__(self, m: nn.BatchNorm1d, P: FlatParams, prefix: str):
        self.B = P.B
        self.g, self.gg = P.views[prefix + "weight"], P.grads[prefix + "weight"]  # (..., d)
        self.b, self.gb = P.views[prefix + "bias"], P.grads[prefix + "bias"]
        self.rm, self.rv = P.buffers[prefix + "running_mean"], P.buffers[prefix + "running_var"]
        self.eps, self.momentum, self.module = m.eps, m.momentum, m
        self.updates = 0

    def forward(self, x: Array, train: bool = True) -> Array:
        B = self.B
        if not train:
            return (x - self.rm[..., None]) * B.rsqrt(self.rv[..., None] + self.eps) * self.g[..., None] + self.b[..., None]
        n = x.shape[-1]
        self.inv_n = 1.0 / n
        mean = B.rowsum(x) * self.inv_n  # (..., d)
        xc = x - mean[..., None]
        var = B.rowsum(xc * xc) * self.inv_n
        self.rstd = B.rsqrt(var + self.eps)
        self.xhat = xc * self.rstd[..., None]
        mo = self.momentum
        self.rm *= 1 - mo
        self.rm += mo * mean
        self.rv *= 1 - mo
        self.rv += (mo * n / (n - 1)) * var
        self.updates += 1
        return self.xhat * self.g[..., None] + self.b[..., None]

    def backward(self, dy: Array, need_dx: bool = True) -> Array:
        self.B.rowsum(dy * self.xhat, out=self.gg)
        self.B.rowsum(dy, out=self.gb)
        # dx = rstd gamma (dy - mean(dy) - xhat mean(dy xhat)); the two means are gb / n and gg / n
        scale = (self.rstd * self.g)[..., None]
        return (dy - (self.gb * self.inv_n)[..., None] - self.xhat * (self.gg * self.inv_n)[..., None]) * scale

    def finish(self) -> None:
        """Count the updates in torch's ``num_batches_tracked`` (read by nothing here, kept for state_dict)."""
        if self.module.num_batches_tracked is not None:
            self.module.num_batches_tracked += self.updates
        self.updates = 0


class Residual:
    def __init__(self, inner: list):
        self.inner = inner

    def forward(self, x: Array, train: bool = True) -> Array:
        y = x
        for layer in self.inner:
            y = layer.forward(y, train)
        return y + x

    def backward(self, dy: Array, need_dx: bool = True) -> Array:
        d = dy
        for layer in reversed(self.inner):
            d = layer.backward(d)
        return d + dy


def unsupported(model: nn.Module) -> str | None:
    """Why this library cannot run ``model`` (None: it can). It needs an ``MLP`` of supported parts."""
    net = getattr(model, "net", None)
    if not isinstance(net, nn.Sequential):
        return "a model built by mlplab.build_model"
    for i, m in enumerate(net):
        if isinstance(m, EXPANSIONS) and i == 0:
            continue
        if isinstance(m, ResidualBlock):
            if not isinstance(m.act, ELEMENTWISE) or not isinstance(m.norm, (nn.Identity, nn.BatchNorm1d)):
                return f"residual blocks with an elementwise activation and batch norm or none ({m})"
            parts = [m.norm] if isinstance(m.norm, nn.BatchNorm1d) else []
        elif isinstance(m, (nn.Linear,) + ELEMENTWISE):
            continue
        elif isinstance(m, nn.BatchNorm1d):
            parts = [m]
        else:
            return f"layers it has code for (not {type(m).__name__})"
        for bn in parts:
            if not bn.affine or not bn.track_running_stats or bn.momentum is None:
                return "batch norm with affine parameters and running statistics"
    return None


def build(model: nn.Module, P: FlatParams) -> list:
    """The layers of ``model.net`` (input expansions excluded: the engine expands the inputs once)."""

    def one(m: nn.Module, prefix: str):
        if isinstance(m, nn.Linear):
            return Linear(P, prefix, m.bias is not None)
        if isinstance(m, nn.BatchNorm1d):
            return BatchNorm(m, P, prefix)
        if isinstance(m, ResidualBlock):
            names = ["fc1", "norm", "act", "fc2"]
            return Residual([one(getattr(m, k), f"{prefix}{k}.") for k in names if not isinstance(getattr(m, k), nn.Identity)])
        if isinstance(m, ELEMENTWISE):
            return Activation(m, P.B)
        raise TypeError(f"no layer for {type(m).__name__}")  # `unsupported` rules this out

    return [one(m, f"net.{i}.") for i, m in enumerate(model.net) if not isinstance(m, EXPANSIONS)]


def batch_norms(layers: list) -> list[BatchNorm]:
    out = []
    for layer in layers:
        if isinstance(layer, BatchNorm):
            out.append(layer)
        elif isinstance(layer, Residual):
            out += batch_norms(layer.inner)
    return out


# ------------------------------------------------------------------------------------------ losses
# Each: (h, Y) -> (loss, dL/dh) with h (..., d_out, n). The loss is a float for one run, (R,) for R runs.
# They follow torch.nn.functional's definitions (mean over every element for mse and bce).


def _total(B: Backend, a: Array) -> Array:
    """Sum over the last two axes: (..., d, n) -> (...)."""
    if B.numpy and a.ndim == 2:
        return float(a.sum())
    return a.sum((-2, -1))


def mse(B: Backend, h: Array, Y: Array, mean: bool = True) -> tuple[Any, Array]:
    diff = h - Y
    size = h.shape[-1] * h.shape[-2]
    if B.numpy and h.ndim == 2:
        flat = diff.ravel()
        total = float(np.dot(flat, flat))
    else:
        total = (diff * diff).sum((-2, -1))
    if mean:
        return total / size, diff * (2.0 / size)
    return total, diff * 2.0


def bce(B: Backend, p: Array, Y: Array) -> tuple[Any, Array]:
    """Binary cross-entropy of probabilities; logs clamped at -100 and the gradient's denominator at
    1e-12, as torch does."""
    size = p.shape[-1] * p.shape[-2]
    log_p = B.clamp_min(B.log(p), -100.0)
    log_q = B.clamp_min(B.log1p(-p), -100.0)
    loss = -_total(B, Y * log_p + (1 - Y) * log_q) / size
    grad = (p - Y) / B.clamp_min((1 - p) * p, 1e-12) / size
    return loss, grad


def bce_logits(B: Backend, z: Array, Y: Array) -> tuple[Any, Array]:
    """Binary cross-entropy on logits in the stable form max(z, 0) - z y + log(1 + exp(-|z|))."""
    size = z.shape[-1] * z.shape[-2]
    absz = np.abs(z) if B.numpy else z.abs()
    pos = np.maximum(z, 0) if B.numpy else z.clamp_min(0)
    loss = _total(B, pos - z * Y + B.log1p(B.exp(-absz))) / size
    return loss, (B.sigmoid(z) - Y) / size


def cross_entropy(B: Backend, h: Array, labels: Array) -> tuple[Any, Array]:
    """Softmax cross-entropy of logits h (C, n) against labels (n,), in the log-sum-exp form (one run)."""
    n = h.shape[-1]
    cols = np.arange(n)
    z = h - h.max(0, keepdims=True)
    e = np.exp(z)
    s = e.sum(0, keepdims=True)
    loss = float((np.log(s)[0] - z[labels, cols]).mean())
    d = e / s
    d[labels, cols] -= 1.0
    d *= 1.0 / n
    return loss, d


def loss_and_grad(kind: str, B: Backend, h: Array, Y: Array) -> tuple[Any, Array]:
    if kind == "mse":
        return mse(B, h, Y)
    if kind == "mse_sum":
        return mse(B, h, Y, mean=False)
    if kind == "bce":
        return bce(B, h, Y)
    if kind == "bce_logits":
        return bce_logits(B, h, Y)
    return cross_entropy(B, h, Y)
