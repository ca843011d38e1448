"""Seeded generators for the course notebooks' data and TensorFlow Playground's data sets.

Every generator is a pure function of its `DataSpec`: the same spec gives the same arrays. Reading
files (CSV) lives in `tabular.py`; splitting into train/test is `Dataset.split`'s job.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..errors import SpecError
from ..specs import DataSpec
from .dataset import Dataset, generator

# ---------------------------------------------------------------------------------------------
# shared helpers


def _options(spec: DataSpec, defaults: dict[str, Any]) -> dict[str, Any]:
    """The generator's extra parameters: ``defaults`` overridden by ``spec.params``; unknown keys fail."""
    unknown = sorted(set(spec.params) - set(defaults))
    if unknown:
        allowed = ", ".join(sorted(defaults)) or "none"
        key = unknown[0]
        raise SpecError(f"data.params.{key}", f"a parameter of {spec.name!r} ({allowed})", spec.params[key])
    return {**defaults, **spec.params}


def _n(spec: DataSpec, default: int, minimum: int = 1) -> int:
    n = default if spec.n is None else spec.n
    if n < minimum:
        raise SpecError("data.n", f"at least {minimum} points for {spec.name!r}", n)
    return n


def _noise(spec: DataSpec, default: float) -> float:
    return default if spec.noise is None else float(spec.noise)


# Generator parameters (angle, scale, shift, ...) are kept within this size: beyond it float32 data
# overflows or loses every digit (an angle of 1e300 degrees has no meaningful sine).
PARAM_MAX = 1e6
# The most points a generator makes: data.n's own limit.
N_MAX = next(rule.le for rule in DataSpec.model_fields["n"].metadata if getattr(rule, "le", None) is not None)


def _vector(value: Any, param: str, length: int) -> list[float]:
    expected = f"a list of {length} finite numbers, each within +-{PARAM_MAX:g}"
    try:
        out = [_scalar(v, param) for v in value]
    except (TypeError, SpecError):
        raise SpecError(param, expected, value) from None
    if len(out) != length:
        raise SpecError(param, expected, value)
    return out


def _scalar(value: Any, param: str) -> float:
    """A generator parameter: a finite number within +-`PARAM_MAX` (NaN, inf or 1e300 would train nonsense)."""
    expected = f"a finite number within +-{PARAM_MAX:g}"
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise SpecError(param, expected, value) from None
    if not math.isfinite(number) or abs(number) > PARAM_MAX:
        raise SpecError(param, expected, value)
    return number


def _sizes(value: Any, param: str, count: int) -> list[int]:
    """``count`` positive whole numbers adding up to at most data.n's limit (one million points)."""
    expected = f"{count} positive whole numbers adding up to at most {N_MAX}"
    try:
        sizes = _vector(value, param, count)
    except SpecError:
        raise SpecError(param, expected, value) from None
    if any(v != int(v) or v < 1 for v in sizes) or sum(sizes) > N_MAX:
        raise SpecError(param, expected, value)
    return [int(v) for v in sizes]


def _torch_rng(seed: int) -> torch.Generator:
    # A private generator seeded like torch.manual_seed(seed): the draws equal the notebook's cells
    # run right after torch.manual_seed(seed), without touching the global RNG.
    return torch.Generator().manual_seed(seed)


def _rotation(degrees: float) -> torch.Tensor:
    """The notebooks' 2x2 matrix [[cos, -sin], [sin, cos]], built in float32 as they build it."""
    theta = torch.tensor(degrees * math.pi / 180.0)
    return torch.stack([torch.stack([theta.cos(), -theta.sin()]), torch.stack([theta.sin(), theta.cos()])])


# ---------------------------------------------------------------------------------------------
# course notebooks


@generator("rotation")
def rotation(spec: DataSpec) -> Dataset:
    """Notebook 000/001 "rotation + translation": y = (scale * randn) @ R(angle) + shift + noise * randn."""
    n, noise = _n(spec, 100), _noise(spec, 0.01)
    opt = _options(spec, {"angle": 30.0, "scale": 5.0, "shift": [5.0, 5.0]})
    shift = torch.tensor(_vector(opt["shift"], "data.params.shift", 2))
    g = _torch_rng(spec.seed)
    scale, angle = _scalar(opt["scale"], "data.params.scale"), _scalar(opt["angle"], "data.params.angle")
    X = torch.randn(n, 2, generator=g) * scale  # (n, 2)
    y = X @ _rotation(angle) + shift + noise * torch.randn(n, 2, generator=g)  # (n, 2)
    params = {"n": n, "noise": noise, "seed": spec.seed, "angle": angle, "scale": scale, "shift": shift.tolist()}
    return Dataset(X.numpy(), y.numpy(), "regression", "rotation", params=params)


@generator("piecewise")
def piecewise(spec: DataSpec) -> Dataset:
    """Notebook 000/001 "linear by parts": three clusters, each mapped by its own linear map.

    Cluster 1: X = randn + (3, -3), y = 3 X + noise. Cluster 2: X = randn, y = X @ R(150 deg) + (-3, 3)
    + noise. Cluster 3: X = randn + (3, 3), y = -5 X - noise. ``n`` is the total (default 300), split
    as evenly as possible; ``params={"sizes": [a, b, c]}`` sets each cluster's size instead.
    """
    noise = _noise(spec, 0.01)
    opt = _options(spec, {"sizes": None})
    if opt["sizes"] is None:
        total = _n(spec, 300, minimum=3)
        sizes = [total // 3 + (1 if k < total % 3 else 0) for k in range(3)]
    else:
        sizes = _sizes(opt["sizes"], "data.params.sizes", 3)
        if spec.n is not None and spec.n != sum(sizes):
            raise SpecError("data.n", f"None or the sum of data.params.sizes ({sum(sizes)})", spec.n)
    g = _torch_rng(spec.seed)
    n1, n2, n3 = sizes
    X1 = torch.randn(n1, 2, generator=g) + torch.tensor([3.0, -3.0])
    y1 = 3 * X1 + noise * torch.randn(n1, 2, generator=g)
    X2 = torch.randn(n2, 2, generator=g)
    y2 = X2 @ _rotation(150.0) + torch.tensor([-3.0, 3.0]) + noise * torch.randn(n2, 2, generator=g)
    X3 = torch.randn(n3, 2, generator=g) + torch.tensor([3.0, 3.0])
    y3 = -5 * X3 - noise * torch.randn(n3, 2, generator=g)
    X, y = torch.cat((X1, X2, X3)), torch.cat((y1, y2, y3))  # (n1 + n2 + n3, 2)
    params = {"n": sum(sizes), "noise": noise, "seed": spec.seed, "sizes": sizes}
    return Dataset(X.numpy(), y.numpy(), "regression", "piecewise", params=params)


@generator("practice")
def practice(spec: DataSpec) -> Dataset:
    """Notebook 000/001 exercise: X = two opposite linspaces on [-1, 1] + noise * randn; y = 2X + X^2 + 0.5."""
    n, noise = _n(spec, 500, minimum=2), _noise(spec, 0.1)
    _options(spec, {})
    g = _torch_rng(spec.seed)
    X = torch.stack([torch.linspace(-1, 1, n), torch.linspace(1, -1, n)], dim=1)  # (n, 2)
    X = X + noise * torch.randn(n, 2, generator=g)
    y = 2 * X + X**2 + 0.5
    return Dataset(X.numpy(), y.numpy(), "regression", "practice", params={"n": n, "noise": noise, "seed": spec.seed})


@generator("moons")
def moons(spec: DataSpec) -> Dataset:
    """Notebook 002: scikit-learn's two interleaving half circles, ``make_moons(100, noise=0.25)`` by default."""
    from sklearn.datasets import make_moons

    n, noise = _n(spec, 100, minimum=2), _noise(spec, 0.25)
    _options(spec, {})
    X, y = make_moons(n_samples=n, noise=noise, random_state=spec.seed)
    return Dataset(X, y, "binary", "moons", params={"n": n, "noise": noise, "seed": spec.seed}, n_classes=2)


# Notebook 003 removes grid points 9..13 of linspace(0, 1, 20): a gap the fit must bridge.
_SINE_GAP = (9 / 19, 13 / 19)


@generator("sine")
def sine(spec: DataSpec) -> Dataset:
    """Notebook 003: y = x sin(10 x) + noise * randn on linspace(0, 1, n) with a gap; a 200-point grid.

    ``n`` (default 20) is the number of grid points before the gap (x in [9/19, 13/19]) is cut out,
    so the default gives notebook 003's 15 points. ``params={"gap": False}`` keeps every point.
    ``noise`` (default 0.1) is the standard deviation of the target noise.
    """
    n, noise = _n(spec, 20, minimum=2), _noise(spec, 0.1)
    opt = _options(spec, {"gap": True})
    x = np.linspace(0, 1, num=n)
    if opt["gap"]:
        lo, hi = _SINE_GAP
        x = x[(x < lo - 1e-9) | (x > hi + 1e-9)]
    rng = np.random.RandomState(spec.seed)
    y = x * np.sin(10 * x) + noise * rng.randn(len(x))
    grid = np.linspace(-0.05, 1.05, num=200)[:, None]  # (200, 1)
    params = {"n": n, "points": len(x), "noise": noise, "seed": spec.seed, "gap": bool(opt["gap"])}
    return Dataset(x[:, None], y[:, None], "regression", "sine", params=params, grid=grid)


def sines_target(x: np.ndarray, freqs, amps) -> np.ndarray:
    """sum_k amps[k] sin(2 pi freqs[k] x): the noise-free target of ``sines``."""
    x = np.asarray(x, dtype=np.float64)
    return sum(a * np.sin(2 * np.pi * f * x) for f, a in zip(freqs, amps))


@generator("sines")
def sines(spec: DataSpec) -> Dataset:
    """A sum of sines at low and high frequency, built to show spectral bias: y = sum_k a_k sin(2 pi f_k x).

    ``n`` (default 64) inputs x = 0, 1/n, ..., (n-1)/n, so whole cycles per unit fall exactly on the
    Fourier bins of the grid; ``params={"freqs": [1, 4, 8], "amps": [1, 1, 1]}`` (cycles per unit, equal
    amplitudes by default); ``noise`` (default 0) the standard deviation of added Gaussian noise. The
    plotting grid covers [0, 1) at four times the density, so a grid spectrum also has bins at whole cycles.
    """
    n, noise = _n(spec, 64, minimum=8), _noise(spec, 0.0)
    opt = _options(spec, {"freqs": [1, 4, 8], "amps": None})
    try:
        freqs = [float(f) for f in opt["freqs"]]
    except (TypeError, ValueError):
        raise SpecError("data.params.freqs", "a list of frequencies (cycles per unit)", opt["freqs"]) from None
    if not freqs or any(not (0 < f < n / 2) for f in freqs):
        raise SpecError("data.params.freqs", f"frequencies above 0 and below n/2 = {n / 2:g} (Nyquist)", opt["freqs"])
    amps = [1.0] * len(freqs) if opt["amps"] is None else _vector(opt["amps"], "data.params.amps", len(freqs))
    x = np.arange(n) / n
    y = sines_target(x, freqs, amps) + noise * np.random.RandomState(spec.seed).randn(n)
    params = {"n": n, "noise": noise, "seed": spec.seed, "freqs": freqs, "amps": amps}
    grid = (np.arange(4 * n) / (4 * n))[:, None]  # one whole period at 4x the density: bins stay whole cycles
    return Dataset(x[:, None], y[:, None], "regression", "sines", params=params, grid=grid)


_XOR_CORNERS = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
_XOR_LABELS = np.array([0, 0, 1, 1])


@generator("xor")
def xor(spec: DataSpec) -> Dataset:
    """Notebook 004: XOR, (0,0),(1,1) -> 0 and (0,1),(1,0) -> 1; with n > 4, noisy copies of the corners.

    The n points cycle through the four corners (balanced classes) and get Gaussian noise of standard
    deviation ``noise``: 0 by default for the 4 plain points, 0.1 by default when n > 4.
    """
    n = _n(spec, 4, minimum=4)
    noise = _noise(spec, 0.0 if n == 4 else 0.1)
    _options(spec, {})
    corner = np.arange(n) % 4
    X = _XOR_CORNERS[corner] + noise * np.random.default_rng(spec.seed).standard_normal((n, 2))
    params = {"n": n, "noise": noise, "seed": spec.seed}
    return Dataset(X, _XOR_LABELS[corner], "binary", "xor", params=params, n_classes=2)


# ---------------------------------------------------------------------------------------------
# TensorFlow Playground (formulas and constants of its dataset.ts; labels -1/+1 become 0/1)
#
# Noise: the tool's slider goes from 0 to 50 percent and the formulas receive slider / 100. Here
# ``noise`` is that fraction directly: 0 (the tool's default) to 0.5; noise=0.25 is the slider at 25.
# Sizes: the tool makes 500 points for classification and 1200 for regression.

_PG_CLASSIFY_N = 500
_PG_REGRESS_N = 1200
_PG_NOISE_MAX = 0.5


def _pg_noise(spec: DataSpec) -> float:
    noise = _noise(spec, 0.0)
    if noise > _PG_NOISE_MAX:
        raise SpecError(
            "data.noise",
            f"a fraction between 0 and {_PG_NOISE_MAX} for {spec.name!r} (the Playground's 0-50% slider / 100)",
            spec.noise,
            hint=f"for the slider at 25% give noise=0.25, not {spec.noise}",
        )
    return noise


def _pg_params(spec: DataSpec, n: int, noise: float) -> dict[str, Any]:
    _options(spec, {})
    return {"n": n, "noise": noise, "seed": spec.seed, "source": "TensorFlow Playground dataset.ts"}


def _halves(n: int) -> tuple[int, int]:
    """Class sizes (positive, negative) that add up to n."""
    return n - n // 2, n // 2


def _polar(rng: np.random.Generator, r_lo: float, r_hi: float, count: int) -> np.ndarray:
    """``count`` points at uniform radius in [r_lo, r_hi) and uniform angle, as (r sin a, r cos a)."""
    r = rng.uniform(r_lo, r_hi, count)
    angle = rng.uniform(0, 2 * math.pi, count)
    return np.stack([r * np.sin(angle), r * np.cos(angle)], axis=1)  # (count, 2)


_CIRCLE_RADIUS = 5.0


@generator("circle")
def circle(spec: DataSpec) -> Dataset:
    """TensorFlow Playground "Circle": class 1 inside radius 2.5, class 0 in the ring 3.5..5.

    Each label is decided on the point moved by uniform(-5, 5) * noise per axis (the point itself is
    not moved), so noise flips labels near the boundary, as in the tool.
    """
    n, noise = _n(spec, _PG_CLASSIFY_N, minimum=2), _pg_noise(spec)
    rng = np.random.default_rng(spec.seed)
    n_in, n_out = _halves(n)
    R = _CIRCLE_RADIUS
    X = np.concatenate([_polar(rng, 0, R * 0.5, n_in), _polar(rng, R * 0.7, R, n_out)])  # (n, 2)
    moved = X + rng.uniform(-R, R, (n, 2)) * noise
    y = (np.hypot(moved[:, 0], moved[:, 1]) < R * 0.5).astype(np.int64)
    return Dataset(X, y, "binary", "circle", params=_pg_params(spec, n, noise), n_classes=2)


_XOR_PADDING = 0.3  # the tool pushes points away from the axes so that no point sits on the boundary


@generator("tf-xor")
def tf_xor(spec: DataSpec) -> Dataset:
    """TensorFlow Playground "Exclusive or": uniform on [-5, 5]^2 pushed 0.3 off the axes; class 1 where x*y >= 0."""
    n, noise = _n(spec, _PG_CLASSIFY_N), _pg_noise(spec)
    rng = np.random.default_rng(spec.seed)
    X = rng.uniform(-5, 5, (n, 2))
    X = X + np.where(X > 0, _XOR_PADDING, -_XOR_PADDING)
    moved = X + rng.uniform(-5, 5, (n, 2)) * noise
    y = (moved[:, 0] * moved[:, 1] >= 0).astype(np.int64)
    return Dataset(X, y, "binary", "tf-xor", params=_pg_params(spec, n, noise), n_classes=2)


@generator("gauss")
def gauss(spec: DataSpec) -> Dataset:
    """TensorFlow Playground "Gaussian": class 1 around (2, 2), class 0 around (-2, -2).

    The variance grows linearly with noise, from 0.5 at noise 0 to 4 at noise 0.5.
    """
    n, noise = _n(spec, _PG_CLASSIFY_N, minimum=2), _pg_noise(spec)
    rng = np.random.default_rng(spec.seed)
    variance = 0.5 + noise * (4 - 0.5) / 0.5
    n_pos, n_neg = _halves(n)
    std = math.sqrt(variance)
    X = np.concatenate([rng.normal(2, std, (n_pos, 2)), rng.normal(-2, std, (n_neg, 2))])  # (n, 2)
    y = np.concatenate([np.ones(n_pos, np.int64), np.zeros(n_neg, np.int64)])
    params = {**_pg_params(spec, n, noise), "variance": variance}
    return Dataset(X, y, "binary", "gauss", params=params, n_classes=2)


_SPIRAL_TURNS = 1.75  # each arm winds 1.75 times around the origin
_SPIRAL_RADIUS = 5.0


@generator("spiral")
def spiral(spec: DataSpec) -> Dataset:
    """TensorFlow Playground "Spiral": two arms r = 5 i/m, t = 1.75 * 2 pi i/m (+ pi for class 0), jittered.

    Each coordinate gets uniform(-1, 1) * noise added (here the points do move).
    """
    n, noise = _n(spec, _PG_CLASSIFY_N, minimum=2), _pg_noise(spec)
    rng = np.random.default_rng(spec.seed)
    arms = []
    for count, delta in zip(_halves(n), (0.0, math.pi)):
        frac = np.arange(count) / count
        r = frac * _SPIRAL_RADIUS
        t = _SPIRAL_TURNS * frac * 2 * math.pi + delta
        arms.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1))  # (count, 2)
    X = np.concatenate(arms) + rng.uniform(-1, 1, (n, 2)) * noise
    n_pos, n_neg = _halves(n)
    y = np.concatenate([np.ones(n_pos, np.int64), np.zeros(n_neg, np.int64)])
    return Dataset(X, y, "binary", "spiral", params=_pg_params(spec, n, noise), n_classes=2)


_REG_RADIUS = 6.0


def _reg_inputs(spec: DataSpec, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points on [-6, 6]^2 and the same points moved by uniform(-6, 6) * noise (for the target)."""
    rng = np.random.default_rng(spec.seed)
    X = rng.uniform(-_REG_RADIUS, _REG_RADIUS, (n, 2))
    return X, X + rng.uniform(-_REG_RADIUS, _REG_RADIUS, (n, 2)) * noise


@generator("reg-plane")
def reg_plane(spec: DataSpec) -> Dataset:
    """TensorFlow Playground "Plane" regression: target (x1 + x2) / 10 on [-6, 6]^2."""
    n, noise = _n(spec, _PG_REGRESS_N), _pg_noise(spec)
    X, moved = _reg_inputs(spec, n, noise)
    y = (moved[:, 0] + moved[:, 1]) / 10  # the tool maps x1 + x2 in [-10, 10] linearly onto [-1, 1]
    return Dataset(X, y[:, None], "regression", "reg-plane", params=_pg_params(spec, n, noise))


# (centre x, centre y, sign) of the six bumps
_REG_GAUSSIANS = np.array([[-4, 2.5, 1], [0, 2.5, -1], [4, 2.5, 1], [-4, -2.5, -1], [0, -2.5, 1], [4, -2.5, -1]])


def reg_gauss_target(points: np.ndarray) -> np.ndarray:
    """The "Multi gaussian" target at ``points`` (m, 2): the strongest of six signed cones, (m,).

    Each bump is sign * clip(1 - distance / 2, 0, 1); the one largest in absolute value wins (the
    first of equals), and 0 where no bump reaches.
    """
    dist = np.hypot(points[:, None, 0] - _REG_GAUSSIANS[:, 0], points[:, None, 1] - _REG_GAUSSIANS[:, 1])  # (m, 6)
    bumps = _REG_GAUSSIANS[:, 2] * np.clip(1 - dist / 2, 0, 1)  # (m, 6)
    pick = np.abs(bumps).argmax(axis=1)
    return bumps[np.arange(len(points)), pick] + 0.0  # + 0.0 turns -0.0 into 0.0


@generator("reg-gauss")
def reg_gauss(spec: DataSpec) -> Dataset:
    """TensorFlow Playground "Multi gaussian" regression: six signed bumps on [-6, 6]^2."""
    n, noise = _n(spec, _PG_REGRESS_N), _pg_noise(spec)
    X, moved = _reg_inputs(spec, n, noise)
    y = reg_gauss_target(moved)
    return Dataset(X, y[:, None], "regression", "reg-gauss", params=_pg_params(spec, n, noise))
