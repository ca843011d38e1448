"""Worked examples of backpropagation, computed with the NumPy engine and shown as small matrices
(``backprop`` checks every value against PyTorch autograd; notebook 001's exercises say where its answers differ).

`explain(topic, arg)` returns an `Explanation` (named arrays, tables, notes) and computes nothing it
does not return; `render(expl, console)` prints one with rich. Topics: see `TOPICS`.

Architecture strings (``params`` and ``backprop``): ``IN-H1-...-OUT`` then optional comma-separated
flags, e.g. ``"2-32-1"``, ``"2-16-16-1,tanh,residual,layernorm,out=sigmoid"``:

- an activation: ``relu`` (default), ``tanh``, ``sigmoid``, ``identity``, ``leaky_relu``
- ``residual``; ``batchnorm`` or ``layernorm`` (or ``norm=batch|layer``); ``nobias``
- ``out=sigmoid`` or ``out=softmax`` (output activation); ``poly=D`` (1-D input expanded to D powers)
- ``backprop`` only: ``loss=mse|mse_sum|bce|bce_logits|ce`` and ``n=N`` (batch size, default 4)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .autograd import ops
from .autograd.mlp import MLP, Residual, _all_layers
from .errors import SpecError
from .data import Dataset
from .models.mlp import build_model, count_parameters, parameter_table
from .specs import ModelSpec, validate
from .training.loop import train

Array = np.ndarray


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[Any]]


@dataclass
class Explanation:
    """What one topic computed: named arrays (in reading order), tables, and sentences."""

    topic: str
    title: str
    arrays: dict[str, Array] = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------ topics


def two_layer(arg: str | None = None) -> Explanation:
    """Notebook 001's exercise by hand (no bias, ReLU), its written answers beside the computed ones, then MSE."""
    x = np.array([[1, 1], [2, 2], [-1, -1], [-2, -2]], dtype=float)  # (4, 2)
    w1 = np.array([[1, 1], [-1, -1]], dtype=float)  # (hidden 2, in 2), torch's (out, in)
    w2 = np.array([[1, -1]], dtype=float)  # (out 1, hidden 2)
    y = np.array([[1], [1], [0], [0]], dtype=float)  # (4, 1) labels as targets
    z1, mm1 = ops.matmul(x, w1.T)
    a1, relu_vjp = ops.relu(z1)
    z2, mm2 = ops.matmul(a1, w2.T)
    meant_w2 = np.array([[1, 1]], dtype=float)
    meant_z2, _ = ops.matmul(a1, meant_w2.T)
    loss, loss_vjp = ops.mse(z2, y)
    dz2 = loss_vjp(1.0)
    da1, dw2t = mm2(dz2)
    dz1 = relu_vjp(da1)
    _, dw1t = mm1(dz1)
    arrays = {"x": x, "W1": w1, "z1 = x W1^T": z1, "a1 = relu(z1)": a1, "W2": w2, "z2 = a1 W2^T": z2,
              "notebook 001's answer for z2": NOTEBOOK_Z2, "W2 the answer fits": meant_w2,
              "z2 = a1 [1, 1]^T": meant_z2, "y": y,
              "loss = mean((z2 - y)^2)": np.array(loss), "dz2 = 2 (z2 - y) / 4": dz2, "dW2 = dz2^T a1": dw2t.T,
              "da1 = dz2 W2": da1, "dz1 = da1 * [z1 > 0]": dz1, "dW1 = dz1^T x": dw1t.T}
    notes = ["Weights are stored (out, in) as in torch, so a layer computes x W^T.",
             "z1 and a1 = relu(z1) agree with notebook 001's answers (it calls a1 y_1).",
             "z2 does not: with W2 = [1, -1], rows 3 and 4 give 0*1 + 2*(-1) = -2 and 0*1 + 4*(-1) = -4, so "
             "z2 = [2, 4, -2, -4]; the notebook writes [2, 4, 2, 4]. Its answer is what W2 = [1, 1] computes.",
             "With W2 = [1, -1] the network computes relu(s) - relu(-s) = s = x1 + x2 on every row: one linear map, "
             "nothing a linear layer could not do. With W2 = [1, 1] it computes relu(s) + relu(-s) = |x1 + x2|: "
             "the identity on rows 1-2 and a multiplication by -1 (a reflection) on rows 3-4, which is the "
             "notebook's point: two regions, two linear maps, impossible for one linear transformation.",
             "The gradients below use W2 = [1, -1] and targets y; each hidden unit only learns from the rows where "
             "it is active (z1 > 0)."]
    return Explanation("two-layer", "Two layers by hand (no bias, ReLU, MSE)", arrays, notes=notes)


NOTEBOOK_Z2 = np.array([[2], [4], [2], [4]], dtype=float)  # notebook 001's written z2


def dead_relu(arg: str | None = None) -> Explanation:
    """Notebook 001's dead ReLU: z = x w^T + b with x = [1, 1], w = [1, 1], b = -5; dz/dx, and what dies."""
    x, w, b = np.array([[1.0, 1.0]]), np.array([[1.0, 1.0]]), np.array([-5.0])
    z, mm = ops.matmul(x, w.T)
    z, add = ops.bias_add(z, b)
    a, relu_vjp = ops.relu(z)
    one = np.ones_like(z)
    dz_dx, _ = mm(add(one)[0])  # the VJP of z = x w^T + b with g = 1: dz/dx = w, whatever the sign of z
    g = np.ones_like(a)
    dz = relu_vjp(g)
    da_dx, dwt = mm(add(dz)[0])
    _, db = add(dz)
    arrays = {"x": x, "w": w, "b": b, "z = x w^T + b": z, "notebook 001's answer for z": np.array(0.0),
              "[dz/dx1, dz/dx2] = w": dz_dx, "notebook 001's answer for [dz/dx1, dz/dx2]": np.zeros((1, 2)),
              "a = relu(z)": a, "g = dL/da (ones)": g, "dz = g * [z > 0]": dz,
              "[da/dx1, da/dx2] = relu'(z) w": da_dx, "dw = dz^T x": dwt.T, "db = sum dz": db}
    notes = ["z = 1*1 + 1*1 - 5 = -3. Notebook 001 writes z = 0, which is the unit's output a = relu(-3) = 0, not z.",
             "dz/dx1 = w1 = 1 and dz/dx2 = w2 = 1: z is linear in x, its slope does not depend on the sign of z. "
             "The notebook's 0 is the derivative of the unit's output a = relu(z): relu'(-3) = 0, so "
             "da/dx1 = da/dx2 = 0, and so are da/dw and da/db.",
             "That is what harms gradient descent, as the notebook says: every gradient below the ReLU is "
             "multiplied by relu'(z) = 0, so w and b get no update from this input. The unit is 'dead' for every "
             "x with x w^T + b < 0; if that holds for all the training data, it never learns again."]
    return Explanation("dead-relu", "A dead ReLU unit", arrays, notes=notes)


def vjp_sin(arg: str | None = None) -> Explanation:
    """sin applied element-wise: the VJP with a ones vector is cos(x), no Jacobian needed."""
    n = _positive_int(arg, "vjp-sin points", default=9)
    x = np.linspace(0, 2 * np.pi, n)
    f, vjp = ops.sin(x)
    v = np.ones_like(f)
    arrays = {"x": x, "f = sin(x)": f, "v (ones)": v, "v J = v * cos(x)": vjp(v), "cos(x)": np.cos(x)}
    notes = [f"The Jacobian of an element-wise function is diagonal ({n}x{n} here, mostly zeros);",
             "the VJP multiplies v by that diagonal, which is what torch's grad_fn does."]
    return Explanation("vjp-sin", "The VJP of sin", arrays, notes=notes)


def symmetry(arg: str | None = None) -> Explanation:
    """Constant initialisation keeps every hidden unit identical through training; Xavier does not."""
    from sklearn.datasets import make_moons

    X, y = make_moons(noise=0.25, n_samples=100, random_state=0)
    steps, lr, hidden = 200, 0.5, 4
    base = {"in_dim": 2, "hidden": [hidden], "out_dim": 1}
    specs = {"constant": {**base, "init": "constant", "init_value": 0.3}, "xavier": {**base, "init": "xavier_uniform"}}
    data = Dataset(X=X.astype(np.float32), y=y.astype(np.int64), task="binary", name="moons")
    # The from-scratch engine through the one loop: the notebooks' plain update, every step recorded
    runs = {k: train(build_model(validate(ModelSpec, v, "model"), seed=0), data, engine="numpy",
                     optimizer="manual_sgd", lr=lr, loss="bce_logits", epochs=steps, frames=steps + 1, snapshots=True)
            for k, v in specs.items()}
    record = [0, 1, 10, 50, 100, steps]
    rows: list[list[Any]] = []
    for step in record:
        spreads = [_spread_of(runs[k].snapshots["net.0.weight"][step]) for k in runs]
        losses = [round(float(runs[k].losses[step]) if step < steps else runs[k].metrics["train_loss"], 4) for k in runs]
        rows.append([step, *spreads, *losses])
    arrays = {f"W1 after {steps} steps ({k} init)": runs[k].snapshots["net.0.weight"][-1].copy() for k in runs}
    table = Table("Spread of hidden units (max |W1[i] - W1[0]|)", ["step", "spread constant", "spread xavier",
                                                                   "loss constant", "loss xavier"], rows)
    notes = ["With equal weights every hidden unit computes the same value and receives the same gradient,",
             "so they stay equal: the layer acts like a single unit. Random (Xavier) weights break the tie."]
    return Explanation("symmetry", "Breaking the symmetry", arrays, [table], notes)


def params(arg: str | None = None) -> Explanation:
    """Parameter count of an architecture, parameter by parameter and layer by layer."""
    spec, _ = parse_arch(arg or "2-32-1")
    rows = [[name, "x".join(map(str, shape)), count] for name, shape, count in parameter_table(spec)]
    layers: dict[str, int] = {}
    for name, _, count in rows:
        layer = ".".join(name.split(".")[:2])  # net.3.fc1.weight -> net.3 (a whole residual block)
        layers[layer] = layers.get(layer, 0) + count
    total = count_parameters(spec)
    per_layer = [[layer, count] for layer, count in layers.items()] + [["total", total]]
    notes = [f"{_arch_name(spec)}: {total} parameters.",
             "A Linear layer from a to b holds a*b weights (stored (b, a)) and b biases; a norm holds 2 per unit."]
    return Explanation("params", f"Parameters of {arg or '2-32-1'}", {"total": np.array(total)},
                       [Table("Parameters", ["name", "shape", "count"], rows),
                        Table("Per layer", ["layer", "count"], per_layer)], notes)


def backprop(arg: str | None = None) -> Explanation:
    """One batch through a model: every layer's forward value and VJP from the NumPy engine, each checked
    against PyTorch autograd (float64, same weights), plus each layer's shapes and formulas."""
    spec, extra = parse_arch(arg or "2-32-1")
    n = extra.get("n", 4)
    _check_memory(spec, n, arg or "2-32-1")
    loss = extra.get("loss") or {"sigmoid": "bce", "softmax": "ce"}.get(spec.out_activation, "mse")
    net = MLP.from_spec(spec, seed=0, dtype=np.float64)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, spec.in_dim))
    y = rng.integers(spec.out_dim, size=n) if loss == "ce" else rng.uniform(0, 1, size=(n, spec.out_dim))
    if loss in ("bce", "bce_logits") and spec.out_dim == 1:
        y = (y > 0.5).astype(float)
    # Forward layer by layer (the softmax before ce is folded into the loss, as loss_and_grads does).
    layers = net.layers[:-1] if loss == "ce" and spec.out_activation == "softmax" else net.layers
    h, backs = X, []
    for layer in layers:
        h_in = h
        h, back = layer.forward(net.params, net.buffers, h, True)
        backs.append((layer, back, h_in, h))
    value, loss_vjp = ops.LOSSES[loss](h, y if loss == "ce" else y.reshape(h.shape))
    g = loss_vjp(1.0)
    seed_g, grads_in, pgrads = g, [], {}
    for layer, back, _, _ in reversed(backs):
        g, part = back(g)
        grads_in.append(g)
        pgrads.update(part)
    grads_in.reverse()  # grads_in[i]: dL/d(input of layer i)
    ref = _autograd_reference(spec, X, y, loss, len(layers))

    arrays: dict[str, Array] = {"X (the batch)": X, "y (targets)": np.asarray(y, dtype=float)}
    checks: list[list[Any]] = []

    def checked(name: str, ours: Array, theirs: Array) -> None:
        diff = float(np.abs(np.asarray(ours, float) - theirs).max()) if np.size(ours) else 0.0
        ok = diff <= 1e-9 * max(1.0, float(np.abs(theirs).max()))
        checks.append([name, _shape(np.shape(ours)), f"{diff:.1e}", "ok" if ok else "DIFFERS"])
        arrays[f"{name}   [autograd: max |diff| {diff:.1e} {'ok' if ok else 'DIFFERS'}]"] = ours

    for i, (layer, _, _, out) in enumerate(backs):
        checked(f"forward {_where(layer)} ({_kind(layer)}): output", out, ref["outputs"][i])
    checked(f"loss {loss}", np.array(value), np.array(ref["loss"]))
    checked("g = dL/d(output)", seed_g, ref["out_grad"])
    for i in reversed(range(len(backs))):
        layer = backs[i][0]
        for name in sorted(k for k in pgrads if k.startswith(_where(layer) + ".")):
            checked(f"VJP {_where(layer)}: d{name[len(_where(layer)) + 1:]}", pgrads[name], ref["params"][name])
        checked(f"VJP {_where(layer)} ({_kind(layer)}): dx", grads_in[i], ref["inputs"][i])

    forward_rows = [[_where(layer), _kind(layer), _shape(h_in.shape), _shape(out.shape), layer.formulas()[0][0]]
                    for layer, _, h_in, out in backs]
    vjp_rows = []
    for layer, _, h_in, out in reversed(backs):
        for sub in reversed(_all_layers([layer])) if isinstance(layer, Residual) else [layer]:
            formulas = "; ".join(f for f, _ in sub.formulas()[1:])
            pshapes = ", ".join(f"d{name.rsplit('.', 1)[1]} {_shape(pgrads[name].shape)}" for name in sub.names) or "-"
            vjp_rows.append([_where(sub), formulas, pshapes])
        if isinstance(layer, Residual):
            vjp_rows.append([_where(layer), layer.formulas()[1][0], f"g {_shape(out.shape)} -> dx {_shape(h_in.shape)}"])
    bad = [c[0] for c in checks if c[3] != "ok"]
    notes = [f"{_arch_name(spec)}, batch of n = {n}, loss {loss} = {value:.4g}.",
             "The VJP of every layer maps g (shaped like its output) to dx (shaped like its input); "
             "parameter gradients have the parameter's shape.",
             "The loss seeds the backward pass with g = dL/d(output), shape " + _shape(backs[-1][3].shape) + ".",
             f"Every value above was computed by mlplab's NumPy engine and compared with PyTorch autograd on the same "
             f"weights in float64 (retain_grad on every layer's output): {len(checks) - len(bad)} of {len(checks)} "
             f"agree to 1e-9" + (f"; these differ: {', '.join(bad)}." if bad else ".")]
    if loss == "ce" and spec.out_activation == "softmax":
        notes.append("With loss ce the softmax and the log are taken together from the logits (stable), so the "
                     "backward pass starts at net's last Linear with g = (p - onehot(y)) / n.")
    return Explanation("backprop", f"Backpropagation through {arg or '2-32-1'}", arrays,
                       [Table("Forward", ["layer", "op", "input", "output", "formula"], forward_rows),
                        Table("Backward (last layer first)", ["layer", "VJP", "gradient shapes"], vjp_rows),
                        Table("Checked against autograd", ["value", "shape", "max |diff|", "check"], checks)], notes)


# The worked example holds, in float64: the NumPy engine's weights and gradients, autograd's copy of both,
# the gradients autograd hands back as NumPy arrays, and the table of shown arrays.
BACKPROP_COPIES = 6
BACKPROP_ACTIVATION_COPIES = 4  # each layer's input and output, in both engines


def _check_memory(spec: ModelSpec, n: int, arch: str) -> None:
    """Refuse, before anything is allocated, a worked example that cannot fit in memory (`mlplab.budget`'s limit)."""
    from .budget import ENV_LIMIT, human, layer_shapes, memory_limit, parameter_count

    params = parameter_count(spec)
    units = spec.in_dim + sum(b for _, b in layer_shapes(spec))
    need = 8 * (BACKPROP_COPIES * params + BACKPROP_ACTIVATION_COPIES * n * units)
    limit = memory_limit()
    if need > limit:
        raise SpecError("architecture", f"a model whose worked example fits in {human(limit)} of memory "
                        f"({ENV_LIMIT} sets the limit)", f"{arch}: about {human(need)} for {params:,} parameters",
                        hint="Use fewer or narrower hidden layers (the example is the same for a small model)")


def _autograd_reference(spec: ModelSpec, X: Array, y: Array, loss: str, n_layers: int) -> dict[str, Any]:
    """The same batch through the torch model (same seed, float64): each top-level layer's output and the
    gradient of the loss with respect to it and to its input, and every parameter's gradient."""
    import torch
    from torch.nn import functional as F

    from .models import build_model

    model = build_model(spec, seed=0).double().train()
    h = torch.from_numpy(X).requires_grad_(True)
    ins, outs = [], []
    for module in list(model.net)[:n_layers]:
        ins.append(h)
        h = module(h)
        h.retain_grad()
        outs.append(h)
    yt = torch.from_numpy(np.asarray(y))
    losses = {"mse": lambda o: F.mse_loss(o, yt.reshape(o.shape)), "mse_sum": lambda o: F.mse_loss(o, yt.reshape(o.shape), reduction="sum"),
              "bce": lambda o: F.binary_cross_entropy(o, yt.reshape(o.shape)),
              "bce_logits": lambda o: F.binary_cross_entropy_with_logits(o, yt.reshape(o.shape)),
              "ce": lambda o: F.cross_entropy(o, yt.long())}
    value = losses[loss](h)
    value.backward()
    return {"outputs": [o.detach().numpy() for o in outs], "loss": value.item(), "out_grad": outs[-1].grad.numpy(),
            "inputs": [t.grad.numpy() for t in ins], "params": {k: p.grad.numpy() for k, p in model.named_parameters()}}


def _kind(layer: Any) -> str:
    return getattr(layer, "kind", None) or type(layer).__name__


TOPICS: dict[str, Callable[[str | None], Explanation]] = {
    "two-layer": two_layer,
    "dead-relu": dead_relu,
    "vjp-sin": vjp_sin,
    "symmetry": symmetry,
    "params": params,
    "backprop": backprop,
}


def explain(topic: str, arg: str | None = None) -> Explanation:
    """The computation behind one topic. ``arg``: an architecture string for params/backprop."""
    if topic not in TOPICS:
        raise SpecError("topic", f"one of {', '.join(TOPICS)}", topic)
    return TOPICS[topic](arg)


# ------------------------------------------------------------------------------- architecture strings

_ACTS = ("relu", "tanh", "sigmoid", "identity", "leaky_relu")
FLAGS = (*_ACTS, "residual", "batchnorm", "layernorm", "norm=batch|layer", "nobias", "out=sigmoid|softmax",
         "poly=D", "loss=NAME", "n=N")


def parse_arch(text: str) -> tuple[ModelSpec, dict[str, Any]]:
    """``"2-32-1,tanh,residual"`` -> (ModelSpec, extras such as n and loss). See the module docstring."""
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    dims = parts[0].split("-") if parts else []
    if len(dims) < 2 or not all(d.isdigit() and int(d) > 0 for d in dims):
        raise SpecError("architecture", "IN-H1-...-OUT with positive integers, e.g. 2-32-1", text)
    fields: dict[str, Any] = {"in_dim": int(dims[0]), "hidden": [int(d) for d in dims[1:-1]], "out_dim": int(dims[-1])}
    extra: dict[str, Any] = {}
    for flag in parts[1:]:
        key, _, value = flag.partition("=")
        if flag in _ACTS:
            fields["activation"] = flag
        elif flag == "residual":
            fields["residual"] = True
        elif flag in ("batchnorm", "layernorm"):
            fields["norm"] = flag[: -len("norm")]
        elif key == "norm" and value in ("batch", "layer", "none"):
            fields["norm"] = value
        elif flag == "nobias":
            fields["bias"] = False
        elif key == "out" and value in ("sigmoid", "softmax", "none"):
            fields["out_activation"] = value
        elif key == "poly":
            fields["poly_degree"] = _positive_int(value, "poly", default=None)
        elif key == "loss" and value in ops.LOSSES:
            extra["loss"] = value
        elif key == "n":
            extra["n"] = _positive_int(value, "n", default=None)
        else:
            raise SpecError("architecture flag", f"one of {', '.join(FLAGS)}", flag)
    return validate(ModelSpec, fields, "architecture"), extra


def _positive_int(text: str | None, param: str, default: int | None) -> int:
    if text is None and default is not None:
        return default
    if text is None or not str(text).isdigit() or int(text) < 1 or int(text) > 10_000:
        raise SpecError(param, "a whole number from 1 to 10000", text)
    return int(text)


def _arch_name(spec: ModelSpec) -> str:
    return "-".join(map(str, [spec.in_dim, *spec.hidden, spec.out_dim]))


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _where(layer: Any) -> str:
    return getattr(layer, "prefix", "") or type(layer).__name__.lower()


def _spread_of(w: np.ndarray) -> float:
    """How far the hidden units' incoming weights are apart: max |W1[i] - W1[0]|."""
    return float(np.abs(w - w[0]).max())


# ------------------------------------------------------------------------------------------- render

MAX_SHOWN = 12  # rows/columns printed per matrix; larger ones are cut with an ellipsis


def render(expl: Explanation, console: Any) -> None:
    """Print an explanation: each array as a small matrix, then the tables and the notes."""
    from rich.markup import escape
    from rich.table import Table as RichTable

    console.print(f"[bold]{escape(expl.title)}[/bold]")
    for name, value in expl.arrays.items():
        a = np.asarray(value)
        if a.ndim == 0:
            console.print(f"{escape(name)} = {_num(a.item())}")
            continue
        m = a.reshape(1, -1) if a.ndim == 1 else a.reshape(a.shape[0], -1)  # vectors print as one row
        console.print(f"{escape(name)}  {_shape(a.shape)}")  # above the matrix: a title would wrap to its width
        t = RichTable(show_header=False)
        cols = min(m.shape[1], MAX_SHOWN)
        for _ in range(cols + (m.shape[1] > cols)):
            t.add_column(justify="right")
        for row in m[:MAX_SHOWN]:
            t.add_row(*[_num(v) for v in row[:cols]], *(["..."] if m.shape[1] > cols else []))
        if m.shape[0] > MAX_SHOWN:
            t.add_row(*["..."] * (cols + (m.shape[1] > cols)))
        console.print(t)
    for table in expl.tables:
        t = RichTable(title=escape(table.title), title_justify="left")
        for col in table.columns:
            t.add_column(escape(col))
        for row in table.rows:
            t.add_row(*[_num(v) if isinstance(v, (float, np.floating)) else escape(str(v)) for v in row])
        console.print(t)
    for note in expl.notes:
        console.print(escape(note))


def _num(v: Any) -> str:
    v = float(v)
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:.4g}"
