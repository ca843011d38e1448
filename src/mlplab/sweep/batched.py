"""Many runs of one architecture trained as ONE stacked model: parameters (R, ...), batched matmuls.

Why: a course model is a few hundred numbers; one PyTorch step costs dispatch, not arithmetic. Stacking
R runs on a leading axis makes each op do R runs' work for one dispatch. Runs in a group may differ in
seed (data and initialisation), learning rate, weight decay, data noise and init; everything that sets
a shape or the code path (architecture, epochs, optimizer kind, loss) must be equal (`group_key`).

Forward and backward are written by hand side by side (as in ``training/fused.py``, with an extra
leading axis), and the optimizer updates one flat parameter vector with per-run lr / weight decay
expanded to that vector. Each run is built by ``build_model(spec, seed)``, so it starts exactly where
``mlplab.train`` would start; per-step losses agree with the reference loop to float32 rounding.

Scope: full-batch MSE (mean or sum) regression and BCE on sigmoid outputs, Adam / SGD / the notebooks'
manual SGD, models of Linear, elementwise activations, batch norm (training mode) and residual blocks.
`supported` says no to anything else, and the runner trains those runs one by one with ``mlplab.train``.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..models.mlp import ResidualBlock
from ..specs import Experiment
from ..training.callbacks import _lattice, frame_schedule
from ..training.loop import _tensors, metrics
from ..training.run import Run

# Fields that may differ inside one stacked group: they change values, never shapes or code paths.
PER_RUN = {
    "data": ("seed", "noise"),
    "model": ("init", "init_std_w", "init_std_b", "init_value"),
    "train": ("seed", "lr", "weight_decay", "fused"),
}
_ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.Identity)


def supported(exp: Experiment) -> bool:
    """True when the stacked trainer reproduces ``mlplab.train`` for this experiment."""
    t, m = exp.train, exp.model
    if exp.kind != "train" or t.batch_size is not None or t.val_fraction or t.patience \
            or getattr(t, "engine", "torch") != "torch":  # another engine asked for: train it as asked
        return False
    if m.poly_degree or m.norm == "layer" or not m.bias or m.out_activation == "softmax":
        return False
    if t.loss in ("mse", "mse_sum"):
        return m.out_activation == "none"
    return t.loss == "bce" and m.out_activation == "sigmoid" and m.out_dim == 1


def group_key(exp: Experiment) -> str:
    """Runs with equal keys can share one stacked model (equal shapes and code path)."""
    spec = exp.model_dump(exclude={"name", "title", "description", "notebook", "view"})
    for section, fields in PER_RUN.items():
        for f in fields:
            spec[section].pop(f, None)
    return json.dumps(spec, sort_keys=True, default=str)


# ---------------------------------------------------------------- stacked layers
# Each layer: forward(x, train) keeps what backward needs; backward(dy) writes the parameter gradients
# into the flat gradient and returns dx. Activations are feature-major, x (R, d_in, n) -> y (R, d_out, n):
# CPU batched GEMMs are ~10x faster as (out, in) @ (in, n) than as (n, in) @ (in, out) for widths of 2.


class _Flat:
    """All runs' trainable parameters in one flat vector; each parameter a contiguous (R, *shape) view."""

    def __init__(self, models: Sequence[nn.Module]):
        self.names = [name for name, _ in models[0].named_parameters()]
        tables = [dict(m.named_parameters()) for m in models]
        blocks = [torch.stack([t[n].detach() for t in tables]) for n in self.names]
        sizes = [b.numel() for b in blocks]
        self.flat = torch.cat([b.reshape(-1) for b in blocks]).float()
        self.grad = torch.zeros_like(self.flat)
        self.views, self.grads, off = {}, {}, 0
        for name, block, size in zip(self.names, blocks, sizes):
            self.views[name] = self.flat[off : off + size].view(block.shape)  # (R, *shape)
            self.grads[name] = self.grad[off : off + size].view(block.shape)
            off += size
        self.R = len(models)

    def per_run(self, values: Sequence[float]) -> torch.Tensor:
        """A per-run number spread over the flat layout: (R,) -> (P_total,)."""
        v = torch.tensor(values, dtype=torch.float32)
        parts = [v.view(-1, *([1] * (g.dim() - 1))).expand_as(g).reshape(-1) for g in self.grads.values()]
        return torch.cat(parts)


class _Linear:
    def __init__(self, flat: _Flat, prefix: str):
        self.W, self.gW = flat.views[prefix + "weight"], flat.grads[prefix + "weight"]  # (R, out, in)
        self.b, self.gb = flat.views[prefix + "bias"], flat.grads[prefix + "bias"]  # (R, out)

    def forward(self, x: torch.Tensor, train: bool = True) -> torch.Tensor:
        self.x = x
        return torch.baddbmm(self.b.unsqueeze(2), self.W, x)  # (R, out, in) @ (R, in, n)

    def backward(self, dy: torch.Tensor, need_dx: bool = True) -> torch.Tensor | None:
        torch.bmm(dy, self.x.transpose(1, 2), out=self.gW)  # (R, out, n) @ (R, n, in)
        torch.sum(dy, dim=2, out=self.gb)
        return torch.bmm(self.W.transpose(1, 2), dy) if need_dx else None  # (R, in, out) @ (R, out, n)


class _Act:
    """Elementwise activations; the backward uses the saved output (tanh, sigmoid) or input sign."""

    def __init__(self, m: nn.Module):
        self.kind = type(m).__name__
        self.slope = getattr(m, "negative_slope", 0.0)

    def forward(self, x: torch.Tensor, train: bool = True) -> torch.Tensor:
        k = self.kind
        if k == "ReLU":
            self.mask = x > 0
            return x * self.mask
        if k == "LeakyReLU":
            self.mask = x > 0
            return torch.where(self.mask, x, x * self.slope)
        if k == "Tanh":
            self.y = torch.tanh(x)
            return self.y
        if k == "Sigmoid":
            self.y = torch.sigmoid(x)
            return self.y
        return x

    def backward(self, dy: torch.Tensor, need_dx: bool = True) -> torch.Tensor:
        k = self.kind
        if k == "ReLU":
            return dy * self.mask
        if k == "LeakyReLU":
            return torch.where(self.mask, dy, dy * self.slope)
        if k == "Tanh":
            return dy * (1 - self.y * self.y)
        if k == "Sigmoid":
            return dy * self.y * (1 - self.y)
        return dy


class _BatchNorm:
    """Batch norm over the n axis per run; running statistics updated as torch does (unbiased var)."""

    def __init__(self, m: nn.BatchNorm1d, flat: _Flat, prefix: str, buffers: dict[str, torch.Tensor]):
        self.g, self.gg = flat.views[prefix + "weight"], flat.grads[prefix + "weight"]  # (R, d)
        self.b, self.gb = flat.views[prefix + "bias"], flat.grads[prefix + "bias"]
        self.rm, self.rv = buffers[prefix + "running_mean"], buffers[prefix + "running_var"]  # (R, d)
        self.eps, self.momentum = m.eps, m.momentum

    def forward(self, x: torch.Tensor, train: bool = True) -> torch.Tensor:
        if not train:
            return (x - self.rm.unsqueeze(2)) * torch.rsqrt(self.rv.unsqueeze(2) + self.eps) * self.g.unsqueeze(2) \
                + self.b.unsqueeze(2)
        n = x.shape[2]
        mean = x.mean(2, keepdim=True)  # (R, d, 1)
        xc = x - mean
        var = (xc * xc).mean(2, keepdim=True)
        self.rstd = torch.rsqrt(var + self.eps)
        self.xhat = xc * self.rstd
        mo = self.momentum
        self.rm.mul_(1 - mo).add_(mean.squeeze(2), alpha=mo)
        self.rv.mul_(1 - mo).add_(var.squeeze(2), alpha=mo * n / (n - 1))
        return self.xhat * self.g.unsqueeze(2) + self.b.unsqueeze(2)

    def backward(self, dy: torch.Tensor, need_dx: bool = True) -> torch.Tensor:
        torch.sum(dy * self.xhat, dim=2, out=self.gg)
        torch.sum(dy, dim=2, out=self.gb)
        dxhat = dy * self.g.unsqueeze(2)
        return self.rstd * (dxhat - dxhat.mean(2, keepdim=True) - self.xhat * (dxhat * self.xhat).mean(2, keepdim=True))


class _Residual:
    def __init__(self, inner: list):
        self.inner = inner

    def forward(self, x: torch.Tensor, train: bool = True) -> torch.Tensor:
        y = x
        for layer in self.inner:
            y = layer.forward(y, train)
        return y + x

    def backward(self, dy: torch.Tensor, need_dx: bool = True) -> torch.Tensor:
        d = dy
        for layer in reversed(self.inner):
            d = layer.backward(d)
        return d + dy


def _build(model: nn.Module, flat: _Flat, buffers: dict[str, torch.Tensor]) -> list:
    def one(m: nn.Module, prefix: str):
        if isinstance(m, nn.Linear):
            return _Linear(flat, prefix)
        if isinstance(m, nn.BatchNorm1d):
            return _BatchNorm(m, flat, prefix, buffers)
        if isinstance(m, ResidualBlock):
            names = ["fc1", "norm", "act", "fc2"]
            mods = [getattr(m, k) for k in names]
            return _Residual([one(sub, f"{prefix}{k}.") for k, sub in zip(names, mods) if not isinstance(sub, nn.Identity)])
        if isinstance(m, _ELEMENTWISE):
            return _Act(m)
        raise TypeError(f"the stacked trainer has no layer for {type(m).__name__}")  # `supported` rules this out

    return [one(m, f"net.{i}.") for i, m in enumerate(model.net)]


# ---------------------------------------------------------------- optimizers on the flat vector


class _Adam:
    """torch.optim.Adam's update (L2 weight decay added to the gradient), with per-element lr and decay."""

    def __init__(self, flat: _Flat, lr: torch.Tensor, wd: torch.Tensor, betas=(0.9, 0.999), eps=1e-8):
        self.F, self.lr, self.wd = flat, lr, wd if bool((wd != 0).any()) else None
        self.b1, self.b2, self.eps = betas[0], betas[1], eps
        self.m, self.v, self.t = torch.zeros_like(flat.flat), torch.zeros_like(flat.flat), 0

    def step(self) -> None:
        p, g = self.F.flat, self.F.grad
        if self.wd is not None:
            g = g + self.wd * p
        self.t += 1
        self.m.lerp_(g, 1 - self.b1)
        self.v.mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
        denom = (self.v.sqrt() / math.sqrt(1 - self.b2**self.t)).add_(self.eps)
        p.sub_(self.lr / (1 - self.b1**self.t) * self.m / denom)


class _SGD:
    """torch.optim.SGD (momentum buffer starts as the first gradient) and the notebooks' manual step."""

    def __init__(self, flat: _Flat, lr: torch.Tensor, wd: torch.Tensor, momentum: float):
        self.F, self.lr, self.wd, self.mu = flat, lr, wd if bool((wd != 0).any()) else None, momentum
        self.buf: torch.Tensor | None = None

    def step(self) -> None:
        p, g = self.F.flat, self.F.grad
        if self.wd is not None:
            g = g + self.wd * p
        if self.mu:
            self.buf = g.clone() if self.buf is None else self.buf.mul_(self.mu).add_(g)
            g = self.buf
        p.sub_(self.lr * g)


# ---------------------------------------------------------------- the group trainer


def _loss_and_grad(kind: str, out: torch.Tensor, Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-run loss (R,) and d loss / d out (R, d, n), as torch's mse_loss / binary_cross_entropy compute them."""
    if kind in ("mse", "mse_sum"):
        diff = out - Y
        total = (diff * diff).sum((1, 2))
        count = out.shape[1] * out.shape[2]
        if kind == "mse":
            return total / count, diff * (2.0 / count)
        return total, diff * 2.0
    n = out.shape[1] * out.shape[2]
    log_p = torch.log(out).clamp_min(-100.0)  # torch clamps the logs at -100
    log_q = torch.log1p(-out).clamp_min(-100.0)
    loss = -(Y * log_p + (1 - Y) * log_q).sum((1, 2)) / n
    grad = (out - Y) / ((1 - out) * out).clamp_min(1e-12) / n
    return loss, grad


def train_group(experiments: Sequence[Experiment], *, callbacks: Sequence[Any] = (),
                datasets: Sequence[Any] | None = None) -> list[Run]:
    """Train every experiment of one group (equal `group_key`, all `supported`) together; one Run each.

    ``callbacks``: objects with ``on_step_end(t, step, loss, pred)``; here ``t`` is None and ``loss``
    is the (R,) tensor of the members' losses. Raising KeyboardInterrupt from one stops the whole group:
    every member becomes an "interrupted" run with the steps done so far.
    """
    from ..models import build_model

    exps = list(experiments)
    R = len(exps)
    first = exps[0]
    spec = first.train
    data = list(datasets) if datasets is not None else [e.make_data() for e in exps]
    models = [build_model(e.model, seed=e.train.seed) for e in exps]
    pairs = [_tensors(d.X, d.y, d.task, spec.loss) for d in data]
    X = torch.stack([p[0] for p in pairs]).transpose(1, 2).contiguous()  # (R, n, d_in) -> (R, d_in, n)
    Y = torch.stack([p[1] for p in pairs]).transpose(1, 2).contiguous()  # (R, d_out, n)
    n, d_in, d_out = X.shape[2], X.shape[1], Y.shape[1]
    flat = _Flat(models)
    tables = [dict(m.named_buffers()) for m in models]
    buffers = {name: torch.stack([t[name].detach().float() for t in tables])
               for name, b in tables[0].items() if b.is_floating_point()}
    layers = _build(models[0], flat, buffers)
    lr = flat.per_run([e.train.lr for e in exps])
    wd = flat.per_run([e.train.weight_decay for e in exps])
    opt = _Adam(flat, lr, wd) if spec.optimizer == "adam" else _SGD(
        flat, lr, wd, spec.momentum if spec.optimizer == "sgd" else 0.0)

    steps = spec.epochs
    frame_steps = frame_schedule(steps - 1, spec.frames)
    slot = {int(s): i for i, s in enumerate(frame_steps)}
    frames = torch.full((len(frame_steps), R, n, d_out), float("nan"))
    grid_points = grid_frames = None
    if spec.grid and d_in in (1, 2):
        lattices = [_lattice(d, spec.grid) for d in data]
        grid_axes = [lat[0] for lat in lattices]
        grid_points = torch.stack([lat[1] for lat in lattices]).transpose(1, 2).contiguous()  # (R, d_in, G)
        grid_frames = torch.full((len(frame_steps), R, grid_points.shape[2], d_out), float("nan"))
    state_names = [n for n, v in models[0].state_dict().items() if v.is_floating_point()]
    live = {**flat.views, **buffers}
    snaps = ({n: torch.full((len(frame_steps),) + tuple(live[n].shape), float("nan")) for n in state_names}
             if spec.snapshots else {})
    losses = torch.full((steps, R), float("nan"))

    def forward(x: torch.Tensor, train: bool) -> torch.Tensor:
        for layer in layers:
            x = layer.forward(x, train)
        return x

    status, done = "finished", 0
    started = time.perf_counter()
    with torch.no_grad():
        try:
            for step in range(steps):
                out = forward(X, True)
                loss, d = _loss_and_grad(spec.loss, out, Y)
                for i in range(len(layers) - 1, -1, -1):
                    d = layers[i].backward(d, i > 0)
                losses[step] = loss
                if step in slot:
                    k = slot[step]
                    frames[k] = out.transpose(1, 2)  # (R, d_out, n) -> (R, n, d_out)
                    if grid_points is not None:
                        grid_frames[k] = forward(grid_points, False).transpose(1, 2)
                    for n in snaps:
                        snaps[n][k] = live[n]
                for cb in callbacks:
                    cb.on_step_end(None, step, loss, None)
                opt.step()
                done = step + 1
        except KeyboardInterrupt:
            status = "interrupted"
    elapsed = time.perf_counter() - started

    runs = []
    for r, (exp, model, d) in enumerate(zip(exps, models, data)):
        run_losses = losses[:done, r].numpy().copy()
        bad = np.flatnonzero(~np.isfinite(run_losses))
        keep = done if not len(bad) else int(bad[0])
        state = {n: live[n][r].clone() for n in state_names}
        model.load_state_dict({**model.state_dict(), **state})
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d) and m.num_batches_tracked is not None:
                m.num_batches_tracked += keep
        model.eval()
        run = Run(spec=exp.model_dump(), model=model, data=d, engine="batched")
        run.losses = run_losses[:keep]
        recorded = int(np.searchsorted(frame_steps, min(keep, done - 1) if done else -1, side="right"))
        run.frames, run.frame_steps = frames[:recorded, r].numpy().copy(), frame_steps[:recorded].copy()
        if grid_frames is not None:
            g = len(grid_axes[r][0])
            shape = (recorded,) + (g,) * d_in + (d_out,)
            run.grid_frames, run.grid_axes = grid_frames[:recorded, r].reshape(shape).numpy().copy(), grid_axes[r]
        run.snapshots = {n: v[:recorded, r].numpy().copy() for n, v in snaps.items()}
        run.timings = {"train_s": elapsed / R, "steps_per_s": done / elapsed if elapsed > 0 else 0.0,
                       "group_s": elapsed, "group_size": float(R)}
        if len(bad):
            run.status = "diverged"
            run.message = (f"the training loss became {run_losses[keep]} at step {keep}; the {keep} steps before "
                           f"it are kept. Try a smaller learning rate (train.lr={exp.train.lr}) or a normalised model.")
        elif status == "interrupted":
            run.status = "interrupted"
            run.message = f"interrupted by the user after {done} of {steps} steps; the steps done are kept"
        run.metrics = metrics(model, d, spec.loss) if run.status != "diverged" else {}
        runs.append(run)
    return runs


def split_groups(experiments: Sequence[Experiment]) -> list[list[int]]:
    """Indices of ``experiments`` grouped by `group_key` (supported ones) or alone (the rest), in order."""
    groups: dict[str, list[int]] = {}
    for i, e in enumerate(experiments):
        key = group_key(e) if supported(e) else f"alone:{i}"
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def chunks(indices: list[int], size: int) -> list[list[int]]:
    return [indices[i : i + size] for i in range(0, len(indices), size)]


ProgressFn = Callable[[int, int], None]
