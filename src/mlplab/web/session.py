"""One playground page's training: the `Session` (its state machine, model and worker thread) and the
`PlaygroundCallback` through which the page pauses, steers and watches `mlplab.train`.

The configuration is parsed in config.py, frames are drawn in frames.py, exports written in export.py.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from typing import Any, Callable

import numpy as np
import torch

from ..errors import SpecError
from ..specs import ModelSpec, TrainSpec, validate
from ..training.callbacks import Callback, StopTraining
from ..training import metrics as M
from ..training.loop import train
from ..training.run import Run
from .config import Config, finite_number, integer
from .export import export_zip
from .frames import DIAGRAM_UNITS, GRID, MAPPING_LINES, UNIT_GRID, Frames, input_names, linears, region_summary, regions_reason
from .scheduler import Scheduler, Turn
from .state import StateMachine

FRAME_INTERVAL_S = 1 / 30  # at most ~30 frames a second reach a page
UNITS_INTERVAL_S = 0.5  # hidden-unit thumbnails are dearer: twice a second
REGIONS_INTERVAL_S = 1.0  # exact linear regions: at most once a second
PAUSED = "paused"  # the status of a `train` call that a pause ended (the session resumes it)
MAX_WEIGHT = 1000.0  # a weight typed into the diagram
HISTORY_FRAMES = 100  # frames kept for export (~4 MB with the grid); halved (every other kept) when full


class PlaygroundCallback(Callback):
    """Pause, learning rate, stop, time slices and frames: the page's hands on `train`."""

    def __init__(self, session: Session):
        self.s = session

    def on_step_end(self, t, step: int, loss, pred) -> None:
        s = self.s
        if s._stop.is_set():
            raise StopTraining("interrupted", s._stop_reason)
        s._step_losses.append(float(loss))
        s._apply_edits()  # before the update: the step goes on from the edited weights
        if s.lr != s._lr_applied:
            t.engine.lr = s.lr  # every engine takes a new learning rate between steps
            s._lr_applied = s.lr
            s._log({"lr": s.lr}, phase="update")
        if not s._turn.tick():  # stopped while queued for the next time slice
            raise StopTraining("interrupted", s._stop_reason)

    def on_epoch_end(self, t, epoch: int) -> None:
        self.s._epoch_done(t)


class Session:
    """A page's training, driven by page commands through a server-owned `StateMachine`.

    ``emit(message)`` receives every message for the page (frames, states, errors, replies) in
    order, from the server's threads and the worker thread alike. ``scheduler`` shares the CPU
    between sessions (see scheduler.py); each session has its own when none is given.
    """

    def __init__(self, config: Config, emit: Callable[[dict[str, Any]], None], scheduler: Scheduler | None = None):
        from ..training.loop import check_compatible

        self.config = config
        self.machine = StateMachine(emit)
        self.scheduler = scheduler or Scheduler()
        exp = config.experiment
        self.model_spec = validate(ModelSpec, exp["model"], "model")
        self.train_spec = validate(TrainSpec, {**exp["train"], "epochs": 1}, "train")
        self.box = config.data.bounds(margin=0.1)
        self.frames = Frames(config.data, self.train_spec.loss, self.box)
        self.lr = self.train_spec.lr
        self.regions_reason = regions_reason(self.model_spec)
        self.regions_on = self.regions_reason is None
        self._edits: list[tuple[int, int, int, float]] = []  # weight edits waiting for the running worker
        self._edits_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._stop_reason = ""
        self._turn = Turn(self.scheduler, self._stop)
        self.parked = threading.Event()  # set while the worker sleeps paused (it trains nothing then)
        self._build()
        check_compatible(self.model, config.data, self.train_spec)
        self.engine = config.engine  # what `train` runs (parse_config asked `engines.choose`)

    # -- state

    @property
    def status(self) -> str:
        return self.machine.state

    @property
    def message(self) -> str:
        return self.machine.message

    def _build(self) -> None:
        from ..models import build_model

        self.model = build_model(self.model_spec, seed=self.train_spec.seed)
        self.epoch = 0
        self._lr_applied = self.start_lr = self.lr  # the rate the run starts with; `changes` holds the later ones
        self._step_losses: list[float] = []
        self.changes: list[dict[str, Any]] = []  # live learning-rate changes and weight edits, by step
        # (epoch, its mean training loss) since the last frame; `_send_epoch_losses` sends them
        self._epoch_losses: deque[tuple[int, float | None]] = deque()
        self._epoch_first_step = 0
        self._run: Run | None = None  # the worker's last `train` result (each resume continues it)
        self._last_frame = self._last_units = self._last_regions = -math.inf
        self._regions: dict[str, Any] | None = None
        self.history: list[dict[str, Any]] = []  # exported frames (epoch, loss, outputs)
        self._keep_every = 1
        self.state = {k: v.clone() for k, v in self.model.state_dict().items()}

    def data_message(self) -> dict[str, Any]:
        d = self.config.data
        msg = {"type": "data", "task": d.task, "d_in": d.d_in, "d_out": d.d_out, "n_classes": d.n_classes,
               "X": d.X.tolist(), "y": d.y.tolist(), "box": self.box, "view": self.frames.kind,
               "grid": GRID, "unit_grid": UNIT_GRID, "lr": self.lr, "regions": self.regions_on,
               "regions_reason": self.regions_reason, "notes": self.config.notes,
               "inputs": input_names(self.model_spec), "diagram_units": DIAGRAM_UNITS,
               "experiment": self.config.experiment}
        if d.X_test is not None:
            msg["X_test"], msg["y_test"] = d.X_test.tolist(), d.y_test.tolist()
        if self.frames.kind == "curve":
            msg["curve_x"] = self.frames.grid_x.tolist()
        if self.frames.kind == "mapping":
            msg["lines"] = MAPPING_LINES
        return msg

    def first_frame(self) -> dict[str, Any]:
        return self._make_frame(force_all=True)

    def hello(self) -> None:
        """The page connected: send it the current frame (with the state, as every message)."""
        self.machine.send(self.first_frame())

    # -- commands (from the server's threads; reset and close wait for the worker, so off the event loop)

    def command(self, cmd: str) -> None:
        """play, pause, step, reset or close; the state machine decides what each means now."""
        if cmd == "reset":
            self.reset()
        elif cmd == "close":
            self.close()
        else:
            with self.machine.lock:
                before, after = self.machine.command(cmd)
                if after == "running" and before != "running":
                    self._start()

    def play(self) -> None:
        self.command("play")

    def pause(self) -> None:
        self.command("pause")

    def step(self) -> None:
        self.command("step")

    def set_lr(self, lr: Any) -> None:
        self.lr = finite_number(lr, "lr", 1e-8, 100.0)

    def set_weight(self, layer: Any, to: Any, frm: Any, value: Any) -> dict[str, Any]:
        """Set one weight: Linear layer ``layer`` (0 = the first), from unit ``frm`` to unit ``to``.

        A running worker applies it between two steps; otherwise it applies now and the page gets a
        frame showing it. Training goes on from the edited weights (and `to_run` exports them)."""
        lins = linears(self.model)
        layer = integer(layer, "layer", 0, len(lins) - 1)
        w = lins[layer].weight
        to = integer(to, "to", 0, w.shape[0] - 1)
        frm = integer(frm, "from", 0, w.shape[1] - 1)
        value = finite_number(value, "value", -MAX_WEIGHT, MAX_WEIGHT)
        with self.machine.lock:
            if self.machine.state == "closed":
                raise SpecError("session", "an open session", "closed")
            if self.machine.state == "running":
                with self._edits_lock:
                    self._edits.append((layer, to, frm, value))
            else:  # no worker computes now: paused, idle or stopped
                self._apply((layer, to, frm, value))
                self.machine.send(self._make_frame(force_all=True))
        return {"type": "weight", "layer": layer, "to": to, "from": frm, "value": value}

    def _apply(self, edit: tuple[int, int, int, float], phase: str = "before") -> None:
        layer, to, frm, value = edit
        with torch.no_grad():  # in place: the engine's flat parameters share this memory
            linears(self.model)[layer].weight[to, frm] = value
        self._log({"weight": [layer, to, frm], "value": value}, phase)

    def _log(self, change: dict[str, Any], phase: str) -> None:
        """Keep a live change where it happened, for the export (`training.callbacks.Replay` reads the same
        list): "update" while training (after the step's backward, before its update), "before" otherwise."""
        step = len(self._step_losses) - (1 if phase == "update" else 0)
        self.changes.append({"step": step, "phase": phase, **change})

    def _apply_edits(self, phase: str = "update") -> None:
        if self._edits:
            with self._edits_lock:
                edits, self._edits = self._edits, []
            for e in edits:
                self._apply(e, phase)

    def reset(self) -> None:
        """Stop the worker, rebuild the model from its seed, and show the untrained frame (state idle)."""
        if self.machine.state == "closed":
            return
        self._halt("reset")
        with self.machine.lock:
            if self.machine.state == "closed":  # closed while the worker stopped
                return
            self._stop.clear()
            self._build()
            self.machine.command("reset")
            self.machine.send(self.first_frame())

    def close(self, reason: str = "closed") -> None:
        """Final: the state becomes closed (nothing restarts it) and the worker thread has ended on return."""
        self.machine.command("close")
        self._halt(reason)

    def _halt(self, reason: str) -> None:
        self._stop_reason = reason
        self._stop.set()
        self.machine.wake()  # a paused worker
        self.scheduler.wake()  # a worker queued for a time slice
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()  # a worker checks the stop after every step, frame and wait
        self._thread = None

    @property
    def worker(self) -> threading.Thread | None:
        return self._thread

    # -- the worker

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._thread_main, name=f"mlplab-playground-{id(self):x}", daemon=True)
            self._thread.start()

    def _thread_main(self) -> None:
        try:
            if self._turn.take():
                self._work()
        finally:
            self._turn.give()

    def _wait_running(self) -> None:
        """Paused: give up the time slice, sleep until the page plays (or the session stops)."""
        if self.machine.state != "running":
            self._turn.give()
            self.parked.set()
            try:
                self.machine.wait_running(self._stop)
            finally:
                self.parked.clear()
            if not self._stop.is_set() and self.machine.state == "running":
                self._turn.take()
        if self._stop.is_set() or self.machine.state != "running":
            raise StopTraining("interrupted", self._stop_reason or "stopped")

    def _work(self) -> None:
        cb = PlaygroundCallback(self)
        try:
            while True:
                self._wait_running()
                if self.epoch >= self.config.stop_epochs or self._stop.is_set():
                    break
                # Pause ends this `train` call (the callback raises `PAUSED` after an epoch); play continues
                # the same run with `train(resume=run)`, the mechanism of `Run.resume`: the optimizer state,
                # the step counter and the batch order carry over, so a paused and played session trains
                # exactly as an uninterrupted one. A new learning rate reaches the engine between two steps
                # (`t.engine.lr`) without a pause.
                spec = self.train_spec.replace(epochs=self.config.stop_epochs - self.epoch, lr=self.lr, frames=2)
                if self.lr != self._lr_applied:  # changed while paused: in force from the next step's forward
                    self._log({"lr": self.lr}, phase="before")
                self._lr_applied = self.lr
                if self._run is None:
                    run = train(self.model, self.config.data, spec, callbacks=[cb])
                else:
                    run = train(None, None, spec, callbacks=[cb], resume=self._run)
                self._run = run  # what the export reports: the engine, the summed train_s, the status
                if run.status == PAUSED:
                    continue
                if run.status == "diverged":
                    self.machine.event("diverged", run.message)
                elif run.status == "finished":
                    self.machine.event("finished", f"reached the epoch limit ({self.config.stop_epochs})")
                elif run.status == "stopped early":
                    self.machine.event("finished", run.message)
                break
        except StopTraining:
            pass
        except Exception as exc:  # a worker must never die silently: the page hears why
            self.machine.event("failed", f"training failed: {exc}")
        if not self._stop.is_set():
            self._apply_edits("before")  # an edit that came with the last step: in force from the next one
            self.machine.send(self._make_frame(force_all=True))

    def _epoch_done(self, t) -> None:
        steps = self._step_losses[self._epoch_first_step:]
        self._epoch_first_step = len(self._step_losses)
        if steps:
            mean = sum(steps) / len(steps)
            self._epoch_losses.append((self.epoch, mean if math.isfinite(mean) else None))
        self.epoch += 1
        stop = self.config.stop_loss
        now = time.perf_counter()
        with self.machine.lock:
            budget = self.machine.step_budget
            if budget is not None:
                self.machine.step_budget = budget - 1
            budget_done = budget is not None and budget - 1 <= 0
        if budget_done or now - self._last_frame >= FRAME_INTERVAL_S:
            frame = self._make_frame(force_all=budget_done)
            if stop is not None and frame["loss"] is not None and frame["loss"] <= stop:
                message = f"the training loss reached {frame['loss']:.6g} <= stop.loss {stop}"
                self.machine.event("finished", message)
                self.machine.send(frame)
                raise StopTraining("finished", message)
            self.machine.send(frame)
        if budget_done:
            self.machine.event("stepped")
        if self.machine.state != "running":
            if not budget_done:  # the page rests on this model: its units, health and regions must be this model's too
                self.machine.send(self._make_frame(force_all=True))
            raise StopTraining(PAUSED, "paused by the page")  # `_work` resumes the run on play

    def _send_epoch_losses(self) -> None:
        """The epochs' losses since the last frame, as a message of their own: a slow page may miss frames
        (the outbox drops the oldest), never these, so its loss curve has a point per epoch."""
        done = []
        while self._epoch_losses:
            try:
                done.append(self._epoch_losses.popleft())
            except IndexError:  # taken by a frame made on another thread meanwhile
                break
        if done:
            self.machine.send({"type": "epoch_losses", "first": done[0][0], "loss": [v for _, v in done]})

    def _make_frame(self, force_all: bool = False) -> dict[str, Any]:
        self._send_epoch_losses()
        now = time.perf_counter()
        units = force_all or now - self._last_units >= UNITS_INTERVAL_S
        if self.regions_on and (force_all or now - self._last_regions >= REGIONS_INTERVAL_S):
            try:
                self._regions = region_summary(self.model, self.box)
            except (SpecError, ValueError, FloatingPointError) as exc:
                self._regions = {"error": str(exc)}
            self._last_regions = time.perf_counter()
        f = self.frames.frame(self.model, units=units, regions=self._regions)
        if units:
            self._last_units = now
        self._last_frame = now
        f.update(type="frame", epoch=self.epoch, step=len(self._step_losses), lr=self.lr)
        self._remember(f)
        return f

    def _remember(self, f: dict[str, Any]) -> None:
        self.state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        if len(self.history) and self.history[-1]["step"] == f["step"]:
            return
        if len(self.history) >= HISTORY_FRAMES:
            self.history = self.history[::2]
            self._keep_every *= 2
        with torch.no_grad():
            was = self.model.training
            self.model.eval()
            out = self.model(self.frames.X).numpy().copy()
            grid = self.model(self.frames.grid).numpy().copy() if self.config.data.d_in == 2 else None
            self.model.train(was)
        self.history.append({"step": f["step"], "epoch": f["epoch"], "out": out, "grid": grid})

    # -- export

    def to_run(self) -> Run:
        """The session as a `Run`: losses per step, recorded frames, grid frames, the model at the last frame;
        the engine, timings and status are those of the `Run` that `train` returned (the last call's)."""
        from ..models import build_model

        model = build_model(self.model_spec, seed=self.train_spec.seed)
        model.load_state_dict(self.state)
        model.eval()
        run = Run(spec=self.config.experiment, model=model, data=self.config.data)
        run.losses = np.asarray(self._step_losses, dtype=np.float32)
        hist = list(self.history)
        if hist:
            run.frames = np.stack([h["out"] for h in hist])  # (k, n, d_out)
            run.frame_steps = np.asarray([h["step"] for h in hist], dtype=np.int64)
            if hist[0]["grid"] is not None:
                g = GRID
                run.grid_frames = np.stack([h["grid"].reshape(g, g, -1) for h in hist])  # (k, g, g, d_out)
                run.grid_axes = (self.frames.axes[0], self.frames.axes[1])
        run.status = {"idle": "finished", "running": "interrupted", "paused": "interrupted"}.get(self.status, self.status)
        trained = self._run
        run.engine = self.engine
        if trained is not None:
            run.engine, run.timings = trained.engine, dict(trained.timings)  # train_s summed over every resume
            if self.status != "error":  # a failed call returned no Run: the state says what happened
                run.status = "interrupted" if trained.status == PAUSED else trained.status
        run.message = self.message
        run.spec = self.trained_spec()
        run.segments = self.segments(run)
        run.metrics = M.split_metrics(lambda X: model(torch.from_numpy(np.ascontiguousarray(X, np.float32))).detach().numpy(),
                                      self.config.data, self.train_spec.loss)
        return run

    def start_spec(self) -> dict[str, Any]:
        """The experiment as the session started it (its first learning rate), for the epochs trained."""
        exp = json.loads(json.dumps(self.config.experiment))
        exp["train"].update(lr=self.start_lr, epochs=max(1, self.epoch))
        return exp

    def trained_spec(self) -> dict[str, Any]:
        """What trained last: the start's experiment with the last learning rate a step used."""
        exp = self.start_spec()
        exp["train"]["lr"] = self._lr_applied
        return exp

    def segments(self, run: Run) -> list[dict[str, Any]]:
        """The run's parts: the start's settings, then one part per live change (a learning rate or an edit)."""
        parts = [{"start": 0, "engine": run.engine, "status": run.status, "train": self.start_spec()["train"]}]
        for change in self.changes:
            what = {"changed": {"lr": change["lr"]}} if "lr" in change else \
                {"edit": {"weight": change["weight"], "value": change["value"]}}
            parts.append({"start": change["step"], "phase": change["phase"], "engine": run.engine,
                          "status": run.status, **what})
        ends = [p["start"] for p in parts[1:]] + [run.steps]
        for part, end in zip(parts, ends):
            part["steps"] = end - part["start"]
        return parts

    def export_zip(self) -> bytes:
        """The session's zip (see export.py): its Run's files, a snippet, and data.csv for own data."""
        return export_zip(self.to_run(), self.config, self.start_spec(), self.changes)
