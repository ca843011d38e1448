"""What a sweep's checkpoints cost: one run trained in one go against the same run trained with checkpoints.

`sweep.checkpoint.train_checkpointed` ends the train call at an epoch end every `checkpoint_s` seconds,
saves the run (run.json, trajectory.npz, model.pt, state.npz) and resumes it. This script trains
`piecewise-residual` (fused engine, full batch, 100 frames with snapshots) for EPOCHS epochs three ways,
interleaved round after round: without checkpoints (`api.run_experiment`), with the default interval
(60 s: no checkpoint falls inside a run this short, so it measures the watching alone), and with a
checkpoint every FAST_S seconds. The cost of one checkpoint is the extra time over the checkpoints taken;
the overhead at the default interval is that cost over 60 s.

Run: ``.venv/bin/python benchmarks/bench_checkpoint.py`` (writes the "checkpoint" section of docs/benchmarks.md).
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import interleaved, machine, markdown_table, write_section  # noqa: E402

from mlplab.api import resolve, run_experiment  # noqa: E402
from mlplab.sweep.checkpoint import CHECKPOINT_S, train_checkpointed  # noqa: E402

EPOCHS = 20000
FAST_S = 0.5
ROUNDS = 3


def main() -> None:
    exp = resolve("piecewise-residual", train={"epochs": EPOCHS, "engine": "fused"})
    tmp = Path(tempfile.mkdtemp(prefix="mlplab-bench-ck-"))
    taken: list[int] = []

    def plain():
        run_experiment(exp, progress=False)

    def default():
        train_checkpointed(exp, [], tmp / "default", every_s=CHECKPOINT_S)

    def fast():
        run = train_checkpointed(exp, [], tmp / "fast", every_s=FAST_S)
        taken.append(run.segments[0].get("checkpoints", 0))

    times = interleaved({"plain": plain, "default": default, "fast": fast}, rounds=ROUNDS)
    shutil.rmtree(tmp, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    n = statistics.median(taken)
    per = max(0.0, (med["fast"] - med["plain"]) / max(n, 1))
    rows = [
        ["in one go (`mlplab.run`'s path)", f"{med['plain']:.2f} s", "-", "-"],
        [f"checkpoint every {CHECKPOINT_S:.0f} s (the default)", f"{med['default']:.2f} s", "0",
         f"{100 * (med['default'] / med['plain'] - 1):+.1f}%"],
        [f"checkpoint every {FAST_S} s", f"{med['fast']:.2f} s", f"{n:.0f}",
         f"{100 * (med['fast'] / med['plain'] - 1):+.1f}%"],
    ]
    body = (
        f"`piecewise-residual`, {EPOCHS} epochs on the fused engine (100 frames with parameter snapshots), "
        f"median of {ROUNDS} interleaved rounds; {machine()}.\n\n"
        + markdown_table(["training", "time", "checkpoints", "vs in one go"], rows)
        + f"\n\nOne checkpoint (end the call, save the run and its training state, resume) costs about "
        f"{per * 1000:.0f} ms here, {100 * per / CHECKPOINT_S:.2f}% of the default {CHECKPOINT_S:.0f} s interval.\n"
    )
    write_section("checkpoint", body)
    print(body)


if __name__ == "__main__":
    main()
