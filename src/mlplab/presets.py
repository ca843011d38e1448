"""Every experiment of the course notebooks as a named `Experiment`, in the notebooks' own terms.

``experiment(name)`` returns one; ``PRESETS`` lists them in course order. A preset is only data: its
spec says which data, model and training the notebook used, with the notebook's hyper-parameters.
"""

from __future__ import annotations

from typing import Any

from .errors import SpecError
from .specs import Experiment, validate

N000 = "000/001: MLPs and residual propagation"
N002 = "002: neural networks and backpropagation"
N003 = "003: function approximators and ANNs"
N004 = "004: multilayer perceptrons (d2l)"

# The notebooks' 2D->2D models: identity initialisation, Adam lr 0.01, MSE, full batch.
_IDENTITY_2D = {"in_dim": 2, "out_dim": 2, "init": "identity"}
_VARIANTS = {
    "linear": ({"hidden": []}, "a single linear layer: one affine map for the whole plane"),
    "mlp": ({"hidden": [2]}, "2-2-2 ReLU MLP: the plane is folded along the ReLU lines"),
    "residual": ({"hidden": [2, 2], "residual": True}, "a stem, two residual blocks (Linear, ReLU, Linear, + input) and an output layer"),
    "residual-bn": (
        {"hidden": [2, 2], "residual": True, "norm": "batch", "norm_position": "post"},
        "the residual MLP with batch norm after the stem and after each block",
    ),
}

_ENTRIES: list[dict[str, Any]] = [
    {
        "name": "rotation-linear", "title": "A rotation and a translation, learned by a linear layer",
        "notebook": N000, "description": "y = X R(30 deg) + (5, 5): a linear model finds it exactly.",
        "data": {"name": "rotation"}, "model": {**_IDENTITY_2D, "hidden": []},
        "train": {"optimizer": "adam", "lr": 0.01, "epochs": 1000},
    },
]
# The three-cluster data (500 epochs linear, 5000 the others, as in the notebook) and the closing
# exercise (the notebook leaves the length open: 1000 / 3000), each with every model variant.
_SETS = {
    "piecewise": ("Three clusters, three linear maps: {v}", "Each cluster gets its own linear transform", (500, 5000)),
    "practice": ("Exercise: y = 2X + X^2 + 0.5 with {v}", "The notebook's closing exercise on the noisy diagonal",
                 (1000, 3000)),
}
# The batch-norm presets run on the torch engine, whatever "auto" would pick: they must print the notebooks'
# numbers, and only the notebooks' own float32 operations give them. Batch norm after the identity-initialised
# stem and blocks leaves weights whose gradient is below float32 rounding (the biases before a norm and the
# stem's diagonal: 1e-15 in float64), so every engine's gradient there is rounding noise (1e-7 to 1e-5) and
# Adam's first step, lr g / (|g| + eps), turns each noise sign into a full step of +-lr. Any other order of
# the same float32 operations (NumPy's BLAS against torch's kernels: the fused, stacked and compiled engines)
# draws other signs at step 1, and the run ends elsewhere (piecewise-residual-bn: 5.23 fused against the
# notebook's 5.005). No order short of torch's own kernels can match, so the engine is chosen here; sweeps
# stack these only when their grid sets train.engine = "auto" (README, "Engines and the notebooks' numbers").
_NOTEBOOK_ENGINE = {"residual-bn": "torch"}
for _data, (_title, _about, (_short, _long)) in _SETS.items():
    for _key, (_model, _what) in _VARIANTS.items():
        _ENTRIES.append({
            "name": f"{_data}-{_key}", "title": _title.format(v=_key.replace("-", " + ")),
            "notebook": N000, "description": f"{_about}; the model is {_what}.",
            "data": {"name": _data}, "model": {**_IDENTITY_2D, **_model},
            "train": {"optimizer": "adam", "lr": 0.01, "epochs": _short if _key == "linear" else _long, "snapshots": True,
                      "engine": _NOTEBOOK_ENGINE.get(_key, "auto")},
        })

_ENTRIES.append({
    "name": "piecewise-residual-bn-no-bn1", "title": "Three clusters, residual + batch norm as notebook 001 runs it (no bn1)",
    "notebook": N000, "description": "Notebook 001's last model comments out the norm after the stem (#x = self.bn1(x)): "
    "batch norm only after each residual block.",
    "data": {"name": "piecewise"}, "model": {**_IDENTITY_2D, **_VARIANTS["residual-bn"][0], "norm_stem": False},
    "train": {"optimizer": "adam", "lr": 0.01, "epochs": 5000, "snapshots": True, "engine": _NOTEBOOK_ENGINE["residual-bn"]},
})

# Notebook 002 in its order: torch.optim, the VJP of sin, the hand-written update, backprop by hand (first
# the MSE version, then exercises 3-5), and everything beside scikit-learn.
_MOONS_MODEL = {"in_dim": 2, "out_dim": 1, "hidden": [32], "activation": "relu", "out_activation": "sigmoid"}
_ENTRIES += [
    {
        "name": "moons-mlp", "title": "Two moons: a 2-32-1 MLP trained with torch.optim.SGD",
        "notebook": N002, "description": "SGD lr 1.0, binary cross-entropy on sigmoid outputs, 1000 full-batch steps.",
        "data": {"name": "moons"}, "model": _MOONS_MODEL,
        "train": {"optimizer": "sgd", "lr": 1.0, "loss": "bce", "epochs": 1000, "grid": 100, "snapshots": True,
                  "engine": "torch"},  # autograd + torch.optim: the first of the notebook's three ways
    },
    {
        "name": "vjp-sin", "title": "The vector-Jacobian product of sin, beside autograd",
        "notebook": N002, "kind": "compare",
        "description": "f = sin(x) on 100 points of [0, 2 pi]; with v = ones, f.grad_fn(v), x.grad after f.backward(v), "
        "v * cos(x) and mlplab's hand-written VJP are one curve: the Jacobian is diagonal and never built.",
        "extras": {"study": "vjp-sin", "points": 100},
    },
    {
        "name": "moons-manual-step", "title": "Two moons: autograd gradients, hand-written update",
        "notebook": N002, "description": "The same network; each step is p -= lr * p.grad under torch.no_grad().",
        "data": {"name": "moons"}, "model": _MOONS_MODEL,
        "train": {"optimizer": "manual_sgd", "lr": 1.0, "loss": "bce", "epochs": 1000, "grid": 100,
                  "engine": "torch"},  # autograd gradients, the update by hand
    },
    {
        "name": "moons-backprop-mse", "title": "Backpropagation by hand, first version: no bias, linear output, MSE",
        "notebook": N002, "kind": "compare",
        "description": "The notebook's first manual network: w1, w2 drawn from N(0, 0.1^2), no biases, ReLU, a linear "
        "output and the mean squared error; each hand-written VJP (dz2, dw2, da1, dz1, dw1) checked against "
        "autograd's .grad, as its (dz2 == z2.grad).all() cells do; then its loop: 100 SGD steps, lr 0.1.",
        "data": {"name": "moons"},
        "model": {"in_dim": 2, "out_dim": 1, "hidden": [32], "bias": False, "init": "normal", "init_std_w": 0.1,
                  "init_std_b": 0.0},
        "train": {"optimizer": "sgd", "lr": 0.1, "loss": "mse", "epochs": 100, "grid": 100, "engine": "numpy"},
        "extras": {"study": "backprop-by-hand"},
    },
    {
        "name": "moons-scratch", "title": "Two moons: backpropagation written by hand (NumPy engine)",
        "notebook": N002, "description": "Exercises 3-5: bias, a sigmoid output and binary cross-entropy, every "
        "vector-Jacobian product written out (mlplab.autograd) and checked against autograd in the tests.",
        "data": {"name": "moons"}, "model": _MOONS_MODEL,
        "train": {"optimizer": "sgd", "lr": 1.0, "loss": "bce", "epochs": 1000, "grid": 100, "engine": "numpy"},
    },
    {
        "name": "moons-sklearn", "title": "Two moons, four ways: scikit-learn beside mlplab's three paths",
        "notebook": N002, "kind": "compare",
        "description": "scikit-learn's MLPClassifier with its defaults and with the notebook's settings (32 units, "
        "full-batch SGD, lr 0.2, 1000 iterations), beside torch.optim.SGD, the hand-written update and the "
        "hand-written backward pass.",
        "data": {"name": "moons"},
        "extras": {
            "runs": ["moons-mlp", "moons-manual-step", "moons-scratch"],
            "sklearn": [
                {"label": "defaults", "max_iter": 200},
                {"label": "(32,), sgd, lr 0.2", "hidden_layer_sizes": [32], "solver": "sgd", "batch_size": 100,
                 "learning_rate_init": 0.2, "max_iter": 1000},
            ],
        },
    },
]
_ENTRIES += [
    {
        "name": "sine-poly", "title": "x sin(10x) with a degree-100 polynomial",
        "notebook": N003, "description": "Linear regression on 100 polynomial features, Adam 1e-2, summed squared error.",
        "data": {"name": "sine"}, "model": {"in_dim": 1, "out_dim": 1, "poly_degree": 100},
        "train": {"optimizer": "adam", "lr": 0.01, "loss": "mse_sum", "epochs": 10000, "grid": 200},
    },
]
for _h in (1, 2, 5, 10):
    _ENTRIES.append({
        "name": f"sine-mlp-{_h}", "title": f"x sin(10x) with a 1-{_h}-1 tanh MLP",
        "notebook": N003, "description": f"How many tanh basis functions does the curve need? Here {_h}.",
        "data": {"name": "sine"}, "model": {"in_dim": 1, "out_dim": 1, "hidden": [_h], "activation": "tanh"},
        "train": {"optimizer": "adam", "lr": 0.01, "loss": "mse_sum", "epochs": 5000, "grid": 200},
    })
_ENTRIES += [
    {
        "name": "sine-mlp-deep", "title": "x sin(10x) with two hidden tanh layers (1-10-10-1)",
        "notebook": N003, "description": "The notebook's 'additional hidden layer' activity.",
        "data": {"name": "sine"}, "model": {"in_dim": 1, "out_dim": 1, "hidden": [10, 10], "activation": "tanh"},
        "train": {"optimizer": "adam", "lr": 0.01, "loss": "mse_sum", "epochs": 5000, "grid": 200},
    },
    {
        "name": "sine-mlp-lbfgs", "title": "x sin(10x) with a 1-10-1 tanh MLP trained by L-BFGS",
        "notebook": N003, "description": "The same network as sine-mlp-10, full-batch L-BFGS (torch.optim.LBFGS, "
        "strong Wolfe line search): 300 steps instead of Adam's 5000.",
        "data": {"name": "sine"}, "model": {"in_dim": 1, "out_dim": 1, "hidden": [10], "activation": "tanh"},
        "train": {"optimizer": "lbfgs", "lr": 1.0, "loss": "mse_sum", "epochs": 300, "grid": 200},
    },
    {
        "name": "sine-optimizers", "title": "Adam against L-BFGS on x sin(10x)", "notebook": N003, "kind": "compare",
        "description": "sine-mlp-10 (Adam, 5000 steps) and sine-mlp-lbfgs (L-BFGS, 300 steps) on the same data: "
        "loss per step, wall time, and the fits.",
        "data": {"name": "sine"}, "extras": {"study": "optimizers", "runs": ["sine-mlp-10", "sine-mlp-lbfgs"]},
    },
    {
        "name": "sine-relu", "title": "x sin(10x) with a 1-10-1 ReLU MLP: the curve as straight pieces",
        "notebook": N003, "description": "sine-mlp-10 with ReLU units (Kaiming init) in place of tanh: the fit is a broken line, "
        "and its breakpoints are computed exactly (mlplab.geometry.linear_pieces_1d); one hidden layer of 10 "
        "units makes at most 11 pieces.",
        "data": {"name": "sine"}, "model": {"in_dim": 1, "out_dim": 1, "hidden": [10], "activation": "relu", "init": "kaiming"},
        "train": {"optimizer": "adam", "lr": 0.01, "loss": "mse_sum", "epochs": 5000, "grid": 200, "snapshots": True},
    },
    {
        "name": "spectral-bias", "title": "Spectral bias: a ReLU MLP fits low frequencies first",
        "notebook": N003, "description": "sin(2 pi x) + sin(8 pi x) + sin(16 pi x), equal amplitudes, 64 inputs on "
        "[0, 1): 1, 4 and 8 cycles per unit, each on a Fourier bin. A 1-64-64-64-1 ReLU MLP (Kaiming init, Adam, lr 0.01, full "
        "batch) removes them from its residual in order of frequency (Rahaman et al. 2019), which x sin(10x) "
        "cannot show: its energy sits at one low frequency.",
        "data": {"name": "sines"},
        "model": {"in_dim": 1, "out_dim": 1, "hidden": [64, 64, 64], "activation": "relu", "init": "kaiming"},
        "train": {"optimizer": "adam", "lr": 0.01, "loss": "mse", "epochs": 2000, "grid": 256, "frames": 100,
                  "snapshots": True},
    },
    {
        "name": "prior-mlp", "title": "The prior of an MLP: functions drawn from random weights",
        "notebook": N003, "kind": "prior",
        "description": "Ten 1-1000-1 sigmoid MLPs with weights and biases drawn from N(0, 5^2), on x in [-5, 5].",
        "model": {"in_dim": 1, "out_dim": 1, "hidden": [1000], "activation": "sigmoid", "init": "normal",
                  "init_std_w": 5.0, "init_std_b": 5.0},
        "extras": {"samples": 10, "x_min": -5.0, "x_max": 5.0, "points": 1000},
    },
    *[{
        "name": f"prior-mlp-{key}", "title": f"The prior of an MLP: {what}", "notebook": N003, "kind": "prior",
        "description": f"The notebook's activity: {question} Ten draws of {about}, weights and biases N(0, 5^2).",
        "model": {"in_dim": 1, "out_dim": 1, "hidden": [1000], "activation": "sigmoid", "init": "normal",
                  "init_std_w": 5.0, "init_std_b": 5.0, **model},
        "extras": {"samples": 10, "x_min": -5.0, "x_max": 5.0, "points": 1000},
    } for key, what, question, about, model in [
        ("10", "10 sigmoid units instead of 1000", "what happens when you add more neurons? (here: fewer)",
         "1-10-1 sigmoid MLPs (the class's default Nh=10)", {"hidden": [10]}),
        ("linear", "no nonlinearity", "what happens if you remove the nonlinearity?",
         "1-1000-1 MLPs without an activation (every draw is a straight line)", {"activation": "identity"}),
        ("tanh", "tanh instead of sigmoid", "what happens if you change the nonlinearity?", "1-1000-1 tanh MLPs",
         {"activation": "tanh"}),
        ("relu", "ReLU instead of sigmoid", "what happens if you change the nonlinearity?", "1-1000-1 ReLU MLPs",
         {"activation": "relu"}),
        ("deep", "three hidden layers", "what happens when you add more layers? (its hidden2 and hidden3)",
         "1-1000-1000-1000-1 sigmoid MLPs", {"hidden": [1000, 1000, 1000]}),
    ]],
    {
        "name": "xor-mlp", "title": "XOR: what no linear model can separate",
        "notebook": N004, "description": "Noisy XOR corners; a 2-8-1 ReLU MLP with Adam separates them.",
        "data": {"name": "xor", "n": 200, "noise": 0.15},
        "model": {"in_dim": 2, "out_dim": 1, "hidden": [8], "out_activation": "sigmoid"},
        "train": {"optimizer": "adam", "lr": 0.05, "loss": "bce", "epochs": 500, "grid": 100, "snapshots": True},
    },
    {
        "name": "activations", "title": "ReLU, sigmoid and tanh, and their gradients",
        "notebook": N004, "kind": "activations",
        "description": "The functions on [-8, 8) and their derivatives from autograd: where gradients vanish.",
        "extras": {"names": ["relu", "sigmoid", "tanh"], "x_min": -8.0, "x_max": 8.0, "step": 0.1},
    },
]

# d2l (notebook 004): 784-256-10 ReLU, SGD lr 0.1, batch 256, 10 epochs on Fashion-MNIST. On the 8x8 digits
# (the offline fallback, 5 batches an epoch) 100 epochs give about as many steps as d2l's 10 on 60000 images.
_D2L_TRAIN = {"optimizer": "sgd", "lr": 0.1, "loss": "ce", "epochs": 10, "batch_size": 256, "frames": 20}
_D2L_MODEL = {"in_dim": 784, "out_dim": 10, "hidden": [256]}
_D2L_EXTRAS = {"fit_dims": True, "digits_epochs": 100}
_ENTRIES += [
    {
        "name": "d2l-mlp", "title": "The d2l MLP: one hidden layer of 256 ReLU units", "notebook": N004,
        "description": "d2l's concise nn.Sequential MLP and recipe; Fashion-MNIST when its files are present, else digits.",
        "view": "images", "data": {"name": "fashion-or-digits"}, "model": _D2L_MODEL, "train": _D2L_TRAIN,
        "extras": _D2L_EXTRAS,
    },
    {
        "name": "d2l-mlp-scratch", "title": "The d2l MLPScratch, trained by the hand-written NumPy engine",
        "notebook": N004, "description": "Parameters W1, b1, W2, b2 (weights N(0, 0.01^2), zero biases) as in "
        "MLPScratch; forward and backward written out in NumPy.",
        "view": "images", "data": {"name": "fashion-or-digits"},
        "model": {**_D2L_MODEL, "init": "normal", "init_std_w": 0.01, "init_std_b": 0.0},
        "train": {**_D2L_TRAIN, "engine": "numpy"}, "extras": _D2L_EXTRAS,
    },
    {
        "name": "d2l-mlp-xavier", "title": "The d2l MLP with Xavier (uniform) initialisation", "notebook": N004,
        "description": "nn.init.xavier_uniform_ on both weight matrices, so the forward and backward variances stay balanced.",
        "view": "images", "data": {"name": "fashion-or-digits"}, "model": {**_D2L_MODEL, "init": "xavier_uniform"},
        "train": _D2L_TRAIN, "extras": _D2L_EXTRAS,
    },
]

_ENTRIES.append({
    "name": "depth-gradients", "title": "Vanishing gradients through depth: sigmoid vs ReLU, with and without Xavier",
    "notebook": N004, "kind": "compare",
    "description": "The notebook's argument measured: the gradient of the loss reaching each layer's weights, "
    "||dL/dW|| at initialisation, for an MLP with 8 hidden layers of 128 units on one batch of 256 digits. "
    "Sigmoid's derivative is at most 1/4, so the gradient shrinks layer by layer towards the input; ReLU with "
    "Xavier keeps it level.",
    "data": {"name": "digits"}, "model": {"in_dim": 64, "out_dim": 10, "hidden": [128] * 8},
    "extras": {"study": "depth-gradients", "activations": ["sigmoid", "relu"], "inits": ["default", "xavier_uniform"],
               "batch": 256},
})

PRESETS: dict[str, Experiment] = {}


def register(entry: dict[str, Any] | Experiment) -> Experiment:
    """Add an experiment to the preset table (other modules add theirs this way), kept in course order."""
    exp = validate(Experiment, entry, "preset")
    PRESETS[exp.name] = exp
    ordered = sorted(PRESETS.values(), key=_course_rank)  # stable: a notebook's presets keep their order
    PRESETS.clear()
    PRESETS.update((e.name, e) for e in ordered)
    return exp


def _course_rank(exp: Experiment) -> str:
    """Notebook numbers sort as text ("000/001" < "002" < ... ); experiments from no notebook come last."""
    return exp.notebook.split(":")[0] or "~"


for _entry in _ENTRIES:
    register(_entry)


def experiment(name: str, **overrides: Any) -> Experiment:
    """The preset called ``name``, optionally with fields replaced: ``experiment("moons-mlp", train={"epochs": 10})``."""
    if not isinstance(name, str) or name not in PRESETS:
        raise SpecError("name", f"a preset name ({', '.join(PRESETS)})", name, "`mlplab list` shows them all")
    exp = PRESETS[name]
    return merge(exp, overrides) if overrides else exp


def merge(exp: Experiment, overrides: dict[str, Any]) -> Experiment:
    """A copy of ``exp`` with nested fields replaced (tables merge, values replace), validated again.

    An explicit ``train.epochs`` wins over a preset's data-set-specific count (``extras.digits_epochs``
    of the d2l presets), unless the overrides set the extras too.
    """
    values = _deep_merge(exp.model_dump(), overrides)
    if "epochs" in (overrides.get("train") or {}) and "extras" not in overrides:
        values["extras"] = {k: v for k, v in values["extras"].items() if k != "digits_epochs"}
    return validate(Experiment, values, "")


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in ("params", "extras"):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
