"""The NumPy MLP: the torch model's layers replayed with the hand-written ops of `ops.py`.

Parameters carry the torch model's names and shapes (``net.0.weight`` is (out, in)), so weights copy
both ways. All parameters live in one flat vector (each name is a view into it), which lets an
optimizer update everything with a handful of array operations. No torch in the maths here: torch
is only imported to read or write a torch module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..errors import SpecError
from ..specs import ModelSpec, validate
from . import ops

Array = np.ndarray
Grads = dict[str, Array]
# A layer's backward: upstream gradient -> (gradient w.r.t. its input, {parameter name: gradient}).
Backward = Callable[[Array], tuple[Array, Grads]]

LOSS_NAMES = tuple(ops.LOSSES)


# ------------------------------------------------------------------------------------------ layers


@dataclass
class Linear:
    """z = x W^T + b, W: (out, in) as in torch. Backward: dx = g W, dW = g^T x, db = sum_rows g."""

    prefix: str
    in_dim: int
    out_dim: int
    bias: bool

    @property
    def names(self) -> tuple[str, ...]:
        return (f"{self.prefix}.weight", f"{self.prefix}.bias") if self.bias else (f"{self.prefix}.weight",)

    def forward(self, P: dict[str, Array], B: dict[str, Array], x: Array, train: bool) -> tuple[Array, Backward]:
        w_name = self.prefix + ".weight"
        z, mm_vjp = ops.matmul(x, P[w_name].T)  # (n, in) @ (in, out) -> (n, out)
        add_vjp = None
        if self.bias:
            z, add_vjp = ops.bias_add(z, P[self.prefix + ".bias"])

        def backward(g: Array) -> tuple[Array, Grads]:
            grads: Grads = {}
            if add_vjp is not None:
                g, grads[self.prefix + ".bias"] = add_vjp(g)
            dx, dwt = mm_vjp(g)
            grads[w_name] = dwt.T  # the VJP of a transpose is a transpose: (in, out) -> (out, in)
            return dx, grads

        return z, backward

    def formulas(self) -> list[tuple[str, str]]:
        f = [("z = x W^T" + (" + b" if self.bias else ""), f"(n, {self.in_dim}) -> (n, {self.out_dim})")]
        f.append(("dx = g W", f"(n, {self.out_dim}) (({self.out_dim}, {self.in_dim})) -> (n, {self.in_dim})"))
        f.append(("dW = g^T x", f"({self.out_dim}, {self.in_dim})"))
        if self.bias:
            f.append(("db = sum over rows of g", f"({self.out_dim},)"))
        return f


@dataclass
class Activation:
    """An element-wise activation: the VJP multiplies g by the derivative at the input."""

    kind: str
    slope: float = 0.01
    prefix: str = ""
    names: tuple[str, ...] = ()

    def forward(self, P: dict[str, Array], B: dict[str, Array], x: Array, train: bool) -> tuple[Array, Backward]:
        if self.kind == "leaky_relu":
            y, vjp = ops.leaky_relu(x, self.slope)
        else:
            y, vjp = ops.ACTIVATIONS[self.kind](x)
        return y, lambda g: (vjp(g), {})

    def formulas(self) -> list[tuple[str, str]]:
        derivative = {
            "relu": "[x > 0]",
            "leaky_relu": f"([x > 0] + {self.slope} [x <= 0])",
            "sigmoid": "s (1 - s)",
            "tanh": "(1 - t^2)",
            "identity": "1",
        }[self.kind]
        return [(f"a = {self.kind}(x)", "shape kept"), (f"dx = g * {derivative}", "shape kept")]


@dataclass
class Softmax:
    """Row-wise softmax output. VJP: s * (g - <g, s>)."""

    prefix: str = ""
    names: tuple[str, ...] = ()

    def forward(self, P: dict[str, Array], B: dict[str, Array], x: Array, train: bool) -> tuple[Array, Backward]:
        y, vjp = ops.softmax(x)
        return y, lambda g: (vjp(g), {})

    def formulas(self) -> list[tuple[str, str]]:
        return [("p = softmax(z) per row", "shape kept"), ("dz = p * (g - sum(g * p))", "shape kept")]


@dataclass
class Poly:
    """Polynomial features of a scalar input: (n, 1) -> (n, degree)."""

    degree: int
    prefix: str = ""
    names: tuple[str, ...] = ()

    def forward(self, P: dict[str, Array], B: dict[str, Array], x: Array, train: bool) -> tuple[Array, Backward]:
        y, vjp = ops.poly_features(x, self.degree)
        return y, lambda g: (vjp(g), {})

    def formulas(self) -> list[tuple[str, str]]:
        return [(f"(x, x^2, ..., x^{self.degree})", f"(n, 1) -> (n, {self.degree})"), ("dx = sum_k g_k k x^(k-1)", "(n, 1)")]


@dataclass
class BatchNorm:
    """Batch norm: batch statistics in training (and running averages updated as torch does), the
    running statistics in evaluation."""

    prefix: str
    width: int
    eps: float = 1e-5
    momentum: float = 0.1

    @property
    def names(self) -> tuple[str, ...]:
        return (f"{self.prefix}.weight", f"{self.prefix}.bias")

    def forward(self, P: dict[str, Array], B: dict[str, Array], x: Array, train: bool) -> tuple[Array, Backward]:
        gamma, beta = P[self.prefix + ".weight"], P[self.prefix + ".bias"]
        rm, rv = B[self.prefix + ".running_mean"], B[self.prefix + ".running_var"]
        if train:
            if x.shape[0] < 2:
                raise SpecError("batch_size", "at least 2 rows per batch for batch norm in training", x.shape[0],
                                hint="use a larger batch or norm='layer'")
            y, vjp, (mean, var) = ops.batch_norm_train(x, gamma, beta, self.eps)
            rm *= 1.0 - self.momentum
            rm += self.momentum * mean
            rv *= 1.0 - self.momentum
            rv += self.momentum * var
            B[self.prefix + ".num_batches_tracked"] += 1
        else:
            y, vjp = ops.batch_norm_eval(x, gamma, beta, rm, rv, self.eps)

        return y, _affine_norm_backward(self.prefix, vjp)

    def formulas(self) -> list[tuple[str, str]]:
        return [
            ("y = gamma (x - mean_batch) / sqrt(var_batch + eps) + beta", f"(n, {self.width})"),
            ("dx = (gamma / std) (g - mean_rows(g) - xhat mean_rows(g xhat))", f"(n, {self.width})"),
            ("dgamma = sum_rows(g xhat), dbeta = sum_rows(g)", f"({self.width},)"),
        ]


def _affine_norm_backward(prefix: str, vjp) -> Backward:
    """A norm's backward: its VJP gives (dx, dgamma, dbeta); gamma and beta are ``prefix.weight``/``.bias``."""

    def backward(g: Array) -> tuple[Array, Grads]:
        dx, dgamma, dbeta = vjp(g)
        return dx, {prefix + ".weight": dgamma, prefix + ".bias": dbeta}

    return backward


@dataclass
class LayerNorm:
    """Layer norm: every row normalised over its features, then scaled and shifted."""

    prefix: str
    width: int
    eps: float = 1e-5

    @property
    def names(self) -> tuple[str, ...]:
        return (f"{self.prefix}.weight", f"{self.prefix}.bias")

    def forward(self, P: dict[str, Array], B: dict[str, Array], x: Array, train: bool) -> tuple[Array, Backward]:
        y, vjp = ops.layer_norm(x, P[self.prefix + ".weight"], P[self.prefix + ".bias"], self.eps)

        return y, _affine_norm_backward(self.prefix, vjp)

    def formulas(self) -> list[tuple[str, str]]:
        return [
            ("y = gamma (x - mean_cols) / sqrt(var_cols + eps) + beta", f"(n, {self.width})"),
            ("dx = (gamma / std) (g - mean_cols(g) - xhat mean_cols(g xhat))", f"(n, {self.width})"),
            ("dgamma = sum_rows(g xhat), dbeta = sum_rows(g)", f"({self.width},)"),
        ]


@dataclass
class Residual:
    """x + fc2(act(norm(fc1(x)))): the skip passes g straight back and adds it to the branch's dx."""

    prefix: str
    inner: list[Any] = field(default_factory=list)  # fc1, [norm], act, fc2

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for layer in self.inner for n in layer.names)

    def forward(self, P: dict[str, Array], B: dict[str, Array], x: Array, train: bool) -> tuple[Array, Backward]:
        h, backs = x, []
        for layer in self.inner:
            h, back = layer.forward(P, B, h, train)
            backs.append(back)
        y, add_vjp = ops.residual_add(x, h)

        def backward(g: Array) -> tuple[Array, Grads]:
            g_skip, g_branch = add_vjp(g)
            grads: Grads = {}
            for back in reversed(backs):
                g_branch, part = back(g_branch)
                grads.update(part)
            return g_skip + g_branch, grads

        return y, backward

    def formulas(self) -> list[tuple[str, str]]:
        inner = "norm(fc1(x))" if len(self.inner) == 4 else "fc1(x)"
        return [(f"y = x + fc2(act({inner}))", "shape kept"), ("dx = g + (VJP of the branch)(g)", "shape kept")]


Layer = Linear | Activation | Softmax | Poly | BatchNorm | LayerNorm | Residual


# ------------------------------------------------------------------------------ reading torch modules


def _layer_from_module(module: Any, prefix: str) -> Layer:
    from torch import nn

    from ..models.mlp import PolyFeatures, ResidualBlock

    simple = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid", nn.Identity: "identity"}
    if isinstance(module, nn.Linear):
        return Linear(prefix, module.in_features, module.out_features, module.bias is not None)
    if type(module) in simple:
        return Activation(simple[type(module)], prefix=prefix)
    if isinstance(module, nn.LeakyReLU):
        return Activation("leaky_relu", float(module.negative_slope), prefix=prefix)
    if isinstance(module, nn.Softmax):
        if module.dim not in (-1, 1):
            raise SpecError(prefix, "a Softmax over the last axis (dim=-1)", f"dim={module.dim}")
        return Softmax(prefix=prefix)
    if isinstance(module, PolyFeatures):
        return Poly(module.degree, prefix=prefix)
    if isinstance(module, nn.BatchNorm1d):
        if not module.affine or not module.track_running_stats or module.momentum is None:
            raise SpecError(prefix, "a BatchNorm1d with affine=True, running stats and a numeric momentum", module)
        return BatchNorm(prefix, module.num_features, float(module.eps), float(module.momentum))
    if isinstance(module, nn.LayerNorm):
        if not module.elementwise_affine or len(module.normalized_shape) != 1:
            raise SpecError(prefix, "a LayerNorm over the last axis with elementwise_affine=True", module)
        return LayerNorm(prefix, module.normalized_shape[0], float(module.eps))
    if isinstance(module, ResidualBlock):
        inner = [_layer_from_module(module.fc1, prefix + ".fc1")]
        if not isinstance(module.norm, nn.Identity):
            inner.append(_layer_from_module(module.norm, prefix + ".norm"))
        inner += [_layer_from_module(module.act, prefix + ".act"), _layer_from_module(module.fc2, prefix + ".fc2")]
        return Residual(prefix, inner)
    raise SpecError(prefix, "a module mlplab's NumPy engine knows (Linear, activations, norms, ResidualBlock)",
                    type(module).__name__)


def _all_layers(layers: list[Layer]) -> list[Layer]:
    out: list[Layer] = []
    for layer in layers:
        out += _all_layers(layer.inner) if isinstance(layer, Residual) else [layer]
    return out


# --------------------------------------------------------------------------------------------- model


class MLP:
    """A NumPy MLP with torch's parameter names and layout.

    ``params``: name -> array, views into the flat vector ``flat`` (same order as torch's
    ``named_parameters()``). ``buffers``: batch-norm running statistics. ``spec``: the ModelSpec when
    known (needed by `to_torch`).
    """

    def __init__(self, layers: list[Layer], params: dict[str, Array], buffers: dict[str, Array] | None = None,
                 spec: ModelSpec | None = None, prefix: str = "net", dtype: Any = np.float32):
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise SpecError("dtype", "float32 or float64", str(self.dtype))
        self.layers, self.spec, self.prefix = layers, spec, prefix
        self.shapes = {name: tuple(np.shape(v)) for name, v in params.items()}
        sizes = [int(np.prod(s)) for s in self.shapes.values()]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.flat = np.concatenate([np.asarray(v, self.dtype).ravel() for v in params.values()]) if params \
            else np.zeros(0, self.dtype)
        self.params = self._views(self.flat)
        self.buffers = {k: np.array(v, dtype=np.int64 if k.endswith("num_batches_tracked") else self.dtype)
                        for k, v in (buffers or {}).items()}
        # L2 (notebook 004's lam/2 ||W||^2) applies to the Linear weights only, not to biases or norm scales.
        self.weight_names = [f"{lay.prefix}.weight" for lay in _all_layers(layers) if isinstance(lay, Linear)]

    def _views(self, flat: Array) -> dict[str, Array]:
        return {name: flat[a:b].reshape(shape)
                for (name, shape), a, b in zip(self.shapes.items(), self.offsets[:-1], self.offsets[1:])}

    # ------------------------------------------------------------------ construction and conversion

    @classmethod
    def from_torch(cls, model: Any, dtype: Any = np.float32) -> MLP:
        """Copy a torch model (an mlplab MLP, or an ``nn.Sequential`` of supported modules)."""
        net = getattr(model, "net", model)
        prefix = "net" if net is not model else ""
        join = (lambda i: f"{prefix}.{i}") if prefix else str
        layers = [_layer_from_module(m, join(i)) for i, m in enumerate(net)]
        state = {k: v.detach().cpu().double().numpy() if v.is_floating_point() else v.cpu().numpy()
                 for k, v in model.state_dict().items()}
        names = [n for n, _ in model.named_parameters()]
        params = {n: state[n] for n in names}
        buffers = {k: v for k, v in state.items() if k not in params}
        return cls(layers, params, buffers, spec=getattr(model, "spec", None), prefix=prefix, dtype=dtype)

    @classmethod
    def from_spec(cls, spec: ModelSpec | dict, seed: int = 0, dtype: Any = np.float32) -> MLP:
        """The model ``build_model(spec, seed=seed)`` builds, same initial weights, as NumPy arrays."""
        from ..models import build_model

        return cls.from_torch(build_model(validate(ModelSpec, spec, "model"), seed=seed), dtype=dtype)

    def state_dict(self) -> dict[str, Array]:
        """Parameters and buffers under torch's names (copies)."""
        return {**{k: v.copy() for k, v in self.params.items()}, **{k: v.copy() for k, v in self.buffers.items()}}

    def copy_to(self, model: Any) -> Any:
        """Write these weights (and batch-norm statistics) into a torch model with the same layout."""
        import torch

        current = model.state_dict()
        missing = sorted(set(current) ^ set(self.state_dict()))
        if missing:
            raise SpecError("model", "a torch model with the same parameter names", f"differences {missing[:4]}")
        model.load_state_dict({k: torch.as_tensor(np.ascontiguousarray(v)).to(current[k].dtype)
                               for k, v in self.state_dict().items()})
        return model

    def to_torch(self, dtype: Any = None) -> Any:
        """A fresh torch model from ``spec`` holding these weights (float32 unless ``dtype`` is given)."""
        import torch

        from ..models import build_model

        if self.spec is None:
            raise SpecError("spec", "a ModelSpec (this engine was copied from a model without one)", None,
                            hint="use copy_to(model) with a torch model of the same layout")
        model = build_model(self.spec)
        if dtype is not None:
            model = model.to(dtype if isinstance(dtype, torch.dtype) else getattr(torch, np.dtype(dtype).name))
        return self.copy_to(model)

    def copy(self) -> MLP:
        return MLP(self.layers, self.params, self.buffers, self.spec, self.prefix, self.dtype)

    # ------------------------------------------------------------------------ forward and backward

    def _run(self, X: Array, train: bool, layers: list[Layer] | None = None) -> tuple[Array, list[Backward]]:
        h = np.asarray(X, dtype=self.dtype)
        if h.ndim != 2:
            raise SpecError("X", "a 2-D array (n, d_in)", f"shape {h.shape}")
        backs = []
        for layer in self.layers if layers is None else layers:
            h, back = layer.forward(self.params, self.buffers, h, train)
            backs.append(back)
        return h, backs

    def forward(self, X: Array, train: bool = False) -> Array:
        """Model outputs (n, d_out); evaluation mode (running batch-norm statistics) unless ``train``."""
        return self._run(X, train)[0]

    __call__ = forward

    def loss_and_grads(self, X: Array, y: Array, loss: str = "mse", l2: float = 0.0,
                       train: bool = True) -> tuple[float, Grads]:
        """Loss on (X, y) and its gradient for every parameter: ``(loss, {name: grad})``.

        ``loss``: "mse" (mean), "mse_sum", "bce" (the output is a probability), "bce_logits",
        "ce" (softmax cross-entropy of the output logits; when the model ends in a Softmax, the
        negative log of that softmax's probability, computed stably from the logits before it).
        ``l2``: adds (l2 / 2) * sum ||W||^2 over the Linear weights. ``y``: targets shaped like the
        output, or class labels (n,). Training mode by default: batch norm uses (and updates) batch
        statistics, as a torch model in ``train()`` mode does. The gradient arrays are views into one
        flat vector, ``self.last_flat_grad``.
        """
        if loss not in ops.LOSSES:
            raise SpecError("loss", f"one of {', '.join(LOSS_NAMES)}", loss)
        layers = self.layers
        if loss == "ce" and isinstance(layers[-1], Softmax):
            layers = layers[:-1]
        out, backs = self._run(X, train, layers)
        self.last_output = out  # the step's own outputs (what a recorder shows for this step)
        value, loss_vjp = ops.LOSSES[loss](out, _targets(y, loss, out))
        flat_grad = np.zeros_like(self.flat)
        grads = self._views(flat_grad)
        g = loss_vjp(1.0)
        for back in reversed(backs):
            g, part = back(g)
            for name, dp in part.items():
                grads[name][...] = dp
        if l2:
            weights = [self.params[n] for n in self.weight_names]
            penalty, pen_vjp = ops.l2_penalty(weights, l2)
            value += penalty
            for name, dw in zip(self.weight_names, pen_vjp(1.0)):
                grads[name] += dw
        self.last_flat_grad = flat_grad
        return value, grads


def _targets(y: Array, loss: str, out: Array) -> Array:
    """Bring targets to the shape the loss compares with: labels for "ce", out's shape otherwise."""
    y = np.asarray(y)
    n, k = out.shape
    if y.shape[0] != n:
        raise SpecError("y", f"{n} targets (one per row of X)", f"{y.shape[0]} targets")
    if loss == "ce":
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise SpecError("y", "integer class labels of shape (n,) for loss 'ce'", f"{y.dtype} {y.shape}")
        if len(y) and (y.min() < 0 or y.max() >= k):
            raise SpecError("y", f"class labels in 0..{k - 1}", f"labels {int(y.min())}..{int(y.max())}")
        return y
    if y.ndim == 1 and y.dtype.kind in "iu" and k > 1:  # labels against a wide output: one-hot
        return np.eye(k, dtype=out.dtype)[y]
    y = y.astype(out.dtype, copy=False).reshape(n, -1)
    if y.shape != out.shape:
        raise SpecError("y", f"targets of shape {out.shape} for loss {loss!r}", f"shape {y.shape}")
    return y
