"""The settings each kind of experiment accepts in ``Experiment.extras``, validated like every other field.

One typed table per kind; a bad value becomes one `SpecError` naming ``extras.<field>``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from .errors import SpecError
from .specs import Activation, Experiment, Init, validate

# The functions `api._activations` can draw (tests/test_budget.py checks that the two lists agree).
ActivationName = Literal["relu", "sigmoid", "tanh"]


class _Extras(BaseModel):
    # strict: TOML and JSON give real types, so "10" for a count is a mistake, not a number
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    in_course: bool = Field(True, description="`mlplab course` runs it")


class _Range(_Extras):
    x_min: float
    x_max: float

    @field_validator("x_max")
    @classmethod
    def _ordered(cls, x_max: float, info: ValidationInfo) -> float:
        x_min = info.data.get("x_min")
        if x_min is not None and not x_min < x_max:
            raise ValueError(f"a number above x_min={x_min}")
        return x_max


class TrainExtras(_Extras):
    fit_dims: bool = Field(False, description="image presets: model sizes follow the data set found")
    digits_epochs: int = Field(1, ge=1, le=1_000_000, description="epochs when the digits fallback is used")


class PriorExtras(_Range):
    samples: int = Field(10, ge=1, le=10_000)
    points: int = Field(1000, ge=2)  # how many fit is `mlplab.budget`'s call
    x_min: float = -5.0
    x_max: float = 5.0


class ActivationExtras(_Range):
    names: list[ActivationName] = Field(default_factory=lambda: ["relu", "sigmoid", "tanh"], min_length=1)
    x_min: float = -8.0
    x_max: float = 8.0
    step: float = Field(0.1, gt=0)  # how small a step fits is `mlplab.budget`'s call


class CompareExtras(_Extras):
    # which side-by-side study runs (`mlplab.compare.STUDIES`); the fields below name the one that reads them
    study: Literal["paths", "backprop-by-hand", "vjp-sin", "depth-gradients", "optimizers"] = "paths"
    runs: list[str] = Field(default_factory=list, description="paths: preset names trained on the same data")
    sklearn: list[dict[str, Any]] = Field(default_factory=list, description="paths: MLPClassifier settings, plus a label")
    points: int = Field(100, ge=2, le=1_000_000, description="vjp-sin: points on [0, 2 pi]")
    activations: list[Activation] = Field(default_factory=lambda: ["sigmoid", "relu"], min_length=1,
                                          description="depth-gradients: hidden activations compared")
    inits: list[Init] = Field(default_factory=lambda: ["default", "xavier_uniform"], min_length=1,
                              description="depth-gradients: initialisations compared")
    batch: int = Field(256, ge=1, le=1_000_000, description="depth-gradients: rows of the one batch measured")


EXTRAS: dict[str, type[_Extras]] = {
    "train": TrainExtras, "prior": PriorExtras, "activations": ActivationExtras, "compare": CompareExtras,
}


def check_extras(exp: Experiment) -> BaseModel:
    """The typed extras of ``exp``; raises `SpecError` naming ``extras.<field>`` for a bad one."""
    cls = EXTRAS[exp.kind]
    unknown = sorted(set(exp.extras) - set(cls.model_fields))
    if unknown:
        raise SpecError(f"extras.{unknown[0]}", f"a setting of a kind={exp.kind!r} experiment "
                        f"({', '.join(cls.model_fields)})", exp.extras[unknown[0]], hint="check the spelling")
    typed = validate(cls, dict(exp.extras), "extras")
    if exp.kind == "prior":  # the prior draws functions of one input on [x_min, x_max], one curve per model
        for field in ("in_dim", "out_dim"):
            if getattr(exp.model, field) != 1:
                raise SpecError(f"model.{field}", "1 for a kind='prior' experiment (curves of one input)",
                                getattr(exp.model, field))
    return typed
