"""One mini-batch epoch of the d2l MLP: mlplab vs a DataLoader loop vs scikit-learn vs the matmul floor.

Fashion-MNIST-shaped random data (60000 x 784 float32, 10 classes), the 784-256-10 ReLU MLP, batch
256, plain SGD lr 0.1, one epoch, all in this process, interleaved, best of REPEAT (the build machine
is shared: the minimum is the least disturbed run; medians are printed too). The floor is the epoch's
matrix products alone, timed shape by shape. Variants monkeypatch the loop to show where time goes.

Run: ``.venv/bin/python benchmarks/bench_minibatch.py`` (writes the "minibatch" section of docs/benchmarks.md).
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import markdown_table, write_section  # noqa: E402

import mlplab  # noqa: E402
from mlplab.data import Dataset  # noqa: E402

N, D_IN, HIDDEN, CLASSES, BATCH, LR = 60_000, 784, 256, 10, 256, 0.1
REPEAT = 9
STEPS = -(-N // BATCH)  # 235: 234 full batches and one of 96 rows


def fashion_shaped(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    g = np.random.default_rng(seed)
    return g.standard_normal((N, D_IN), dtype=np.float32), g.integers(0, CLASSES, N)


def fresh_model():
    return mlplab.build_model(in_dim=D_IN, hidden=[HIDDEN], out_dim=CLASSES, seed=0)


def time_mlplab(data: Dataset, **options) -> tuple[float, float]:
    """(wall of the whole train() call, run.timings['train_s'] = the loop without final metrics)."""
    model = fresh_model()
    t = time.perf_counter()
    run = mlplab.train(model, data, optimizer="sgd", lr=LR, loss="ce", batch_size=BATCH, epochs=1,
                       **{"frames": 0, **options})
    return time.perf_counter() - t, run.timings["train_s"]


def time_dataloader(X: torch.Tensor, y: torch.Tensor) -> float:
    """The d2l chapter's loop: DataLoader over a TensorDataset, forward, CE, zero_grad, backward, step."""
    from torch.utils.data import DataLoader, TensorDataset

    model = fresh_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    torch.manual_seed(0)
    t = time.perf_counter()
    for xb, yb in DataLoader(TensorDataset(X, y), batch_size=BATCH, shuffle=True):
        loss = F.cross_entropy(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - t


def time_loader_alone(X: torch.Tensor, y: torch.Tensor) -> float:
    """Iterating the DataLoader with no model: its per-sample indexing and collate, the d2l loop's overhead."""
    from torch.utils.data import DataLoader, TensorDataset

    t = time.perf_counter()
    for _ in DataLoader(TensorDataset(X, y), batch_size=BATCH, shuffle=True):
        pass
    return time.perf_counter() - t


def time_sklearn(X: np.ndarray, y: np.ndarray) -> float:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=(HIDDEN,), solver="sgd", batch_size=BATCH, learning_rate_init=LR,
                        max_iter=1, momentum=0.0, random_state=0)  # momentum 0: the same plain SGD step
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # one epoch is meant not to converge
        clf.fit(X, y)
    return time.perf_counter() - t


def step_matmuls() -> list[tuple[str, tuple[int, int], tuple[int, int]]]:
    """The products autograd does in one step (no gradient w.r.t. the input X is needed)."""
    B, D, H, C = BATCH, D_IN, HIDDEN, CLASSES
    return [
        ("fwd X W1^T", (B, D), (D, H)), ("fwd H W2^T", (B, H), (H, C)),
        ("bwd dO W2", (B, C), (C, H)), ("bwd dO^T H", (C, B), (B, H)), ("bwd dZ^T X", (H, B), (B, D)),
    ]


def matmul_times(reps: int = 50) -> list[float]:
    """Seconds per product, for each product of `step_matmuls`, best of 3 bursts of ``reps``."""
    out_times = []
    for _, (m, k), (k2, n) in step_matmuls():
        a, b, out = torch.randn(m, k), torch.randn(k2, n), torch.empty(m, n)
        out_times.append(min(_timed(lambda: [torch.mm(a, b, out=out) for _ in range(reps)]) for _ in range(3)) / reps)
    return out_times


def matmul_floor(per_product: list[float]) -> tuple[float, float]:
    """(seconds for the epoch's matrix products, their GFLOP/s) from the per-product times."""
    flop = sum(2.0 * m * k * n for _, (m, k), (_, n) in step_matmuls())
    step_s = sum(per_product)
    return step_s * N / BATCH, flop / step_s / 1e9  # the last batch is partial: count rows, not steps


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


# ---------------------------------------------------------------- mlplab's variants

VARIANTS = {
    "as is": {},  # frames=0: record nothing; the default (fused) path
    "torch engine": {"engine": "torch"},  # autograd + torch.optim, the notebooks' step
    "default recording": {"frames": 100},  # 100 frames, each an eval forward over 512 rows
}


def findings(best: dict[str, float], floor_s: float) -> str:
    """The two goals (>= 2x the DataLoader loop, within 1.5x of the floor), checked on the measured numbers."""
    ref, loader, loop = best["DataLoader loop"], best["DataLoader alone"], best["mlplab as is (loop)"]
    verdict = lambda ok: "met" if ok else "missed"  # noqa: E731
    return (
        f"Goal within 1.5x of the floor: {verdict(loop <= 1.5 * floor_s)} ({loop / floor_s:.2f}x for the epoch's "
        f"loop). Goal 2x the DataLoader loop: {verdict(ref >= 2 * loop)} ({ref / loop:.2f}x). The DataLoader's own "
        f"overhead (iterating it alone: {loader:.2f} s) is smaller than the floor ({floor_s:.2f} s), so 2x would "
        f"need a loop within {ref / 2 / floor_s:.2f}x of the bare matrix products, leaving almost nothing for the "
        "batch gather, bias, ReLU, softmax and SGD update. What mlplab removes: the DataLoader (one array, a "
        "seeded permutation, a gather into one reused buffer), the autograd graph and the optimizer's "
        "per-parameter loop (the fused step: hand-written backward, one update of a flat parameter vector, "
        "NumPy's BLAS for the products). A torch version of the fused step measured no faster than autograd "
        "here; the NumPy one is what runs by default. Recording costs "
        "what it records: 100 frames are 100 eval forwards over at most 512 rows (2048 for 2-D data); `frames=0` records nothing. "
        "The final metrics (accuracy on the training rows) are one more forward after the loop, outside the epoch.\n"
    )


def main() -> None:
    threads = torch.get_num_threads()  # the default (2 here): this model is large enough to use both
    X, y = fashion_shaped()
    data = Dataset(X=X, y=y, task="multiclass", name="fashion-shaped")
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    weights = D_IN * HIDDEN + HIDDEN * CLASSES
    times: dict[str, list[float]] = {}
    time_mlplab(data), time_mlplab(data, engine="torch"), time_dataloader(Xt, yt)  # warm-up: first-touch allocations, lazy imports
    products: list[list[float]] = []
    for _ in range(REPEAT):  # interleaved, so a burst of load elsewhere hits every contender alike
        products.append(matmul_times())
        for name, options in VARIANTS.items():
            wall, loop_s = time_mlplab(data, **options)
            times.setdefault(f"mlplab {name}", []).append(wall)
            times.setdefault(f"mlplab {name} (loop)", []).append(loop_s)
        times.setdefault("DataLoader loop", []).append(time_dataloader(Xt, yt))
        times.setdefault("DataLoader alone", []).append(time_loader_alone(Xt, yt))
        times.setdefault("scikit-learn", []).append(time_sklearn(X, y))
    best = {k: min(v) for k, v in times.items()}
    floor_s, gflops = matmul_floor([min(col) for col in zip(*products)])
    for k, v in times.items():
        print(f"{k:45s} best {min(v):.3f} s  median {statistics.median(v):.3f} s", flush=True)
    print(f"floor {floor_s:.3f} s at {gflops:.0f} GFLOP/s", flush=True)

    ref = best["DataLoader loop"]
    labels = [
        ("mlplab `train(..., frames=0)`: the epoch (`run.timings['train_s']`)", "mlplab as is (loop)"),
        ("  the whole call (plus final train-accuracy forward)", "mlplab as is"),
        ("  the torch engine (`engine=\"torch\"`: autograd + torch.optim)", "mlplab torch engine (loop)"),
        ("  default recording (100 frames on 512 rows)", "mlplab default recording (loop)"),
        ("d2l loop: `DataLoader(TensorDataset)`, shuffle", "DataLoader loop"),
        ("  iterating that DataLoader alone, no model", "DataLoader alone"),
        ("scikit-learn `MLPClassifier` (sgd, 1 epoch, full 60000)", "scikit-learn"),
    ]
    rows = [[label, f"{best[key]:.3f}", f"{ref / best[key]:.2f}x", f"{best[key] / floor_s:.2f}x"] for label, key in labels]
    rows.append(["floor: the epoch's matmuls alone", f"{floor_s:.3f}", f"{ref / floor_s:.2f}x", "1.00x"])
    body = (
        "## Mini-batch epoch of the d2l MLP\n\n"
        f"784-256-10 ReLU MLP, {N} x {D_IN} float32 random inputs, 10 classes, batch {BATCH}, SGD lr {LR}, one "
        f"epoch ({STEPS} steps), torch's default {threads} threads. Best of {REPEAT} interleaved runs (the machine "
        "is shared; medians are in the script's output). The floor is the five matrix products of a step (forward "
        "X W1^T, H W2^T; backward dO W2, dO^T H, dZ^T X), timed shape by shape with `torch.mm`, times "
        f"{N}/{BATCH} steps: {gflops:.0f} GFLOP/s. The textbook count 6 x weights x samples "
        f"= {6 * weights * N / 1e9:.0f} GFLOP includes the gradient w.r.t. X, which autograd skips "
        f"({4 * D_IN * HIDDEN * N / 1e9 + 6 * HIDDEN * CLASSES * N / 1e9:.0f} GFLOP done).\n\n"
        + markdown_table(["what", "seconds", "speed vs DataLoader", "time vs floor"], rows)
        + "\n" + findings(best, floor_s)
    )
    write_section("minibatch", body)


if __name__ == "__main__":
    main()
