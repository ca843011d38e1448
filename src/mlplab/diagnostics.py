"""Measurements of a network: how each initialisation scales activations and gradients, and which units died.

Notebook 004's variance argument, measured: for o = W x with independent zero-mean weights of variance
sigma^2, Var[o] = n_in sigma^2 E[x^2]; and the ReLU units that never activate. Figures live elsewhere.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from .errors import DeadUnitsWarning, SpecError
from .models import build_model
from .specs import ModelSpec, validate

# Weight variance each initialisation draws from, as a function of (n_in, n_out, spec).
# PyTorch's default Linear init is kaiming_uniform_(a=sqrt(5)): U(-b, b) with b = 1/sqrt(n_in),
# so variance b^2/3 = 1/(3 n_in). Kaiming here is kaiming_normal_ with gain sqrt(2): 2/n_in.
WEIGHT_VARIANCE: dict[str, Callable[[int, int, ModelSpec], float]] = {
    "default": lambda n_in, n_out, spec: 1.0 / (3.0 * n_in),
    "xavier_uniform": lambda n_in, n_out, spec: 2.0 / (n_in + n_out),
    "xavier_normal": lambda n_in, n_out, spec: 2.0 / (n_in + n_out),
    "kaiming": lambda n_in, n_out, spec: 2.0 / n_in,
    "normal": lambda n_in, n_out, spec: spec.init_std_w**2,
}

# Bias variance: every init but "normal" keeps PyTorch's default bias U(-1/sqrt(n_in), 1/sqrt(n_in)).
BIAS_VARIANCE: dict[str, Callable[[int, ModelSpec], float]] = {
    "default": lambda n_in, spec: 1.0 / (3.0 * n_in),
    "xavier_uniform": lambda n_in, spec: 1.0 / (3.0 * n_in),
    "xavier_normal": lambda n_in, spec: 1.0 / (3.0 * n_in),
    "kaiming": lambda n_in, spec: 1.0 / (3.0 * n_in),
    "normal": lambda n_in, spec: spec.init_std_b**2,
}

SCALE_LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "ce": lambda out, y: nn.functional.cross_entropy(out, y),
    "mse": lambda out, y: nn.functional.mse_loss(out, y),
}

COLUMNS = [
    "init", "layer", "module", "n_in", "n_out", "weight_var", "input_sq_mean", "act_std", "predicted_std",
    "weight_grad_std", "input_grad_std",
]


def init_scales(
    spec: ModelSpec | dict[str, Any],
    X: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    inits: Sequence[str] = ("default", "xavier_uniform", "normal"),
    *,
    normal_std: float = 0.01,
    seed: int = 0,
    loss: str = "ce",
):
    """One forward/backward per initialisation on the batch (X, y); one row per Linear layer.

    X: (n, d_in). y: (n,) int labels for ``loss="ce"``, (n, d_out) targets for ``loss="mse"``.
    Columns: ``act_std`` (std of the layer's output, before its activation), ``weight_grad_std``
    and ``input_grad_std`` (std of d loss / d W and d loss / d input), ``input_sq_mean`` (E[x^2]
    of the layer's input), ``weight_var`` (the init's sigma^2) and ``predicted_std``
    = sqrt(n_in sigma^2 E[x^2] + Var[b]) (bias included: it adds about 1/(3 n_in) for PyTorch's
    default bias). NaN where an init has no variance formula.
    """
    import pandas as pd

    spec = validate(ModelSpec, spec, "model")
    unknown = [name for name in inits if name not in WEIGHT_VARIANCE and name not in ("identity", "constant")]
    if unknown or not len(inits):
        raise SpecError("inits", f"a non-empty list of {', '.join(WEIGHT_VARIANCE)}", list(inits))
    if loss not in SCALE_LOSSES:
        raise SpecError("loss", f"one of {', '.join(SCALE_LOSSES)}", loss)
    if not (isinstance(normal_std, (int, float)) and normal_std > 0):
        raise SpecError("normal_std", "a positive number", normal_std)
    Xt = torch.as_tensor(np.asarray(X, dtype=np.float32))
    if Xt.ndim != 2 or Xt.shape[1] != spec.in_dim:
        raise SpecError("X", f"an array of shape (n, {spec.in_dim}) for model.in_dim={spec.in_dim}", tuple(Xt.shape))
    yt = torch.as_tensor(np.asarray(y, dtype=np.int64 if loss == "ce" else np.float32))
    if len(yt) != len(Xt):
        raise SpecError("y", f"{len(Xt)} targets (one per row of X)", f"{len(yt)} targets")

    rows: list[dict[str, Any]] = []
    for name in inits:
        extra = {"init_std_w": float(normal_std), "init_std_b": 0.0} if name == "normal" else {}
        model = build_model(spec, seed=seed, init=name, **extra)
        rows += _layer_scales(model, Xt, yt, SCALE_LOSSES[loss], name)
    return pd.DataFrame(rows, columns=COLUMNS)


def _layer_scales(model: nn.Module, X: torch.Tensor, y: torch.Tensor, loss_fn, init: str) -> list[dict[str, Any]]:
    """Hook every Linear, run forward and backward once, and read the statistics off the hooks."""
    linears = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    seen: dict[nn.Linear, tuple[torch.Tensor, torch.Tensor]] = {}

    def keep(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        x = inputs[0]
        if x.requires_grad and not x.is_leaf:
            x.retain_grad()
        seen[module] = (x, output)

    handles = [m.register_forward_hook(keep) for _, m in linears]
    try:
        model.train()
        x0 = X.clone().requires_grad_(True)  # a leaf, so the first layer's input gradient is kept too
        loss_fn(model(x0), y).backward()
    finally:
        for h in handles:
            h.remove()

    rows = []
    spec = model.spec
    for i, (name, m) in enumerate(linears):
        x, out = seen[m]
        n_out, n_in = m.weight.shape
        sq = float((x.detach().double() ** 2).mean())
        wvar = WEIGHT_VARIANCE[init](n_in, n_out, spec) if init in WEIGHT_VARIANCE else math.nan
        bvar = BIAS_VARIANCE[init](n_in, spec) if (init in BIAS_VARIANCE and m.bias is not None) else 0.0
        rows.append({
            "init": init,
            "layer": i,
            "module": name,
            "n_in": n_in,
            "n_out": n_out,
            "weight_var": wvar,
            "input_sq_mean": sq,
            "act_std": float(out.detach().double().std()),
            "predicted_std": math.sqrt(n_in * wvar * sq + bvar),
            "weight_grad_std": float(m.weight.grad.double().std()),
            "input_grad_std": float(x.grad.double().std()) if x.grad is not None else math.nan,
        })
    return rows


# ------------------------------------------------------------------ units that never activate

# A layer is flagged when more than this share of its ReLU units never activated on the training data.
# A few silent units are normal after training (the moons MLP keeps 2 of 32, a 4-unit playground net
# may keep 1); more than a quarter means real capacity lost (identity init on a wide layer once lost 6 of 8).
DEAD_SHARE = 0.25
DEAD_SENTENCE = "ReLU units that never activated on the training data"


def dead_units(model: nn.Module, X: np.ndarray | torch.Tensor, *, batch: int = 4096) -> list[tuple[str, int, int]]:
    """(module name, dead, total) for every ReLU in ``model``: units whose output is 0 on every row of X.

    X: (n, d_in). Evaluated in eval mode without gradients (batch norm uses its running statistics);
    the model's mode is restored afterwards.
    """
    relus = [(name, m) for name, m in model.named_modules() if type(m) is nn.ReLU]
    alive: dict[str, torch.Tensor] = {}

    def hook(name: str):
        def keep(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            fired = (output > 0).reshape(-1, output.shape[-1]).any(0)  # (units,)
            alive[name] = fired if name not in alive else alive[name] | fired
        return keep

    if not relus:
        return []
    handles = [m.register_forward_hook(hook(name)) for name, m in relus]
    was_training = model.training
    try:
        model.eval()
        Xt = torch.as_tensor(np.asarray(X, dtype=np.float32))
        with torch.no_grad():
            for start in range(0, len(Xt), batch):
                model(Xt[start:start + batch])
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return [(name, int((~alive[name]).sum()), int(alive[name].numel())) for name, _ in relus if name in alive]


def dead_unit_report(model: nn.Module, X: np.ndarray | torch.Tensor) -> tuple[int, str]:
    """(dead units in all, a sentence naming the layers where more than ``DEAD_SHARE`` of the units are dead, or "")."""
    rows = dead_units(model, X)
    flagged = [f"{dead} of {total} in {name}" for name, dead, total in rows if dead > DEAD_SHARE * total]
    total_dead = sum(dead for _, dead, _ in rows)
    if not flagged:
        return total_dead, ""
    init = getattr(getattr(model, "spec", None), "init", None)
    others = " or ".join(repr(i) for i in ("default", "kaiming") if i != init)  # never the one it already has
    return total_dead, (f"{DEAD_SENTENCE}: " + ", ".join(flagged)
                        + ". They output 0 for every input, so they receive no gradient and never learn; "
                        f"try another initialisation (init={others}) or a smaller learning rate.")


def flag_dead_units(run: Any, *, warn: bool = False) -> Any:
    """Where a layer of the trained model lost more than ``DEAD_SHARE`` of its ReLU units (never active on the
    training data), say so in ``run.message`` and count them all in ``run.metrics["dead_units"]``.

    Healthy runs are left as they are. ``warn`` (what ``mlplab.run`` asks for): only raise a `DeadUnitsWarning`
    for a run already flagged, without measuring again. Runs that did not finish are left alone.
    """
    if warn:
        if DEAD_SENTENCE in run.message:
            warnings.warn(f"{run.name}: {run.message[run.message.index(DEAD_SENTENCE):]}", DeadUnitsWarning,
                          stacklevel=3)
        return run
    if run.model is None or run.data is None or not isinstance(run.model, nn.Module):
        return run
    if run.status not in ("finished", "stopped early") or DEAD_SENTENCE in run.message:
        return run
    count, sentence = dead_unit_report(run.model, run.data.X)
    if sentence:
        run.metrics["dead_units"] = count
        run.message = f"{run.message} {sentence}".strip()
    return run


# ------------------------------------------------------------------ gradients through depth


def layer_gradient_norms(spec: ModelSpec | dict[str, Any], X: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor,
                         *, seed: int = 0, loss: str = "ce") -> np.ndarray:
    """||d loss / d W|| (Frobenius) of every Linear layer's weight, first layer first, at initialisation.

    One forward and backward pass on (X, y) of ``build_model(spec, seed)`` in train mode. X: (n, d_in);
    y: (n,) int labels for ``loss="ce"``, (n, d_out) targets for ``"mse"``. Returns (layers,) float64.
    """
    spec = validate(ModelSpec, spec, "model")
    if loss not in SCALE_LOSSES:
        raise SpecError("loss", f"one of {', '.join(SCALE_LOSSES)}", loss)
    model = build_model(spec, seed=seed).train()
    Xt = torch.as_tensor(np.asarray(X, dtype=np.float32))
    if Xt.ndim != 2 or Xt.shape[1] != spec.in_dim:
        raise SpecError("X", f"an array of shape (n, {spec.in_dim}) for model.in_dim={spec.in_dim}", tuple(Xt.shape))
    yt = torch.as_tensor(np.asarray(y, dtype=np.int64 if loss == "ce" else np.float32))
    SCALE_LOSSES[loss](model(Xt), yt).backward()
    return np.array([float(m.weight.grad.double().norm()) for m in model.modules() if isinstance(m, nn.Linear)])
