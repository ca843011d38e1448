"""`sweep(...)`: expand a sweep, skip what the store already holds, train the rest group by group.

Runs that share shapes train together on the stacked engine (`groups.py` says which); the others one
by one. Either way through the experiment path (`mlplab.api`), as ``mlplab.run`` trains them. Groups run in this process, in a process pool (``workers > 1``) or as Ray
tasks (``executor="ray"``). Files are written by whoever trained the group; index rows only by this
process, after the files are complete.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from ..errors import SpecError
from ..specs import Experiment
from ..training.run import Run
from . import groups as G
from .checkpoint import CHECKPOINT_S
from .spec import SEED_KEYS, SweepSpec, Variant, expand, make_sweep

EXECUTORS = ("local", "process", "ray")
# Stacked groups larger than this are cut: memory grows with R and nothing gets faster past a few
# hundred tiny runs per dispatch on a CPU (see docs/sweeps.md).
MAX_GROUP = 512
# Per run: (its checkpoint folder, the store folder an interrupted run of it is saved in, seconds between
# checkpoints), or None for no checkpoints.
Saves = Optional[tuple[Path, Path, float]]


def sweep(
    experiment: str | Experiment | dict[str, Any] | SweepSpec,
    grid: dict[str, Any] | None = None,
    *,
    random: dict[str, Any] | None = None,
    n_random: int = 0,
    seed: int = 0,
    name: str | None = None,
    out: str | Path | None = None,
    executor: str = "local",
    workers: int = 1,
    address: str | None = None,
    progress: bool | Callable[[int, int], None] | None = None,
    batched: bool = True,
    max_group: int = MAX_GROUP,
    callbacks: Sequence[Any] = (),
    checkpoint_s: float = CHECKPOINT_S,
):
    """Train every run of a sweep and return a pandas DataFrame, one row per run.

    ``sweep("piecewise-residual", grid={"model.residual": [False, True], "seed": range(10)}, out="sweeps")``.
    Columns: run_id, name, variant (the setting without its seeds), each varied field, status,
    final_loss, steps, the metrics (train_r2, train_accuracy, ...), train_s, group_s, engine, reused.
    With ``out`` the runs go to a `mlplab.store.Store` there and finished runs are not trained again;
    without it the Runs are in a ``run`` column. With ``out``, a run trained one by one saves a checkpoint
    every ``checkpoint_s`` seconds, and the sweep started again continues it from there (as it continues
    a run that Ctrl-C interrupted).
    """
    spec = experiment if isinstance(experiment, SweepSpec) else make_sweep(
        experiment, grid, random=random, n_random=n_random, seed=seed, name=name)
    if executor not in EXECUTORS:
        raise SpecError("executor", f"one of {', '.join(EXECUTORS)}", executor)
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise SpecError("workers", "a positive integer", workers)
    if isinstance(checkpoint_s, bool) or not isinstance(checkpoint_s, (int, float)) or not checkpoint_s > 0 \
            or checkpoint_s == float("inf"):
        raise SpecError("checkpoint_s", "a positive number of seconds", checkpoint_s)
    if not isinstance(max_group, int) or max_group < 1:
        raise SpecError("max_group", "a positive integer", max_group)
    if callbacks and (workers > 1 or executor != "local"):
        raise SpecError("callbacks", "no callbacks with workers > 1 or a remote executor (they cannot travel)",
                        list(callbacks))
    if executor == "ray":
        _ray(address)  # fail early with the install hint
    variants = expand(spec)
    # Every run's settings and memory are checked before anything is made: a sweep whose every run is
    # refused stops here, with the first refusal, before its store exists.
    refused = _refusals(variants)
    if variants and len(refused) == len(variants):
        from ..errors import MlplabError

        reasons = list(dict.fromkeys(str(exc) for exc in refused.values()))
        raise MlplabError(f"every run of sweep {spec.name!r} failed: {reasons[0]}"
                          + (f" (and {len(reasons) - 1} other reasons)" if len(reasons) > 1 else ""))
    from ..store import Store

    store = Store(out) if out is not None else None
    results: dict[str, dict[str, Any]] = {}
    todo: list[Variant] = []
    for v in variants:
        if store is not None:  # a run a worker saved before Ctrl-C reached this process is reused too
            store.adopt(v.id, sweep=spec.name, variant=v.values)
        if store is not None and store.done(v.id):
            results[v.id] = _row_from_store(store, v)
        elif v.id in refused:
            results[v.id] = _row(v, None, str(refused[v.id]), store)
        else:
            todo.append(v)
    tick = _progress(progress, len(variants))
    tick(len(results))
    groups = _plan([v.experiment for v in todo], batched, max_group)
    jobs = [[todo[i] for i in g] for g in groups]
    interrupted = False
    for job, outcome in _execute(jobs, executor, workers, address, store, batched, list(callbacks), checkpoint_s):
        for v, (run, failure) in zip(job, outcome):
            results[v.id] = _row(v, run, failure, store)
            interrupted = interrupted or (run is not None and run.status == "interrupted")
        if store is not None:  # the group's rows in one transaction, once its files are all written
            store.record_many([(v.id, run.summary(), v.values) for v, (run, _) in zip(job, outcome) if run is not None],
                              sweep=spec.name)
        tick(len(results))
        if interrupted:  # Ctrl-C: keep what is done, leave the rest for the next call
            break
    tick(-1)
    rows = [results.get(v.id) or _not_run(v) for v in variants]
    import pandas as pd

    frame = pd.DataFrame.from_records(rows)
    frame.attrs["sweep"] = spec.name
    if interrupted:  # Ctrl-C stops the caller's script too; what was done rides along as ``.frame``
        from ..training.run import interrupted

        done = int((frame.status != "not run").sum())
        raise interrupted(message=f"the sweep was interrupted after {done} of {len(frame)} runs"
                          + (f"; finished runs are stored in {out}" if out is not None else ""), frame=frame)
    return frame


def _refusals(variants: Sequence[Variant]) -> dict[str, Exception]:
    """The runs `mlplab.run` would refuse (settings, memory), by id, with their error; checked, nothing allocated."""
    from ..budget import check as check_budget
    from ..errors import MlplabError
    from ..extras import check_extras

    refused: dict[str, Exception] = {}
    for v in variants:
        try:
            check_extras(v.experiment)
            check_budget(v.experiment)
        except MlplabError as exc:
            refused[v.id] = exc
    return refused


def _plan(experiments: list[Experiment], batched: bool, max_group: int) -> list[list[int]]:
    if not batched:
        return [[i] for i in range(len(experiments))]
    return [chunk for g in G.split_groups(experiments) for chunk in G.chunks(g, max_group)]


# ---------------------------------------------------------------- executing groups


def train_job(experiments: Sequence[Experiment], callbacks: Sequence[Any] = (), stacked: bool = True,
              saves: Sequence[Saves] | None = None) -> list[tuple[Run | None, str]]:
    """Train one planned group: on the stacked engine when it can run them (split again by data shape),
    else one by one. Returns (run, "") per experiment, or (None, error message) for an mlplab error.
    ``saves``: per experiment, where a run trained one by one keeps its checkpoints and where an
    interrupted run of it may be saved (`checkpoint.train_checkpointed`); None keeps none."""
    from ..errors import MlplabError

    exps = list(experiments)
    saves = list(saves) if saves is not None else [None] * len(exps)
    try:
        if stacked and G.may_stack(exps[0]) and (len(exps) > 1 or exps[0].train.engine == "stacked"):
            return _train_stacked(exps, callbacks, saves)
        return [(_train_one(e, callbacks, sv), "") for e, sv in zip(exps, saves)]
    except MlplabError as exc:
        return [(None, str(exc))] * len(exps)


def _train_stacked(exps: list[Experiment], callbacks: Sequence[Any], saves: list[Saves]
                   ) -> list[tuple[Run | None, str]]:
    from ..budget import check as check_budget
    from ..budget import memory_limit
    from ..extras import check_extras

    # Each run's settings and memory, as `mlplab.run` checks them, before anything is allocated; a stacked
    # group holds all its runs at once, so a group that would not fit is trained in parts that do.
    for e in exps:
        check_extras(e)
    per_run = max(check_budget(e).total for e in exps)
    fits = max(1, memory_limit() // max(per_run, 1))
    return [r for i in range(0, len(exps), fits) for r in _train_part(exps[i:i + fits], callbacks, saves[i:i + fits])]


def _train_part(exps: list[Experiment], callbacks: Sequence[Any], saves: list[Saves]
                ) -> list[tuple[Run | None, str]]:
    """A checked group small enough to hold at once: stacked where the engine runs it, else one by one."""
    from ..api import prepare, run_stacked
    from ..engines import StackedEngine

    prepared = [prepare(e) for e in exps]
    first_exp, first_data, first_model = prepared[0]
    why = StackedEngine.refuses(first_model, first_exp.train, first_data.task)
    if why is not None:
        if exps[0].train.engine == "stacked":  # asked for by name: refuse, never swap engines silently
            from ..engines import choose

            choose("stacked", first_model, first_exp.train, first_data.task)
        return [(_train_one(e, callbacks, sv), "") for e, sv in zip(exps, saves)]
    out: list[tuple[Run | None, str]] = [(None, "")] * len(exps)
    by_shape: dict[tuple, list[int]] = {}
    for i, (_, d, _) in enumerate(prepared):
        by_shape.setdefault((d.X.shape, d.y.shape), []).append(i)
    for idx in by_shape.values():
        runs = run_stacked([exps[i] for i in idx], callbacks=list(callbacks), prepared=[prepared[i] for i in idx])
        for i, r in zip(idx, runs):
            out[i] = (r, "")
    return out


def _train_one(exp: Experiment, callbacks: Sequence[Any], saves: Saves = None) -> Run:
    from ..api import run_experiment

    if saves is None or exp.kind != "train":
        return run_experiment(exp, progress=False, callbacks=list(callbacks))
    from .checkpoint import train_checkpointed

    folder, saved, every_s = saves
    return train_checkpointed(exp, callbacks, folder, every_s=every_s, saved=saved)


def _saves(store_dir: str | Path | None, ids: Sequence[str], every_s: float) -> list[Saves] | None:
    if store_dir is None:
        return None
    from .checkpoint import folder_for

    return [(folder_for(store_dir, i), Path(store_dir) / "runs" / i, every_s) for i in ids]


def _save_job(experiments: Sequence[Experiment], ids: Sequence[str], store_dir: str | None,
              stacked: bool = True, every_s: float = CHECKPOINT_S) -> list[tuple[Any, str]]:
    """Worker side of a pool or Ray task: train, write files, send back summaries (or Runs without a store)."""
    outcome = train_job(experiments, stacked=stacked, saves=_saves(store_dir, ids, every_s))
    back = []
    for run_id, (run, failure) in zip(ids, outcome):
        if run is None:
            back.append((None, failure))
        elif store_dir is None:
            back.append((run, failure))
        else:
            from ..store import Store

            run.save(Store(store_dir).folder(run_id))
            back.append((_Summary(run), failure))
    return back


class _Summary:
    """What the index row needs of a run trained elsewhere (its files are already in the store)."""

    def __init__(self, run: Run):
        self._summary = run.summary()
        self.status, self.final_loss, self.metrics = run.status, run.final_loss, dict(run.metrics)
        self.timings, self.engine, self.steps, self.message = dict(run.timings), run.engine, run.steps, run.message

    def summary(self) -> dict[str, Any]:
        return self._summary


def _execute(jobs, executor: str, workers: int, address: str | None, store, stacked: bool, callbacks,
             every_s: float = CHECKPOINT_S):
    """Yield (job, [(run or summary, failure)]) as groups finish; index rows are written by the caller."""
    store_dir = str(store.dir) if store is not None else None
    if executor == "local" and workers == 1:
        for job in jobs:
            outcome = train_job([v.experiment for v in job], callbacks, stacked,
                                _saves(store_dir, [v.id for v in job], every_s))
            if store is not None:
                for v, (run, _) in zip(job, outcome):
                    if run is not None:
                        run.save(store.folder(v.id))
            yield job, outcome
        return
    args = [([v.experiment for v in job], [v.id for v in job], store_dir, stacked, every_s) for job in jobs]
    if executor == "ray":
        ray = _ray(address)
        remote = ray.remote(_save_job)
        pending = {remote.remote(*a): job for a, job in zip(args, jobs)}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(ready[0])
            yield job, ray.get(ready[0])
        return
    import multiprocessing as mp
    import os
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # "spawn": a forked torch process can hang on its thread pools; spawn starts clean. Each worker dies
    # with this process, even when it is killed with no chance to clean up (kill -9).
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                               initializer=_die_with_parent, initargs=(os.getpid(),))
    try:
        futures = {pool.submit(_save_job, *a): job for a, job in zip(args, jobs)}
        for fut in as_completed(futures):
            yield futures[fut], fut.result()
    except BaseException:  # Ctrl-C, SIGTERM, a failure: the workers stop now, not after their queued runs
        _stop_workers(pool)
        raise
    pool.shutdown(wait=True)


# Seconds a worker asked to stop (SIGTERM) may take before it is killed
WORKER_GRACE_S = 10.0


def _stop_workers(pool) -> None:
    """End a process pool's workers at once: queued runs are cancelled, running ones terminated (their
    runs are redone by the next sweep; finished ones already have their files, adopted next time)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())  # no public way to reach them in 3.11
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    for proc in procs:
        proc.join(WORKER_GRACE_S)
        if proc.is_alive():
            proc.kill()
            proc.join()


def _die_with_parent(parent: int) -> None:
    """Worker start-up: end when the sweep's process ends, however it ends (PR_SET_PDEATHSIG on Linux,
    else a thread watching the parent's pid)."""
    import os
    import signal
    import sys
    import threading

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            PR_SET_PDEATHSIG = 1
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="mlplab-parent-watch", daemon=True).start()


def _ray(address: str | None):
    try:
        import ray
    except ImportError:
        raise SpecError("executor", "'local' or 'process' (Ray is not installed)", "ray",
                        "install it with `pip install mlplab[ray]` (or `pip install ray`)") from None
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    return ray


# ---------------------------------------------------------------- rows


def _base_row(v: Variant) -> dict[str, Any]:
    row: dict[str, Any] = {"run_id": v.id, "name": v.name, "variant": v.label}
    row.update({k: tuple(x) if isinstance(x, list) else x for k, x in v.values.items()})
    return row


def _row(v: Variant, run: Any, failure: str, store) -> dict[str, Any]:
    row = _base_row(v)
    if run is None:
        row.update(status="failed", final_loss=None, steps=0, reused=False, message=failure)
        return row
    row.update(status=run.status, final_loss=run.final_loss, steps=run.steps, **run.metrics)
    row.update(train_s=run.timings.get("train_s"), group_s=run.timings.get("group_s", run.timings.get("train_s")),
               engine=run.engine, reused=False, message=run.message)
    if store is None:
        row["run"] = run
    return row


def _row_from_store(store, v: Variant) -> dict[str, Any]:
    import json

    r = store.row(v.id)
    timings = json.loads(r["timings"] or "{}")
    row = _base_row(v)
    row.update(status=r["status"], final_loss=r["final_loss"], steps=r["steps"], **json.loads(r["metrics"] or "{}"))
    row.update(train_s=timings.get("train_s"), group_s=timings.get("group_s", timings.get("train_s")),
               engine=None, reused=True, message="")
    return row


def _not_run(v: Variant) -> dict[str, Any]:
    return {**_base_row(v), "status": "not run", "final_loss": None, "steps": 0, "reused": False,
            "message": "the sweep was interrupted before this run"}


def _progress(progress, total: int) -> Callable[[int], None]:
    """A function of the number of runs done (-1: finished) that drives the chosen progress display."""
    if callable(progress) and not isinstance(progress, bool):
        return lambda done: progress(done, total) if done >= 0 else None
    from ..viz.progress import default_progress

    if not (progress if progress is not None else default_progress()):
        return lambda done: None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True)
    task = bar.add_task("runs", total=total)
    bar.start()

    def tick(done: int) -> None:
        if done < 0:
            bar.stop()
        else:
            bar.update(task, completed=done)

    return tick


def seed_fields(columns: Sequence[str]) -> list[str]:
    return [c for c in columns if c in SEED_KEYS]
