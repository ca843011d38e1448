"""Notebook 002: the moons fitted with torch.optim, with a hand-written update, and by hand-written backprop."""

import numpy as np

import mlplab
from mlplab.autograd import MLP
from mlplab.explain import explain
from _common import epochs

print("parameters of 2-32-1:", mlplab.count_parameters(dict(in_dim=2, hidden=[32], out_dim=1)))  # exercise 1

curves = {}
for name in ("moons-mlp", "moons-manual-step", "moons-scratch"):
    run = mlplab.run(name, epochs=epochs(1000))
    curves[name] = run.losses
    print(f"{name:18s} final loss {run.final_loss:.5f}  accuracy {run.metrics['train_accuracy']:.2f}")
print("largest gap between the curves:", max(np.abs(c - curves["moons-mlp"]).max() for c in curves.values()))

# One manual backward pass, checked against autograd's gradients for the same weights.
model = mlplab.build_model(in_dim=2, hidden=[32], out_dim=1, out_activation="sigmoid")
data = mlplab.make_dataset("moons")
engine = MLP.from_torch(model, dtype=np.float64)
loss, grads = engine.loss_and_grads(data.X.astype(np.float64), data.y, loss="bce")
print("manual loss", loss, "| gradient of the first layer's weights:", grads["net.0.weight"].shape)
print(explain("two-layer").title)
