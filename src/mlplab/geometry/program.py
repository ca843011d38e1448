"""A piecewise-linear network as a list of float64 operations on the "stream" (the current hidden vector).

`compile_model` walks ``model.net`` into affine maps, ReLU-like activations and residual blocks; every
other layer is refused with a `SpecError` naming it. The enumerators in `regions.py` run these programs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import SpecError

PIECEWISE_LINEAR = "Linear, ReLU, LeakyReLU, Identity, BatchNorm1d, or a ResidualBlock made of them"


@dataclass(frozen=True)
class _Affine:
    """stream -> W stream + b.  W: (out, in), b: (out,)."""

    W: np.ndarray
    b: np.ndarray


@dataclass(frozen=True)
class _Act:
    """A ReLU-like unit per coordinate: z if z > 0 else slope * z (slope 0: ReLU)."""

    slope: float
    name: str


@dataclass(frozen=True)
class _Block:
    """stream -> stream + post(act(pre(stream)))."""

    pre: list[_Affine]
    act: _Act | None
    post: list[_Affine]
    name: str


@dataclass(frozen=True)
class _Program:
    ops: list[Any]
    d_in: int
    d_out: int
    out_activation: str  # "none", "Sigmoid" or "Softmax": regions are those of the logits
    layer_names: list[str]  # one per splitting layer, in pattern order
    layer_widths: list[int]


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float64)


def _affine_of(module, name: str) -> _Affine | None:
    """Linear or eval-mode BatchNorm1d as an affine map; Identity as None; else SpecError."""
    from torch import nn

    if isinstance(module, nn.Identity):
        return None
    if isinstance(module, nn.Linear):
        W = _np(module.weight)
        b = _np(module.bias) if module.bias is not None else np.zeros(W.shape[0])
        return _Affine(W, b)
    if isinstance(module, nn.BatchNorm1d):
        if module.running_mean is None or module.running_var is None:
            raise SpecError(f"{name} (BatchNorm1d)", "batch norm with running statistics", "track_running_stats=False")
        # Eval mode: y = (x - mean) / sqrt(var + eps) * gamma + beta, folded into a diagonal affine map.
        scale = 1.0 / np.sqrt(_np(module.running_var) + module.eps)
        if module.weight is not None:
            scale = scale * _np(module.weight)
        shift = -_np(module.running_mean) * scale
        if module.bias is not None:
            shift = shift + _np(module.bias)
        return _Affine(np.diag(scale), shift)
    return _refuse(module, name)


def _act_of(module, name: str) -> _Act | None:
    from torch import nn

    if isinstance(module, nn.ReLU):
        return _Act(0.0, name)
    if isinstance(module, nn.LeakyReLU):
        return _Act(float(module.negative_slope), name)
    if isinstance(module, nn.Identity):
        return None
    return _refuse(module, name)


def _refuse(module, name: str):
    kind = type(module).__name__
    hint = (
        "linear regions exist only for piecewise-linear networks; build the model with "
        "activation='relu', 'leaky_relu' or 'identity' and norm='none' or 'batch'"
    )
    if kind == "PolyFeatures":
        hint = "polynomial features are not piecewise linear; use poly_degree=0"
    if kind == "InputFeatures":
        hint = ("input features other than x1, x2 bend the regions' edges in the input plane: exact linear "
                "regions exist in the feature space only; use features = ['x1', 'x2'] to draw them")
    raise SpecError(f"{name} ({kind})", f"a piecewise-linear layer ({PIECEWISE_LINEAR})", module, hint=hint)


def _compile(model) -> _Program:
    """Walk ``model.net`` (or a bare ``nn.Sequential``) into float64 operations."""
    from torch import nn

    from ..models.mlp import ResidualBlock

    net = getattr(model, "net", model)
    if not isinstance(net, nn.Sequential):
        raise SpecError("model", "an MLP from build_model (or an nn.Sequential)", type(model).__name__)
    modules = list(net.named_children())
    out_activation = "none"
    if modules and isinstance(modules[-1][1], (nn.Sigmoid, nn.Softmax)):
        out_activation = type(modules[-1][1]).__name__
        modules = modules[:-1]
    ops: list[Any] = []
    names: list[str] = []
    widths: list[int] = []
    d_in = d = None
    for short, module in modules:
        name = f"net.{short}"
        if isinstance(module, ResidualBlock):
            pre = [a for a in (_affine_of(module.fc1, name + ".fc1"), _affine_of(module.norm, name + ".norm")) if a]
            act = _act_of(module.act, name + ".act")
            post = [_affine_of(module.fc2, name + ".fc2")]
            ops.append(_Block(pre, act, post, name))
            if act is not None:
                names.append(name)
                widths.append(pre[0].W.shape[0])
            d_in = d_in or module.fc1.in_features
            continue
        if isinstance(module, (nn.ReLU, nn.LeakyReLU)):
            if d is None and d_in is None:
                raise SpecError(name, "a Linear layer before the first activation", type(module).__name__)
            act = _act_of(module, name)
            ops.append(act)
            names.append(name)
            widths.append(d)
            continue
        aff = _affine_of(module, name)
        if aff is None:
            continue
        ops.append(aff)
        if d_in is None:
            d_in = aff.W.shape[1]
        d = aff.W.shape[0]
    if d_in is None:
        raise SpecError("model", "at least one Linear layer", "none")
    d_out = _out_dim(ops, d_in)
    return _Program(ops, d_in, d_out, out_activation, names, widths)


def _out_dim(ops: list[Any], d_in: int) -> int:
    d = d_in
    for op in ops:
        if isinstance(op, _Affine):
            d = op.W.shape[0]
    return d
