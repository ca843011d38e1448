"""Notebook 001's closing exercise: y = 2X + X^2 + 0.5 on the noisy diagonal, every model variant."""

import mlplab
from _common import OUT, epochs

data = mlplab.make_dataset("practice", seed=0)
print(data)
for variant in ("linear", "mlp", "residual", "residual-bn"):
    exp = mlplab.experiment(f"practice-{variant}")
    model = exp.make_model()
    run = mlplab.train(model, data, exp.train.replace(epochs=epochs(3000)))
    print(f"{variant:12s} {run.final_loss:.5f}  ({run.engine} path, {run.timings['steps_per_s']:.0f} steps/s)")
    run.save(OUT / f"practice-{variant}")
