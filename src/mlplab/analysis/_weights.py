"""A Run's recorded parameters as tensors, and many weight vectors evaluated in one batched call.

Batched evaluation stacks parameter dicts on a leading axis and maps one functional forward pass over
it (`torch.func.vmap` of `torch.func.functional_call`); batch norm runs in eval mode (running stats).
"""

from __future__ import annotations

import copy
from functools import partial, wraps
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call, replace_all_batch_norm_modules_, vmap

from ..errors import SpecError
from ..models import build_model

# The training losses by their spec name. They mirror the loop's table on purpose: an analysis must
# measure the same objective, and the tests check both against torch.nn.functional by name.
LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mse": F.mse_loss,
    "mse_sum": partial(F.mse_loss, reduction="sum"),
    "bce": F.binary_cross_entropy,
    "bce_logits": F.binary_cross_entropy_with_logits,
    "ce": F.cross_entropy,
}

# Peak memory a batched evaluation may take per chunk of weight vectors (parameters + activations).
CHUNK_BYTES = 64 * 2**20

SNAPSHOT_HINT = ("record them: mlplab.run(NAME, train={'snapshots': True}), `snapshots = true` under [train] in "
                 "a TOML file, or `mlplab analyze NAME`, which trains with snapshots on")


def _spec(run: Any) -> dict[str, Any]:
    spec = run.spec if isinstance(getattr(run, "spec", None), dict) else {}
    if spec.get("kind", "train") != "train" or not spec.get("model"):
        raise SpecError("run", "a trained run (experiment kind 'train')", f"{getattr(run, 'name', run)} "
                        f"(kind {spec.get('kind', '?')})")
    return spec


def loss_name(run: Any) -> str:
    return str(_spec(run).get("train", {}).get("loss", "mse"))


def fresh_model(run: Any, dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    """The run's architecture, rebuilt from its spec, in eval mode (its weights are replaced by every call)."""
    return build_model(_spec(run)["model"]).to(dtype).eval()


def training_tensors(run: Any, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """The full training set as the loss wants it. X: (n, d_in); Y: (n, d_out), (n, 1) or (n,) labels."""
    if getattr(run, "data", None) is None:
        raise SpecError("run.data", "the data the run was trained on", None, "load the run with load_run(dir)")
    data, loss = run.data, loss_name(run)
    X = torch.from_numpy(np.ascontiguousarray(data.X)).to(dtype)
    if data.task == "regression":
        return X, torch.from_numpy(np.ascontiguousarray(data.y)).to(dtype)
    if loss == "ce":
        return X, torch.from_numpy(np.ascontiguousarray(data.y, dtype=np.int64))
    return X, torch.from_numpy(np.ascontiguousarray(data.y)).to(dtype).reshape(-1, 1)  # (n,) -> (n, 1)


def snapshots(run: Any, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """name -> (k, *shape): parameters and batch-norm statistics at each recorded frame."""
    spec = _spec(run)
    if not getattr(run, "snapshots", None):
        if spec.get("train", {}).get("snapshots"):  # asked for, but this run's engine kept none
            raise SpecError("train.snapshots", "parameters recorded at every frame", "none recorded",
                            f"the '{getattr(run, 'engine', '?')}' training path did not keep them; train with "
                            "engine 'torch'")
        raise SpecError("train.snapshots", "true (parameters kept at every recorded frame)", False, SNAPSHOT_HINT)
    frames = {len(np.asarray(v)) if np.ndim(v) else 0 for v in run.snapshots.values()}
    if frames == {0}:  # e.g. a run stopped before its first frame, or a folder whose arrays were emptied
        raise SpecError("run.snapshots", "parameters recorded at one frame or more", "0 recorded frames",
                        SNAPSHOT_HINT)
    if len(frames) > 1:
        raise SpecError("run.snapshots", "the same number of recorded frames for every parameter",
                        sorted(frames), "the run's files are damaged: train it again")
    missing = [n for n, _ in fresh_model(run).named_parameters() if n not in run.snapshots]
    if missing:
        raise SpecError("run.snapshots", "a recorded frame of every parameter of the model", f"none of {missing[:3]}",
                        "the snapshots belong to another architecture: train the run again")
    return {k: torch.from_numpy(np.asarray(v)).to(dtype) for k, v in run.snapshots.items()}


def final_state(run: Any, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """The trained weights (``run.model``), else the last snapshot: float entries of the state dict."""
    if getattr(run, "model", None) is not None:
        return {k: v.detach().to(dtype).clone() for k, v in run.model.state_dict().items() if v.is_floating_point()}
    return {k: v[-1].clone() for k, v in snapshots(run, dtype).items()}


def frame_steps(run: Any) -> np.ndarray:
    k = len(next(iter(run.snapshots.values())))
    steps = getattr(run, "frame_steps", None)
    return np.asarray(steps[:k] if steps is not None else np.arange(k), dtype=np.int64)


def parameter_names(model: torch.nn.Module) -> list[str]:
    return [name for name, _ in model.named_parameters()]


def train_mode_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A copy whose batch norm uses the batch's statistics and keeps none (the objective training
    differentiates, evaluated without in-place updates, so it can be vmapped and differentiated twice)."""
    m = copy.deepcopy(model)
    replace_all_batch_norm_modules_(m)
    return m.train()


# Below this many multiply-adds per forward pass a model is dispatch-bound: one thread runs it as fast as
# two, and two slow down several-fold when another process keeps a core busy (as in training).
SMALL_PASS = 8_000_000


def small_threads(fn: Callable) -> Callable:
    """Run an analysis ``fn(run, ...)`` on one torch thread when the run's model is small."""

    @wraps(fn)
    def wrapper(run: Any, *args: Any, **kwargs: Any) -> Any:
        spec = getattr(run, "spec", None)
        model = spec.get("model") if isinstance(spec, dict) else None
        rows = getattr(getattr(run, "data", None), "n", 0)
        before = torch.get_num_threads()
        # a built model, not count_parameters: its meta-device path loads torch's decompositions (seconds)
        if not model or before == 1 or rows * sum(p.numel() for p in build_model(model).parameters()) >= SMALL_PASS:
            return fn(run, *args, **kwargs)
        torch.set_num_threads(1)
        try:
            return fn(run, *args, **kwargs)
        finally:
            torch.set_num_threads(before)

    return wrapper


def chunk_size(model: torch.nn.Module, rows: int, budget: int | None = None) -> int:
    """How many weight vectors fit in one batched call: parameters plus every layer's outputs, float32."""
    budget = CHUNK_BYTES if budget is None else budget
    widths = sum(m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear))
    per = 4 * (sum(p.numel() for p in model.parameters()) + 3 * rows * max(widths, 1))
    return max(1, budget // per)


class Evaluator:
    """Loss (or outputs) of a fixed model on fixed data for a stack of weight dicts, in one call.

    ``stacked``: name -> (B, *shape) for any subset of the state dict; entries left out come from
    ``fixed`` (the same for every member) and then from the model itself.
    """

    def __init__(self, model: torch.nn.Module, X: torch.Tensor, Y: torch.Tensor | None, loss: str,
                 fixed: dict[str, torch.Tensor] | None = None):
        self.model, self.X, self.Y, self.loss_fn = model, X, Y, LOSSES[loss]
        self.fixed = dict(fixed or {})

    def _out(self, state: dict[str, torch.Tensor], X: torch.Tensor) -> torch.Tensor:
        return functional_call(self.model, {**self.fixed, **state}, (X,))

    def outputs(self, stacked: dict[str, torch.Tensor], X: torch.Tensor | None = None) -> torch.Tensor:
        """(B, n, d_out)."""
        X = self.X if X is None else X
        with torch.no_grad():
            return vmap(lambda s: self._out(s, X))(stacked)

    def losses(self, stacked: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B,) training losses."""
        with torch.no_grad():
            return vmap(lambda s: self.loss_fn(self._out(s, self.X), self.Y))(stacked)

    def loss(self, state: dict[str, torch.Tensor]) -> torch.Tensor:
        """The loss of one weight dict (no batching): what a loop of single forward passes computes."""
        with torch.no_grad():
            return self.loss_fn(self._out(state, self.X), self.Y)


def flatten(state: dict[str, torch.Tensor], shapes: dict[str, tuple[int, ...]]) -> torch.Tensor:
    """(..., P): the entries named in ``shapes`` (each (..., *shape)) joined along their trailing dims."""
    parts = []
    for name, shape in shapes.items():
        v = state[name]
        parts.append(v.reshape(*v.shape[: v.dim() - len(shape)], -1))  # (..., *shape) -> (..., size)
    return torch.cat(parts, dim=-1)


def shapes_of(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    """Parameter name -> shape, in ``named_parameters()`` order (the flat vector's layout)."""
    return {name: tuple(p.shape) for name, p in model.named_parameters()}


def unflatten(flat: torch.Tensor, shapes: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    """Inverse of `flatten`: flat (..., P) -> name -> (..., *shape), in ``shapes`` order."""
    out, i = {}, 0
    lead = flat.shape[:-1]
    for name, shape in shapes.items():
        size = int(np.prod(shape, dtype=np.int64))
        out[name] = flat[..., i:i + size].reshape(*lead, *shape)
        i += size
    return out
