"""Layer health through training, per layer and recorded frame: gradient norm, update-to-weight ratio,
activation mean and spread, and the fraction of dead ReLU units on the training data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from . import _weights as W
from ._result import Result

ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid)
COLUMNS = ("frame", "step", "layer", "kind", "units", "grad_norm", "weight_norm", "update_ratio",
           "act_mean", "act_std", "dead_fraction")


@dataclass(repr=False)
class Health(Result):
    """``table``: a pandas DataFrame, one row per (recorded frame, layer), with the columns COLUMNS.

    Layers with parameters (Linear, norm layers) fill grad_norm (the norm of the training loss's
    gradient over the layer's weight and bias together, full training batch), weight_norm and
    update_ratio (||theta_k - theta_{k-1}|| / ||theta_{k-1}|| / (step_k - step_{k-1}): the mean relative
    change per optimizer step between consecutive frames; NaN at the first frame). Hidden activation
    layers fill act_mean and act_std (over every row and unit of their output on the training data)
    and, for ReLU, dead_fraction (units that output 0 on every training row).
    """

    run_name: str
    table: Any
    loss_name: str

    @property
    def layers(self) -> list[str]:
        return list(dict.fromkeys(self.table["layer"]))


def _hidden_activations(model: nn.Module) -> dict[str, nn.Module]:
    """Activation modules by name, without the output activation (the last module of ``net``)."""
    last = model.net[-1] if hasattr(model, "net") and len(model.net) else None
    return {name: m for name, m in model.named_modules() if isinstance(m, ACTIVATIONS) and m is not last}


def _param_layers(model: nn.Module) -> dict[str, list[str]]:
    """Module name -> its own parameter names (full dotted names), for modules that hold parameters."""
    out: dict[str, list[str]] = {}
    for name, module in model.named_modules():
        own = [f"{name}.{p}" if name else p for p, _ in module.named_parameters(recurse=False)]
        if own:
            out[name] = own
    return out


@W.small_threads
def health(run: Any) -> Health:
    """Per-layer health at every recorded frame (needs snapshots); one forward and backward pass per frame.

    Gradients and activations are those of the training objective: batch norm normalises with the
    full training batch's statistics (train mode), as the optimizer saw it.
    """
    import pandas as pd

    model = W.fresh_model(run)
    snaps = W.snapshots(run)
    steps = W.frame_steps(run)
    X, Y = W.training_tensors(run)
    loss_fn = W.LOSSES[W.loss_name(run)]
    net = W.train_mode_copy(model)
    names = W.parameter_names(net)
    acts = _hidden_activations(net)
    layers = _param_layers(net)
    captured: dict[str, torch.Tensor] = {}
    hooks = [m.register_forward_hook(lambda mod, inp, out, key=key: captured.__setitem__(key, out.detach()))
             for key, m in acts.items()]
    rows: list[dict[str, Any]] = []
    previous: dict[str, torch.Tensor] | None = None
    try:
        for k in range(len(steps)):
            params = {n: snaps[n][k].clone().requires_grad_(True) for n in names}
            loss = loss_fn(functional_call(net, params, (X,)), Y)
            grads = dict(zip(names, torch.autograd.grad(loss, list(params.values()), allow_unused=True)))
            gap = int(steps[k] - steps[k - 1]) if k else 0
            for layer, own in layers.items():
                g = torch.cat([(grads[n] if grads[n] is not None else torch.zeros_like(params[n])).reshape(-1) for n in own])
                w = torch.cat([params[n].detach().reshape(-1) for n in own])
                ratio = float("nan")
                if previous is not None and gap > 0:
                    before = torch.cat([previous[n].reshape(-1) for n in own])
                    ratio = float((w - before).norm() / before.norm().clamp_min(1e-30)) / gap
                module = net.get_submodule(layer)
                rows.append({"frame": k, "step": int(steps[k]), "layer": layer, "kind": type(module).__name__.lower(),
                             "units": _units(module), "grad_norm": float(g.norm()), "weight_norm": float(w.norm()),
                             "update_ratio": ratio})
            for layer, out in captured.items():
                out = out.reshape(out.shape[0], -1)  # (n, units)
                dead = float((out <= 0).all(0).double().mean()) if isinstance(acts[layer], nn.ReLU) else float("nan")
                rows.append({"frame": k, "step": int(steps[k]), "layer": layer,
                             "kind": type(acts[layer]).__name__.lower(), "units": out.shape[1],
                             "act_mean": float(out.mean()), "act_std": float(out.std(unbiased=False)),
                             "dead_fraction": dead})
            previous = {n: p.detach() for n, p in params.items()}
    finally:
        for h in hooks:
            h.remove()
    table = pd.DataFrame(rows).reindex(columns=list(COLUMNS))
    return Health(run_name=run.name, table=table, loss_name=W.loss_name(run))


def layer_health(model: nn.Module, X: torch.Tensor, Y: torch.Tensor, loss: str) -> list[dict[str, Any]]:
    """One model's health now (the playground shows it live): per layer with parameters the norm of the
    training loss's gradient and of its weights; per hidden activation its mean, spread and, for ReLU, the
    fraction of units that are zero on every training point. ``Y`` as the loss wants it."""
    net = W.train_mode_copy(model)
    acts, layers = _hidden_activations(net), _param_layers(net)
    captured: dict[str, torch.Tensor] = {}
    hooks = [m.register_forward_hook(lambda mod, inp, out, key=key: captured.__setitem__(key, out.detach()))
             for key, m in acts.items()]
    try:
        params = dict(net.named_parameters())
        value = W.LOSSES[loss](net(X), Y)
        grads = dict(zip(params, torch.autograd.grad(value, list(params.values()), allow_unused=True)))
    finally:
        for h in hooks:
            h.remove()
    rows: list[dict[str, Any]] = []
    for layer, own in layers.items():
        g = torch.cat([(grads[n] if grads[n] is not None else torch.zeros_like(params[n])).reshape(-1) for n in own])
        w = torch.cat([params[n].detach().reshape(-1) for n in own])
        module = net.get_submodule(layer)
        rows.append({"layer": layer, "kind": type(module).__name__.lower(), "units": _units(module),
                     "grad_norm": float(g.norm()), "weight_norm": float(w.norm())})
    for layer, out in captured.items():
        out = out.reshape(out.shape[0], -1)  # (n, units)
        dead = float((out <= 0).all(0).double().mean()) if isinstance(acts[layer], nn.ReLU) else float("nan")
        rows.append({"layer": layer, "kind": type(acts[layer]).__name__.lower(), "units": out.shape[1],
                     "act_mean": float(out.mean()), "act_std": float(out.std(unbiased=False)), "dead_fraction": dead})
    return rows


def _units(module: nn.Module) -> int:
    for attr in ("out_features", "num_features"):
        if hasattr(module, attr):
            return int(getattr(module, attr))
    shape = getattr(module, "normalized_shape", None)
    return int(np.prod(shape)) if shape else 0
