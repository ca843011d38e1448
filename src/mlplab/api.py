"""The one path from an experiment to a Run, shared by Python, the CLI and the web page."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .budget import Estimate, check as check_budget
from .diagnostics import flag_dead_units
from .errors import SpecError
from .extras import check_extras
from .specs import Experiment, validate
from .training.run import Run, interrupted


def resolve(experiment: str | Experiment | dict[str, Any], **overrides: Any) -> Experiment:
    """A preset name, an Experiment or a plain dict (a ``preset`` key starts from that preset)."""
    from .presets import experiment as preset, merge

    if isinstance(experiment, str):
        exp = preset(experiment)
    elif isinstance(experiment, Experiment):
        exp = experiment
    elif isinstance(experiment, dict):
        values = dict(experiment)
        base = values.pop("preset", None)
        exp = merge(preset(base), values) if base is not None else validate(Experiment, values, "")
    else:
        raise SpecError("experiment", "a preset name, an Experiment or a dict", experiment)
    return merge(exp, overrides) if overrides else exp


def run(experiment: str | Experiment | dict[str, Any], *, epochs: int | None = None, seed: int | None = None,
        progress: bool | None = None, callbacks: list[Any] | None = None, **overrides: Any) -> Run:
    """Run a preset or an experiment spec: ``mlplab.run("piecewise-residual", epochs=500)``.

    ``callbacks`` (`mlplab.training.callbacks.Callback`) join the training loop of a training experiment."""
    # the caller's dicts stay as they were: each section is copied before epochs and seed go in
    changes: dict[str, Any] = {k: dict(v) if isinstance(v, dict) else v for k, v in overrides.items()}
    if epochs is not None:
        changes.setdefault("train", {})["epochs"] = epochs
    if seed is not None:
        changes.setdefault("train", {})["seed"] = seed
        changes.setdefault("data", {})["seed"] = seed
    result = run_experiment(resolve(experiment, **changes), progress=progress, callbacks=callbacks)
    if result.status == "interrupted":  # Ctrl-C must stop the caller's script too; the partial run rides along
        raise interrupted(result)
    return flag_dead_units(result, warn=True)


def prepare(exp: Experiment) -> tuple[Experiment, Any, torch.nn.Module]:
    """The experiment as it will run, its data and its initial model: what every surface trains from."""
    from .data import make_dataset
    from .models import build_model

    data = make_dataset(exp.data)
    if exp.extras.get("fit_dims"):  # image presets: sizes, data name and title follow whichever data set was found
        exp = merge_model(exp, in_dim=data.d_in, out_dim=data.d_out)
        size = "x".join(map(str, getattr(data, "image_shape", None) or ())) or f"{data.d_in} inputs"
        arch = "-".join(map(str, [exp.model.in_dim, *exp.model.hidden, exp.model.out_dim]))
        exp = exp.replace(data=exp.data.replace(name=data.name), title=f"{exp.title} ({data.name} {size}, {arch})")
    if data.name == "digits" and "digits_epochs" in exp.extras:
        exp = exp.replace(train=exp.train.replace(epochs=int(exp.extras["digits_epochs"])))
    return exp, data, build_model(exp.model, seed=exp.train.seed)


def check(exp: Experiment) -> Estimate:
    """Every check a run gets before anything is allocated: its kind's settings, then its memory.

    `run_experiment` and `run_stacked` (each member) both call it; returns the memory estimate."""
    check_extras(exp)
    return check_budget(exp)


def run_experiment(exp: Experiment, *, progress: bool | None = None, callbacks: list[Any] | None = None) -> Run:
    """Data -> model -> train (or sample) -> Run, for any kind of experiment."""
    check(exp)
    spec = exp.model_dump()
    if exp.kind == "prior":
        return _prior(exp, spec)
    if exp.kind == "activations":
        return _activations(exp, spec)
    if exp.kind == "compare":
        from .compare import compare

        return compare(exp, spec)
    from .training.loop import train

    exp, data, model = prepare(exp)
    cbs = list(callbacks or [])
    if progress if progress is not None else _default_progress():
        from .viz.progress import Progress

        cbs.append(Progress(exp.name))
    return flag_dead_units(train(model, data, exp.train, callbacks=cbs, experiment=exp.model_dump()))


def run_stacked(experiments: list[Experiment], *, callbacks: list[Any] | None = None,
                prepared: list[tuple[Experiment, Any, torch.nn.Module]] | None = None) -> list[Run]:
    """Several experiments of one architecture trained at once on the stacked engine (see `train_stacked`),
    each prepared exactly as `run_experiment` prepares it (or as ``prepared`` already holds them)."""
    from .training.loop import train_stacked

    for e in experiments:  # the checks a single run gets, for every member, before any data is made
        if not isinstance(e, Experiment):
            raise SpecError("experiments", "a list of Experiments (mlplab.api.resolve makes one)", e)
        check(e)
    prepared = prepared or [prepare(e) for e in experiments]
    exps = [p[0] for p in prepared]
    runs = train_stacked([p[2] for p in prepared], [p[1] for p in prepared], [e.train for e in exps],
                         experiments=[e.model_dump() for e in exps], callbacks=list(callbacks or []))
    return [flag_dead_units(r) for r in runs]


def _default_progress() -> bool:
    from .viz.progress import default_progress

    return default_progress()


def merge_model(exp: Experiment, **fields: Any) -> Experiment:
    return exp.replace(model=exp.model.replace(**fields))


def _prior(exp: Experiment, spec: dict[str, Any]) -> Run:
    """Notebook 003's prior: outputs of ``samples`` models drawn with seeds seed .. seed+samples-1."""
    from .models import build_model

    ex = exp.extras
    x = np.linspace(ex.get("x_min", -5.0), ex.get("x_max", 5.0), int(ex.get("points", 1000)), dtype=np.float32)
    xt = torch.from_numpy(x[:, None])  # (m, 1)
    samples = []
    for i in range(int(ex.get("samples", 10))):
        model = build_model(exp.model, seed=exp.train.seed + i).eval()
        with torch.no_grad():
            samples.append(model(xt)[:, 0].numpy())
    return Run(spec=spec, extras={"x": x, "samples": np.stack(samples)})  # samples: (k, m)


ACTIVATION_FUNCTIONS = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}


def _activations(exp: Experiment, spec: dict[str, Any]) -> Run:
    """Notebook 004's activation plots: each function and its derivative from autograd, on a range."""
    ex = exp.extras
    x = torch.arange(ex.get("x_min", -8.0), ex.get("x_max", 8.0), ex.get("step", 0.1), requires_grad=True)
    extras = {"x": x.detach().numpy().copy()}
    for name in ex.get("names", list(ACTIVATION_FUNCTIONS)):
        if name not in ACTIVATION_FUNCTIONS:
            raise SpecError("extras.names", f"names from {', '.join(ACTIVATION_FUNCTIONS)}", name)
        x.grad = None
        y = ACTIVATION_FUNCTIONS[name](x)
        y.backward(torch.ones_like(x))
        extras[name] = y.detach().numpy().copy()
        extras[f"{name}_grad"] = x.grad.numpy().copy()
    return Run(spec=spec, extras=extras)
