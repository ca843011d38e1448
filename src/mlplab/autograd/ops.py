"""Matrix-level operations in NumPy, each with its vector-Jacobian product written beside it.

Every operation returns ``(output, vjp)``. ``vjp(g)`` takes the upstream gradient ``g = dL/d(output)``
(same shape as the output) and returns ``dL/d(input)`` for each input, in argument order. The full
Jacobian is never formed: each VJP is the few array operations that contract ``g`` with it.
Losses return ``(value, vjp)`` with a scalar value; their ``vjp(g=1.0)`` gives ``dL/d(prediction)``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

Array = np.ndarray
VJP = Callable[..., object]

# torch.nn.functional.binary_cross_entropy clamps each log at -100 (so a probability of exactly 0 or 1
# costs 100, not infinity), and divides by max(p (1 - p), 1e-12) in its backward. We do the same so
# that both engines agree to the last digit even for saturated outputs.
BCE_LOG_FLOOR = -100.0
BCE_GRAD_EPS = 1e-12


# ---------------------------------------------------------------------------------------------- linear


def matmul(a: Array, b: Array) -> tuple[Array, VJP]:
    """a: (n, k) @ b: (k, m) -> (n, m). VJP: (g b^T, a^T g) — the only shapes that fit."""
    out = a @ b

    def vjp(g: Array) -> tuple[Array, Array]:
        return g @ b.T, a.T @ g  # (n, m)(m, k) -> (n, k);  (k, n)(n, m) -> (k, m)

    return out, vjp


def bias_add(z: Array, b: Array) -> tuple[Array, VJP]:
    """z: (n, m) + b: (m,) broadcast over rows. The bias Jacobian is an identity per row, so db sums g."""

    def vjp(g: Array) -> tuple[Array, Array]:
        return g, g.sum(axis=0)

    return z + b, vjp


def residual_add(x: Array, fx: Array) -> tuple[Array, VJP]:
    """x + f(x): the gradient reaches both branches unchanged (why deep residual nets still train)."""

    def vjp(g: Array) -> tuple[Array, Array]:
        return g, g

    return x + fx, vjp


# ---------------------------------------------------------------------------- element-wise activations


def relu(x: Array) -> tuple[Array, VJP]:
    """max(x, 0). Derivative 1 where x > 0, else 0 (0 at the kink, as PyTorch chooses)."""
    mask = x > 0

    def vjp(g: Array) -> Array:
        return g * mask

    return x * mask, vjp


def leaky_relu(x: Array, slope: float = 0.01) -> tuple[Array, VJP]:
    """x for x > 0, slope * x otherwise; the small slope keeps a gradient flowing through 'dead' units."""
    mask = x > 0
    factor = np.where(mask, 1.0, slope).astype(x.dtype)

    def vjp(g: Array) -> Array:
        return g * factor

    return x * factor, vjp


def sigmoid(x: Array) -> tuple[Array, VJP]:
    """1 / (1 + e^-x), derivative s (1 - s).

    Computed from e^-|x| so that the exponential never overflows: for x < 0 we use the equal form
    e^x / (1 + e^x).
    """
    e = np.exp(-np.abs(x))
    s = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)

    def vjp(g: Array) -> Array:
        return g * (1.0 - s) * s

    return s, vjp


def tanh(x: Array) -> tuple[Array, VJP]:
    """tanh(x), derivative 1 - tanh(x)^2 (np.tanh itself is stable for large |x|)."""
    t = np.tanh(x)

    def vjp(g: Array) -> Array:
        return g * (1.0 - t * t)

    return t, vjp


def identity(x: Array) -> tuple[Array, VJP]:
    """x itself; the Jacobian is the identity, so the VJP hands g back."""
    return x, lambda g: g


def sin(x: Array) -> tuple[Array, VJP]:
    """sin(x), element-wise: a diagonal Jacobian, so the VJP is g * cos(x) (notebook 002's example)."""
    c = np.cos(x)
    return np.sin(x), lambda g: g * c


def softmax(z: Array) -> tuple[Array, VJP]:
    """Row-wise softmax, z: (n, k). Subtracting the row maximum first keeps exp() from overflowing.

    Jacobian diag(s) - s s^T per row, so the VJP is s * (g - <g, s>).
    """
    e = np.exp(z - z.max(axis=1, keepdims=True))
    s = e / e.sum(axis=1, keepdims=True)

    def vjp(g: Array) -> Array:
        return s * (g - (g * s).sum(axis=1, keepdims=True))

    return s, vjp


def poly_features(x: Array, degree: int) -> tuple[Array, VJP]:
    """x[:, :1] -> (x, x^2, ..., x^degree): (n, d) -> (n, degree). Only the first column is used."""
    powers = np.arange(1, degree + 1, dtype=x.dtype)
    x0 = x[:, :1]  # (n, 1)
    out = x0**powers  # (n, 1) ** (degree,) -> (n, degree)

    def vjp(g: Array) -> Array:
        dx = np.zeros_like(x)
        dx[:, 0] = (g * powers * x0 ** (powers - 1)).sum(axis=1)  # d(x^k)/dx = k x^(k-1)
        return dx

    return out, vjp


ACTIVATIONS: dict[str, Callable[..., tuple[Array, VJP]]] = {
    "relu": relu,
    "leaky_relu": leaky_relu,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "identity": identity,
}


# ------------------------------------------------------------------------------------------ norms


def _normalize_vjp(dxhat: Array, xhat: Array, inv_std: Array, axis: int) -> Array:
    """VJP of xhat = (x - mean) / sqrt(var + eps) along ``axis``, biased variance.

    dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)): the two means remove the
    components of the gradient that only shift or rescale the normalised group.
    """
    return inv_std * (
        dxhat - dxhat.mean(axis=axis, keepdims=True) - xhat * (dxhat * xhat).mean(axis=axis, keepdims=True)
    )


def batch_norm_train(x: Array, gamma: Array, beta: Array, eps: float = 1e-5) -> tuple[Array, VJP, tuple[Array, Array]]:
    """Training-mode batch norm over the batch axis, x: (n, c), gamma/beta: (c,).

    Returns ``(out, vjp, (batch_mean, unbiased_var))``; the statistics feed the running averages
    (PyTorch keeps the unbiased variance there but normalises with the biased one).
    """
    n = x.shape[0]
    mean = x.mean(axis=0)
    var = x.var(axis=0)
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean) * inv_std
    out = xhat * gamma + beta

    def vjp(g: Array) -> tuple[Array, Array, Array]:
        dgamma = (g * xhat).sum(axis=0)
        dbeta = g.sum(axis=0)
        return _normalize_vjp(g * gamma, xhat, inv_std, axis=0), dgamma, dbeta

    return out, vjp, (mean, var * (n / (n - 1)))


def batch_norm_eval(
    x: Array, gamma: Array, beta: Array, running_mean: Array, running_var: Array, eps: float = 1e-5
) -> tuple[Array, VJP]:
    """Evaluation-mode batch norm: a fixed per-channel affine map using the running statistics."""
    inv_std = 1.0 / np.sqrt(running_var + eps)
    xhat = (x - running_mean) * inv_std
    out = xhat * gamma + beta

    def vjp(g: Array) -> tuple[Array, Array, Array]:
        return g * (gamma * inv_std), (g * xhat).sum(axis=0), g.sum(axis=0)

    return out, vjp


def layer_norm(x: Array, gamma: Array, beta: Array, eps: float = 1e-5) -> tuple[Array, VJP]:
    """Layer norm over the feature axis of x: (n, c): each row normalised on its own."""
    mean = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean) * inv_std
    out = xhat * gamma + beta

    def vjp(g: Array) -> tuple[Array, Array, Array]:
        return _normalize_vjp(g * gamma, xhat, inv_std, axis=1), (g * xhat).sum(axis=0), g.sum(axis=0)

    return out, vjp


# ------------------------------------------------------------------------------------------ losses


def mse(pred: Array, target: Array) -> tuple[float, VJP]:
    """mean((pred - target)^2) over every element; dL/dpred = 2 (pred - target) / size."""
    diff = pred - target
    scale = 2.0 / diff.size

    def vjp(g: float = 1.0) -> Array:
        return diff * (scale * g)

    return float(np.mean(diff * diff)), vjp


def mse_sum(pred: Array, target: Array) -> tuple[float, VJP]:
    """sum((pred - target)^2); dL/dpred = 2 (pred - target)."""
    diff = pred - target

    def vjp(g: float = 1.0) -> Array:
        return diff * (2.0 * g)

    return float(np.sum(diff * diff)), vjp


def bce(prob: Array, target: Array) -> tuple[float, VJP]:
    """Binary cross-entropy from probabilities: -mean(y log p + (1 - y) log(1 - p)).

    Each log is clipped at BCE_LOG_FLOOR because log(0) = -inf would turn one saturated output into
    an infinite loss; dL/dp = (p - y) / (p (1 - p)) / size, its denominator kept away from zero.
    """
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(prob), BCE_LOG_FLOOR)
        log_q = np.maximum(np.log1p(-prob), BCE_LOG_FLOOR)
    loss = -np.mean(target * log_p + (1.0 - target) * log_q)

    def vjp(g: float = 1.0) -> Array:
        return (prob - target) / np.maximum(prob * (1.0 - prob), BCE_GRAD_EPS) * (g / prob.size)

    return float(loss), vjp


def bce_logits(z: Array, target: Array) -> tuple[float, VJP]:
    """Binary cross-entropy from logits, in the stable form max(z, 0) - z y + log(1 + e^-|z|).

    Equal to -y log s(z) - (1 - y) log(1 - s(z)) but never exponentiates a large positive number and
    never takes the log of a rounded-to-zero probability. dL/dz = (s(z) - y) / size.
    """
    loss = np.mean(np.maximum(z, 0) - z * target + np.log1p(np.exp(-np.abs(z))))
    s, _ = sigmoid(z)

    def vjp(g: float = 1.0) -> Array:
        return (s - target) * (g / z.size)

    return float(loss), vjp


def softmax_cross_entropy(z: Array, labels: Array) -> tuple[float, VJP]:
    """Mean over rows of -log softmax(z)[label], z: (n, k) logits, labels: (n,) ints.

    -log softmax(z)_y = logsumexp(z) - z_y, with logsumexp(z) = m + log sum e^(z - m), m = max z: no
    exponential overflows and the log never sees zero. dL/dz = (softmax(z) - onehot(y)) / n.
    """
    n = z.shape[0]
    rows = np.arange(n)
    shifted = z - z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(shifted).sum(axis=1))
    loss = np.mean(lse - shifted[rows, labels])

    def vjp(g: float = 1.0) -> Array:
        grad = np.exp(shifted - lse[:, None])  # softmax, from the already shifted logits
        grad[rows, labels] -= 1.0
        return grad * (g / n)

    return float(loss), vjp


LOSSES: dict[str, Callable[[Array, Array], tuple[float, VJP]]] = {
    "mse": mse,
    "mse_sum": mse_sum,
    "bce": bce,
    "bce_logits": bce_logits,
    "ce": softmax_cross_entropy,
}


def l2_penalty(weights: list[Array], lam: float) -> tuple[float, VJP]:
    """(lam / 2) * sum of squared Frobenius norms (notebook 004's s); its gradient is lam * W."""
    value = 0.5 * lam * sum(float(np.sum(w * w)) for w in weights)

    def vjp(g: float = 1.0) -> list[Array]:
        return [w * (lam * g) for w in weights]

    return value, vjp
