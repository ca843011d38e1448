"""The compiled engine: one recorded run of ``piecewise-residual`` against every other way to train it, and
what its compilation costs.

Contenders, all on the preset's 300 points, its 2-2-2-2 residual MLP (identity init), 5000 full-batch
Adam steps, from the same weights: the notebooks' ``train_model``; mlplab's loop driving the torch, fused
and compiled engines (recording as the preset does: 100 frames and parameter snapshots); and, when jax
is installed (``pip install -e .[bench]``), the same network and Adam written in JAX as one ``jit`` of a
``lax.scan`` over the steps, recording the outputs every 50 steps (compiled once before timing). Each
runs in turn for several rounds (a slow spell on a shared machine falls on every contender alike); the
table gives the median round in CPU time of this process (one thread) and in wall time.

Compile time: a fresh process compiles the kernels into an empty numba cache (cold), then another
process loads them from it (warm), and a third trains one epoch of the preset with the cache warm.

Run: ``.venv/bin/python benchmarks/bench_compiled.py`` (writes the "compiled" section of docs/benchmarks.md).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _seeds import seed_train_model  # noqa: E402
from _table import markdown_table, write_section  # noqa: E402

import mlplab  # noqa: E402
from mlplab.models.mlp import ResidualBlock  # noqa: E402
from mlplab.training.loop import train  # noqa: E402

PRESET = "piecewise-residual"
EPOCHS = 5000
ROUNDS = 5
RECORD_EVERY = 50


def rounds(contenders: dict[str, object], n: int) -> dict[str, list[tuple[float, float]]]:
    """(CPU seconds, wall seconds) of each contender per round, run in turn round after round."""
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
    for _ in range(n):
        for name, fn in contenders.items():
            c, w = time.process_time(), time.perf_counter()
            fn()
            times[name].append((time.process_time() - c, time.perf_counter() - w))
    return times


def jax_trainer(model: torch.nn.Module, X: np.ndarray, Y: np.ndarray, lr: float):
    """The model's forward pass and torch's Adam in JAX, 5000 steps as one jitted scan (or None)."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_platforms", "cpu")
    params = [p.detach().numpy().copy() for p in model.parameters()]

    def forward(ps, x):
        it = iter(ps)
        for m in model.net:
            if isinstance(m, torch.nn.Linear):
                W, b = next(it), next(it)
                x = x @ W.T + b
            elif isinstance(m, torch.nn.ReLU):
                x = jnp.maximum(x, 0)
            elif isinstance(m, ResidualBlock):
                W1, b1, W2, b2 = next(it), next(it), next(it), next(it)
                x = x + jnp.maximum(x @ W1.T + b1, 0) @ W2.T + b2
        return x

    def loss(ps, x, y):
        return jnp.mean((forward(ps, x) - y) ** 2)

    grad = jax.value_and_grad(loss)

    def step(state, _):
        ps, m, v, t = state
        value, g = grad(ps, X, Y)
        t = t + 1
        m = [mi + (gi - mi) * 0.1 for mi, gi in zip(m, g)]
        v = [vi * 0.999 + 0.001 * gi * gi for vi, gi in zip(v, g)]
        size = lr / (1 - 0.9**t)
        bc2 = jnp.sqrt(1 - 0.999**t)
        ps = [p - size * (mi / (jnp.sqrt(vi) / bc2 + 1e-8)) for p, mi, vi in zip(ps, m, v)]
        return (ps, m, v, t), value

    def chunk(state, _):  # RECORD_EVERY steps, then the outputs recorded
        state, losses = jax.lax.scan(step, state, None, length=RECORD_EVERY)
        return state, (losses, forward(state[0], X))

    @jax.jit
    def run(ps):
        zeros = [jnp.zeros_like(p) for p in ps]
        state = (ps, zeros, zeros, jnp.float32(0))
        _, (losses, frames) = jax.lax.scan(chunk, state, None, length=EPOCHS // RECORD_EVERY)
        return losses.reshape(-1), frames

    start = [jnp.asarray(p) for p in params]
    jax.block_until_ready(run(start))  # compile once, outside the timing
    return lambda: jax.block_until_ready(run(start))


def in_runs(model: torch.nn.Module, data, spec) -> None:
    """The engine without the loop: steps handed over in runs of RECORD_EVERY (`CompiledEngine.run_steps`),
    what the loop could do between recorded steps; nothing recorded."""
    from mlplab.engines import CompiledEngine
    from mlplab.training.metrics import targets

    eng = CompiledEngine([model], spec, data.X, targets(data.y, data.task, spec.loss))
    for _ in range(EPOCHS // RECORD_EVERY):
        eng.run_steps(RECORD_EVERY)
    eng.finish()


def compile_times() -> dict[str, float]:
    """Seconds: a cold compile into an empty cache, a warm load from it, and a first run's wait."""
    code = {
        "numba import": "import mlplab, time; t = time.perf_counter(); import numba; print(time.perf_counter() - t)",
        "cold": "from mlplab.engines.kernels import warm; import time; t = time.perf_counter(); warm(); print(time.perf_counter() - t)",
        "warm": "import numba, mlplab; from mlplab.engines.kernels import warm; import time; t = time.perf_counter(); warm(); print(time.perf_counter() - t)",
        "first run": f"import mlplab, time; t = time.perf_counter(); r = mlplab.run({PRESET!r}, epochs=1, progress=False); "
                     "assert r.engine == 'compiled'; print(time.perf_counter() - t)",
        "first run, fused": f"import mlplab, time; t = time.perf_counter(); r = mlplab.run({PRESET!r}, epochs=1, progress=False, "
                            "train={'engine': 'fused'}); print(time.perf_counter() - t)",
    }
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for name, src in code.items():
            done = subprocess.run([sys.executable, "-c", src], env=env, check=True, capture_output=True, text=True)
            out[name] = float(done.stdout.split()[-1])
    return out


def main() -> None:
    torch.set_num_threads(1)  # tiny models are dispatch-bound: one thread is the fair, stable setting
    exp = mlplab.experiment(PRESET, train={"epochs": EPOCHS})
    data = mlplab.make_dataset(exp.data)
    model = lambda: mlplab.build_model(exp.model, seed=exp.train.seed)  # noqa: E731
    X, y = torch.from_numpy(data.X), torch.from_numpy(data.y)
    contenders = {
        "notebooks' train_model": lambda: seed_train_model(model(), X, y, exp.train.lr, EPOCHS),
        "mlplab, torch engine": lambda: train(model(), data, exp.train.replace(engine="torch")),
        "mlplab, fused engine": lambda: train(model(), data, exp.train.replace(engine="fused")),
        "mlplab, compiled engine (auto)": lambda: train(model(), data, exp.train),
        f"compiled engine alone, {EPOCHS // RECORD_EVERY} x run_steps({RECORD_EVERY})": lambda: in_runs(model(), data, exp.train),
    }
    assert train(model(), data, exp.train.replace(epochs=2)).engine == "compiled"  # and the kernels are loaded
    jax_run = jax_trainer(model(), data.X, data.y, exp.train.lr)
    if jax_run is not None:
        contenders["JAX jit + lax.scan"] = jax_run
    times = rounds(contenders, ROUNDS)
    med = {k: (statistics.median(c for c, _ in v), statistics.median(w for _, w in v)) for k, v in times.items()}
    ours = med["mlplab, compiled engine (auto)"][0]
    rows = [[name, f"{cpu / EPOCHS * 1e6:,.1f}", f"{wall / EPOCHS * 1e6:,.1f}", f"{cpu / ours:.1f}x"]
            for name, (cpu, wall) in med.items()]
    for row in rows:
        print(row, flush=True)
    comp = compile_times()
    print(comp, flush=True)
    load = os.getloadavg()[0]
    body = (
        "## The compiled engine (`bench_compiled.py`)\n\n"
        f"One recorded run of `{PRESET}` (2-2-2-2 residual MLP, 300 points, {EPOCHS} full-batch Adam steps from "
        "the same weights): microseconds per step, median of "
        f"{ROUNDS} interleaved rounds, in CPU time of the process and in wall time, one thread. mlplab records as "
        "the preset does (100 frames and parameter snapshots); the notebooks' loop keeps every step's outputs; "
        "the *run_steps* row is the compiled engine driven without the loop, in runs of "
        f"{RECORD_EVERY} steps (the engine without the loop's recording; in the auto row the loop hands it the steps between two recorded ones, up to 512 at a time); "
        f"the JAX version records the outputs every {RECORD_EVERY} steps and is compiled before timing"
        + ("" if jax_run is not None else " (jax was not installed: no JAX row)") + ". The last column is each "
        "contender's CPU time over the compiled engine's.\n\n"
        + markdown_table(["contender", "us/step (CPU)", "us/step (wall)", "time / compiled"], rows)
        + "\nCompiling the kernels (each in a fresh process, numba's cache in an empty directory first): "
        f"a cold compile took **{comp['cold']:.1f} s**; loading them from the cache took {comp['warm']:.2f} s "
        "(numba's own one-time set-up included: its registries import scipy.linalg for BLAS), after "
        f"{comp['numba import']:.2f} s to import numba. "
        f"A first `mlplab.run('{PRESET}', epochs=1)` in a fresh process with the cache warm took "
        f"{comp['first run']:.2f} s, against {comp['first run, fused']:.2f} s on the fused engine (which needs no "
        "numba). `make install` warms the cache, so no run compiles; editing `kernels.py` invalidates it "
        "and the next run compiles again.\n"
        f"\nThe machine is shared: its load average was {load:.1f} on {os.cpu_count()} cores when this run ended "
        "(above 1, wall and compile times are inflated by others' work; CPU times less so).\n"
    )
    write_section("compiled", body)
    print(body)


if __name__ == "__main__":
    main()
