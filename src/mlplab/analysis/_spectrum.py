"""Spectral bias of a 1-D regression: Fourier amplitudes of the residual (target minus prediction) on a
uniform grid at every recorded frame (Rahaman et al. 2019's measurement of spectral bias).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from ..data.synthetic import sines_target
from ..errors import SpecError
from . import _weights as W
from ._result import Result

# The noise-free function behind each 1-D regression generator (mlplab.data): the residual is measured
# against it, not against noisy samples. tests/test_analysis.py checks each against its generator.
TARGETS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sine": lambda x: x * np.sin(10 * x),  # notebook 003
    "sines": lambda x: sines_target(x, [1, 4, 8], [1, 1, 1]),  # the spectral-bias preset (default parameters)
}
WINDOWS = ("none", "hann")
DOMAINS = ("data", "grid")
GRID_POINTS = 256  # when the run's recorded grid is missing or uneven: snapshots evaluated on this many


@dataclass(repr=False)
class Spectrum(Result):
    """amplitude: (k, f) one-sided amplitude spectrum of the residual at each frame (a sine of amplitude
    a at a frequency on the grid's bins gives a peak of height a); freqs: (f,) cycles per unit of x;
    steps: (k,); x: (m,) the uniform grid; residual: (k, m); target_amplitude: (f,) the target's own
    spectrum. source: "grid frames" (the run's recorded predictions) or "snapshots" (evaluated here).
    """

    run_name: str
    x: np.ndarray
    freqs: np.ndarray
    steps: np.ndarray
    amplitude: np.ndarray
    residual: np.ndarray
    target_amplitude: np.ndarray
    source: str
    window: str

    def relative(self) -> np.ndarray:
        """(k, f) residual amplitude over the target's (the share of each frequency not fitted yet);
        NaN where the target has (almost) nothing."""
        t = self.target_amplitude
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(t > 1e-3 * t.max(), self.amplitude / t, np.nan)

    def table(self):
        """A long pandas DataFrame: step, frequency, amplitude, relative."""
        import pandas as pd

        k, f = self.amplitude.shape
        return pd.DataFrame({
            "step": np.repeat(self.steps, f), "frequency": np.tile(self.freqs, k),
            "amplitude": self.amplitude.ravel(), "relative": self.relative().ravel(),
        })


def amplitudes(values: np.ndarray, dx: float, window: str = "none") -> tuple[np.ndarray, np.ndarray]:
    """One-sided amplitude spectrum of samples on a uniform grid: values (..., m) -> freqs (f,), amps (..., f).

    Scaled so that a sine a sin(2 pi f x) with f on a bin (f = j / (m dx)) gives exactly a at f, and a
    constant c gives c at 0. ``window="hann"`` tapers the ends first (less leakage from a non-periodic
    residual, at the price of wider peaks), with the amplitude scale kept.
    """
    if window not in WINDOWS:
        raise SpecError("window", f"one of {', '.join(WINDOWS)}", window)
    v = np.asarray(values, dtype=np.float64)
    m = v.shape[-1]
    taper = np.hanning(m) if window == "hann" else np.ones(m)
    spec = np.abs(np.fft.rfft(v * taper, axis=-1)) / taper.sum()
    spec[..., 1:] *= 2  # one-sided: the negative frequencies' half
    if m % 2 == 0:
        spec[..., -1] /= 2  # the Nyquist bin has no mirror image
    return np.fft.rfftfreq(m, d=dx), spec


def _uniform(x: np.ndarray) -> bool:
    d = np.diff(x.astype(np.float64))
    return len(x) >= 8 and bool(np.all(d > 0)) and np.allclose(d, d.mean(), rtol=1e-3, atol=0)


@W.small_threads
def spectrum(run: Any, *, target: Callable[[np.ndarray], np.ndarray] | None = None, window: str = "none",
             domain: str = "data", points: int = GRID_POINTS) -> Spectrum:
    """Residual spectra through training of a 1-D regression run.

    Uses the run's recorded ``grid_frames`` when its grid is uniform; else evaluates the snapshots on
    ``points`` evenly spaced inputs. ``domain="data"`` keeps the inputs between the smallest and largest
    training x (where the fit is asked for: a degree-100 polynomial's blow-up just outside would swamp
    every frequency); ``"grid"`` keeps the whole recorded grid. ``target``: the noise-free function
    (default: ``TARGETS[data name]``).
    """
    spec = W._spec(run)
    model = spec["model"]
    data = getattr(run, "data", None)
    if model.get("in_dim") != 1 or model.get("out_dim") != 1 or data is None or data.task != "regression":
        raise SpecError("run", "a 1-D regression run (in_dim 1, out_dim 1, data attached)",
                        f"{run.name} (in_dim {model.get('in_dim')}, out_dim {model.get('out_dim')})")
    if target is None:
        if data.name not in TARGETS:
            raise SpecError("target", f"a function of x (no known target for data '{data.name}'; known: "
                            f"{', '.join(TARGETS)})", None)
        target = TARGETS[data.name]
        if data.name == "sines":  # its target depends on the data's own frequencies and amplitudes
            target = lambda x: sines_target(x, data.params["freqs"], data.params["amps"])  # noqa: E731
    if window not in WINDOWS:
        raise SpecError("window", f"one of {', '.join(WINDOWS)}", window)
    if domain not in DOMAINS:
        raise SpecError("domain", f"one of {', '.join(DOMAINS)}", domain)
    lo, hi = float(data.X.min()), float(data.X.max())
    grid = run.grid_frames
    axis = run.grid_axes[0] if run.grid_axes is not None else None
    if grid is not None and axis is not None and grid.ndim == 3 and _uniform(np.asarray(axis)):
        x, pred, steps, source = np.asarray(axis, np.float64), grid[..., 0], np.asarray(run.frame_steps), "grid frames"
        steps = steps[: len(pred)]
        if domain == "data":  # a uniform grid cut to an interval stays uniform
            keep = (x >= lo - 1e-6) & (x <= hi + 1e-6)
            x, pred = x[keep], pred[:, keep]
    else:
        if not isinstance(points, int) or not 8 <= points <= 100_000:
            raise SpecError("points", "an integer from 8 to 100000", points)
        if domain == "grid":
            (lo, hi), = data.bounds(margin=0.1)
        x = np.linspace(lo, hi, points)
        pred, steps, source = _snapshot_outputs(run, x), W.frame_steps(run), "snapshots"
    residual = np.asarray(target(x), np.float64)[None] - np.asarray(pred, np.float64)  # (k, m)
    dx = float(np.diff(x).mean())
    freqs, amps = amplitudes(residual, dx, window)
    _, target_amps = amplitudes(np.asarray(target(x), np.float64), dx, window)
    return Spectrum(run_name=run.name, x=x, freqs=freqs, steps=np.asarray(steps), amplitude=amps, residual=residual,
                    target_amplitude=target_amps, source=source, window=window)


def _snapshot_outputs(run: Any, x: np.ndarray) -> np.ndarray:
    """(k, m): every snapshot's prediction at x, in one batched call per chunk."""
    model = W.fresh_model(run)
    snaps = W.snapshots(run)
    X = torch.from_numpy(x[:, None]).float()  # (m, 1)
    ev = W.Evaluator(model, X, None, "mse")
    k = len(next(iter(snaps.values())))
    chunk = W.chunk_size(model, len(X))
    parts = [ev.outputs({n: v[lo:lo + chunk] for n, v in snaps.items()})[..., 0] for lo in range(0, k, chunk)]
    return torch.cat(parts).numpy()
