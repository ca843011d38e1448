"""Reference models and loops that do what the course notebooks do, written here for the tests.

Each class mirrors one notebook class's structure and initialisation (layer names included, so
weights can be matched by name); `seed_train_model` performs the notebooks' ``train_model`` steps.
"""

from __future__ import annotations

import torch
from torch import nn


def _eye_zero(*layers: nn.Linear) -> None:
    for layer in layers:
        nn.init.eye_(layer.weight)
        nn.init.zeros_(layer.bias)


class SeedMLP(nn.Module):
    """Notebook 000: fc1 -> ReLU -> fc2, identity weights, zero biases."""

    def __init__(self, d_in: int, width: int, d_out: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d_in, width), nn.Linear(width, d_out)
        _eye_zero(self.fc1, self.fc2)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


class SeedBlock(nn.Module):
    """Notebook 000's residual block: x + fc2(relu(fc1(x)))."""

    def __init__(self, width: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(width, width), nn.Linear(width, width)
        _eye_zero(self.fc1, self.fc2)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x))) + x


class SeedResidual(nn.Module):
    """Notebook 000: a stem, two residual blocks, an output layer; optionally batch norm between them.

    ``bn1=False`` is notebook 001's version: bn1 is built but its line in forward is commented out.
    """

    def __init__(self, d_in: int, width: int, d_out: int, bn: bool = False, bn1: bool = True):
        super().__init__()
        self.bn, self.use_bn1 = bn, bn1
        if bn:
            self.bn1, self.bn2, self.bn3 = (nn.BatchNorm1d(width) for _ in range(3))
        self.fc1, self.r1, self.r2, self.fc2 = nn.Linear(d_in, width), SeedBlock(width), SeedBlock(width), nn.Linear(width, d_out)
        _eye_zero(self.fc1, self.fc2)

    def forward(self, x):
        norm = (lambda m, h: m(h)) if self.bn else (lambda m, h: h)
        h = norm(getattr(self, "bn1", None), self.fc1(x)) if self.use_bn1 else self.fc1(x)
        h = norm(getattr(self, "bn2", None), self.r1(h))
        h = norm(getattr(self, "bn3", None), self.r2(h))
        return self.fc2(h)


class SeedPoly(nn.Module):
    """Notebook 003's LinearRegressor: powers 1..degree of x, then one linear layer."""

    def __init__(self, degree: int):
        super().__init__()
        self.degree = degree
        self.linear = nn.Linear(degree, 1)

    def forward(self, x):
        return self.linear(torch.stack([x[:, 0] ** (k + 1) for k in range(self.degree)], dim=1))


class SeedPriorMLP(nn.Module):
    """Notebook 003's prior MLP: 1-Nh-1 sigmoid, weights N(0, sw), biases N(0, sb).

    Its activities: ``layers=3`` uncomments hidden2 and hidden3; ``activation`` swaps (or, with
    ``nn.Identity``, removes) the nonlinearity.
    """

    def __init__(self, nh: int, sw: float, sb: float, layers: int = 1, activation: nn.Module | None = None):
        super().__init__()
        self.hidden1 = nn.Linear(1, nh)
        if layers == 3:
            self.hidden2, self.hidden3 = nn.Linear(nh, nh), nn.Linear(nh, nh)
        self.output = nn.Linear(nh, 1)
        self.hidden = [self.hidden1] + ([self.hidden2, self.hidden3] if layers == 3 else [])
        for layer in [*self.hidden, self.output]:
            nn.init.normal_(layer.weight, 0.0, sw)
            nn.init.normal_(layer.bias, 0.0, sb)
        self.activation = activation if activation is not None else nn.Sigmoid()

    def forward(self, x):
        z = x
        for layer in self.hidden:
            z = self.activation(layer(z))
        return self.output(z)


class SeedTanhMLP(nn.Module):
    """Notebook 003's regression MLP: 1-n-1 with tanh."""

    def __init__(self, n_hidden: int):
        super().__init__()
        self.hidden1, self.output = nn.Linear(1, n_hidden), nn.Linear(n_hidden, 1)

    def forward(self, x):
        return self.output(torch.tanh(self.hidden1(x)))


def seed_moons_model(neurons: int = 32) -> nn.Sequential:
    """Notebook 002's classifier."""
    return nn.Sequential(nn.Linear(2, neurons), nn.ReLU(), nn.Linear(neurons, 1), nn.Sigmoid())


class SeedD2LScratch(nn.Module):
    """Notebook 004's MLPScratch: raw parameters W1 (in, h), b1, W2 (h, out), b2."""

    def __init__(self, num_inputs: int, num_outputs: int, num_hiddens: int, sigma: float = 0.01):
        super().__init__()
        self.W1 = nn.Parameter(torch.randn(num_inputs, num_hiddens) * sigma)
        self.b1 = nn.Parameter(torch.zeros(num_hiddens))
        self.W2 = nn.Parameter(torch.randn(num_hiddens, num_outputs) * sigma)
        self.b2 = nn.Parameter(torch.zeros(num_outputs))

    def forward(self, X):
        H = torch.relu(X.reshape(-1, self.W1.shape[0]) @ self.W1 + self.b1)
        return H @ self.W2 + self.b2


def seed_train_model(model: nn.Module, X: torch.Tensor, y: torch.Tensor, lr: float, epochs: int) -> list[float]:
    """The notebooks' ``train_model`` step: forward, MSE, zero_grad, backward, Adam step; one loss per step."""
    criterion = nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        predictions = model(X)
        loss = criterion(predictions, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


# ------------------------------------------------------------------ notebook 002's loops


def seed_moons_sgd(model: nn.Module, X: torch.Tensor, y: torch.Tensor, lr: float = 1.0, steps: int = 1000) -> list[float]:
    """Notebook 002 'With pytorch': torch.optim.SGD, binary cross-entropy on the squeezed output."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    history = []
    for _ in range(steps):
        optimizer.zero_grad()
        y_pred = model(X).squeeze(1)
        loss = nn.functional.binary_cross_entropy(y_pred, y)
        loss.backward()
        history.append(loss.item())
        optimizer.step()
    return history


def seed_moons_manual_step(model: nn.Module, X: torch.Tensor, y: torch.Tensor, lr: float = 1.0,
                           steps: int = 1000) -> list[float]:
    """Notebook 002 'manual optimizer': autograd gradients, p.add_(-lr * p.grad) under no_grad."""
    history = []
    for _ in range(steps):
        model.zero_grad()
        y_pred = model(X).squeeze(1)
        loss = nn.functional.binary_cross_entropy(y_pred, y)
        loss.backward()
        with torch.no_grad():
            for par in model.parameters():
                par.add_(-lr * par.grad)
        history.append(loss.detach().item())
    return history


def seed_backprop_mse(X: torch.Tensor, y: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor, lr: float = 0.1,
                      steps: int = 100) -> list[float]:
    """Notebook 002's full hand-written loop (no bias, linear output, MSE), its blanks filled in.

    w1: (2, h) and w2: (h, 1), as the notebook draws them (``torch.randn(2, neurons) * 0.1``); updated in place.
    """
    history = []
    for _ in range(steps):
        z1 = X @ w1
        a1 = torch.relu(z1)
        z2 = a1 @ w2
        z2 = z2.squeeze(1)
        loss = torch.mean((y - z2) ** 2)
        history.append(loss.item())
        dz2 = -2 / len(z2) * (y - z2)
        dw2 = a1.T @ dz2.unsqueeze(1)
        da1 = dz2.unsqueeze(1) @ w2.T
        dz1 = (z1 > 0) * da1
        dw1 = X.T @ dz1
        for par, grad in [(w1, dw1), (w2, dw2)]:
            par.add_(-lr * grad)
    return history


def seed_backprop_bce(X: torch.Tensor, y: torch.Tensor, w1, b1, w2, b2, lr: float = 1.0, steps: int = 1000) -> list[float]:
    """Notebook 002's exercises 3-5 solved: a bias per layer, a sigmoid output, binary cross-entropy, by hand."""
    history = []
    for _ in range(steps):
        z1 = X @ w1 + b1
        a1 = torch.relu(z1)
        z2 = (a1 @ w2 + b2).squeeze(1)
        p = torch.sigmoid(z2)
        loss = -torch.mean(y * torch.log(p) + (1 - y) * torch.log(1 - p))
        history.append(loss.item())
        dp = -(y / p - (1 - y) / (1 - p)) / len(y)
        dz2 = dp * p * (1 - p)
        dw2, db2 = a1.T @ dz2.unsqueeze(1), dz2.sum(0, keepdim=True)
        da1 = dz2.unsqueeze(1) @ w2.T
        dz1 = (z1 > 0) * da1
        dw1, db1 = X.T @ dz1, dz1.sum(0)
        for par, grad in [(w1, dw1), (b1, db1), (w2, dw2), (b2, db2)]:
            par.add_(-lr * grad)
    return history


# ------------------------------------------------------------------ notebooks 003 and 004


def seed_sine_data(seed: int = 0, se: float = 0.1):
    """Notebook 003's synthetic data, as its cell writes it: (x, y) float32 column tensors."""
    import numpy as np

    np.random.seed(seed)
    x = np.linspace(0, 1, num=20)
    f = lambda x: x * np.sin(10 * x)  # noqa: E731
    x = np.delete(x, slice(9, 14))
    y = f(x) + se * np.random.randn(len(x))
    return (torch.from_numpy(x.astype("float32")).unsqueeze(1), torch.from_numpy(y.astype("float32")).unsqueeze(1))


def seed_sine_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float = 1e-2,
                   weight_decay: float = 0.0) -> list[float]:
    """Notebook 003's loop: summed squared error, Adam."""
    criterion = torch.nn.MSELoss(reduction="sum")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    losses = []
    for _ in range(epochs):
        optimizer.zero_grad()
        f = model.forward(x)
        loss = criterion(y, f)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


class SeedTanhMLP2(nn.Module):
    """Notebook 003's regression MLP with its commented-out hidden2 (the 'additional hidden layer' activity)."""

    def __init__(self, n_hidden: int = 10):
        super().__init__()
        self.hidden1 = nn.Linear(1, n_hidden, bias=True)
        self.hidden2 = nn.Linear(n_hidden, n_hidden, bias=True)
        self.output = nn.Linear(n_hidden, 1, bias=True)

    def forward(self, x):
        z = torch.tanh(self.hidden1(x))
        return self.output(torch.tanh(self.hidden2(z)))


def seed_d2l_concise(num_inputs: int, num_outputs: int = 10, num_hiddens: int = 256, xavier: bool = False) -> nn.Sequential:
    """Notebook 004's concise MLP (nn.Flatten, Linear, ReLU, Linear), optionally with its Xavier exercise."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(num_inputs, num_hiddens), nn.ReLU(), nn.Linear(num_hiddens, num_outputs))
    if xavier:
        nn.init.xavier_uniform_(net[1].weight)
        nn.init.xavier_uniform_(net[3].weight)
    return net


def seed_d2l_sgd(model: nn.Module, X: torch.Tensor, y: torch.Tensor, lr: float = 0.1, steps: int = 10) -> list[float]:
    """d2l's Classifier recipe on one full batch per step: cross-entropy (mean), SGD, zero_grad after step."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(X), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
