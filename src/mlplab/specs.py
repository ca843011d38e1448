"""Typed, validated specs: what data, which model, how to train, and the experiment that joins them.

Defaults live here and only here. Unknown keys are errors, and every validation failure becomes one
`SpecError` naming the field (``model.hidden``), what it must be and what it got.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import SpecError

Activation = Literal["relu", "tanh", "sigmoid", "identity", "leaky_relu"]
Norm = Literal["none", "batch", "layer"]
Init = Literal["default", "identity", "xavier_uniform", "xavier_normal", "kaiming", "normal", "constant"]
Loss = Literal["mse", "mse_sum", "bce", "bce_logits", "ce"]
FEATURES = ("x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)")
Feature = Literal["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)"]
Optimizer = Literal["adam", "sgd", "manual_sgd", "lbfgs"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

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
    hidden: list[int] = Field(default_factory=list, max_length=64)
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

    @field_validator("hidden")
    @classmethod
    def _positive_widths(cls, hidden: list[int]) -> list[int]:
        if any(h < 1 or h > 100_000 for h in hidden):
            raise ValueError(f"every width between 1 and 100000, got {hidden}")
        return hidden

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        if self.residual and not self.hidden:
            raise ValueError("residual=True needs at least one hidden width")
        if self.poly_degree and self.in_dim != 1:
            raise ValueError("poly_degree needs in_dim=1 (polynomial features of a scalar input)")
        if self.features:
            if self.in_dim != 2:
                raise ValueError("features need in_dim=2 (features of the inputs x1, x2)")
            if len(set(self.features)) != len(self.features):
                raise ValueError(f"each feature once, got {self.features}")
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


class Experiment(_Spec):
    """A named experiment: data, model and training, plus how to show it."""

    name: str = Field("custom", pattern=r"^[A-Za-z0-9_.-]+$", max_length=80)
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

    @field_validator("name")
    @classmethod
    def _not_only_dots(cls, name: str) -> str:
        if set(name) == {"."}:  # the name is a folder: "." or ".." would write into or above the output
            raise ValueError("a name with a letter, digit, '_' or '-' (it names the run's folder)")
        return name


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


def _to_spec_error(exc: ValidationError, where: str) -> SpecError:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
    param = ".".join(p for p in (where, loc) if p) or "spec"
    kind = err["type"]
    if kind == "extra_forbidden":
        return SpecError(param, "no such field (a known field name)", err.get("input"), hint="check the spelling")
    expected = err["msg"]
    for prefix in ("Input should be ", "Value error, ", "Input "):
        if expected.startswith(prefix):
            expected = expected[len(prefix):]
    return SpecError(param, expected, err.get("input"))
