"""How far apart two correct float32 computations of one run end: stacked member vs single run vs torch.

Issue: a stacked sweep member and the same run alone drift apart on `practice-residual` (identity init,
Adam). This script measures the envelope instead of quoting one pair: for SEEDS seeds of each preset it
trains the run alone on the fused engine, alone on the torch engine, and as a member of one stacked
group of all seeds (`mlplab.sweep`), and reports the relative gap of the loss at a few steps, next to
the spread of the loss over the seeds (what a reader compares runs against).

Run: ``.venv/bin/python benchmarks/bench_drift.py`` (writes the "drift" section of docs/benchmarks.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import markdown_table, write_section  # noqa: E402

import mlplab  # noqa: E402
from mlplab.sweep import sweep  # noqa: E402

SEEDS = 10
PRESETS = ["practice-residual", "piecewise-residual", "piecewise-mlp"]
BELOW: list[bool] = []  # per table row: both median gaps below the seed spread


def _alone(name: str, seed: int, engine: str) -> np.ndarray:
    exp = mlplab.experiment(name, train={"seed": seed, "engine": engine}, data={"seed": seed})
    return mlplab.api.run_experiment(exp, progress=False).losses


def _gap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| / |b| per seed and step."""
    return np.abs(a - b) / np.abs(b)


def measure(name: str) -> list[list[str]]:
    fused = np.stack([_alone(name, s, "fused") for s in range(SEEDS)])  # (seeds, steps)
    torch_ = np.stack([_alone(name, s, "torch") for s in range(SEEDS)])
    frame = sweep(name, {"seed": list(range(SEEDS))}, progress=False)
    assert set(frame.engine) == {"stacked"}, set(frame.engine)
    stacked = np.stack([r.losses for r in frame.run])
    steps = fused.shape[1]
    rows = []
    for step in sorted({min(100, steps - 1), min(300, steps - 1), steps // 2, steps - 1}):
        g_stack = _gap(stacked[:, step], fused[:, step])
        g_torch = _gap(torch_[:, step], fused[:, step])
        spread = fused[:, step].std() / fused[:, step].mean()
        rows.append([name, f"{step + 1}", f"{np.median(g_stack):.1e} / {g_stack.max():.1e}",
                     f"{np.median(g_torch):.1e} / {g_torch.max():.1e}", f"{spread:.1e}"])
        BELOW.append(bool(np.median(g_stack) < spread and np.median(g_torch) < spread))
    return rows


def main() -> None:
    torch.set_num_threads(1)
    rows = []
    for name in PRESETS:
        rows += measure(name)
        print(rows[-1], flush=True)
    body = (
        "## Stacked members vs single runs: how far rounding moves a run (`bench_drift.py`)\n\n"
        f"{SEEDS} seeds of each preset (data and weights), full preset length, full-batch Adam. Each run is trained "
        "alone on the fused engine (the reference column), alone on the torch engine, and as a member of one "
        f"stacked group of all {SEEDS} seeds (`mlplab.sweep`). The gaps are |loss - fused loss| / fused loss at "
        "that step (median / largest over the seeds); the seed spread is the standard deviation of the fused "
        "losses over the seeds divided by their mean, the scale on which runs are compared.\n\n"
        + markdown_table(["preset", "after step", "stacked member vs alone (median / max)",
                          "torch engine vs fused (median / max)", "seed spread"], rows)
        + "\nAll three compute the same float32 arithmetic in a different order, so they agree to rounding at first "
        "(about 1e-7). Where the training amplifies rounding (identity-initialised residual nets under Adam) they "
        "drift apart later, a stacked member from its run alone by gaps of the same order as the torch engine from "
        "the fused one. "
        + ("In this run the median gaps stayed below the seed spread at every step shown."
           if all(BELOW) else "In this run some median gap reached the seed spread (see the table).") + "\n"
    )
    write_section("drift", body)
    print(body)


if __name__ == "__main__":
    main()
