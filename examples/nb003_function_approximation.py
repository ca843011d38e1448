"""Notebook 003: polynomial vs MLP fits of x sin(10x), and the prior of a random MLP."""

import mlplab
from _common import OUT, epochs

for name in ("sine-poly", "sine-mlp-1", "sine-mlp-2", "sine-mlp-5", "sine-mlp-10", "sine-mlp-deep"):
    run = mlplab.run(name, epochs=epochs(5000))
    print(f"{name:14s} summed squared error {run.final_loss:8.4f}  R^2 {run.metrics['train_r2']:.3f}")
    mlplab.viz.animate(run).write_html(OUT / f"{name}.html", include_plotlyjs=True)

prior = mlplab.experiment("prior-mlp").model
mlplab.viz.prior_samples(prior, n=10).write_html(OUT / "prior.html", include_plotlyjs=True)
