"""Sweep speed: 64 seeds of ``piecewise-residual`` as one stacked model vs 64 runs one after another.

The reference does what the notebooks' ``train_model`` does for each seed (forward, keep a NumPy copy of the
predictions, MSE, zero_grad, backward, Adam step), on the same models (``build_model(spec, seed)``) and
data (``data.seed = seed``). Timing all 64 sequential runs takes minutes, so the first SUBSET of them are
timed and the total is scaled by 64 / SUBSET (the runs are the same size, so the scaling is linear). The
default per-run mlplab path (``mlplab.run``: the fused NumPy engine) is timed the same way. The stacked
side is ``mlplab.sweep.sweep`` end to end (all 64 runs recorded: 100 frames, metrics). Two lengths: 500
epochs, where a sweep's fixed costs (building models and data, 64 Runs) weigh most, and 5000.

Run: ``.venv/bin/python benchmarks/bench_sweep.py`` (writes the "sweep" section of docs/benchmarks.md).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _seeds import seed_train_model  # noqa: E402
from _table import dispatch_us, markdown_table, write_section  # noqa: E402

import mlplab  # noqa: E402
from mlplab.sweep import sweep  # noqa: E402

PRESET, RUNS, SUBSET = "piecewise-residual", 64, 8


def _sequential(fn, epochs: int) -> float:
    """Seconds for SUBSET runs (seeds 0 .. SUBSET-1) of ``fn(exp)``."""
    started = time.perf_counter()
    for seed in range(SUBSET):
        fn(mlplab.experiment(PRESET, train={"epochs": epochs, "seed": seed}, data={"seed": seed}))
    return time.perf_counter() - started


def _seed_loop(exp) -> None:
    data = mlplab.make_dataset(exp.data)
    model = mlplab.build_model(exp.model, seed=exp.train.seed)
    seed_train_model(model, torch.from_numpy(data.X), torch.from_numpy(data.y), exp.train.lr, exp.train.epochs)


def measure(epochs: int) -> list[list[str]]:
    base = mlplab.experiment(PRESET, train={"epochs": epochs})
    sweep(base.replace(train=base.train.replace(epochs=5)), {"seed": list(range(RUNS))}, progress=False)  # warm-up
    started = time.perf_counter()
    df = sweep(base, {"seed": list(range(RUNS))}, progress=False)
    t_stacked = time.perf_counter() - started
    assert (df.status == "finished").all() and (df.steps == epochs).all() and set(df.engine) == {"stacked"}
    with tempfile.TemporaryDirectory(prefix="mlplab-bench-store-") as store:  # what `mlplab sweep` always does
        started = time.perf_counter()
        df = sweep(base, {"seed": list(range(RUNS))}, out=store, progress=False)
        t_store = time.perf_counter() - started
    assert (df.status == "finished").all() and not df.reused.any()
    t_seed = _sequential(_seed_loop, epochs) * RUNS / SUBSET
    t_one = _sequential(lambda e: mlplab.api.run_experiment(e, progress=False), epochs) * RUNS / SUBSET
    steps = RUNS * epochs
    return [
        [f"{epochs}", "notebooks' train_model, one run after another", f"{t_seed:.1f} (scaled from {SUBSET})",
         f"{steps / t_seed:,.0f}", "1x"],
        [f"{epochs}", "mlplab.run per run (the default engine)", f"{t_one:.1f} (scaled from {SUBSET})",
         f"{steps / t_one:,.0f}", f"{t_seed / t_one:.1f}x"],
        [f"{epochs}", f"mlplab.sweep, one stacked group of {RUNS}", f"{t_stacked:.2f}", f"{steps / t_stacked:,.0f}",
         f"**{t_seed / t_stacked:.0f}x**"],
        [f"{epochs}", f"the same, with the run store (`out=`: {RUNS} run folders and index rows)", f"{t_store:.2f}",
         f"{steps / t_store:,.0f}", f"**{t_seed / t_store:.0f}x** ({100 * (t_store / t_stacked - 1):+.0f}% for the store)"],
    ]


def main() -> None:
    torch.set_num_threads(1)  # tiny models are dispatch-bound: one thread is the fair, stable setting
    rows = []
    torch_us, numpy_us = dispatch_us((300, 2))
    stacked_us, _ = dispatch_us((RUNS, 300, 2))
    for epochs in (500, 5000):
        rows += measure(epochs)
        print(rows[-3:], flush=True)
    body = (
        "## Sweeps: many seeds at once (`bench_sweep.py`)\n\n"
        f"{RUNS} seeds (data and training) of `{PRESET}`, full-batch Adam, every run recorded. Sequential rows "
        f"time the first {SUBSET} runs and scale by {RUNS}/{SUBSET}. The stacked row is the whole "
        "`mlplab.sweep(...)` call: preparing 64 experiments through the experiment path, training them on the "
        "stacked engine (parameters (64, ...), batched products, the shared layer library and optimizer), then "
        "64 Runs with frames and metrics; the store row adds saving every run's files and index row. One torch thread; goals: at least 50x over the notebooks' loop at 500 "
        "epochs, 65x at 5000.\n\n"
        + markdown_table(["epochs", "how", "seconds for 64 runs", "run-steps per second", "speed-up"], rows)
        + f"\nWhy: a step of a 2-unit network costs what its calls cost, not its arithmetic. Measured in this run, "
        f"one elementwise PyTorch call costs {torch_us:.1f} us on one run's 300x2 array and {stacked_us:.1f} us on "
        f"all {RUNS} runs' {RUNS}x300x2 array (NumPy: {numpy_us:.1f} us on 300x2): stacked, each call does "
        f"{RUNS} runs' work for {stacked_us / torch_us:.1f} times the price of one.\n"
    )
    write_section("sweep", body)
    print(body)


if __name__ == "__main__":
    main()
