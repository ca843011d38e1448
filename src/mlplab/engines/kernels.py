"""The compiled engine's kernels (numba, cached on disk): one call per training step, one per update.

A network is a small program, ``ops`` (k, 8) int64, one row per operation:
``[kind, src, dst, other, din, dout, w_off, b_off]``. Activations live in one float32 workspace, each
operation's output in a slot of its own, feature-major (d, rows) so that the loops over rows run
contiguous and vectorised, at offset ``dst`` (a slot has room for ``n_max`` rows: the full batch; a
mini-batch of b rows uses its first d * b values). Slot 0 holds the inputs.

- LINEAR: dst = W @ src + b, W (dout, din) at ``w_off`` in the flat parameters, b at ``b_off`` (-1: none)
- ACT: dst = f(src), f one of relu, leaky relu (slope ``slopes[op]``), tanh, sigmoid
- ADD: dst = src + other (a residual block's skip connection)
- LNORM: layer norm of each row of src over its features, gain at ``w_off``, bias at ``b_off``, eps
  ``slopes[op]``

The backward pass runs the program in reverse with a gradient workspace of the same layout: every
operation adds its input gradients there (a slot read twice, as a residual block's input is, gets both).
The arithmetic follows `mlplab.layers` and `mlplab.optim` (torch's formulas): float32 values with float32
scalars, sums over rows in float64. Every kernel has one type signature, so one compilation (cached on
disk, warmed by `warm`) serves every model, loss and optimizer.
"""

from __future__ import annotations

import numpy as np
from numba import njit

LINEAR, ACT, ADD, LNORM = 0, 1, 2, 3
RELU, LEAKY, TANH, SIGMOID = 0, 1, 2, 3
LOSSES = {"mse": 0, "mse_sum": 1, "bce": 2, "bce_logits": 3, "ce": 4}
# Layers with at least this many multiply-adds per step call BLAS (np.dot); smaller ones run as loops,
# where a BLAS call's fixed cost would be most of the work
BLAS_WORK = 1 << 15


@njit(cache=True)
def _sigmoid(a):
    e = np.exp(-abs(a))  # exp(-|x|) never overflows; both branches agree where both are finite
    if a >= 0:
        return np.float32(1.0) / (np.float32(1.0) + e)
    return e / (np.float32(1.0) + e)


@njit(cache=True, fastmath={"reassoc"})
def _dot(a, j, b, c):
    """Sum of a[j] * b[c] (rows of 2-D arrays) in float64 (float32 products are exact there, so any order
    gives the same sum to ~1e-16: the vectoriser may reorder it)."""
    s = 0.0
    for i in range(a.shape[1]):
        s += np.float64(a[j, i]) * np.float64(b[c, i])
    return s


@njit(cache=True, fastmath={"reassoc"})
def _sum(a, j):
    s = 0.0
    for i in range(a.shape[1]):
        s += np.float64(a[j, i])
    return s


@njit(cache=True)
def _moments(x, i, eps):
    """Mean and 1 / sqrt(var + eps) of column i of x (d, b) over its d features (biased variance, as
    torch's layer norm), float64 sums rounded to float32."""
    d = x.shape[0]
    s = 0.0
    for j in range(d):
        s += x[j, i]
    mean = np.float32(s / d)
    q = 0.0
    for j in range(d):
        c = np.float64(x[j, i]) - np.float64(mean)
        q += c * c
    var = np.float32(q / d)
    return mean, np.float32(1.0) / np.sqrt(var + eps)


@njit(cache=True)
def _forward(ops, slopes, params, act, b):
    """Run the program on the first ``b`` columns of slot 0."""
    for k in range(ops.shape[0]):
        kind, src, dst, other, din, dout, woff, boff = ops[k, 0], ops[k, 1], ops[k, 2], ops[k, 3], ops[k, 4], ops[k, 5], ops[k, 6], ops[k, 7]
        x = act[src:src + b * din].reshape((din, b))
        y = act[dst:dst + b * dout].reshape((dout, b))
        if kind == LINEAR:
            W = params[woff:woff + dout * din].reshape((dout, din))
            if b * din * dout >= BLAS_WORK:
                np.dot(W, x, y)
            else:
                for j in range(dout):
                    w = W[j, 0]
                    for i in range(b):
                        y[j, i] = w * x[0, i]
                    for c in range(1, din):
                        w = W[j, c]
                        for i in range(b):
                            y[j, i] += w * x[c, i]
            if boff >= 0:
                for j in range(dout):
                    bj = params[boff + j]
                    for i in range(b):
                        y[j, i] += bj
        elif kind == ACT:
            f = other
            slope = slopes[k]
            zero = np.float32(0.0)
            for j in range(dout):
                if f == RELU:
                    for i in range(b):
                        v = x[j, i]
                        y[j, i] = zero if v <= 0 else v  # NaN passes, as in torch
                elif f == LEAKY:
                    for i in range(b):
                        v = x[j, i]
                        y[j, i] = v if v > 0 else v * slope
                elif f == TANH:
                    for i in range(b):
                        y[j, i] = np.tanh(x[j, i])
                else:
                    for i in range(b):
                        y[j, i] = _sigmoid(x[j, i])
        elif kind == LNORM:  # layer norm over the features of each row; eps in slopes
            eps = slopes[k]
            for i in range(b):
                mean, rstd = _moments(x, i, eps)
                for j in range(dout):
                    y[j, i] = (x[j, i] - mean) * rstd * params[woff + j] + params[boff + j]
        else:  # ADD
            z = act[other:other + b * dout].reshape((dout, b))
            for j in range(dout):
                for i in range(b):
                    y[j, i] = z[j, i] + x[j, i]


@njit(cache=True, fastmath={"reassoc"})
def _squares(h, g, Yf, j, scale):
    """Row j of a full batch's (mean or summed) squared error: the float64 sum of the float32 squares
    (any order: the vectoriser may reorder it), the gradient into g."""
    s = 0.0
    for i in range(h.shape[1]):
        diff = h[j, i] - Yf[j, i]
        s += np.float64(diff * diff)
        g[j, i] = diff * scale
    return s


@njit(cache=True)
def _loss(kind, h, g, Yf, labels, idx, full):
    """The loss of outputs h (d, b) against the targets (d, n) of rows ``idx`` (all rows when ``full``),
    and its gradient written into g. mse and bce average over every element, ce over rows."""
    d, b = h.shape
    size = b * d
    total = 0.0
    if kind == 4:  # cross-entropy of logits against labels, in the log-sum-exp form
        inv_n = np.float32(1.0 / b)
        for i in range(b):
            r = i if full else idx[i]
            label = labels[r]
            m = h[0, i]
            for j in range(1, d):
                m = max(m, h[j, i])
            s = np.float32(0.0)
            for j in range(d):
                e = np.exp(h[j, i] - m)
                g[j, i] = e
                s += e
            total += np.log(s) - (h[label, i] - m)
            for j in range(d):
                g[j, i] = g[j, i] / s
            g[label, i] -= np.float32(1.0)
            for j in range(d):
                g[j, i] *= inv_n
        return total / b
    scale = np.float32(2.0 / size) if kind == 0 else np.float32(2.0)  # mse, mse_sum
    fsize = np.float32(size)  # bce and bce_logits divide by it
    one = np.float32(1.0)
    if kind <= 1 and full:
        for j in range(d):
            total += _squares(h, g, Yf, j, scale)
        return total if kind == 1 else total / size
    for j in range(d):
        for i in range(b):
            r = i if full else idx[i]
            p = h[j, i]
            y = Yf[j, r]
            if kind <= 1:
                diff = p - y
                total += diff * diff
                g[j, i] = diff * scale
            elif kind == 2:  # probabilities; logs clamped at -100, the denominator at 1e-12 (torch)
                log_p = max(np.log(p), np.float32(-100.0))
                log_q = max(np.log1p(-p), np.float32(-100.0))
                total -= y * log_p + (one - y) * log_q
                g[j, i] = (p - y) / max((one - p) * p, np.float32(1e-12)) / fsize
            else:  # logits: max(z, 0) - z y + log(1 + exp(-|z|))
                total += max(p, np.float32(0.0)) - p * y + np.log1p(np.exp(-abs(p)))
                g[j, i] = (_sigmoid(p) - y) / fsize
    return total if kind == 1 else total / size


@njit(cache=True)
def _backward(ops, slopes, params, grad, act, gact, b):
    for k in range(ops.shape[0] - 1, -1, -1):
        kind, src, dst, other, din, dout, woff, boff = ops[k, 0], ops[k, 1], ops[k, 2], ops[k, 3], ops[k, 4], ops[k, 5], ops[k, 6], ops[k, 7]
        gy = gact[dst:dst + b * dout].reshape((dout, b))
        gx = gact[src:src + b * din].reshape((din, b))
        x = act[src:src + b * din].reshape((din, b))
        if kind == LINEAR:
            W = params[woff:woff + dout * din].reshape((dout, din))
            gW = grad[woff:woff + dout * din].reshape((dout, din))
            big = b * din * dout >= BLAS_WORK
            if big:
                np.dot(gy, x.T, gW)
            else:
                for j in range(dout):
                    for c in range(din):
                        gW[j, c] = _dot(gy, j, x, c)
            if boff >= 0:
                for j in range(dout):
                    grad[boff + j] = _sum(gy, j)
            if src != 0:  # slot 0 holds the inputs: no gradient needed
                if big:
                    gx += np.dot(W.T, gy)
                else:
                    for c in range(din):
                        for j in range(dout):
                            w = W[j, c]
                            for i in range(b):
                                gx[c, i] += w * gy[j, i]
        elif kind == ACT:
            y = act[dst:dst + b * dout].reshape((dout, b))
            f = other
            slope = slopes[k]
            one = np.float32(1.0)
            zero = np.float32(0.0)
            for j in range(dout):
                if f == RELU:
                    for i in range(b):
                        gx[j, i] += gy[j, i] if x[j, i] > 0 else zero
                elif f == LEAKY:
                    for i in range(b):
                        gx[j, i] += gy[j, i] if x[j, i] > 0 else gy[j, i] * slope
                elif f == TANH:
                    for i in range(b):
                        gx[j, i] += gy[j, i] * (one - y[j, i] * y[j, i])
                else:
                    for i in range(b):
                        gx[j, i] += gy[j, i] * y[j, i] * (one - y[j, i])
        elif kind == LNORM:  # dx = rstd (dy g - mean(dy g) - xhat mean(dy g xhat)), per row
            eps = slopes[k]
            for j in range(dout):
                grad[woff + j] = 0.0
                grad[boff + j] = 0.0
            sg = np.zeros(dout)  # float64 sums over rows for the affine parameters
            sb = np.zeros(dout)
            for i in range(b):
                mean, rstd = _moments(x, i, eps)
                m1 = 0.0
                m2 = 0.0
                for j in range(dout):
                    xhat = (x[j, i] - mean) * rstd
                    dyg = gy[j, i] * params[woff + j]
                    m1 += dyg
                    m2 += np.float64(dyg) * np.float64(xhat)
                    sg[j] += np.float64(gy[j, i]) * np.float64(xhat)
                    sb[j] += gy[j, i]
                m1f, m2f = np.float32(m1 / dout), np.float32(m2 / dout)
                for j in range(dout):
                    xhat = (x[j, i] - mean) * rstd
                    gx[j, i] += rstd * (gy[j, i] * params[woff + j] - m1f - xhat * m2f)
            for j in range(dout):
                grad[woff + j] = sg[j]
                grad[boff + j] = sb[j]
        else:  # ADD: the gradient reaches both inputs
            gz = gact[other:other + b * dout].reshape((dout, b))
            for j in range(dout):
                for i in range(b):
                    gx[j, i] += gy[j, i]
                    gz[j, i] += gy[j, i]


@njit(cache=True)
def train_step(ops, slopes, params, grad, act, gact, X, Yf, labels, idx, full, loss_kind, out_off, out):
    """One step: the rows ``idx`` (or, when ``full``, the inputs already in slot 0) forward, the loss,
    and the backward pass into ``grad``; with a full batch the outputs are copied into ``out`` (n, d_out),
    row-major. Returns the loss (float64 of float32 terms)."""
    out_dim = out.shape[1]
    b = X.shape[0] if full else idx.shape[0]
    if not full:  # slot 0 feature-major: (d_in, b), gathered 8 rows at a time (reads stream, writes stay close)
        d_in = X.shape[1]
        for i0 in range(0, b, 8):
            i1 = min(i0 + 8, b)
            for c in range(d_in):
                for i in range(i0, i1):
                    act[c * b + i] = X[idx[i], c]
    _forward(ops, slopes, params, act, b)
    if full:
        for j in range(out_dim):
            for i in range(b):
                out[i, j] = act[out_off + j * b + i]
    for k in range(ops.shape[0]):  # the gradient slots in use: b rows of each (not the workspace's n_max)
        gact[ops[k, 2]:ops[k, 2] + b * ops[k, 5]] = 0.0
        # the inputs' gradient, only where an operation other than a layer reads them
        if (ops[k, 1] == 0 and ops[k, 0] != LINEAR) or (ops[k, 3] == 0 and ops[k, 0] == ADD):
            gact[:b * ops[k, 4]] = 0.0
    h = act[out_off:out_off + b * out_dim].reshape((out_dim, b))
    g = gact[out_off:out_off + b * out_dim].reshape((out_dim, b))
    loss = _loss(loss_kind, h, g, Yf, labels, idx, full)
    _backward(ops, slopes, params, grad, act, gact, b)
    return loss


@njit(cache=True)
def predict(ops, slopes, params, act, b):
    """Outputs of the ``b`` inputs in slot 0 (a workspace of their own)."""
    _forward(ops, slopes, params, act, b)


@njit(cache=True)
def _decayed(p, g, wd, l1):
    if wd != 0:
        g = g + wd * p
    if l1 != 0:
        g = g + l1 * np.sign(p)
    return g


@njit(cache=True)
def adam(params, grad, m, v, step_size, b1, b2, eps, bc2_sqrt, wd, l1):
    """torch.optim.Adam (amsgrad off) in its order of operations, as `mlplab.optim.Adam`."""
    ss, c1, c2 = np.float32(step_size), np.float32(1.0 - b1), np.float32(1.0 - b2)
    beta2, e, bc2 = np.float32(b2), np.float32(eps), np.float32(bc2_sqrt)
    wd32, l132 = np.float32(wd), np.float32(l1)
    for i in range(params.shape[0]):
        p = params[i]
        g = _decayed(p, grad[i], wd32, l132)
        m[i] = m[i] + (g - m[i]) * c1  # torch's lerp_
        v[i] = v[i] * beta2 + c2 * g * g
        denom = np.sqrt(v[i]) / bc2 + e
        params[i] = p - ss * (m[i] / denom)


@njit(cache=True)
def sgd(params, grad, buf, lr, momentum, first, wd, l1):
    """torch.optim.SGD without dampening or Nesterov (momentum 0: the manual step), as `mlplab.optim.SGD`."""
    lr32, mo, wd32, l132 = np.float32(lr), np.float32(momentum), np.float32(wd), np.float32(l1)
    for i in range(params.shape[0]):
        p = params[i]
        d = _decayed(p, grad[i], wd32, l132)
        if momentum != 0:
            d = d if first else buf[i] * mo + d
            buf[i] = d
        params[i] = p - lr32 * d


@njit(cache=True)
def train_steps(ops, slopes, params, grad, act, gact, X, Yf, labels, loss_kind, out_off, out, m, v, hyper, t,
                losses):
    """``len(losses)`` full-batch steps, each followed by its update (Adam when ``hyper[0]`` is 0, else
    SGD), as `train_step` then `adam` or `sgd` would make them; ``hyper`` holds (optimizer, lr, momentum,
    weight decay, l1) and ``t`` the updates made before. Stops at a non-finite loss, without its update.
    Returns the number of losses written."""
    none = np.zeros(0, np.int64)
    lr, momentum, wd, l1 = hyper[1], hyper[2], hyper[3], hyper[4]
    for s in range(losses.shape[0]):
        loss = train_step(ops, slopes, params, grad, act, gact, X, Yf, labels, none, True, loss_kind, out_off, out)
        losses[s] = loss
        if not np.isfinite(losses[s]):
            return s + 1
        t += 1
        if hyper[0] == 0:
            adam(params, grad, m, v, lr / (1.0 - 0.9**t), 0.9, 0.999, 1e-8, np.sqrt(1.0 - 0.999**t), wd, l1)
        else:
            sgd(params, grad, m, lr, momentum, t == 1, wd, l1)
    return losses.shape[0]


def warm() -> None:
    """Compile (or load from the disk cache) every kernel with its one signature."""
    ops = np.array([[LINEAR, 0, 4, -1, 2, 2, 0, 4], [ACT, 4, 8, RELU, 2, 2, 0, -1],
                    [ADD, 8, 12, 0, 2, 2, 0, -1]], np.int64)
    slopes = np.zeros(3, np.float32)
    params = np.ones(6, np.float32)
    grad, m, v = np.zeros(6, np.float32), np.zeros(6, np.float32), np.zeros(6, np.float32)
    act, gact = np.zeros(16, np.float32), np.zeros(16, np.float32)
    X, Y = np.ones((2, 2), np.float32), np.ones((2, 2), np.float32)
    labels, idx = np.zeros(2, np.int64), np.arange(2, dtype=np.int64)
    train_step(ops, slopes, params, grad, act, gact, X, Y, labels, idx, False, 0, 12, np.zeros((2, 2), np.float32))
    predict(ops, slopes, params, act, 2)
    adam(params, grad, m, v, 0.1, 0.9, 0.999, 1e-8, 0.5, 0.0, 0.0)
    sgd(params, grad, m, 0.1, 0.9, True, 0.0, 0.0)
    train_steps(ops, slopes, params, grad, act, gact, X, Y, labels, 0, 12, np.zeros((2, 2), np.float32), m, v,
                np.zeros(5), 0, np.zeros(2, np.float32))
