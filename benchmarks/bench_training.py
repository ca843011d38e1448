"""Recorded training speed: mlplab vs the notebooks' ``train_model``, and the whole course's wall time.

The reference does what the notebooks' ``train_model`` does, step for step: forward, keep a NumPy
copy of the predictions, MSE, zero_grad, backward, Adam step (its tqdm bar is left out, which only
flatters the reference). Both sides train the same preset from the same weights on the same data,
for the same 5000 epochs, in this process, in turn for five rounds (so a slow spell on a shared machine
falls on every contender alike); the table gives the median round and the spread of the speed-up.

Run: ``.venv/bin/python benchmarks/bench_training.py`` (writes the "training" section of docs/benchmarks.md).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _seeds import seed_train_model  # noqa: E402
from _table import dispatch_us, interleaved, markdown_table, ratio, write_section  # noqa: E402

import mlplab  # noqa: E402
from mlplab.engines import choose  # noqa: E402
from mlplab.training.loop import train  # noqa: E402

EPOCHS = 5000
ROUNDS = 5
PRESETS = ["piecewise-mlp", "piecewise-residual", "piecewise-residual-bn"]


def main() -> None:
    torch.set_num_threads(1)  # tiny models are dispatch-bound: one thread is the fair, stable setting
    rows = []
    torch_us, numpy_us = dispatch_us()
    for name in PRESETS:
        exp = mlplab.experiment(name, train={"epochs": EPOCHS})
        data = mlplab.make_dataset(exp.data)
        model = lambda: mlplab.build_model(exp.model, seed=exp.train.seed)  # noqa: E731
        X, y = torch.from_numpy(data.X), torch.from_numpy(data.y)
        times = interleaved({
            "seed": lambda: seed_train_model(model(), X, y, exp.train.lr, EPOCHS),
            "torch": lambda: train(model(), data, exp.train.replace(engine="torch")),
            "auto": lambda: train(model(), data, exp.train.replace(engine="auto")),  # the bn preset names torch
        }, rounds=ROUNDS)
        med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
        mid, lo, hi = ratio(times["seed"], times["auto"])
        picked = choose("auto", model(), exp.train.replace(engine="auto"), data.task).name
        rows.append([
            name, f"{EPOCHS / med['seed']:,.0f}", f"{EPOCHS / med['torch']:,.0f}",
            f"{EPOCHS / med['auto']:,.0f} ({picked})",
            f"**{mid:.1f}x** ({lo:.1f}-{hi:.1f})",
        ])
        print(rows[-1], flush=True)
    body = (
        "## Recorded training (`bench_training.py`)\n\n"
        f"Steps per second, {EPOCHS} full-batch Adam steps on the 300-point three-cluster data, predictions "
        "recorded (the notebooks keep every step; mlplab keeps 100 frames plus parameter snapshots). "
        "*notebooks' train_model* is the course's `train_model`; *torch engine* is mlplab's loop driving autograd + "
        "torch.optim (bit-identical to the notebooks); *mlplab (auto)* is the default engine choice, which picks the "
        "compiled (numba) engine where it runs and the fused NumPy one for batch norm (the batch-norm preset itself "
        f"names torch, to print the notebook's number; here auto is asked for). Median of {ROUNDS} interleaved rounds; the speed-up is the median of the "
        "per-round ratios (lowest-highest in brackets). One torch thread.\n\n"
        + markdown_table(["preset", "notebooks' train_model", "mlplab torch engine", "mlplab (auto, engine)", "speed-up"], rows)
        + f"\nWhy mlplab's own engines win: these networks have 2 units per hidden layer, so a step is arithmetic on "
        f"arrays of a few hundred numbers and its cost is the fixed price of each call. Measured in this run, one "
        f"elementwise call on a 300x2 float32 array costs {torch_us:.1f} us in PyTorch and {numpy_us:.1f} us in "
        "NumPy, and the compiled engine makes one call of a whole step (or of the steps between two recorded "
        "ones). The torch engine stays for bit-exact comparison with the notebooks and for what the others do not "
        "cover (softmax outputs, L-BFGS).\n"
    )
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "mlplab.cli", "course", "-o", out], check=True, capture_output=True)
        course_s = time.perf_counter() - started
    n = len([e for e in mlplab.PRESETS.values() if e.extras.get("in_course", True)])
    body += (
        f"\n## The whole course (`make demo`)\n\n`mlplab course -o DIR` ({n} experiments, reports and gallery, "
        f"default threads) took **{course_s:.1f} s** on this machine (goal: under 60 s).\n"
    )
    write_section("training", body)
    print(body)


if __name__ == "__main__":
    main()
