"""Notebook 004: XOR, activations and their gradients, initialisation, and the d2l MLP on images."""

import mlplab
from _common import OUT, epochs

xor = mlplab.run("xor-mlp", epochs=epochs(500))
print("XOR accuracy:", xor.metrics["train_accuracy"])
mlplab.viz.activations().write_html(OUT / "activations.html", include_plotlyjs=True)

for name in ("d2l-mlp", "d2l-mlp-xavier", "d2l-mlp-scratch"):
    exp = mlplab.experiment(name, extras={**mlplab.experiment(name).extras, "digits_epochs": epochs(100)})
    run = exp.run()
    print(f"{name:16s} test accuracy {run.metrics['test_accuracy']:.3f}  on {run.data.name}")
print(run.data.params["note"])
