"""One MLP builder driven by a `ModelSpec`; every model of the course is a spec, not a class.

The built model keeps its layers in one flat ``nn.Sequential`` called ``net``, so other parts
(the NumPy engine, the region enumerator, the fused trainer) can walk it: the modules that occur are
``Linear``, the activations, ``BatchNorm1d``/``LayerNorm``, ``ResidualBlock``, and in front
``PolyFeatures`` or ``InputFeatures`` (parameter-free input expansions).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import SpecError
from ..specs import ModelSpec, validate


class PolyFeatures(nn.Module):
    """Expand a scalar input into its first ``degree`` powers: (n, 1) -> (n, degree)."""

    def __init__(self, degree: int):
        super().__init__()
        self.degree = degree
        self.register_buffer("powers", torch.arange(1, degree + 1, dtype=torch.float32), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :1] ** self.powers.to(x.dtype)  # (n, 1) ** (degree,) -> (n, degree)

    def extra_repr(self) -> str:
        return f"degree={self.degree}"


FEATURE_FUNCTIONS = {
    "x1": lambda x: x[:, 0], "x2": lambda x: x[:, 1], "x1^2": lambda x: x[:, 0] ** 2, "x2^2": lambda x: x[:, 1] ** 2,
    "x1*x2": lambda x: x[:, 0] * x[:, 1], "sin(x1)": lambda x: torch.sin(x[:, 0]), "sin(x2)": lambda x: torch.sin(x[:, 1]),
}


class InputFeatures(nn.Module):
    """TensorFlow Playground's input features of a 2-D input: (n, 2) -> (n, len(names)), no parameters."""

    def __init__(self, names: list[str]):
        super().__init__()
        self.names = list(names)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([FEATURE_FUNCTIONS[n](x) for n in self.names], dim=1)  # (n, k)

    def extra_repr(self) -> str:
        return ", ".join(self.names)


def uses_features(spec: ModelSpec) -> bool:
    """True when the inputs go through `InputFeatures` (anything but the raw x1, x2)."""
    return bool(spec.features) and list(spec.features) != ["x1", "x2"]


class ResidualBlock(nn.Module):
    """x + fc2(act(fc1(x))), optionally with a norm between fc1 and the activation."""

    def __init__(self, width: int, act: nn.Module, norm: nn.Module | None = None, bias: bool = True):
        super().__init__()
        self.fc1 = nn.Linear(width, width, bias=bias)
        self.norm = norm if norm is not None else nn.Identity()
        self.act = act
        self.fc2 = nn.Linear(width, width, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(self.act(self.norm(self.fc1(x))))


class MLP(nn.Module):
    """The model family. ``spec`` is kept so that any model can be rebuilt, copied or explained."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        self.net = nn.Sequential(*_layers(spec))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _repr_html_(self) -> str:  # notebooks show the spec and the parameter count
        rows = "".join(f"<tr><td>{n}</td><td>{tuple(s)}</td><td>{c}</td></tr>" for n, s, c in parameter_table(self))
        return (
            f"<b>MLP</b> {self.spec.in_dim}-{'-'.join(map(str, self.spec.hidden)) or '(linear)'}-{self.spec.out_dim}, "
            f"{count_parameters(self)} parameters<table><tr><th>parameter</th><th>shape</th><th>count</th></tr>{rows}</table>"
        )


ACTIVATIONS = {
    "relu": lambda spec: nn.ReLU(),
    "tanh": lambda spec: nn.Tanh(),
    "sigmoid": lambda spec: nn.Sigmoid(),
    "identity": lambda spec: nn.Identity(),
    "leaky_relu": lambda spec: nn.LeakyReLU(spec.leaky_slope),
}

NORMS = {
    "none": lambda width: None,
    "batch": lambda width: nn.BatchNorm1d(width),
    "layer": lambda width: nn.LayerNorm(width),
}


def _layers(spec: ModelSpec) -> list[nn.Module]:
    act = lambda: ACTIVATIONS[spec.activation](spec)  # noqa: E731  (a fresh module each time)
    norm = lambda width: NORMS[spec.norm](width)  # noqa: E731
    layers: list[nn.Module] = []
    width = spec.in_dim
    if spec.poly_degree:
        layers.append(PolyFeatures(spec.poly_degree))
        width = spec.poly_degree
    if uses_features(spec):
        layers.append(InputFeatures(spec.features))
        width = len(spec.features)
    if spec.residual:
        post = spec.where_norm == "post"
        for i, h in enumerate(spec.hidden):
            if i == 0 or h != width:  # the stem, or a projection between blocks of different widths
                layers.append(nn.Linear(width, h, bias=spec.bias))
                if post and (i > 0 or spec.norm_stem) and (n := norm(h)) is not None:
                    layers.append(n)
            layers.append(ResidualBlock(h, act(), None if post else norm(h), bias=spec.bias))
            if post and (n := norm(h)) is not None:
                layers.append(n)
            width = h
    else:
        for h in spec.hidden:
            layers.append(nn.Linear(width, h, bias=spec.bias))
            n = norm(h)
            if n is not None and spec.where_norm == "pre":
                layers.append(n)
            layers.append(act())
            if n is not None and spec.where_norm == "post":
                layers.append(n)
            width = h
    layers.append(nn.Linear(width, spec.out_dim, bias=spec.bias))
    if spec.out_activation == "sigmoid":
        layers.append(nn.Sigmoid())
    elif spec.out_activation == "softmax":
        layers.append(nn.Softmax(dim=-1))
    return layers


def _init_identity(linear: nn.Linear, spec: ModelSpec) -> None:
    """Identity on the leading block, zero bias there; rows beyond the input width keep the default init.

    ``eye_`` alone would give a layer wider than its input rows of zero weights and zero bias: those
    units output exactly 0, ReLU'(0) = 0, and they never learn (notebook 000's layers are square, so
    nothing changes for them). Narrowing layers (out < in) are the leading identity block: a projection.
    """
    n_out, n_in = linear.weight.shape
    k = min(n_out, n_in)
    with torch.no_grad():
        linear.weight[:k].zero_()
        linear.weight[:k, :k].fill_diagonal_(1.0)  # == eye_ on the square part
        if linear.bias is not None:
            linear.bias[:k].zero_()


def _init_normal(linear: nn.Linear, spec: ModelSpec) -> None:
    nn.init.normal_(linear.weight, 0.0, spec.init_std_w)
    if linear.bias is not None:
        nn.init.normal_(linear.bias, 0.0, spec.init_std_b)


def _init_constant(linear: nn.Linear, spec: ModelSpec) -> None:
    nn.init.constant_(linear.weight, spec.init_value)
    if linear.bias is not None:
        nn.init.zeros_(linear.bias)


# Xavier and Kaiming set the weights only and keep PyTorch's default biases, as notebook 004 does.
INITS = {
    "default": None,
    "identity": _init_identity,
    "xavier_uniform": lambda lin, spec: nn.init.xavier_uniform_(lin.weight),
    "xavier_normal": lambda lin, spec: nn.init.xavier_normal_(lin.weight),
    "kaiming": lambda lin, spec: nn.init.kaiming_normal_(
        lin.weight, nonlinearity="leaky_relu" if spec.activation == "leaky_relu" else "relu"
    ),
    "normal": _init_normal,
    "constant": _init_constant,
}


def build_model(spec: ModelSpec | dict[str, Any] | None = None, *, seed: int = 0, **fields: Any) -> MLP:
    """Build the model a spec describes, seeded.

    ``build_model(in_dim=2, hidden=[32], out_dim=1, out_activation="sigmoid")`` works as well as
    ``build_model(ModelSpec(...))``. The global RNG is left as it was.
    """
    if spec is None:
        spec = validate(ModelSpec, fields, "model")
    elif fields:
        base = spec.model_dump() if isinstance(spec, ModelSpec) else dict(spec)
        spec = validate(ModelSpec, {**base, **fields}, "model")
    else:
        spec = validate(ModelSpec, spec, "model")
    if not isinstance(seed, int) or seed < 0:
        raise SpecError("seed", "a non-negative integer", seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MLP(spec)
        init = INITS[spec.init]
        if init is not None:
            for module in model.modules():
                if isinstance(module, nn.Linear):
                    init(module, spec)
    return model


def parameter_table(model_or_spec: MLP | ModelSpec | dict) -> list[tuple[str, tuple[int, ...], int]]:
    """(name, shape, count) for every parameter, in ``named_parameters()`` order."""
    if isinstance(model_or_spec, nn.Module):
        model = model_or_spec
    else:
        with torch.device("meta"):  # shapes only: no memory, no RNG
            model = MLP(validate(ModelSpec, model_or_spec, "model"))
    return [(name, tuple(p.shape), p.numel()) for name, p in model.named_parameters()]


def count_parameters(model_or_spec: MLP | ModelSpec | dict) -> int:
    """Total number of trainable numbers, e.g. 129 for 2-32-1 (notebook 002, exercise 1)."""
    return sum(count for _, _, count in parameter_table(model_or_spec))
