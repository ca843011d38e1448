"""Cost of one training step: the NumPy engine vs PyTorch autograd + torch.optim vs scikit-learn.

Two networks, Adam on both engines and in scikit-learn: notebook 002's 2-32-1 (moons, 100 points, full
batch, BCE) and a digits-sized 64-256-10 classifier (batch 256, softmax cross-entropy). scikit-learn
is timed per ``partial_fit`` call, which is one epoch; its batch size is set so an epoch is one step.
Run: ``python benchmarks/bench_scratch.py``; writes the "scratch" section of docs/benchmarks.md.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _table import best_of, markdown_table, write_section  # noqa: E402

from mlplab.autograd import MLP, Adam  # noqa: E402
from mlplab.models import build_model  # noqa: E402

LR = 0.01


def case_moons():
    from sklearn.datasets import make_moons

    X, y = make_moons(noise=0.25, n_samples=100, random_state=0)
    spec = {"in_dim": 2, "hidden": [32], "out_dim": 1, "out_activation": "sigmoid"}
    return "2-32-1 moons (full batch 100, BCE)", X.astype(np.float32), y, spec, "bce", 1000


def case_digits():
    rng = np.random.default_rng(0)
    X = (rng.integers(0, 17, size=(256, 64)) / 16.0).astype(np.float32)  # 8x8 images, 17 grey levels
    y = rng.integers(10, size=256)
    spec = {"in_dim": 64, "hidden": [256], "out_dim": 10}
    return "64-256-10 digits-like (batch 256, CE)", X, y, spec, "ce", 200


def engine_steps(X, y, spec, loss, steps):
    net = MLP.from_spec(spec, seed=0)  # float32, like the torch model
    opt = Adam(LR)

    def run():
        for _ in range(steps):
            net.loss_and_grads(X, y, loss)
            opt.step(net.flat, net.last_flat_grad)

    return run


def torch_steps(X, y, spec, loss, steps):
    model = build_model(spec, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    Xt = torch.tensor(X)
    yt = torch.tensor(y, dtype=torch.float32)[:, None] if loss == "bce" else torch.tensor(y)
    fn = F.binary_cross_entropy if loss == "bce" else F.cross_entropy

    def run():
        for _ in range(steps):
            opt.zero_grad()
            fn(model(Xt), yt).backward()
            opt.step()

    return run


def sklearn_epochs(X, y, spec, loss, steps):
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=tuple(spec["hidden"]), solver="adam", learning_rate_init=LR,
                        batch_size=len(X), random_state=0)
    classes = np.unique(y)

    def run():
        for _ in range(steps):
            clf.partial_fit(X, y, classes=classes)

    return run


def loop_steps(engine: str):
    """The same steps through `mlplab.train` (full batch, Adam, recorded), on the named engine."""

    def make(X, y, spec, loss, steps):
        from mlplab.data import Dataset
        from mlplab.training.loop import train

        task = "binary" if loss == "bce" else "multiclass"
        data = Dataset(X=X, y=np.asarray(y, np.int64), task=task, name="bench", n_classes=2 if task == "binary" else 10)
        fields = {"epochs": steps, "lr": LR, "optimizer": "adam", "loss": loss, "engine": engine, "seed": 0}

        def run():
            train(build_model(spec, seed=0), data, fields)

        return run

    return make


def measure() -> list[list[object]]:
    rows = []
    for name, X, y, spec, loss, steps in (case_moons(), case_digits()):
        per_step = {}
        for label, make in (("engine", engine_steps), ("torch", torch_steps), ("sklearn", sklearn_epochs),
                            ("loop numpy", loop_steps("numpy")), ("loop torch", loop_steps("torch"))):
            run = make(X, y, spec, loss, steps)
            run()  # warm-up: allocations, lazy imports, optimizer state
            per_step[label] = best_of(run, repeat=5) / steps * 1e6
        rows.append([name, f"{per_step['engine']:.0f}", f"{per_step['torch']:.0f}", f"{per_step['sklearn']:.0f}",
                     f"{per_step['torch'] / per_step['engine']:.2f}x", f"{per_step['sklearn'] / per_step['engine']:.2f}x",
                     f"{per_step['loop numpy']:.0f}", f"{per_step['loop torch']:.0f}"])
    return rows


EXPLANATION = """
Times are microseconds per optimizer step (forward, loss, backward, Adam update), float32, one
thread for PyTorch and one BLAS thread for NumPy/scikit-learn; the ratio columns are how many times
faster the NumPy engine is (below 1: slower). The first three columns time the step alone (the
engine's `loss_and_grads` and Adam; autograd and `torch.optim`; one `partial_fit` epoch); the last two
time the same steps through mlplab's one training loop, `mlplab.train(engine="numpy")` and
`mlplab.train(engine="torch")`, recording as every run does, so the loop's own cost per step shows as
the difference.

- **2-32-1, 100 points**: a few thousand multiply-adds per step, so every library pays mostly for
  its calls, not the arithmetic.
- **64-256-10, batch 256**: the matrix products take most of the time, and NumPy and PyTorch both
  hand them to an optimised BLAS, so the engines come close to each other.
- scikit-learn's `partial_fit` validates its input and labels on every call and works in float64.
"""


def main() -> None:
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    torch.set_num_threads(1)  # tiny models are dispatch-bound; one thread is the fair, stable setting
    warnings.filterwarnings("ignore", category=UserWarning)
    with threadpool_limits(limits=1):  # and one BLAS thread for NumPy and scikit-learn alike
        rows = measure()
    table = markdown_table(["network", "NumPy engine (us/step)", "PyTorch (us/step)", "scikit-learn (us/epoch=step)",
                            "engine vs torch", "engine vs sklearn", "mlplab.train, numpy engine (us/step)",
                            "mlplab.train, torch engine (us/step)"], rows)
    print(table)
    write_section("scratch", "## NumPy engine vs PyTorch vs scikit-learn, per training step\n\n" + table
                  + EXPLANATION)


if __name__ == "__main__":
    main()
