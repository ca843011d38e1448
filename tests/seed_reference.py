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
    """Notebook 000: a stem, two residual blocks, an output layer; optionally batch norm between them."""

    def __init__(self, d_in: int, width: int, d_out: int, bn: bool = False):
        super().__init__()
        self.bn = bn
        if bn:
            self.bn1, self.bn2, self.bn3 = (nn.BatchNorm1d(width) for _ in range(3))
        self.fc1, self.r1, self.r2, self.fc2 = nn.Linear(d_in, width), SeedBlock(width), SeedBlock(width), nn.Linear(width, d_out)
        _eye_zero(self.fc1, self.fc2)

    def forward(self, x):
        norm = (lambda m, h: m(h)) if self.bn else (lambda m, h: h)
        h = norm(getattr(self, "bn1", None), self.fc1(x))
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
    """Notebook 003's prior MLP: 1-Nh-1 sigmoid, weights N(0, sw), biases N(0, sb)."""

    def __init__(self, nh: int, sw: float, sb: float):
        super().__init__()
        self.hidden1, self.output = nn.Linear(1, nh), nn.Linear(nh, 1)
        for layer in (self.hidden1, self.output):
            nn.init.normal_(layer.weight, 0.0, sw)
            nn.init.normal_(layer.bias, 0.0, sb)

    def forward(self, x):
        return self.output(torch.sigmoid(self.hidden1(x)))


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
