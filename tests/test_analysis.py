"""Analyses against independent oracles: plain forward passes, autograd, brute-force counts, scikit-learn's
PCA, NumPy FFT of known sines, and the full Hessian's eigenvalues."""

from __future__ import annotations

import re
from dataclasses import replace
from functools import partial

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import mlplab
from mlplab import analysis as A
from mlplab.cli import main
from mlplab.errors import DeadUnitsWarning, SpecError

ORACLE_LOSSES = {
    "mse": F.mse_loss,
    "mse_sum": lambda p, y: F.mse_loss(p, y, reduction="sum"),
    "bce": F.binary_cross_entropy,
}


def _short(name: str, epochs: int, **train):
    return mlplab.run(name, progress=False, epochs=epochs, train={"snapshots": True, **train})


@pytest.fixture(scope="module")
def residual():
    return _short("piecewise-residual", 300, frames=12)


@pytest.fixture(scope="module")
def residual_bn():
    return _short("piecewise-residual-bn", 200, frames=8)


@pytest.fixture(scope="module")
def xor():
    # a large learning rate kills some ReLU units, so the dead counts are not all zero (and the run says so)
    with pytest.warns(DeadUnitsWarning, match="never activated"):
        return mlplab.run("xor-mlp", progress=False, epochs=60, seed=1, train={"snapshots": True, "frames": 10, "lr": 0.5})


@pytest.fixture(scope="module")
def sine():
    return _short("sine-mlp-2", 300, frames=10)


def _targets(run, dtype=torch.float32):
    X = torch.from_numpy(run.data.X).to(dtype)
    if run.data.task == "regression":
        return X, torch.from_numpy(run.data.y).to(dtype)
    return X, torch.from_numpy(run.data.y).to(dtype).reshape(-1, 1)


def _model_with(run, state: dict[str, np.ndarray], *, train: bool = False, dtype=torch.float32):
    """A fresh model of the run's spec carrying ``state`` (NumPy arrays by state-dict name)."""
    model = mlplab.build_model(run.spec["model"]).to(dtype)
    full = model.state_dict()
    full.update({k: torch.as_tensor(np.asarray(v)).to(dtype) for k, v in state.items()})
    model.load_state_dict(full)
    return model.train(train)


def _plain_loss(run, state) -> float:
    """The oracle: one ordinary eval-mode forward pass of the full training set, torch.nn.functional's loss."""
    X, Y = _targets(run)
    with torch.no_grad():
        return float(ORACLE_LOSSES[run.spec["train"]["loss"]](_model_with(run, state)(X), Y))


def _final(run) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in run.model.state_dict().items() if v.is_floating_point()}


# ---------------------------------------------------------------- landscape


@pytest.mark.parametrize("fixture", ["residual", "residual_bn", "xor"])
def test_landscape_centre_is_the_final_models_training_loss(fixture, request):
    run = request.getfixturevalue(fixture)
    X, Y = _targets(run)
    model = run.model.eval()
    with torch.no_grad():
        expected = float(ORACLE_LOSSES[run.spec["train"]["loss"]](model(X), Y))
    for directions in ("random", "pca"):
        land = A.landscape(run, directions=directions, steps=5)
        assert land.centre_loss == pytest.approx(expected, rel=1e-6)
        assert land.loss[2, 2] == land.centre_loss and land.alphas[2] == 0 and land.betas[2] == 0


@pytest.mark.parametrize("fixture", ["residual", "residual_bn"])
@pytest.mark.parametrize("directions", ["random", "pca"])
def test_every_grid_value_is_a_plain_forward_pass(fixture, directions, request):
    run = request.getfixturevalue(fixture)
    land = A.landscape(run, directions=directions, steps=5, seed=3)
    final = _final(run)
    for j, b in enumerate(land.betas):
        for i, a in enumerate(land.alphas):
            state = dict(final)
            for name in land.d1:
                state[name] = final[name] + np.float32(a) * land.d1[name] + np.float32(b) * land.d2[name]
            assert land.loss[j, i] == pytest.approx(_plain_loss(run, state), rel=2e-5, abs=1e-6), (i, j)


def test_random_directions_are_filter_normalised(residual):
    land = A.landscape(residual, steps=3, seed=7)
    final = _final(residual)
    for name, d in land.d1.items():
        if d.ndim == 1:
            assert not d.any(), name  # biases are not moved
        else:
            np.testing.assert_allclose(np.linalg.norm(d, axis=1), np.linalg.norm(final[name], axis=1), rtol=1e-5)
    assert -1 < land.cosine < 1


def test_pca_directions_match_scikit_learn(residual):
    from sklearn.decomposition import PCA

    names = [n for n, _ in residual.model.named_parameters()]
    final = _final(residual)
    M = np.concatenate([(residual.snapshots[n].astype(np.float64) - final[n][None]).reshape(
                        len(residual.snapshots[n]), -1) for n in names], axis=1)  # (k, P), in float64
    pca = PCA(n_components=2, svd_solver="full").fit(M)
    dirs, ratios, coords, _ = A.pca_directions(residual)
    np.testing.assert_allclose(ratios, pca.explained_variance_ratio_, rtol=1e-6)
    np.testing.assert_allclose(np.abs((dirs * pca.components_).sum(1)), 1.0, rtol=1e-9)  # same axes, up to sign
    np.testing.assert_allclose(coords, M @ dirs.T, rtol=1e-9, atol=1e-12)
    land = A.landscape(residual, directions="pca", steps=5)
    np.testing.assert_allclose(land.explained, pca.explained_variance_ratio_, rtol=1e-6)
    assert np.abs(land.trajectory).max(0) == pytest.approx(
        [land.alphas.max() / (1 + 0.25), land.betas.max() / (1 + 0.25)], rel=1e-9)  # the plane holds the path
    for k in (0, len(land.steps) - 1):  # each frame's own loss, by a plain forward pass
        state = {n: v[k] for n, v in residual.snapshots.items()}
        assert land.trajectory_loss[k] == pytest.approx(_plain_loss(residual, state), rel=2e-5)


def test_interpolation_ends_are_the_initial_and_final_models(residual_bn):
    line = A.interpolation(residual_bn, steps=9, start=-0.5, stop=1.5)
    assert line.alphas[2] == 0 and line.alphas[6] == 1
    first = {n: v[0] for n, v in residual_bn.snapshots.items()}
    assert line.loss[2] == pytest.approx(_plain_loss(residual_bn, first), rel=2e-5)
    assert line.loss[6] == pytest.approx(_plain_loss(residual_bn, _final(residual_bn)), rel=2e-5)
    assert line.frame_alpha[0] == pytest.approx(0, abs=1e-9)


# ---------------------------------------------------------------- spectrum


def test_known_sines_give_peaks_exactly_at_their_frequencies():
    m, dx = 200, 0.01
    x = 0.3 + dx * np.arange(m)
    length = m * dx
    parts = {0.0: 0.5, 3 / length: 0.7, 11 / length: 0.2, 40 / length: 0.05}
    signal = parts[0.0] + sum(a * np.sin(2 * np.pi * f * x + 0.4) for f, a in parts.items() if f)
    freqs, amps = A.amplitudes(signal, dx)
    np.testing.assert_allclose(freqs, np.fft.rfftfreq(m, dx))
    expected = np.zeros_like(amps)
    for f, a in parts.items():
        expected[np.argmin(np.abs(freqs - f))] = a
    np.testing.assert_allclose(amps, expected, atol=1e-12)
    hann_freqs, hann = A.amplitudes(signal, dx, window="hann")
    for j, a in ((3, 0.7), (11, 0.2), (40, 0.05)):  # a wider peak, still topped on its bin, same height
        assert hann_freqs[j] == freqs[j] and hann[j] > max(hann[j - 1], hann[j + 1])
        assert hann[j] == pytest.approx(a, rel=0.05)


def test_sine_target_is_the_generators_noise_free_function():
    data = mlplab.make_dataset(mlplab.DataSpec(name="sine", noise=0.0))
    np.testing.assert_allclose(A.TARGETS["sine"](data.X[:, 0].astype(np.float64)), data.y[:, 0], atol=1e-6)


SINE_FREQS = (1, 4, 8)  # cycles per unit, equal amplitudes


def _sum_of_sines(x):
    return sum(np.sin(2 * np.pi * f * x) for f in SINE_FREQS)


@pytest.mark.parametrize("seed", range(5))
def test_a_relu_mlp_fits_low_frequencies_first(seed):
    """Rahaman et al. 2019: on a sum of equal sines, each frequency's residual halves later the higher it is.

    64 inputs on [0, 1) make 1, 4 and 8 cycles fall exactly on FFT bins. Measured over 20 seeds, the
    halving steps were 17 / 119-356 / 288-763; five must all keep the order."""
    m = 64
    x = np.arange(m) / m
    data = mlplab.Dataset(X=x[:, None], y=_sum_of_sines(x)[:, None], task="regression", name="sines")
    model = mlplab.build_model(mlplab.ModelSpec(in_dim=1, out_dim=1, hidden=[64, 64, 64], activation="relu"), seed=seed)
    run = mlplab.train(model, data, epochs=1000, lr=0.01, seed=seed, frames=60, snapshots=True)
    spec = A.spectrum(run, target=_sum_of_sines, points=m)
    np.testing.assert_allclose(spec.x, x, atol=1e-7)  # the training inputs themselves: bins at whole cycles
    bins = [int(np.flatnonzero(np.isclose(spec.freqs, f))[0]) for f in SINE_FREQS]
    amp = spec.amplitude[:, bins]  # (k, 3)
    np.testing.assert_allclose(amp[0], 1.0, atol=0.1)  # an untrained net leaves each sine nearly whole
    # the oracle for the last frame: the residual of the trained model projected on each sine by hand
    with torch.no_grad():
        pred = run.model.eval()(torch.from_numpy(x[:, None]).float())[:, 0].double().numpy()
    residual = _sum_of_sines(x) - pred
    for j, f in enumerate(SINE_FREQS):
        direct = 2 / m * abs(np.sum(residual * np.exp(-2j * np.pi * f * x)))
        assert amp[-1, j] == pytest.approx(direct, rel=1e-4, abs=1e-6)
    halved = amp < amp[:1] / 2
    assert halved.any(0).all(), f"a frequency never halved: final amplitudes {amp[-1]}"
    first = spec.steps[halved.argmax(0)]  # the first step each residual amplitude is below half its start
    assert first[0] < first[1] < first[2], f"steps {first.tolist()} for {SINE_FREQS} cycles per unit"


def test_spectrum_of_recorded_grid_and_of_snapshots(sine):
    whole = A.spectrum(sine, domain="grid")
    assert whole.source == "grid frames" and whole.amplitude.shape == (len(sine.frames), len(whole.freqs))
    np.testing.assert_allclose(whole.residual, A.TARGETS["sine"](whole.x)[None] - sine.grid_frames[..., 0], rtol=1e-6)
    spec = A.spectrum(sine)  # cut to the training inputs' range, still evenly spaced
    assert sine.data.X.min() <= spec.x[0] < spec.x[-1] <= sine.data.X.max()
    assert 0 < len(spec.x) < len(whole.x) and np.allclose(np.diff(spec.x), np.diff(whole.x).mean())
    np.testing.assert_allclose(spec.residual, whole.residual[:, np.isin(whole.x, spec.x)])
    bare = replace(sine, grid_frames=None, grid_axes=None)
    evaluated = A.spectrum(bare, points=64)
    assert evaluated.source == "snapshots" and evaluated.residual.shape == (len(sine.frames), 64)
    for k in (0, len(sine.frames) - 1):  # each snapshot's prediction, by a plain forward pass
        model = _model_with(sine, {n: v[k] for n, v in sine.snapshots.items()})
        with torch.no_grad():
            pred = model(torch.from_numpy(evaluated.x[:, None]).float())[:, 0].numpy()
        np.testing.assert_allclose(evaluated.residual[k], A.TARGETS["sine"](evaluated.x) - pred, rtol=1e-5, atol=1e-6)
    table = spec.table()
    assert list(table.columns) == ["step", "frequency", "amplitude", "relative"] and len(table) == spec.amplitude.size


# ---------------------------------------------------------------- layer health


def test_dead_fractions_and_activations_equal_a_brute_force_count(xor):
    table = A.health(xor).table
    relu = table[table["kind"] == "relu"]
    assert len(relu) == len(xor.frame_steps)
    X = xor.data.X.astype(np.float64)
    seen_dead = False
    for k in range(len(xor.frame_steps)):
        W, b = xor.snapshots["net.0.weight"][k].astype(np.float64), xor.snapshots["net.0.bias"][k].astype(np.float64)
        dead = 0
        for unit in range(W.shape[0]):  # dead: no training row switches the unit on
            dead += all(X[i] @ W[unit] + b[unit] <= 0 for i in range(len(X)))
        row = relu[relu["frame"] == k].iloc[0]
        assert row["dead_fraction"] == dead / W.shape[0]
        h = np.maximum(X @ W.T + b, 0)
        assert row["act_mean"] == pytest.approx(h.mean(), rel=1e-5, abs=1e-7)
        assert row["act_std"] == pytest.approx(h.std(), rel=1e-4, abs=1e-7)
        seen_dead |= dead > 0
    assert seen_dead, "the fixture should kill at least one unit"


@pytest.mark.parametrize("fixture", ["xor", "residual_bn"])
def test_gradient_norms_and_update_ratios_equal_autograd(fixture, request):
    run = request.getfixturevalue(fixture)
    table = A.health(run).table
    X, Y = _targets(run)
    linear = table[table["kind"] == "linear"]
    for k in range(len(run.frame_steps)):
        model = _model_with(run, {n: v[k] for n, v in run.snapshots.items()}, train=True)  # batch statistics
        ORACLE_LOSSES[run.spec["train"]["loss"]](model(X), Y).backward()
        # float32 rounding is relative to the whole gradient: batch norm's backward cancels terms
        scale = float(torch.cat([p.grad.reshape(-1) for p in model.parameters()]).norm())
        for name, module in model.named_modules():
            if not isinstance(module, torch.nn.Linear):
                continue
            grads = torch.cat([p.grad.reshape(-1) for p in module.parameters()])
            row = linear[(linear["frame"] == k) & (linear["layer"] == name)].iloc[0]
            assert row["grad_norm"] == pytest.approx(float(grads.norm()), rel=1e-5, abs=1e-5 * scale), (k, name)
            if k:
                now = np.concatenate([run.snapshots[f"{name}.{p}"][k].ravel() for p in ("weight", "bias")])
                before = np.concatenate([run.snapshots[f"{name}.{p}"][k - 1].ravel() for p in ("weight", "bias")])
                gap = run.frame_steps[k] - run.frame_steps[k - 1]
                ratio = np.linalg.norm(now - before) / np.linalg.norm(before) / gap
                assert row["update_ratio"] == pytest.approx(ratio, rel=1e-5)
            else:
                assert np.isnan(row["update_ratio"])


# ---------------------------------------------------------------- sharpness


def _hessian_top(run, k: int) -> float:
    """The oracle: every entry of the Hessian (torch.autograd.functional.hessian, float64), then eigvalsh."""
    model = mlplab.build_model(run.spec["model"]).double().train()
    shapes = {n: p.shape for n, p in model.named_parameters()}
    flat = torch.cat([torch.from_numpy(run.snapshots[n][k]).double().reshape(-1) for n in shapes])
    X, Y = _targets(run, torch.float64)

    def loss(theta):
        params, i = {}, 0
        for n, s in shapes.items():
            size = int(np.prod(s))
            params[n], i = theta[i:i + size].reshape(s), i + size
        return ORACLE_LOSSES[run.spec["train"]["loss"]](torch.func.functional_call(model, params, (X,)), Y)

    return float(torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss, flat))[-1])


@pytest.mark.parametrize("fixture", ["sine", "residual_bn"])
def test_sharpness_is_the_full_hessians_top_eigenvalue(fixture, request):
    run = request.getfixturevalue(fixture)
    sharp = A.sharpness(run, dtype=torch.float64, tol=1e-10, max_iter=5000, every=3)
    assert sharp.converged.all()
    for k, step in zip(range(0, len(run.frame_steps), 3), sharp.steps):
        assert step == run.frame_steps[k]
        top = _hessian_top(run, k)
        assert sharp.top_eigenvalue[k // 3] == pytest.approx(top, rel=1e-6)


def test_power_iteration_finds_the_largest_eigenvalue_when_a_negative_one_dominates():
    H = torch.diag(torch.tensor([-5.0, 2.0, 1.0, -0.5], dtype=torch.float64))
    Q, _ = torch.linalg.qr(torch.randn(4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    H = Q @ H @ Q.T
    lam, _, done = A.top_eigenvalues(lambda v: v @ H, torch.ones(1, 4, dtype=torch.float64), tol=1e-14, max_iter=5000)
    assert done.all() and float(lam[0]) == pytest.approx(2.0, rel=1e-10)


def test_sharpness_threshold_follows_the_optimizer(sine):
    sharp = A.sharpness(sine, every=5)
    assert sharp.threshold == pytest.approx(2 / sine.spec["train"]["lr"])
    assert replace(sharp, momentum=0.9).threshold == pytest.approx(3.8 / sine.spec["train"]["lr"])


# ---------------------------------------------------------------- surfaces and errors


def test_a_run_without_snapshots_names_the_setting_and_the_fix():
    run = mlplab.run("piecewise-mlp", progress=False, epochs=5, train={"snapshots": False})
    for analysis in (partial(A.landscape, directions="pca"), A.interpolation, A.health, A.sharpness):
        with pytest.raises(SpecError, match=r"train\.snapshots.*snapshots': True"):
            analysis(run)
    assert A.landscape(run, steps=3).loss.shape == (3, 3)  # a random slice needs only the final weights


def test_bad_arguments_are_spec_errors(residual, sine):
    with pytest.raises(SpecError, match="steps"):
        A.landscape(residual, steps=50)
    with pytest.raises(SpecError, match="directions"):
        A.landscape(residual, directions="hessian")
    with pytest.raises(SpecError, match="1-D regression"):
        A.spectrum(residual)
    with pytest.raises(SpecError, match="window"):
        A.spectrum(sine, window="kaiser")
    with pytest.raises(SpecError, match="trained run"):
        A.health(mlplab.run("activations"))


def test_figures_of_each_result_and_side_by_side(residual, sine, xor):
    results = [A.landscape(residual, steps=5), A.landscape(residual, directions="pca", steps=5),
               A.interpolation(residual, steps=5), A.spectrum(sine), A.health(xor), A.sharpness(xor, every=5)]
    for result in results:
        assert result.figure().data
    both = A.figure([A.health(xor), A.health(residual)])
    assert {t.legendgroup for t in both.data} >= {"1/net.0", "2/net.1.fc1"}  # one entry per variant and layer
    with pytest.raises(SpecError, match="one kind"):
        A.figure([results[0], results[3]])


def _readable_log(axis, *values) -> None:
    """A log axis labelled only at ticks written in full (figures.log_axis), covering ``values``."""
    assert axis.type == "log" and axis.minor.ticks == ""
    assert 2 <= len(axis.tickvals) == len(axis.ticktext) <= 12
    assert all(t.startswith("10<sup>") or float(t) > 0 for t in axis.ticktext)
    v = np.concatenate([np.ravel(x) for x in values])
    v = v[np.isfinite(v) & (v > 0)]
    assert min(axis.tickvals) <= v.max() and max(axis.tickvals) >= v.min()  # ticks where the data are


def test_log_axes_of_analysis_figures_and_the_live_curve_label_readable_ticks(residual, xor):
    line = A.interpolation(residual, steps=9)
    axis = line.figure().layout.yaxis
    _readable_log(axis, line.loss, line.frame_loss)
    assert axis.title.text == "training loss (mse)"
    health = A.health(xor)
    fig = health.figure()
    for name, col in (("yaxis", "grad_norm"), ("yaxis2", "update_ratio")):
        _readable_log(fig.layout[name], health.table[col].to_numpy(np.float64))
    sharp = A.sharpness(xor, every=3)
    fig = sharp.figure()
    _readable_log(fig.layout.yaxis, sharp.top_eigenvalue, [sharp.threshold])
    curve, threshold = fig.data
    assert threshold.line.color == "#7f7f7f" != curve.line.color and threshold.line.dash == "dash"
    assert threshold.name == "edge of stability 2/lr = 4, a reference only for Adam"  # xor-mlp: Adam, lr 0.5
    from mlplab.viz import LiveCurve

    live = LiveCurve(interval=0.0)
    run = mlplab.train(mlplab.build_model(hidden=[8], out_activation="sigmoid"), xor.data, epochs=30, lr=0.05,
                       loss="bce", val_fraction=0.25, callbacks=[live])
    losses = [run.losses] + [v for k, v in run.epoch_metrics.items() if "accuracy" not in k]
    _readable_log(live.figure.layout.yaxis, *losses)
    assert live.figure.layout.yaxis.title.text == "loss"


def test_figures_draw_the_results_numbers(residual, sine, xor):
    land = A.landscape(residual, directions="pca", steps=7)
    contour, path, final = land.figure().data
    np.testing.assert_allclose(10.0 ** np.asarray(contour.z, np.float64), land.loss, rtol=1e-5)  # drawn as log10
    np.testing.assert_allclose(contour.x, land.alphas, rtol=1e-6)
    np.testing.assert_allclose(contour.y, land.betas, rtol=1e-6)
    assert 10.0 ** float(contour.z[3][3]) == pytest.approx(land.centre_loss, rel=1e-5)
    assert (list(final.x), list(final.y)) == ([0], [0]) and final.name == "final weights"
    # the path: each frame's weights minus the final ones, projected on the drawn directions by hand
    fin = _final(residual)
    flat = lambda d: np.concatenate([np.ravel(d[n]) for n in land.d1])  # noqa: E731
    D = np.stack([flat(land.d1), flat(land.d2)]).astype(np.float64)  # (2, P) orthonormal
    M = np.stack([flat({n: residual.snapshots[n][k] - fin[n] for n in land.d1}) for k in range(len(land.steps))])
    np.testing.assert_allclose(np.stack([path.x, path.y], 1), M @ D.T, rtol=1e-4, atol=1e-5)
    assert list(path.marker.color) == list(land.steps)

    spec = A.spectrum(sine)
    heat = spec.figure().data[0]
    shown = spec.freqs <= 30
    np.testing.assert_allclose(heat.y, spec.freqs[shown], rtol=1e-6)
    assert list(heat.x) == list(spec.steps)
    np.testing.assert_allclose(np.asarray(heat.z, np.float64), np.log10(spec.amplitude[:, shown]).T, rtol=1e-5, atol=1e-5)

    sharp = A.sharpness(xor, every=3)
    curve, threshold = sharp.figure().data
    np.testing.assert_allclose(curve.y, sharp.top_eigenvalue)
    np.testing.assert_array_equal(curve.x, sharp.steps)
    assert list(threshold.y) == [2 / xor.spec["train"]["lr"]] * 2 and list(threshold.x) == [sharp.steps[0], sharp.steps[-1]]


def test_course_reports_show_the_mapped_panels(sine, xor):
    from mlplab.viz.panels import extra_figures

    captions = [c for c, _ in extra_figures(sine)]
    assert any("Fourier" in c for c in captions)
    captions = [c for c, _ in extra_figures(xor)]
    assert any("dead ReLU" in c for c in captions) and not any("Fourier" in c for c in captions)


def test_cli_analyze_trains_with_snapshots_and_writes_a_report(tmp_path, capsys):
    assert main(["analyze", "xor-mlp", "--what", "health,sharpness", "--epochs", "20", "-o", str(tmp_path)]) == 0
    html = (tmp_path / "xor-mlp" / "analysis.html").read_text()
    assert "Layer health" in html and "edge of stability" in html
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']https?:", html)  # offline
    assert (tmp_path / "xor-mlp" / "trajectory.npz").exists()
    assert main(["analyze", str(tmp_path / "xor-mlp"), "--what", "landscape", "-o", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "xor-mlp" / "analysis.html").exists()


def test_cli_analyze_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["analyze", "xor-mlp", "--what", "curvature", "-o", str(tmp_path)]) == 2
    assert "--what" in capsys.readouterr().err
    assert main(["run", "moons-manual-step", "--epochs", "5", "-o", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["analyze", str(tmp_path / "moons-manual-step"), "--what", "health", "-o", str(tmp_path)]) == 2
    text = capsys.readouterr().err
    assert "train.snapshots" in text and "Traceback" not in text


def test_analysis_never_imports_a_higher_layer():
    import ast
    from pathlib import Path

    higher = {"viz", "api", "sweep", "web", "cli", "compare", "explain", "store"}
    folder = Path(A.__file__).parent
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [a.name for a in node.names] if node.level else [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                parts = set(name.replace("mlplab.", "").split("."))
                assert not parts & higher, f"{path.name} imports {name}"



def test_the_documented_example_runs(monkeypatch):
    from pathlib import Path

    import plotly.graph_objects as go

    text = (Path(__file__).resolve().parent.parent / "docs" / "analysis.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.setattr(go.Figure, "show", lambda self, *a, **k: None)  # no browser in a test
    scope: dict = {}
    exec(compile(code, "docs/analysis.md", "exec"), scope)
    assert scope["run"].snapshots and isinstance(scope["mlp"], mlplab.Run)


# ---------------------------------------------------------------- every engine


@pytest.mark.parametrize("engine", ["torch", "fused", "numpy", "stacked"])
def test_every_engine_records_what_the_analyses_read_and_they_match_autograd(engine):
    """The analyses read snapshots, whichever engine trained the run: the landscape's grid values and the
    layer-health gradient norms equal plain forward/backward passes on the recorded weights."""
    run = _short("piecewise-residual", 40, frames=4, engine=engine)
    assert run.engine == engine and len(run.snapshots["net.0.weight"]) == len(run.frame_steps) == 4
    land = A.landscape(run, directions="pca", steps=3)
    final = _final(run)
    for j, b in enumerate(land.betas):
        for i, a in enumerate(land.alphas):
            state = {n: final[n] + np.float32(a) * land.d1[n] + np.float32(b) * land.d2[n] for n in land.d1}
            assert land.loss[j, i] == pytest.approx(_plain_loss(run, {**final, **state}), rel=2e-5, abs=1e-6)
    table = A.health(run).table
    linear = table[table["kind"] == "linear"]
    X, Y = _targets(run)
    for k in range(len(run.frame_steps)):
        model = _model_with(run, {n: v[k] for n, v in run.snapshots.items()}, train=True)
        ORACLE_LOSSES[run.spec["train"]["loss"]](model(X), Y).backward()
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Linear):
                grads = torch.cat([p.grad.reshape(-1) for p in module.parameters()])
                row = linear[(linear["frame"] == k) & (linear["layer"] == name)].iloc[0]
                assert row["grad_norm"] == pytest.approx(float(grads.norm()), rel=1e-5, abs=1e-7), (k, name)
