"""Notebook 000: linear vs MLP vs residual vs batch norm on three clusters, animated and compared."""

import mlplab
from _common import OUT, epochs

runs = []
for variant in ("linear", "mlp", "residual", "residual-bn"):
    run = mlplab.run(f"piecewise-{variant}", epochs=epochs(5000))
    print(f"{variant:12s} final loss {run.final_loss:10.4f}  train R^2 {run.metrics['train_r2']:.3f}")
    mlplab.viz.animate(run).write_html(OUT / f"piecewise-{variant}.html", include_plotlyjs=True)
    runs.append(run)

mlplab.viz.loss_curve(runs).write_html(OUT / "piecewise-losses.html", include_plotlyjs=True)
