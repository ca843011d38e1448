"""Backpropagation by hand: a NumPy engine whose every operation has its VJP written beside it.

``ops`` holds the operations and losses, ``mlp`` the MLP that mirrors a torch model's layout (weights
copy both ways). Training it goes through the one loop: ``mlplab.train(model, data, engine="numpy")``;
its optimizers are `mlplab.optim`'s, re-exported here.
"""

from ..optim import SGD, Adam, ManualSGD, make_optimizer
from . import ops
from .mlp import MLP

__all__ = ["ops", "MLP", "SGD", "Adam", "ManualSGD", "make_optimizer"]
