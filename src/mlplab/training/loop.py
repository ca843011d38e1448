"""`train(model, data, spec) -> Run`: the one training loop. Every surface trains through it.

The loop owns the epochs, the mini-batch order (one seeded generator), divergence, interruption, the
callbacks (recording, validation and early stopping among them), the metrics and the `Run`. It drives an
engine (``train.engine``: torch, fused, numpy, stacked; "auto" picks one) that computes the steps and
nothing else. `train_stacked` trains several runs of one architecture at once through the same loop.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..engines import Engine, choose
from ..errors import SpecError
from ..specs import TrainSpec, validate
from . import metrics as M
from .callbacks import Callback, EpochMetrics, Recorder, StopTraining
from .interrupts import DeferredInterrupt
from .run import Run
from .state import TrainingState

# Which losses fit which task, and which output activation each loss expects from the model.
TASK_LOSSES = {"regression": ("mse", "mse_sum"), "binary": ("bce", "bce_logits", "mse"), "multiclass": ("ce",)}
LOSS_OUTPUT = {"bce": "sigmoid", "bce_logits": "none", "ce": "none"}


class Trainer:
    """The state of one training (or of R stacked ones): what callbacks see as ``t``."""

    def __init__(self, models: list[nn.Module], datasets: list[Any], spec: TrainSpec, engine_cls: type[Engine],
                 callbacks: list[Callback], runs: list[Run], per_run: list[TrainSpec]):
        self.models, self.datasets, self.spec, self.callbacks, self.runs = models, datasets, spec, callbacks, runs
        self.stacked = engine_cls.stacked
        data = datasets[0]
        self.data, self.task = data, data.task
        Xs = [np.ascontiguousarray(d.X, dtype=np.float32) for d in datasets]
        Ys = [M.targets(d.y, d.task, spec.loss) for d in datasets]
        self.X = np.stack(Xs) if self.stacked else Xs[0]  # (n, d_in) or (R, n, d_in)
        Y = np.stack(Ys) if self.stacked else Ys[0]
        self.out_dim = _out_dim(models[0], Xs[0])
        n = Xs[0].shape[0]
        self.n = n
        self.batch = n if spec.batch_size is None else min(spec.batch_size, n)
        self.batches_per_epoch = -(-n // self.batch)
        self.total_steps = spec.epochs * self.batches_per_epoch
        self.steps_done, self.epoch = 0, 0
        self.status, self.message = "finished", ""
        self.engine = engine_cls(models, spec, self.X, Y, lr=[s.lr for s in per_run],
                                 weight_decay=[s.weight_decay for s in per_run])

    @property
    def model(self) -> nn.Module:
        return self.models[0]

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Evaluation-mode outputs of the engine's current weights."""
        return self.engine.predict(X)

    def evaluate(self, X: np.ndarray, y: np.ndarray, split: str) -> dict[str, float]:
        return M.evaluate(self.predict, X, y, self.task, self.spec.loss, split)


def train(model: nn.Module | None, data=None, spec: TrainSpec | dict[str, Any] | None = None, *,
          callbacks: list[Callback] | None = None, experiment: dict[str, Any] | None = None,
          resume: Run | None = None, **fields: Any) -> Run:
    """Train ``model`` on ``data`` as ``spec`` says and return the recorded `Run`.

    ``train(model, data, epochs=500, lr=0.01)`` works as well as passing a `TrainSpec`;
    ``engine="numpy"`` (or any field) goes the same way. Ctrl-C, SIGTERM (where the surface makes it an
    interrupt), a diverging loss or a callback's `StopTraining` end the run early ("interrupted",
    "diverged", ...): nothing recorded before is lost, and the run stops between two steps.

    ``resume=run`` continues ``run`` (trained in this process or read by `load_run`) for ``epochs`` more
    epochs from its `TrainingState`: its model, data, optimizer state, step counter and batch order, with
    the new steps appended to its trajectory; two calls of 500 epochs give the losses of one of 1000, bit
    for bit. ``spec``/``fields`` change what may change mid-trajectory (`CONTINUABLE`); the others are
    refused by name. The returned run's ``segments`` say what each part trained with.
    """
    state = None
    if resume is not None:
        state, model, data, spec, experiment = _resumed(resume, model, data, spec, fields, experiment)
        fields = {}
    if not isinstance(model, nn.Module):
        raise SpecError("model", "a torch.nn.Module (mlplab.build_model makes one)",
                        model if model is None else type(model).__name__)
    if not _is_dataset(data):
        raise SpecError("data", "a mlplab Dataset (mlplab.make_dataset makes one)",
                        data if data is None else type(data).__name__)
    spec = _train_spec(spec, fields)
    check_compatible(model, data, spec)
    if data.X_val is None and spec.val_fraction:
        data = data.split(spec.val_fraction, seed=spec.seed, into="val")
    engine_cls = choose(spec.engine, model, spec, data.task)
    if state is not None and state.engine != engine_cls.name:
        raise SpecError("train.engine", f"the engine that trained the run being resumed ({state.engine!r})",
                        engine_cls.name)
    run = Run(spec=_with_train(experiment, spec) if experiment else _spec_of(model, data, spec), model=model,
              data=data, engine=engine_cls.name)
    cbs: list[Callback] = [Recorder(spec.frames, spec.grid, spec.snapshots)]
    if data.X_val is not None or spec.patience:
        cbs.append(EpochMetrics(spec.patience, start=state.early if state is not None else None))
    cbs += _callbacks(callbacks)
    _fit([model], [data], spec, engine_cls, cbs, [run], [spec], start=state)
    if resume is None:
        run.segments = [_segment(run, 0, train=spec.model_dump())]
    else:
        before = validate(TrainSpec, resume.spec.get("train") or {}, "train").model_dump()
        before["engine"] = state.engine if before["engine"] == "auto" else before["engine"]
        changed = {k: v for k, v in spec.model_dump().items() if v != before.get(k)}
        _append(resume, run, state.steps)
        run.segments = list(resume.segments) + [_segment(run, state.steps, changed=changed)]
    return run


# What a resumed run may change: the step's size and penalties, the batch size, the epochs and how much
# is recorded or watched. Anything else (optimizer, loss, data, seed, engine, what is recorded per frame)
# would start another trajectory, and is refused by name.
CONTINUABLE = ("lr", "epochs", "momentum", "weight_decay", "l1", "batch_size", "frames", "patience")


def _resumed(resume: Run, model, data, spec, fields: dict[str, Any], experiment):
    """What `train(resume=run)` trains: the run's own model, data and state, its spec with the changes."""
    if not isinstance(resume, Run):
        raise SpecError("resume", "a Run (from mlplab.train, mlplab.run or mlplab.load_run)", type(resume).__name__)
    state = resume.training_state
    if state is None:
        raise SpecError("resume", "a Run that kept its training state (trained in this process, or saved by "
                        "this mlplab version with state.npz)", resume.name,
                        hint="without it a run can only start again: train(run.model, run.data, ...)")
    if resume.status == "diverged":
        raise SpecError("resume", "a run that did not diverge", f"{resume.name} (diverged)",
                        hint="train again with a smaller learning rate")
    for name, given, own in (("model", model, resume.model), ("data", data, resume.data)):
        if given is not None and given is not own:
            raise SpecError(name, f"the resumed run's own {name} (a run continues on what it trained)",
                            type(given).__name__)
    if resume.model is None or resume.data is None:
        missing = "model" if resume.model is None else "data"
        raise SpecError("resume", f"a Run with its {missing} (model.pt and the data in trajectory.npz)", resume.name)
    before = validate(TrainSpec, resume.spec.get("train") or {}, "train")
    base = before.model_dump()
    if before.engine == "auto":  # continue on the engine that trained it, whatever auto would pick today
        base["engine"] = state.engine
    changes = dict(spec.model_dump() if isinstance(spec, TrainSpec) else spec or {})
    changes.update(fields)
    if changes.get("engine") == "auto":  # "pick one" is answered already: the engine that trained it
        changes.pop("engine")
    after = validate(TrainSpec, {**base, **changes}, "train")
    for name, value in after.model_dump().items():
        if name not in CONTINUABLE and value != base[name]:
            raise SpecError(f"train.{name}", f"{base[name]!r}, as in the run being resumed (a resumed run may "
                            f"change only {', '.join(CONTINUABLE)})", value,
                            hint="train a new run for another setting")
    return state, resume.model, resume.data, after, experiment or resume.spec


def _segment(run: Run, start: int, **what: Any) -> dict[str, Any]:
    """One part of a run's trajectory: steps [start, start + steps), its engine, status and settings."""
    return {"start": start, "steps": run.steps - start, "engine": run.engine, "status": run.status, **what}


def _with_train(experiment: dict[str, Any], spec: TrainSpec) -> dict[str, Any]:
    """The experiment's description with the training settings that actually ran."""
    return {**experiment, "train": spec.model_dump()}


def _is_dataset(data: Any) -> bool:
    return all(hasattr(data, a) for a in ("X", "y", "task", "X_val", "split"))


def _callbacks(callbacks: Any) -> list[Callback]:
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)):
        raise SpecError("callbacks", "a list of mlplab Callback objects", type(callbacks).__name__)
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise SpecError("callbacks", "Callback objects (subclasses of mlplab.training.callbacks.Callback)",
                            type(cb).__name__)
    return list(callbacks)


def _append(before: Run, run: Run, offset: int) -> None:
    """``run`` continued ``before`` from step ``offset``: give it the whole trajectory, steps counted from the
    first run's start (the new run's step-0 frame is the old run's last model, already recorded)."""
    run.losses = np.concatenate([before.losses[:offset], run.losses])
    if before.frames is not None and run.frames is not None and before.frames.shape[1:] == run.frames.shape[1:]:
        keep = run.frame_steps + offset > (before.frame_steps[-1] if len(before.frame_steps) else -1)
        run.frame_steps = np.concatenate([before.frame_steps, run.frame_steps[keep] + offset])
        run.frames = np.concatenate([before.frames, run.frames[keep]])
        if before.grid_frames is not None and run.grid_frames is not None:
            run.grid_frames = np.concatenate([before.grid_frames.astype(np.float32, copy=False), run.grid_frames[keep]])
        run.snapshots = {k: np.concatenate([v, run.snapshots[k][keep]]) for k, v in before.snapshots.items()
                         if k in run.snapshots}
    for k, v in before.epoch_metrics.items():
        if k in run.epoch_metrics:
            run.epoch_metrics[k] = np.concatenate([v, run.epoch_metrics[k]])
    run.timings = {k: before.timings.get(k, 0.0) + v if k == "train_s" else v for k, v in run.timings.items()}


def train_stacked(models: Sequence[nn.Module], datasets: Sequence[Any], specs: Sequence[TrainSpec], *,
                  experiments: Sequence[dict[str, Any]] | None = None,
                  callbacks: Sequence[Callback] = ()) -> list[Run]:
    """Train R runs of one architecture at once on the stacked engine; one `Run` each.

    The runs may differ in data (same shape), initial weights, learning rate and weight decay; every
    other training field must be equal (it sets the code path). A run that diverges ends alone; Ctrl-C
    ends them all as "interrupted" with the steps done so far.
    """
    models, datasets, specs = list(models), list(datasets), [validate(TrainSpec, s, "train") for s in specs]
    spec = specs[0]
    for m, d, s in zip(models, datasets, specs):
        check_compatible(m, d, s)
    engine_cls = choose("stacked", models[0], spec, datasets[0].task)
    runs = [Run(spec=(experiments[i] if experiments else _spec_of(m, d, s)), model=m, data=d, engine=engine_cls.name)
            for i, (m, d, s) in enumerate(zip(models, datasets, specs))]
    _fit(models, datasets, spec, engine_cls, [Recorder(spec.frames, spec.grid, spec.snapshots)] + _callbacks(callbacks),
         runs, specs)
    for run, s in zip(runs, specs):
        run.segments = [_segment(run, 0, train=s.model_dump())]
    return runs


def _fit(models: list[nn.Module], datasets: list[Any], spec: TrainSpec, engine_cls: type[Engine],
         cbs: list[Callback], runs: list[Run], per_run: list[TrainSpec], start: TrainingState | None = None) -> None:
    R = len(models)
    work = R * min(spec.batch_size or datasets[0].n, datasets[0].n) * sum(p.numel() for p in models[0].parameters())
    with threads_for_work(work):
        for m in models:
            m.train()
        t = Trainer(models, datasets, spec, engine_cls, cbs, runs, per_run)
        t.gen = torch.Generator().manual_seed(spec.seed)  # the one source of batch order, for every engine
        t.order, t.next_batch = None, t.batches_per_epoch
        if start is not None:  # continue a run: its optimizer state, batch order and place in the epoch
            t.engine.load_optimizer_state(start.optimizer)  # moments and counters; hyperparameters stay the spec's
            t.engine.lr = per_run[0].lr
            t.gen.set_state(torch.from_numpy(np.asarray(start.generator, np.uint8).copy()))
            if start.batch == t.batch:  # another batch size starts the next epoch afresh
                t.order, t.next_batch = start.order, start.next_batch
        t.guard = DeferredInterrupt()
        try:
            recorder = cbs[0]
            losses = np.full((t.total_steps, R) if t.stacked else (t.total_steps,), np.nan, np.float32)
            diverged_at = np.full(R, -1, np.int64)
            started = time.perf_counter()
            try:
                with t.guard:
                    for cb in cbs:
                        cb.on_train_start(t)
                    _loop(t, losses, diverged_at)
                    t.guard.check()  # a signal during the last step: every step is done, but the user asked to stop
            except StopTraining as stop:
                t.status, t.message = stop.status, stop.reason
            except KeyboardInterrupt as exc:
                t.status = "interrupted"
                how = str(exc) if str(exc).startswith("interrupted by") else "interrupted by the user"
                t.message = (f"{how} after {t.steps_done} of {t.total_steps} steps; the steps done are kept, and "
                             "the run can be resumed from its saved folder")
            elapsed = time.perf_counter() - started
            for cb in cbs:
                if cb is not recorder:
                    cb.on_train_end(t)
            eng = t.engine
            if not t.stacked:
                early = next((cb for cb in cbs if isinstance(cb, EpochMetrics)), None)
                runs[0].training_state = TrainingState(
                    engine=eng.name, steps=(start.steps if start is not None else 0) + t.steps_done,
                    optimizer=eng.optimizer_state(), generator=t.gen.get_state().numpy().copy(),
                    order=t.order, next_batch=t.next_batch, batch=t.batch,
                    early=early.record() if early is not None else None,
                )
        except BaseException:  # an error of ours or a callback's: the models get their own memory back first
            t.engine.finish()
            raise
        eng.finish()
        for m in models:
            m.eval()
        if t.status != "diverged":  # the trained model as the last frame, read from the torch model(s)
            recorder.record_final(t, predict=lambda X: _torch_predict(models, X, t.stacked))
    timings = {"train_s": elapsed / R, "steps_per_s": t.steps_done / elapsed if elapsed > 0 else 0.0}
    if t.stacked:
        timings.update(group_s=elapsed, group_size=float(R))
    for r, run in enumerate(runs):
        bad = int(diverged_at[r])
        keep = t.steps_done if bad < 0 else bad
        run.losses = (losses[:keep, r] if t.stacked else losses[:keep]).copy()
        for k, v in recorder.arrays(r if t.stacked else None, before=(keep if bad >= 0 else None)).items():
            setattr(run, k, v)
        run.timings = dict(timings)
        run.status, run.message = t.status, t.message
        if bad >= 0:
            value = losses[bad, r] if t.stacked else losses[bad]
            run.status = "diverged"
            run.message = (f"the training loss became {value} at step {bad}; the {bad} steps before it are kept. "
                           f"Try a smaller learning rate (train.lr={per_run[r].lr}) or a normalised model.")
    # The metrics pass keeps the steps' thread policy: a tiny model's forward on two threads collapses
    # several-fold beside another busy process (64 stacked runs' metrics took 2.6 s instead of 0.1).
    with threads_for_work(len(datasets[0].X) * sum(p.numel() for p in models[0].parameters())):
        for run, model, data in zip(runs, models, datasets):
            run.metrics = M.split_metrics(lambda X, m=model: _torch_predict([m], X, False), data, spec.loss) \
                if run.status != "diverged" else {}


def _loop(t: Trainer, losses: np.ndarray, diverged_at: np.ndarray) -> None:
    """Epochs of batches: step (forward + backward), callbacks, update."""
    spec, eng = t.spec, t.engine
    step_cbs = [cb for cb in t.callbacks if type(cb).on_step_end is not Callback.on_step_end]
    epoch_cbs = [cb for cb in t.callbacks if type(cb).on_epoch_end is not Callback.on_epoch_end]
    gen, guard = t.gen, t.guard
    n, batch, full, per_epoch = t.n, t.batch, t.batch == t.n, t.batches_per_epoch
    stacked = t.stacked
    if full and hasattr(eng, "run_steps") and step_cbs == [t.callbacks[0]] and not epoch_cbs:
        return _loop_in_runs(t, losses, diverged_at)
    for epoch in range(spec.epochs):
        t.epoch = epoch
        if full:
            first = 0
        elif t.order is not None and t.next_batch < per_epoch:  # a resumed run ends its epoch first
            first = t.next_batch
        else:
            t.order, first = torch.randperm(n, generator=gen).numpy(), 0
        order, t.next_batch = t.order, first
        for b in range(first, per_epoch):
            idx = None if full else order[b * batch : (b + 1) * batch]
            loss, out = eng.step(idx)
            step = t.steps_done
            losses[step] = loss
            if stacked:
                _stacked_divergence(t, step, loss, diverged_at)
            elif not math.isfinite(loss):
                diverged_at[0] = step
                raise StopTraining("diverged", "")
            for cb in step_cbs:
                cb.on_step_end(t, step, loss, out)
            eng.update()
            t.steps_done, t.next_batch = step + 1, b + 1
            if guard.pending and b + 1 < per_epoch:  # Ctrl-C or SIGTERM came during the step: stop, it is whole
                guard.check()
        for cb in epoch_cbs:
            cb.on_epoch_end(t, epoch)
        if guard.pending:  # an epoch's last step ends after its epoch callbacks, as without the signal
            guard.check()


# The longest run of steps handed to an engine at once: a compiled call cannot be interrupted, so Ctrl-C
# waits at most this many steps (milliseconds on the course's nets), and the call's own cost is spread thin.
RUN_STEPS = 512


def _loop_in_runs(t: Trainer, losses: np.ndarray, diverged_at: np.ndarray) -> None:
    """Full batches with nothing to do between steps but recording frames: the engine runs the steps up to
    the next recorded one in one call (`run_steps`, the compiled engine); the recorded step goes through
    the recorder as in `_loop`. Same steps, same losses, bit for bit."""
    eng, recorder, total, guard = t.engine, t.callbacks[0], t.total_steps, t.guard
    recorded = np.asarray(recorder.steps, np.int64)
    while t.steps_done < total:
        step = t.steps_done
        i = np.searchsorted(recorded, step)
        k = min(int(recorded[i]) if i < len(recorded) else total, total, step + RUN_STEPS) - step
        if k > 0:
            got = eng.run_steps(k)
            losses[step : step + len(got)] = got
            if not math.isfinite(got[-1]):
                diverged_at[0] = t.steps_done = t.epoch = step + len(got) - 1
                raise StopTraining("diverged", "")
            t.steps_done = step + len(got)
        else:
            t.epoch = step
            loss, out = eng.step(None)
            losses[step] = loss
            if not math.isfinite(loss):
                diverged_at[0] = step
                raise StopTraining("diverged", "")
            recorder.on_step_end(t, step, loss, out)
            eng.update()
            t.steps_done, t.next_batch = step + 1, 1
        t.epoch = t.steps_done - 1
        if guard.pending:  # Ctrl-C or SIGTERM came during the run of steps: stop, every step is whole
            guard.check()


def _stacked_divergence(t: Trainer, step: int, loss: np.ndarray, diverged_at: np.ndarray) -> None:
    """Each stacked run diverges alone (its NaNs stay in its own slice); all of them end the loop."""
    bad = ~np.isfinite(loss)
    if bad.any():
        new = bad & (diverged_at < 0)
        diverged_at[new] = step
        if (diverged_at >= 0).all():
            raise StopTraining("diverged", "")


def _torch_predict(models: list[nn.Module], X: np.ndarray, stacked: bool) -> np.ndarray:
    with torch.no_grad():
        if stacked:
            return np.stack([m(torch.from_numpy(np.ascontiguousarray(x))).numpy() for m, x in zip(models, X)])
        return models[0](torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))).numpy()


# Below this many multiply-adds per step, a step is dispatch overhead, not arithmetic: one thread runs
# it as fast as two, and two threads slow down several-fold when another process keeps a core busy
# (docs/architecture.md, "Threads"). Above it, the default thread count pays off.
SMALL_STEP = 8_000_000


@contextmanager
def threads_for_work(work: int):
    """One torch (and BLAS) thread for a step of fewer than `SMALL_STEP` multiply-adds; restored after."""
    if work >= SMALL_STEP or torch.get_num_threads() == 1:
        yield
        return
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(before)


def threads_for(model: nn.Module, batch: int):
    """`threads_for_work` for one model and batch size (the notebooks' loop in tests uses the same policy)."""
    return threads_for_work(batch * sum(p.numel() for p in model.parameters()))


def check_compatible(model: nn.Module, data, spec: TrainSpec) -> None:
    """Loss, task, shapes and output activation must agree; say which field to change if not."""
    allowed = TASK_LOSSES[data.task]
    if spec.loss not in allowed:
        raise SpecError("train.loss", f"one of {', '.join(allowed)} for a {data.task} task", spec.loss)
    mspec = getattr(model, "spec", None)
    if mspec is None:
        return
    if mspec.in_dim != data.d_in:
        raise SpecError("model.in_dim", f"{data.d_in} (the data has {data.d_in} input columns)", mspec.in_dim)
    if mspec.out_dim != data.d_out:
        raise SpecError("model.out_dim", f"{data.d_out} for this {data.task} data", mspec.out_dim)
    want = LOSS_OUTPUT.get(spec.loss)
    if want is not None and mspec.out_activation != want:
        raise SpecError(
            "model.out_activation", f"'{want}' with loss '{spec.loss}'", mspec.out_activation,
            "bce takes probabilities (sigmoid output); bce_logits and ce take raw outputs",
        )
    if mspec.norm == "batch":
        n = len(data.X)
        batch = min(spec.batch_size or n, n)
        if batch < 2 or n % batch == 1:
            raise SpecError("train.batch_size", "a size that leaves at least 2 rows in every batch (batch norm)",
                            spec.batch_size, hint=f"{n} training points")


def _out_dim(model: nn.Module, X: np.ndarray) -> int:
    spec = getattr(model, "spec", None)
    if spec is not None:
        return spec.out_dim
    with torch.no_grad():
        was = model.training
        model.eval()
        d = model(torch.from_numpy(X[:2])).shape[1]
        model.train(was)
    return d


def _train_spec(spec: Any, fields: dict[str, Any]) -> TrainSpec:
    if spec is None:
        return validate(TrainSpec, fields, "train")
    if fields:
        base = spec.model_dump() if isinstance(spec, TrainSpec) else dict(spec)
        return validate(TrainSpec, {**base, **fields}, "train")
    return validate(TrainSpec, spec, "train")


def _spec_of(model: nn.Module, data, spec: TrainSpec) -> dict[str, Any]:
    mspec = getattr(model, "spec", None)
    return {
        "name": data.name,
        "kind": "train",
        "data": {"name": data.name, **{k: v for k, v in data.params.items() if k in ("n", "noise", "seed")}},
        "model": mspec.model_dump() if mspec is not None else {},
        "train": spec.model_dump(),
    }
