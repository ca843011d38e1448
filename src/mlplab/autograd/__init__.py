"""Backpropagation by hand: a NumPy engine whose every operation has its VJP written beside it.

``ops`` holds the operations and losses, ``mlp`` the MLP that mirrors a torch model's layout (weights
copy both ways), ``train`` torch-exact SGD/Adam and `train_scratch`, which returns a `Run`.
"""

from . import ops
from .mlp import MLP
from .train import SGD, Adam, ManualSGD, accuracy, frame_steps, make_optimizer, train_scratch

__all__ = ["ops", "MLP", "SGD", "Adam", "ManualSGD", "accuracy", "frame_steps", "make_optimizer", "train_scratch"]
