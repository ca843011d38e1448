"""Sweep speed: 64 seeds of ``piecewise-residual`` as one stacked model vs 64 runs one after another.

The reference does what the notebooks' ``train_model`` does for each seed (forward, keep a NumPy copy of the
predictions, MSE, zero_grad, backward, Adam step), on the same models (``build_model(spec, seed)``) and
data (``data.seed = seed``). Timing all 64 sequential runs takes minutes, so the first SUBSET of them are
timed and the total is scaled by 64 / SUBSET (the runs are the same size, so the scaling is linear). The
default per-run mlplab path (``mlplab.train``, the NumPy fused step) is timed the same way. The stacked
side is ``mlplab.sweep.sweep`` end to end (all 64 runs recorded: 100 frames, parameter snapshots, metrics).

Run: ``.venv/bin/python benchmarks/bench_sweep.py`` (writes the "sweep" section of docs/benchmarks.md).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _seeds import seed_train_model  # noqa: E402
from _table import markdown_table, write_section  # noqa: E402

import mlplab  # noqa: E402
from mlplab.sweep import sweep  # noqa: E402
from mlplab.training.loop import train  # noqa: E402

PRESET, RUNS, EPOCHS, SUBSET = "piecewise-residual", 64, 5000, 8


def _sequential(fn) -> float:
    """Seconds for SUBSET runs (seeds 0 .. SUBSET-1) of ``fn(exp)``."""
    started = time.perf_counter()
    for seed in range(SUBSET):
        fn(mlplab.experiment(PRESET, train={"epochs": EPOCHS, "seed": seed}, data={"seed": seed}))
    return time.perf_counter() - started


def _seed_loop(exp) -> None:
    data = exp.make_data()
    seed_train_model(exp.make_model(), torch.from_numpy(data.X), torch.from_numpy(data.y), exp.train.lr, EPOCHS)


def main() -> None:
    torch.set_num_threads(1)  # tiny models are dispatch-bound: one thread is the fair, stable setting
    base = mlplab.experiment(PRESET, train={"epochs": EPOCHS})
    started = time.perf_counter()
    df = sweep(base, {"seed": list(range(RUNS))}, progress=False)
    t_stacked = time.perf_counter() - started
    assert (df.status == "finished").all() and (df.steps == EPOCHS).all()
    t_seed = _sequential(_seed_loop) * RUNS / SUBSET
    t_fused = _sequential(lambda e: train(e.make_model(), e.make_data(), e.train, progress=False)) * RUNS / SUBSET
    steps = RUNS * EPOCHS
    rows = [
        ["notebooks' train_model, one run after another", f"{t_seed:.1f} (scaled from {SUBSET})", f"{steps / t_seed:,.0f}", "1x"],
        ["mlplab.train per run (NumPy fused step)", f"{t_fused:.1f} (scaled from {SUBSET})", f"{steps / t_fused:,.0f}",
         f"{t_seed / t_fused:.1f}x"],
        [f"mlplab.sweep, one stacked group of {RUNS}", f"{t_stacked:.2f}", f"{steps / t_stacked:,.0f}",
         f"**{t_seed / t_stacked:.0f}x**"],
    ]
    body = (
        "## Sweeps: many seeds at once (`bench_sweep.py`)\n\n"
        f"{RUNS} seeds (data and training) of `{PRESET}`, {EPOCHS} full-batch Adam epochs each, every run recorded. "
        f"Sequential rows time the first {SUBSET} runs and scale by {RUNS}/{SUBSET}. The stacked row is the whole "
        "`mlplab.sweep(...)` call: building 64 models and data sets, training them as one model with parameters "
        "(64, ...), batched matmuls and a hand-written backward, then 64 Runs with frames, snapshots and metrics. "
        "One torch thread; goal: at least 50x over the notebooks' loop.\n\n"
        + markdown_table(["how", "seconds for 64 runs", "run-steps per second", "speed-up"], rows)
        + "\nWhy: one step of a 2-unit network is ~40 tensor operations whose cost is dispatch (a few us each), "
        "not arithmetic. Stacked, the same ~40 dispatches do 64 runs' work, so the cost per run-step falls "
        "almost 64-fold until the arrays get large enough for arithmetic to matter.\n"
    )
    write_section("sweep", body)
    print(body)


if __name__ == "__main__":
    main()
