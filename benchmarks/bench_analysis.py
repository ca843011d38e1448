"""Analyses: a 51 x 51 loss landscape of piecewise-residual in batched calls, against a loop of single
forward passes and the `loss-landscapes` package; what recording snapshots costs (section "analysis"); and
sharpness over a run's frames against a per-frame power-iteration loop and PyHessian (section
"analysis-sharpness"; ``python benchmarks/bench_analysis.py sharpness`` runs only that part). loss-landscapes
and PyHessian are benchmark-only dependencies (the ``bench`` extra).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import markdown_table, write_section  # noqa: E402

import mlplab  # noqa: E402
from mlplab import analysis as A  # noqa: E402

STEPS = 51
REPEAT = 5
SNAPSHOT_PRESETS = ("piecewise-residual", "xor-mlp", "d2l-mlp")


def seconds(fn, repeat: int = REPEAT) -> float:
    """Median wall time of ``repeat`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def loop_landscape(run, land) -> np.ndarray:
    """The reference: for every grid point, load the weights into the model and run one forward pass."""
    model = mlplab.build_model(run.spec["model"]).eval()
    final = {k: v.detach().clone() for k, v in run.model.state_dict().items()}
    d1 = {k: torch.from_numpy(v) for k, v in land.d1.items()}
    d2 = {k: torch.from_numpy(v) for k, v in land.d2.items()}
    X, Y = torch.from_numpy(run.data.X), torch.from_numpy(run.data.y)
    out = np.empty((len(land.betas), len(land.alphas)), np.float32)
    with torch.no_grad():
        for j, b in enumerate(land.betas):
            for i, a in enumerate(land.alphas):
                state = dict(final)
                for name in d1:
                    state[name] = final[name] + float(a) * d1[name] + float(b) * d2[name]
                model.load_state_dict(state)
                out[j, i] = float(F.mse_loss(model(X), Y))
    return out


def loss_landscapes_plane(run):
    import copy

    import loss_landscapes
    from loss_landscapes.metrics import Loss

    model = copy.deepcopy(run.model).eval()
    metric = Loss(F.mse_loss, torch.from_numpy(run.data.X), torch.from_numpy(run.data.y))
    return loss_landscapes.random_plane(model, metric, distance=1, steps=STEPS, normalization="filter", deepcopy_model=True)


def landscape_rows(run) -> tuple[list[list[object]], dict[str, float]]:
    land = A.landscape(run, steps=STEPS)
    reference = loop_landscape(run, land)
    worst = float(np.max(np.abs(land.loss - reference) / np.maximum(np.abs(reference), 1e-12)))
    t_mlplab = seconds(lambda: A.landscape(run, steps=STEPS))
    t_pca = seconds(lambda: A.landscape(run, steps=STEPS, directions="pca"))
    t_loop = seconds(lambda: loop_landscape(run, land), repeat=3)
    rows = [["mlplab.analysis.landscape (random, filter-normalised)", f"{1e3 * t_mlplab:.1f}", "1.0x", f"{worst:.1e}"],
            ["mlplab.analysis.landscape (PCA plane, plus every frame's own loss)", f"{1e3 * t_pca:.1f}",
             f"{t_pca / t_mlplab:.1f}x", ""],
            ["loop of single forward passes (load_state_dict + forward)", f"{1e3 * t_loop:.1f}",
             f"**{t_loop / t_mlplab:.0f}x slower**", "0 (reference)"]]
    times = {"mlplab": t_mlplab, "loop": t_loop}
    try:
        import loss_landscapes  # noqa: F401
    except ImportError:
        rows.append(["loss-landscapes (random_plane, filter)", "not installed", "", ""])
    else:
        t_ll = seconds(lambda: loss_landscapes_plane(run), repeat=3)
        times["loss-landscapes"] = t_ll
        rows.append(["loss-landscapes 3 (random_plane, normalization='filter')", f"{1e3 * t_ll:.1f}",
                     f"**{t_ll / t_mlplab:.0f}x slower**", "other random directions"])
    return rows, times


def snapshot_rows(repeat: int = 6) -> list[list[object]]:
    """Training time without and with snapshots (alternating, so both see the same machine load) and file size."""
    rows = []
    for name in SNAPSHOT_PRESETS:
        times: dict[bool, list[float]] = {False: [], True: []}
        sizes = {}
        for i in range(repeat):
            for on in ((False, True) if i % 2 else (True, False)):  # alternate the order too
                t = time.perf_counter()
                run = mlplab.run(name, progress=False, train={"snapshots": on})
                times[on].append(time.perf_counter() - t)
        for on in (False, True):
            run = mlplab.run(name, progress=False, train={"snapshots": on})
            with tempfile.TemporaryDirectory() as tmp:
                run.save(tmp)
                sizes[on] = (Path(tmp) / "trajectory.npz").stat().st_size
        off, on_ = float(np.median(times[False])), float(np.median(times[True]))
        state = run.model.state_dict()
        copy_s = seconds(lambda: {k: v.detach().clone() for k, v in state.items()}, repeat=50)  # what one frame adds
        rows.append([name, f"{run.data.n} x {run.data.d_in}", mlplab.count_parameters(run.model), len(run.frame_steps), f"{off:.3f}", f"{on_:.3f}",
                     f"{100 * (on_ / off - 1):+.0f}%",
                     f"{1e3 * copy_s * len(run.frame_steps):.2f}", f"{sizes[False] / 1e3:.0f}", f"{sizes[True] / 1e3:.0f}",
                     f"{100 * (sizes[True] / sizes[False] - 1):+.0f}%"])
    return rows


SHARP_PRESET = "moons-mlp"  # full-batch SGD with snapshots: the edge-of-stability setting (2-32-1, 100 points)
SHARP_TOL, SHARP_ITER = 1e-5, 300  # A.sharpness's defaults, given to every contender


def loop_sharpness(run) -> np.ndarray:
    """The reference: frame by frame, load the weights, build the gradient with create_graph, and run power
    iteration on Hessian-vector products (one backward pass each) with the same stopping rule as mlplab."""
    model = mlplab.build_model(run.spec["model"])
    X, Y = torch.from_numpy(run.data.X), torch.from_numpy(run.data.y).float().reshape(-1, 1)
    gen = torch.Generator().manual_seed(0)
    out = []
    for k in range(len(run.frame_steps)):
        model.load_state_dict({n: torch.from_numpy(v[k]) for n, v in run.snapshots.items()})
        params = list(model.parameters())
        grads = torch.autograd.grad(F.binary_cross_entropy(model(X), Y), params, create_graph=True)
        v = [torch.randn(p.shape, generator=gen) for p in params]
        lam = float("nan")
        for _ in range(SHARP_ITER):
            norm = torch.sqrt(sum((x * x).sum() for x in v))
            v = [x / norm for x in v]
            hv = torch.autograd.grad(grads, params, grad_outputs=v, retain_graph=True)
            new = float(sum((a * b).sum() for a, b in zip(v, hv)))
            done = abs(new - lam) <= SHARP_TOL * abs(new)
            lam, v = new, list(hv)
            if done:
                break
        out.append(lam)
    return np.array(out)


def pyhessian_sharpness(run) -> np.ndarray:
    """PyHessian 0.1: per frame a `hessian` object (its own forward and create_graph backward), then its power
    iteration (``eigenvalues``), on the CPU."""
    from pyhessian import hessian

    model = mlplab.build_model(run.spec["model"])
    X, Y = torch.from_numpy(run.data.X), torch.from_numpy(run.data.y).float().reshape(-1, 1)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its backward(create_graph=True) warns about a reference cycle
        for k in range(len(run.frame_steps)):
            model.load_state_dict({n: torch.from_numpy(v[k]) for n, v in run.snapshots.items()})
            model.zero_grad(set_to_none=True)  # it reads param.grad, which backward would otherwise accumulate
            top, _ = hessian(model, F.binary_cross_entropy, data=(X, Y), cuda=False).eigenvalues(
                maxIter=SHARP_ITER, tol=SHARP_TOL)
            out.append(top[0])
    return np.array(out)


def sharpness_section() -> None:
    run = mlplab.run(SHARP_PRESET, progress=False)
    frames = len(run.frame_steps)
    exact = A.sharpness(run, dtype=torch.float64, tol=1e-12, max_iter=5000).top_eigenvalue
    worst = lambda lam: float(np.max(np.abs(lam - exact) / np.abs(exact)))  # noqa: E731
    t_mlplab = seconds(lambda: A.sharpness(run, tol=SHARP_TOL, max_iter=SHARP_ITER), repeat=3)
    t_loop = seconds(lambda: loop_sharpness(run), repeat=3)
    rows = [["mlplab.analysis.sharpness (all frames in one double-backward graph)", f"{1e3 * t_mlplab:.0f}", "1.0x",
             f"{worst(A.sharpness(run, tol=SHARP_TOL, max_iter=SHARP_ITER).top_eigenvalue):.1e}"],
            ["loop over frames: create_graph gradient + power iteration on HVPs", f"{1e3 * t_loop:.0f}",
             f"**{t_loop / t_mlplab:.1f}x slower**", f"{worst(loop_sharpness(run)):.1e}"]]
    try:
        import pyhessian  # noqa: F401
    except ImportError:
        rows.append(["PyHessian (hessian(...).eigenvalues, per frame)", "not installed", "", ""])
    else:
        t_ph = seconds(lambda: pyhessian_sharpness(run), repeat=3)
        rows.append(["PyHessian 0.1 (hessian(...).eigenvalues, per frame, cuda=False)", f"{1e3 * t_ph:.0f}",
                     f"**{t_ph / t_mlplab:.1f}x slower**", f"{worst(pyhessian_sharpness(run)):.1e}"])
    body = (
        "## Sharpness over a run (`bench_analysis.py`)\n\n"
        f"The largest Hessian eigenvalue of the training loss at each of the {frames} recorded frames of `{SHARP_PRESET}` "
        f"(2-32-1, {run.data.n} points, BCE, full-batch SGD), by power iteration on Hessian-vector products with the "
        f"same tolerance ({SHARP_TOL:g} relative change) and cap ({SHARP_ITER} iterations), float32, one torch thread. "
        "mlplab builds one gradient graph for all frames and runs one backward pass per iteration for all of them "
        "together; the loop does the same frame after frame, as a hand-written script would; PyHessian builds its "
        "object per frame. Median wall time of 3 (after a warm-up). Accuracy: worst relative difference from the "
        "float64 power iteration to 1e-12 (which `tests/test_analysis.py` checks against the full Hessian's "
        "eigenvalues); the contenders start from different random vectors.\n\n"
        + markdown_table(["method", "ms", "vs mlplab", "max rel. difference"], rows)
    )
    write_section("analysis-sharpness", body)
    print(body)


def main() -> None:
    torch.set_num_threads(1)  # tiny models are dispatch-bound: one thread for every contender
    sharpness_section()
    if sys.argv[1:] == ["sharpness"]:
        return
    run = mlplab.run("piecewise-residual", progress=False, train={"snapshots": True})
    rows, times = landscape_rows(run)
    snaps = snapshot_rows()
    goal_time = "met" if times["mlplab"] <= 1.0 else "NOT met"
    goal_ratio = "met" if times["loop"] / times["mlplab"] >= 10 else "NOT met"
    body = (
        "## Analyses (`bench_analysis.py`)\n\n"
        f"A {STEPS} x {STEPS} loss landscape of `piecewise-residual` (2-2-2-2 residual MLP, 300 points, MSE) around "
        "its trained weights: mlplab evaluates all 2601 weight vectors in batched calls "
        "(`torch.func.vmap` of `functional_call` over stacked parameter dicts); the loop loads each weight vector into "
        "the model and runs one forward pass, as a hand-written script would; loss-landscapes does the same through "
        "its model wrapper. Median wall time, one torch thread each. Worst relative difference: mlplab's grid against "
        f"the loop's on the same directions. Goals: <= 1 s ({goal_time}), >= 10x the loop ({goal_ratio}).\n\n"
        + markdown_table(["method", "ms", "vs mlplab", "max rel. difference"], rows)
        + "\nWhat recording snapshots (`train.snapshots = true`: every parameter and batch-norm statistic at each of "
        "the ~100 recorded frames) costs: the whole `mlplab.run` (median of 6, with and without alternating, in both orders) and the size of "
        "`trajectory.npz` (compressed) without and with them.\n\n"
        + markdown_table(["preset", "data", "parameters", "frames", "run s (off)", "run s (on)", "time", "copies ms", "npz kB (off)",
                          "npz kB (on)", "size"], snaps)
        + "\nThe whole-run difference is noise on a shared machine (tens of percent either way from one run of this "
        "script to the next); what snapshots really add is one copy of the state dict per recorded frame, timed "
        "alone in 'copies ms' (frames x one copy): a few milliseconds at most. The file grows by (frames x parameters x 4 bytes) before compression: little for the "
        "course's 2-D models (whose npz is dominated by the recorded grid), several-fold for the d2l MLP "
        "(20 frames of its weights, which compress poorly).\n"
    )
    write_section("analysis", body)
    print(body)


if __name__ == "__main__":
    main()
