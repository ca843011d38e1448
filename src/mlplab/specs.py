"""Typed, validated specs: what data, which model, how to train, and the experiment that joins them.

Defaults live here and only here. Unknown keys are errors, and every validation failure becomes one
`SpecError` naming the field (``model.hidden``), what it must be and what it got.

Types are strict, the same at every door (Python, TOML, CLI overrides, the web page, sweep files): no
``"yes"`` for a bool, no ``"0.1"`` for a number, no ``3.0``, ``True`` or ``"3"`` for an integer. An
integer is a number, so ``lr = 1`` is accepted for a float; numbers are finite. From Python, NumPy
scalars and arrays count as the numbers they hold and tuples as lists (none is a change of type).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import SpecError

Activation = Literal["relu", "tanh", "sigmoid", "identity", "leaky_relu"]
Norm = Literal["none", "batch", "layer"]
Init = Literal["default", "identity", "xavier_uniform", "xavier_normal", "kaiming", "normal", "constant"]
Loss = Literal["mse", "mse_sum", "bce", "bce_logits", "ce"]
FEATURES = ("x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)")
Feature = Literal["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)"]
Optimizer = Literal["adam", "sgd", "manual_sgd", "lbfgs"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, strict=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _python_values(cls, values: Any) -> Any:
        """NumPy scalars and arrays as the Python numbers they hold, tuples as lists (widths, features)."""
        if not isinstance(values, dict):
            return values
        return {k: _plain(v) for k, v in values.items()}

    def replace(self, **changes: Any):
        """A copy with some fields changed, validated again."""
        return validate(type(self), {**self.model_dump(), **changes})


class DataSpec(_Spec):
    """Which data set, and the generator's parameters (see ``mlplab.data.GENERATORS``)."""

    name: str = "moons"
    n: int | None = Field(None, ge=1, le=1_000_000, description="number of points; None: the generator's own default")
    noise: float | None = Field(None, ge=0, le=1e3, description="None: the generator's own default")
    seed: int = Field(0, ge=0, le=2**32 - 1)
    test_fraction: float = Field(0.0, ge=0, lt=1)
    params: dict[str, Any] = Field(default_factory=dict, description="generator-specific extras")


class ModelSpec(_Spec):
    """One MLP family. Residual, normalised, polynomial and linear models are settings, not classes.

    Plain MLP (``residual=False``): for each width h in ``hidden``: Linear -> [norm] -> activation
    (``norm_position="pre"``) or Linear -> activation -> [norm] (``"post"``); then a Linear to the output.

    Residual MLP (``residual=True``, the notebooks' layout): a Linear stem to ``hidden[0]`` with no
    activation; then one residual block per entry of ``hidden`` (Linear, activation, Linear, plus the
    block's input), with a Linear projection between blocks whose widths differ; then the output
    Linear. ``norm_position="post"`` puts a norm after the stem and after every block (notebook 000's
    ``bn1``-``bn3``); ``"pre"`` puts it inside each block, before the activation.
    """

    in_dim: int = Field(2, ge=1, le=100_000)
    out_dim: int = Field(1, ge=1, le=10_000)
    hidden: list[Annotated[int, Field(ge=1, le=100_000)]] = Field(default_factory=list, max_length=64)
    activation: Activation = "relu"
    leaky_slope: float = Field(0.01, ge=0, le=1)
    residual: bool = False
    norm: Norm = "none"
    # None picks the usual place: before the activation in a plain MLP, after each block in a
    # residual one (where notebook 000 puts its BatchNorm layers).
    norm_position: Literal["pre", "post"] | None = None
    # Residual + post norm only: notebook 001 comments out the norm after the stem (its bn1); False drops it.
    norm_stem: bool = True
    out_activation: Literal["none", "sigmoid", "softmax"] = "none"
    init: Init = "default"
    init_std_w: float = Field(1.0, gt=0, le=1e3, description="weight std for init='normal' (notebook 003's sw)")
    init_std_b: float = Field(1.0, ge=0, le=1e3, description="bias std for init='normal' (notebook 003's sb)")
    init_value: float = Field(0.5, ge=-1e3, le=1e3, description="every weight for init='constant'")
    bias: bool = True
    poly_degree: int = Field(0, ge=0, le=200, description=">0: expand a 1-D input into x, x^2, ..., x^d first")
    # TensorFlow Playground's inputs: features of a 2-D input computed before the first layer. Empty (or
    # exactly x1, x2) feeds the raw inputs.
    features: list[Feature] = Field(default_factory=list, max_length=len(FEATURES))

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        # A SpecError here names its field: `validate` puts the section in front (model.features).
        if self.residual and not self.hidden:
            raise SpecError("hidden", "at least one hidden width for residual=True", self.hidden)
        if self.poly_degree and self.in_dim != 1:
            raise SpecError("poly_degree", f"0 for in_dim={self.in_dim} (polynomial features need in_dim=1, "
                            "a scalar input)", self.poly_degree)
        if self.features:
            if self.in_dim != 2:
                raise SpecError("features", f"[] for in_dim={self.in_dim} (features are of the inputs x1, x2: "
                                "in_dim=2)", self.features)
            if len(set(self.features)) != len(self.features):
                raise SpecError("features", "each feature once", self.features)
        return self

    @property
    def where_norm(self) -> str:
        return self.norm_position or ("post" if self.residual else "pre")


class TrainSpec(_Spec):
    """How to train: optimizer, loss, batches, epochs, seed, and what to record."""

    optimizer: Optimizer = "adam"
    lr: float = Field(0.01, gt=0, le=100)
    momentum: float = Field(0.0, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0, le=100)
    loss: Loss = "mse"
    epochs: int = Field(100, ge=1, le=1_000_000)
    batch_size: int | None = Field(None, ge=1, description="None: full batch, one step per epoch")
    seed: int = Field(0, ge=0, le=2**32 - 1)
    # About 100 frames whatever the length: enough for a smooth animation, small enough to ship.
    # 0 records nothing (the fastest training, e.g. for benchmarks on large data).
    frames: int = Field(100, ge=0, le=10_000)
    grid: int = Field(0, ge=0, le=400, description="record predictions on a grid x grid lattice (2D inputs)")
    snapshots: bool = Field(False, description="keep the parameters at every recorded frame")
    # auto: the fastest engine that runs the model (compiled, else fused NumPy, else torch); run.json says
    # which ran. torch: autograd + torch.optim, the notebooks' own step; fused: hand-written NumPy layers;
    # compiled: the same as numba kernels; numpy: the from-scratch teaching engine (mlplab.autograd);
    # stacked: a leading run axis (sweeps).
    engine: Literal["auto", "torch", "fused", "compiled", "numpy", "stacked"] = "auto"
    l1: float = Field(0.0, ge=0, le=100, description="L1 penalty: l1 * sign(w) added to every gradient")
    val_fraction: float = Field(0.0, ge=0, lt=1)
    patience: int | None = Field(None, ge=1, description="early stopping on validation loss, in epochs")


def _not_only_dots(name: str) -> str:
    if set(name) == {"."}:  # the name is a folder: "." or ".." would write into or above the output
        raise ValueError("a name with a letter, digit, '_' or '-' (it names the run's folder)")
    return name


# A name that becomes a folder (a run's, a sweep's report): letters, digits, '_', '-', '.', never only dots,
# so it can never reach outside the folder it is written into (no '/', no '..').
RunName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=80), AfterValidator(_not_only_dots)]


class Experiment(_Spec):
    """A named experiment: data, model and training, plus how to show it."""

    name: RunName = "custom"
    title: str = ""
    notebook: str = Field("", description="which course notebook it comes from")
    description: str = ""
    # What the experiment does: train a model, draw prior samples, or plot activations.
    kind: Literal["train", "prior", "activations", "compare"] = "train"
    view: Literal["auto", "mapping", "curve", "boundary", "images", "none"] = "auto"
    data: DataSpec = Field(default_factory=DataSpec)
    model: ModelSpec = Field(default_factory=ModelSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    extras: dict[str, Any] = Field(default_factory=dict, description="kind-specific settings")


def _plain(value: Any) -> Any:
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()  # the Python numbers (or lists of them) it holds, of the same kind
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def validate(cls: type[_Spec], values: Any, where: str = ""):
    """Build a spec from plain values; any problem becomes one `SpecError` naming the field."""
    if isinstance(values, cls):
        return values
    if not isinstance(values, dict):
        raise SpecError(where or cls.__name__, "a table of fields", values)
    try:
        return cls.model_validate(values)
    except ValidationError as exc:
        raise _to_spec_error(exc, where) from None


# Strict type errors, as every door says them (an integer is accepted where a number is expected).
TYPE_NAMES = {
    "int_type": "an integer (a whole number such as 3, not 3.0, true or \"3\")",
    "float_type": "a number (such as 0.1 or 1, not \"0.1\")",
    "finite_number": "a finite number (not inf or nan)",
    "bool_type": "true or false (not a string or a number)",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a table of fields",
}


def _to_spec_error(exc: ValidationError, where: str) -> SpecError:
    err = exc.errors()[0]
    loc = ""
    for part in err["loc"]:  # list items as [i]: model.hidden[1], as every door names them
        if isinstance(part, int):
            loc += f"[{part}]"
        elif not str(part).startswith("function-"):
            loc += f".{part}" if loc else str(part)
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, SpecError):  # a validator that names its own field
        param = ".".join(p for p in (where, loc, cause.param) if p)
        return SpecError(param, cause.expected, cause.got, hint=cause.hint)
    param = ".".join(p for p in (where, loc) if p) or "spec"
    kind = err["type"]
    if kind == "extra_forbidden":
        return SpecError(param, "no such field (a known field name)", err.get("input"), hint="check the spelling")
    if kind in TYPE_NAMES:  # the same words at every door, whatever pydantic calls the type
        return SpecError(param, TYPE_NAMES[kind], err.get("input"))
    if kind == "string_pattern_mismatch":
        return SpecError(param, f"a string of the characters {err['ctx']['pattern'][2:-3]} only", err.get("input"))
    expected = err["msg"]
    for prefix in ("Input should be ", "Value error, ", "Input ", "String should have ", "List should have "):
        if expected.startswith(prefix):
            expected = expected[len(prefix):]
    return SpecError(param, expected, err.get("input"))
