"""A sweep's stacked members against the same runs alone, as docs/sweeps.md states it ("How it runs fast").

The stacked engine runs the fused engine's layers on torch's batched kernels: the same operations in another
float32 order, so a member's weights differ from its single run's by rounding (~1e-7). On a ReLU net that
is all until a pre-activation lands within rounding of zero: then the two send that point through opposite
sides of the kink, one unit's gradient differs by that point's share, and Adam carries it for a while.
Measured on xor-mlp (seeds 0-15, 500 steps, 2-core AMD EPYC): 14 members within 3.6e-6 of their single
runs at every step; seed 2 flips at step 43 (a pre-activation of -2.4e-7) and is 1.06e-3 away at step 262,
5.4e-5 at the end; seed 9 flips at step 462 (2.1e-4). Final losses within 6.6e-5.
"""

from __future__ import annotations

import numpy as np
import pytest

import mlplab

SEEDS = list(range(8))  # seed 2's kink crossing included


@pytest.mark.filterwarnings("ignore::mlplab.errors.DeadUnitsWarning")  # lr 0.05 leaves dead units on some seeds
def test_xor_sweep_members_follow_their_single_runs_within_the_documented_gaps():
    df = mlplab.sweep.sweep("xor-mlp", grid={"seed": SEEDS, "train.frames": [0]}, progress=False)
    assert set(df["engine"]) == {"stacked"} and len(df) == len(SEEDS)
    for _, row in df.iterrows():
        seed = row["run"].spec["train"]["seed"]
        single = mlplab.run("xor-mlp", seed=seed, train={"frames": 0}, progress=False)
        member = row["run"]
        assert single.engine != "stacked" and len(member.losses) == len(single.losses) == 500
        rel = np.abs(member.losses - single.losses) / np.abs(single.losses)
        assert rel.max() <= 2e-3, (seed, rel.max(), rel.argmax())  # the docs: per-step gaps below 2e-3
        assert rel[-1] <= 1e-4, (seed, rel[-1])  # the docs: final losses within 1e-4
