"""Loss landscapes of a recorded run: the line from initial to final weights, and 2-D slices around the
final weights along filter-normalised random directions (Li et al. 2018) or the trajectory's PCA plane.

Every grid point is one weight vector; all of them are evaluated in batched calls (see `_weights`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..errors import SpecError
from . import _weights as W
from ._result import Result

DIRECTIONS = ("random", "pca")
# The PCA plane is sized to the projected trajectory plus this fraction of its extent on each side.
PCA_MARGIN = 0.25


@dataclass(repr=False)
class Landscape(Result):
    """Training loss on a 2-D slice theta(a, b) = theta_final + a d1 + b d2 (eval mode, full training set).

    alphas: (A,), betas: (B,) slice coordinates; loss: (B, A), rows follow beta (as a heatmap draws).
    centre_loss: the loss of the final weights (a = b = 0). For ``directions="pca"``: explained (2,)
    variance ratios of the two directions, and the recorded frames projected onto the plane:
    trajectory (k, 2) coordinates and trajectory_loss (k,), the loss of each frame's own weights.
    cosine: cosine similarity of d1 and d2 (0 for PCA; random directions are not orthogonalised).
    """

    run_name: str
    directions: str
    alphas: np.ndarray
    betas: np.ndarray
    loss: np.ndarray
    centre_loss: float
    loss_name: str
    cosine: float
    d1: dict[str, np.ndarray] = field(default_factory=dict)
    d2: dict[str, np.ndarray] = field(default_factory=dict)
    explained: np.ndarray | None = None
    trajectory: np.ndarray | None = None
    trajectory_loss: np.ndarray | None = None
    steps: np.ndarray | None = None
    seconds: float = 0.0


@dataclass(repr=False)
class Interpolation(Result):
    """Training loss on the line theta(a) = theta_0 + a (theta_final - theta_0) (Goodfellow et al. 2015).

    alphas: (A,), loss: (A,). a = 0 is the initial model (first frame), a = 1 the final one; batch-norm
    statistics are interpolated along with the parameters. frame_alpha (k,): each recorded frame's
    projection onto the line; frame_loss (k,): the loss of that frame's own weights.
    """

    run_name: str
    alphas: np.ndarray
    loss: np.ndarray
    loss_name: str
    frame_alpha: np.ndarray
    frame_loss: np.ndarray
    steps: np.ndarray


def _check_steps(steps: Any) -> int:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 3 or steps % 2 == 0 or steps > 1001:
        raise SpecError("steps", "an odd integer from 3 to 1001 (the middle point is the final model)", steps)
    return int(steps)


def _axis(steps: int, lo: float, hi: float) -> np.ndarray:
    """``steps`` points from lo to hi with 0 exactly at the middle when lo = -hi."""
    half = steps // 2
    if lo == -hi:
        return hi * (np.arange(steps) - half) / half
    return np.linspace(lo, hi, steps)


def filter_normalised_direction(state: dict[str, torch.Tensor], shapes: dict[str, tuple[int, ...]],
                                generator: torch.Generator) -> dict[str, torch.Tensor]:
    """A Gaussian direction whose every filter (a weight matrix's row: one unit's incoming weights) has
    the norm of the same row of ``state`` (Li et al. 2018). Biases and norm-layer parameters (1-D) get
    zero: moving them would mix a shift into a picture of the weights' scale-free geometry."""
    out = {}
    for name, shape in shapes.items():
        w = state[name]
        if len(shape) < 2:
            out[name] = torch.zeros_like(w)
            continue
        d = torch.randn(w.shape, generator=generator, dtype=w.dtype)
        rows_d = d.reshape(shape[0], -1).norm(dim=1)  # (out,) one norm per filter
        rows_w = w.reshape(shape[0], -1).norm(dim=1)
        scale = rows_w / rows_d.clamp_min(1e-12)
        out[name] = d * scale.reshape(-1, *([1] * (len(shape) - 1)))
    return out


def pca_directions(run: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, tuple[int, ...]]]:
    """The trajectory's two principal directions (float64).

    M (k, P) holds each frame's parameters minus the final ones; like scikit-learn's PCA, the
    directions are the top right singular vectors of M with its column means removed, and the
    explained ratios their share of the total variance. Returns directions (2, P) (orthonormal, signs
    fixed so each one's largest component is positive), ratios (2,), coordinates (k, 2) of the frames
    relative to the final weights (M @ directions.T, not centred), and the parameter layout.
    """
    model = W.fresh_model(run)
    shapes = W.shapes_of(model)
    snaps = W.snapshots(run, torch.float64)
    final = W.final_state(run, torch.float64)
    M = (W.flatten(snaps, shapes) - W.flatten(final, shapes)[None]).numpy()  # (k, P)
    if M.shape[0] < 3:
        raise SpecError("train.frames", "at least 3 recorded frames for a PCA plane", M.shape[0])
    centred = M - M.mean(0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    var = s**2
    ratios = var[:2] / var.sum() if var.sum() > 0 else np.zeros(2)
    dirs = vt[:2].copy()
    signs = np.sign(dirs[np.arange(2), np.abs(dirs).argmax(1)])
    dirs *= np.where(signs == 0, 1.0, signs)[:, None]
    return dirs, ratios, M @ dirs.T, shapes


@W.small_threads
def landscape(run: Any, *, directions: str = "random", steps: int = 51, span: float = 1.0, seed: int = 0) -> Landscape:
    """The training loss on a steps x steps slice through the final weights.

    ``directions="random"``: two filter-normalised Gaussian directions (``seed``), coordinates in
    [-span, span]. ``"pca"``: the trajectory's principal plane (needs snapshots), sized to hold the
    projected trajectory. Batch norm runs in eval mode on the final running statistics everywhere.
    """
    import time

    steps = _check_steps(steps)
    if directions not in DIRECTIONS:
        raise SpecError("directions", f"one of {', '.join(DIRECTIONS)}", directions)
    if not (isinstance(span, (int, float)) and 0 < span <= 1e3):
        raise SpecError("span", "a positive number (the slice's half-width, in direction lengths)", span)
    started = time.perf_counter()
    model = W.fresh_model(run)
    shapes = W.shapes_of(model)
    final = W.final_state(run)
    X, Y = W.training_tensors(run)
    buffers = {k: v for k, v in final.items() if k not in shapes}
    ev = W.Evaluator(model, X, Y, W.loss_name(run), fixed=buffers)
    explained = trajectory = trajectory_loss = frame_steps = None
    if directions == "random":
        gen = torch.Generator().manual_seed(int(seed))
        d1 = filter_normalised_direction(final, shapes, gen)
        d2 = filter_normalised_direction(final, shapes, gen)
        alphas = betas = _axis(steps, -float(span), float(span))
        f1, f2 = W.flatten(d1, shapes).double(), W.flatten(d2, shapes).double()
        cosine = float(f1 @ f2 / (f1.norm() * f2.norm()).clamp_min(1e-30))
    else:
        dirs, explained, trajectory, _ = pca_directions(run)
        d1, d2 = (W.unflatten(torch.from_numpy(d).float(), shapes) for d in dirs)
        alphas, betas = (_pca_axis(trajectory[:, i], steps) for i in range(2))
        cosine = 0.0
        frame_steps = W.frame_steps(run)
        trajectory_loss = _frame_losses(run, model, X, Y)
    loss = _grid_losses(ev, final, shapes, d1, d2, alphas, betas, model, len(X))
    centre = float(loss[steps // 2, steps // 2])  # a = b = 0 exactly: the final weights
    return Landscape(
        run_name=run.name, directions=directions, alphas=alphas, betas=betas, loss=loss, centre_loss=centre,
        loss_name=W.loss_name(run), cosine=cosine, d1={k: v.numpy() for k, v in d1.items()},
        d2={k: v.numpy() for k, v in d2.items()}, explained=explained, trajectory=trajectory,
        trajectory_loss=trajectory_loss, steps=frame_steps, seconds=time.perf_counter() - started,
    )


def _pca_axis(coords: np.ndarray, steps: int) -> np.ndarray:
    """A symmetric axis through 0 (the final weights) wide enough for the projected frames."""
    reach = float(np.abs(coords).max()) if len(coords) else 0.0
    reach = reach * (1 + PCA_MARGIN) if reach > 0 else 1.0
    return _axis(steps, -reach, reach)


def grid_states(final: dict[str, torch.Tensor], shapes: dict[str, tuple[int, ...]], d1: dict[str, torch.Tensor],
                d2: dict[str, torch.Tensor], a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
    """name -> (B, *shape): final + a_i d1 + b_i d2 for the B coefficient pairs (a, b)."""
    out = {}
    for name, shape in shapes.items():
        lead = (-1,) + (1,) * len(shape)
        out[name] = final[name][None] + a.reshape(lead) * d1[name][None] + b.reshape(lead) * d2[name][None]
    return out


def _grid_losses(ev: W.Evaluator, final, shapes, d1, d2, alphas, betas, model, rows) -> np.ndarray:
    bb, aa = np.meshgrid(betas, alphas, indexing="ij")  # (B, A) each: row j is beta_j
    a = torch.from_numpy(aa.ravel()).float()
    b = torch.from_numpy(bb.ravel()).float()
    chunk = W.chunk_size(model, rows)
    out = torch.empty(len(a))
    for lo in range(0, len(a), chunk):
        out[lo:lo + chunk] = ev.losses(grid_states(final, shapes, d1, d2, a[lo:lo + chunk], b[lo:lo + chunk]))
    return out.reshape(aa.shape).numpy()


def _frame_losses(run: Any, model, X, Y) -> np.ndarray:
    """(k,) the eval-mode training loss of every recorded frame's own weights and statistics."""
    snaps = W.snapshots(run)
    ev = W.Evaluator(model, X, Y, W.loss_name(run))
    k = len(next(iter(snaps.values())))
    chunk = W.chunk_size(model, len(X))
    out = torch.empty(k)
    for lo in range(0, k, chunk):
        out[lo:lo + chunk] = ev.losses({n: v[lo:lo + chunk] for n, v in snaps.items()})
    return out.numpy()


@W.small_threads
def interpolation(run: Any, *, steps: int = 51, start: float = -0.5, stop: float = 1.5) -> Interpolation:
    """The training loss along the straight line from the first recorded frame to the final weights."""
    steps = _check_steps(steps)
    if not (isinstance(start, (int, float)) and isinstance(stop, (int, float)) and start < stop):
        raise SpecError("start, stop", "two numbers with start < stop", (start, stop))
    model = W.fresh_model(run)
    shapes = W.shapes_of(model)
    snaps = W.snapshots(run)
    final = W.final_state(run)
    first = {k: v[0] for k, v in snaps.items()}
    X, Y = W.training_tensors(run)
    ev = W.Evaluator(model, X, Y, W.loss_name(run))
    alphas = np.linspace(start, stop, steps)
    a = torch.from_numpy(alphas).float()
    chunk = W.chunk_size(model, len(X))
    loss = torch.empty(steps)
    for lo in range(0, steps, chunk):
        part = a[lo:lo + chunk]
        stacked = {n: first[n][None] + part.reshape((-1,) + (1,) * first[n].dim()) * (final[n] - first[n])[None]
                   for n in final}
        loss[lo:lo + chunk] = ev.losses(stacked)
    delta = (W.flatten(final, shapes) - W.flatten(first, shapes)).double()
    moved = (W.flatten(snaps, shapes) - W.flatten(first, shapes)[None]).double()  # (k, P)
    frame_alpha = (moved @ delta / (delta @ delta).clamp_min(1e-30)).numpy()
    return Interpolation(
        run_name=run.name, alphas=alphas, loss=loss.numpy(), loss_name=W.loss_name(run), frame_alpha=frame_alpha,
        frame_loss=_frame_losses(run, model, X, Y), steps=W.frame_steps(run),
    )
