"""Sharpness through training: the largest eigenvalue of the training loss's Hessian at every recorded
frame, by power iteration on Hessian-vector products, to set beside 2/lr (Cohen et al. 2021).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch.func import functional_call, vmap

from ..errors import SpecError
from . import _weights as W
from ._result import Result


@dataclass(repr=False)
class Sharpness(Result):
    """top_eigenvalue: (k,) the largest Hessian eigenvalue of the training loss at each frame's weights;
    steps: (k,); iterations: (k,) power iterations used; converged: (k,) bool; losses: (k,) the loss
    there; lr, optimizer and momentum: from the run's spec. ``threshold`` is where gradient descent's
    step becomes unstable along the top eigenvector: 2/lr for plain gradient descent, (2 + 2 momentum)/lr
    with heavy-ball momentum. For Adam it is only a reference line: Adam's stability is set by the
    preconditioned Hessian, not this one.
    """

    run_name: str
    steps: np.ndarray
    top_eigenvalue: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray
    losses: np.ndarray
    lr: float
    optimizer: str
    momentum: float
    loss_name: str

    @property
    def threshold(self) -> float:
        return (2.0 + 2.0 * self.momentum) / self.lr


def top_eigenvalues(hvp: Callable[[torch.Tensor], torch.Tensor], v0: torch.Tensor, *, tol: float = 1e-6,
                    max_iter: int = 500) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The largest (algebraic) eigenvalue of B symmetric matrices given their products, by power iteration.

    hvp: (B, P) -> (B, P), the B Hessians applied row by row; v0: (B, P) start vectors. A member stops
    when its Rayleigh quotient changes by at most ``tol`` (relative) between iterations. Power iteration
    finds the eigenvalue of largest magnitude; where that is negative, it runs again on H - lambda I,
    whose dominant eigenvalue is lambda_max - lambda. Returns (B,) eigenvalues, iterations, converged.
    """
    lam, iters, done = _power(hvp, v0, torch.zeros(len(v0), dtype=v0.dtype), tol, max_iter)
    neg = lam < 0
    if neg.any():
        shift = torch.where(neg, lam, torch.zeros_like(lam))
        mu, extra, done2 = _power(hvp, v0, shift, tol, max_iter)
        lam = torch.where(neg, mu + shift, lam)
        iters = torch.where(neg, iters + extra, iters)
        done = torch.where(neg, done2, done)
    return lam, iters, done


def _power(hvp, v0, shift, tol, max_iter):
    v = v0 / v0.norm(dim=1, keepdim=True)
    lam = torch.full((len(v),), float("nan"), dtype=v.dtype)
    iters = torch.zeros(len(v), dtype=torch.int64)
    done = torch.zeros(len(v), dtype=torch.bool)
    for _ in range(max_iter):
        w = hvp(v) - shift[:, None] * v  # (B, P)
        new = (v * w).sum(1)  # Rayleigh quotient, v has unit norm
        conv = (new - lam).abs() <= tol * new.abs().clamp_min(1e-30)
        live = ~done
        lam = torch.where(live, new, lam)
        iters += live.long()
        done = done | conv
        norm = w.norm(dim=1, keepdim=True)
        v = torch.where(live[:, None] & (norm > 0), w / norm.clamp_min(1e-300), v)
        if bool(done.all()):
            break
    return lam, iters, done


@W.small_threads
def sharpness(run: Any, *, tol: float = 1e-5, max_iter: int = 300, seed: int = 0, dtype: torch.dtype = torch.float32,
              every: int = 1) -> Sharpness:
    """The top Hessian eigenvalue of the training loss at every ``every``-th recorded frame (needs snapshots).

    The loss is the full-batch training objective (batch norm on the batch's statistics). All frames
    iterate together: one backward pass through the batched gradient's graph (double backward) per
    iteration. ``dtype=torch.float64`` for precise values (the tests do so).
    """
    if not isinstance(every, int) or every < 1:
        raise SpecError("every", "a positive integer (analyse every n-th frame)", every)
    if not (isinstance(tol, float) and 0 < tol < 1):
        raise SpecError("tol", "a relative tolerance between 0 and 1", tol)
    if not isinstance(max_iter, int) or max_iter < 1:
        raise SpecError("max_iter", "a positive integer", max_iter)
    spec = W._spec(run)
    model = W.train_mode_copy(W.fresh_model(run, dtype))
    shapes = W.shapes_of(model)
    snaps = W.snapshots(run, dtype)
    idx = np.arange(0, len(W.frame_steps(run)), every)
    theta = W.flatten({n: snaps[n][idx] for n in shapes}, shapes)  # (k, P)
    X, Y = W.training_tensors(run, dtype)
    loss_fn = W.LOSSES[W.loss_name(run)]

    def loss(flat: torch.Tensor) -> torch.Tensor:
        return loss_fn(functional_call(model, W.unflatten(flat, shapes), (X,)), Y)

    # One graph for every frame: the gradient of the summed losses, built once with create_graph; each
    # power iteration is then one backward pass through it. Row k of the result is H_k v_k, because
    # frame k's gradient depends on frame k's parameters only.
    theta = theta.clone().requires_grad_(True)
    g, = torch.autograd.grad(vmap(loss)(theta).sum(), theta, create_graph=True)  # (k, P)

    def hvp(v: torch.Tensor) -> torch.Tensor:
        return torch.autograd.grad(g, theta, grad_outputs=v, retain_graph=True)[0]

    gen = torch.Generator().manual_seed(int(seed))
    v0 = torch.randn(theta.shape, generator=gen, dtype=torch.float64).to(dtype)
    lam, iters, done = top_eigenvalues(hvp, v0, tol=tol, max_iter=max_iter)
    theta = theta.detach()
    with torch.no_grad():
        losses = vmap(loss)(theta)
    train = spec.get("train", {})
    return Sharpness(
        run_name=run.name, steps=W.frame_steps(run)[idx], top_eigenvalue=lam.double().numpy(), iterations=iters.numpy(),
        converged=done.numpy(), losses=losses.double().numpy(), lr=float(train.get("lr", 0.01)),
        optimizer=str(train.get("optimizer", "adam")), momentum=float(train.get("momentum", 0.0)),
        loss_name=W.loss_name(run),
    )
