"""The ``mlplab`` command. Exit codes: 0 success, 2 bad input (one message, no traceback), 1 internal error."""

from __future__ import annotations

import errno
import functools
import os
import signal
import socket
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from . import _early_interrupt
from .errors import MlplabError, SpecError
from .tomlfile import read_toml

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="mlplab: see and measure how multilayer perceptrons learn.")
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

EXPORTS = ("html", "gif", "mp4", "png")


class _Stopped(Exception):
    """Ctrl-C or SIGTERM inside a command, carried past click (which would end it silently) to `main`."""


def _interruptible(command):
    """Let `main` say what an interrupted command kept, instead of click's bare exit 130."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except KeyboardInterrupt as exc:
            raise _Stopped(str(exc)) from None

    return wrapper


def _version(value: bool) -> None:
    if value:
        from . import __version__

        out.print(f"mlplab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="print the version and exit")) -> None:
    """mlplab: see and measure how multilayer perceptrons learn."""


def saved_or_experiment(target: str, **run_options: Any) -> Any:
    """What ``target`` names, checked before anything trains: a run folder read back (a `Run`), or a
    training experiment (preset name or file) with the ``epochs``/``train`` overrides applied and its
    memory estimated (an `Experiment`, trained by `trained`)."""
    if Path(target).is_dir():
        return read_run_folder(Path(target))
    from .api import resolve
    from .budget import check as check_budget

    exp = load_experiment(target)
    if exp.kind != "train":
        raise SpecError("target", "a training experiment", f"{exp.name} (kind {exp.kind})")
    overrides = {"train": dict(run_options.get("train") or {})}
    if run_options.get("epochs") is not None:
        overrides["train"]["epochs"] = run_options["epochs"]
    exp = resolve(exp, **overrides)
    check_budget(exp)
    return exp


def trained(source: Any, **run_options: Any) -> Any:
    """The `Run` of `saved_or_experiment`'s answer: as read, or trained now (`mlplab.run` options)."""
    from .specs import Experiment

    if not isinstance(source, Experiment):
        return source
    from .api import run as run_api

    options = {k: v for k, v in run_options.items() if k not in ("epochs", "train")}  # applied already
    return run_api(source, **options)


def read_run_folder(folder: Path) -> Any:
    """A run folder written by `mlplab run`, read back; whatever is wrong with its files (empty or
    malformed run.json, missing arrays, a model.pt that is garbage, a pickle or another architecture's
    weights) is one DataFileError naming the folder."""
    from .errors import DataFileError
    from .training.run import load_run

    hint = "is this a directory written by `mlplab run`, left as it was?"
    try:
        run = load_run(folder)
        spec = run.spec
        if not (isinstance(spec, dict) and isinstance(spec.get("model", {}), dict) and isinstance(run.name, str)):
            raise DataFileError(folder / "run.json", "does not hold an experiment spec (a table with a model)", hint)
        return run
    except MlplabError:
        raise
    except Exception as exc:  # the reader's own failures on damaged files: a message, never a traceback
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise DataFileError(folder, f"is not a readable run folder ({type(exc).__name__}: {first})", hint) from None


def load_experiment(target: str) -> Any:
    """A preset name, or a TOML experiment file (``preset = "..."`` starts from a preset)."""
    from .api import resolve

    path = Path(target)
    if target.endswith(".toml") or (path.exists() and not path.is_dir()):  # a pipe or device is refused there
        values = read_toml(path, "experiment file")
        values.setdefault("name", path.stem.replace(" ", "-"))
        return resolve(values)
    return resolve(target)


def check_output(folder: Path, option: str = "-o") -> Path:
    """Make ``folder`` (a directory to write into) now, before any training, or say why it cannot be."""
    if folder.exists() and not folder.is_dir():
        raise SpecError(option, "a directory", str(folder), hint="It is a file; choose another path")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SpecError(option, "a directory that can be created", str(folder), hint=exc.strerror or str(exc)) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise SpecError(option, "a writable directory", str(folder), hint="Permission denied")
    return folder


@app.command("list")
@_interruptible
def list_presets() -> None:
    """List the presets, in course order."""
    from rich.table import Table

    from .presets import PRESETS

    table = Table("name", "notebook", "title")
    for exp in PRESETS.values():
        table.add_row(exp.name, exp.notebook.split(":")[0], exp.title)
    out.print(table)


@app.command("run")
@_interruptible
def run_cmd(
    target: str = typer.Argument(..., help="a preset name (see `mlplab list`) or an experiment .toml file"),
    output: Path = typer.Option(Path("out"), "-o", "--output", help="directory; the run goes to DIR/<name>/"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="override train.epochs"),
    seed: Optional[int] = typer.Option(None, "--seed", help="override the data and training seed"),
    export: list[str] = typer.Option([], "--export", help="also write the animation as html, gif, mp4 or png"),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="progress bar (default: in a terminal)"),
    resume: bool = typer.Option(False, "--resume", help="TARGET is a run folder: train it --epochs more (or the "
                                "rest of an interrupted run) and write it back there"),
) -> None:
    """Run one experiment and write report.html, run.json and trajectory.npz."""
    for fmt in export:
        if fmt not in EXPORTS:
            raise SpecError("--export", f"one of {', '.join(EXPORTS)}", fmt)
    if epochs is not None and epochs < 1:
        raise SpecError("--epochs", "a positive integer", epochs)
    if seed is not None and seed < 0:
        raise SpecError("--seed", "a non-negative integer", seed)
    if resume:
        if seed is not None:
            raise SpecError("--seed", "no seed with --resume (a resumed run keeps its own)", seed)
        return _resume_run(Path(target), epochs, export, progress)
    from .api import resolve, run as run_api
    from .budget import check as check_budget
    from .extras import check_extras

    exp = load_experiment(target)
    if epochs is not None or seed is not None:
        seeds = {"seed": seed} if seed is not None else {}
        exp = resolve(exp, train={"epochs": epochs or exp.train.epochs, **seeds}, data=seeds)
    check_extras(exp)  # everything that can be refused is refused before the first step
    check_budget(exp)
    check_output(output)
    if (output / exp.name).exists() and not (output / exp.name).is_dir():  # made only once there is a run to save
        raise SpecError("-o", f"a directory where {exp.name}/ can be written", str(output),
                        hint=f"{output / exp.name} is a file")
    from .training.callbacks import Callback

    class Announce(Callback):  # said once the data is read and the model built, right before the first step
        def on_train_start(self, t) -> None:
            out.print(f"{exp.name}: training (Ctrl-C stops it and keeps what was recorded)")

    try:
        run = run_api(exp, progress=progress, callbacks=[Announce()])
    except KeyboardInterrupt as exc:
        if getattr(exc, "run", None) is None:
            raise
        run = exc.run  # saved below like any run; the exit code says it was interrupted
    _finish_run(run, write_outputs(run, output / run.name, export))


def _resume_run(folder: Path, epochs: Optional[int], export: list[str], progress: Optional[bool]) -> None:
    """``mlplab run RUN_DIR --resume [--epochs N]``: continue a saved run in its own folder."""
    from .training.resume import resume_epochs
    from .training.run import load_run

    if not folder.is_dir():
        raise SpecError("--resume", "a run folder written by `mlplab run` (run.json, model.pt, state.npz)", str(folder))
    check_output(folder, "TARGET")
    run = load_run(folder)
    epochs = resume_epochs(run, epochs)
    callbacks = []
    from .viz.progress import Progress, default_progress

    if progress if progress is not None else default_progress():
        callbacks.append(Progress(run.name))
    out.print(f"{run.name}: resuming at step {run.steps} for {epochs} epochs (Ctrl-C stops it and keeps what was recorded)")
    more = run.resume(epochs)  # Ctrl-C ends the training (status "interrupted"), not the command: saved below
    _finish_run(more, write_outputs(more, folder, export))


def _finish_run(run, folder: Path) -> None:
    """Say how a run ended and where it is; exit 130 when it was interrupted."""
    line = f"{run.name}: {run.status}, {run.steps} steps"
    if run.final_loss is not None:
        line += f", final loss {run.final_loss:.6g}"
    out.print(line)
    note = getattr(run.data, "params", {}).get("note") if run.data is not None else None
    if note:  # e.g. which data set an image preset found
        out.print(note)
    if run.message:
        err.print(run.message)
    out.print(f"report: {folder / 'report.html'}")
    if run.status == "interrupted":
        raise typer.Exit(130)


def write_outputs(run, folder: Path, export: list[str] = (), plotly_js: Optional[str] = None) -> Path:
    """Save the run and its report; every surface that writes runs to disk comes through here.

    ``plotly_js``: None writes a self-contained report; a relative path shares one plotly.js (galleries).
    """
    from .viz.panels import extra_figures
    from .viz.report import write_report

    run.save(folder)
    write_report(run, folder / "report.html", figures=extra_figures(run), plotly_js=plotly_js)
    if export:
        from .viz import figure_for_run
        from .viz.export import export_animations, export_png

        fig = figure_for_run(run)
        if fig is None:
            raise SpecError("--export", "a run with something to draw", run.name)
        if "png" in export:
            export_png(fig, folder / "animation.png")
        if fig.frames:  # html/gif/mp4 of the animation; frames are rendered once for gif and mp4 together
            export_animations(fig, [folder / f"animation.{fmt}" for fmt in dict.fromkeys(export) if fmt != "png"])
        elif set(export) - {"png"}:
            fig.write_html(folder / "figure.html", include_plotlyjs=True)
    return folder


@app.command("course")
@_interruptible
def course(
    output: Path = typer.Option(Path("out"), "-o", "--output", help="directory for the gallery and the reports"),
    only: list[str] = typer.Option([], "--only", help="run only these presets (repeatable)"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="override every preset's epochs (for a quick look)"),
) -> None:
    """Run every preset of the course and write DIR/index.html, a gallery of the reports.

    The reports share one DIR/plotly.min.js (keep it beside them); `mlplab run` writes portable ones.
    """
    from rich.progress import Progress

    from .api import run as run_api
    from .presets import PRESETS
    from .training.run import interrupted
    from .viz.report import PLOTLY_JS, write_gallery, write_plotlyjs

    names = list(only) or [n for n, e in PRESETS.items() if e.extras.get("in_course", True)]
    for name in names:
        if name not in PRESETS:
            raise SpecError("--only", f"a preset name ({', '.join(PRESETS)})", name)
    check_output(output)
    entries = []
    started = time.perf_counter()
    with Progress(console=err, transient=True, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task("course", total=len(names))
        partly = ""
        try:
            for name in names:
                bar.update(task, description=name)
                try:
                    run = run_api(name, epochs=epochs, progress=False)
                except KeyboardInterrupt as exc:
                    if getattr(exc, "run", None) is not None:  # keep the steps done, as `mlplab run` does
                        write_outputs(exc.run, output / name, plotly_js=f"../{PLOTLY_JS}")
                        partly = f", {name} partly"
                    raise
                write_outputs(run, output / name, plotly_js=f"../{PLOTLY_JS}")
                entries.append(run)
                bar.advance(task)
        except KeyboardInterrupt:
            write_plotlyjs(output)  # the reports written so far open offline too
            raise interrupted(message=f"{len(entries)} of {len(names)} experiments finished and written "
                              f"to {output}{partly}") from None
    write_plotlyjs(output)
    index = write_gallery(entries, output / "index.html", title="mlplab: the course, experiment by experiment")
    out.print(f"{len(entries)} experiments in {time.perf_counter() - started:.1f} s")
    out.print(f"gallery: {index}")


@app.command("explain")
@_interruptible
def explain_cmd(
    topic: str = typer.Argument(..., help="two-layer, dead-relu, vjp-sin, symmetry, params, backprop"),
    spec: Optional[str] = typer.Argument(None, help="for params/backprop: IN-H1-...-OUT[,flags], e.g. 2-32-1,out=sigmoid"),
) -> None:
    """Print a worked computation step by step, as matrices (backprop: every value checked against autograd)."""
    from .explain import explain, render

    render(explain(topic, spec), out)


@app.command("regions")
@_interruptible
def regions_cmd(
    target: str = typer.Argument(..., help="a preset name, an experiment .toml, or a run directory"),
    output: Path = typer.Option(Path("out"), "-o", "--output", help="directory; writes DIR/<name>/regions.html"),
) -> None:
    """The exact linear regions of a trained ReLU network: map, count against the bounds, through training.

    A 1-input network gets its exact linear pieces (breakpoints) on the fitted curve instead."""
    from .geometry import bounds, default_box, default_interval, linear_pieces_1d, linear_regions, upper_bound
    from .viz.panels import region_figures
    from .viz.regions import pieces_phrase, regions_phrase
    from .viz.report import write_report

    check_output(output)
    source = saved_or_experiment(target, train={"snapshots": True})
    try:
        run = trained(source)
    except KeyboardInterrupt:
        raise _Stopped("nothing was saved (regions are drawn from a finished run)") from None
    if run.model is None or run.data is None or run.data.d_in not in (1, 2):
        got = f"{target} ({run.data.d_in} inputs)" if run.data is not None else target
        raise SpecError("target", "a run of a model with 1 or 2 inputs", got)
    spec = run.model.spec
    leaky = spec.activation == "leaky_relu"
    if run.data.d_in == 1:
        lo, hi = default_interval(run)
        pieces = linear_pieces_1d(run.model, (lo, hi))  # raises a SpecError naming a non-linear layer
        found = [upper_bound(1, spec.hidden, residual=spec.residual, leaky=leaky)] if spec.hidden else []
    else:
        regions = linear_regions(run.model, default_box(run))
        found = bounds(spec.in_dim, spec.hidden, residual=spec.residual, leaky=leaky).items()
    folder = output / run.name
    folder.mkdir(parents=True, exist_ok=True)
    path = write_report(run, folder / "regions.html", figures=region_figures(run), title=f"{run.name}: linear regions")
    if run.data.d_in == 1:
        out.print(f"{run.name}: {pieces_phrase(len(pieces))} on [{lo:.4g}, {hi:.4g}], "
                  f"{len(pieces.breakpoints)} breakpoints")
        for value, label in found:
            out.print(f"  {label}: {value}")
    else:
        out.print(f"{run.name}: {regions_phrase(len(regions))} (smallest area {regions.smallest_area:.3g})")
        if spec.residual or leaky:  # Serra's bound and the lower bounds need plain ReLU
            out.print("  bounds that hold for this architecture (the residual bound is mlplab's own: proof in "
                      "docs/architecture.md, Geometry, and mlplab.geometry.bounds.residual_upper):")
        for key, value in found:
            out.print(f"  {key}: {value}")
    out.print(f"report: {path}")


@app.command("analyze")
@_interruptible
def analyze_cmd(
    targets: list[str] = typer.Argument(..., help="preset names or run directories; several: also a side-by-side page"),
    what: str = typer.Option("landscape,spectrum,health,sharpness", "--what",
                             help="comma-separated analyses: landscape, spectrum, health, sharpness"),
    output: Path = typer.Option(Path("out"), "-o", "--output", help="writes DIR/<name>/analysis.html (and the run)"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="override train.epochs when training a preset"),
) -> None:
    """Loss landscape, spectral bias, layer health and sharpness of trained runs, as self-contained reports.

    A preset is trained with snapshots on (the analyses need the weights of every recorded frame); a run
    directory is read as saved. An analysis a run cannot give is skipped with its reason.
    """
    from .analysis import ANALYSES
    from .viz.analysis import CAPTIONS, analysis_figures, figure as analysis_figure, write_comparison
    from .viz.report import write_report

    names = [w.strip() for w in what.split(",") if w.strip()]
    for name in names:
        if name not in ANALYSES:
            raise SpecError("--what", f"names from {', '.join(ANALYSES)}", name)
    if epochs is not None and epochs < 1:
        raise SpecError("--epochs", "a positive integer", epochs)
    check_output(output)
    # every target is read or resolved (and its memory estimated) before the first one trains
    sources = [saved_or_experiment(t, epochs=epochs, train={"snapshots": True}) for t in targets]
    runs = []
    for target, source in zip(targets, sources):
        try:
            run = trained(source, progress=False)
        except KeyboardInterrupt:
            done = f"; the analyses of {', '.join(r.name for r in runs)} are written" if runs else ""
            raise _Stopped(f"{target} was not analysed (analyses need a finished run){done}") from None
        if not Path(target).is_dir():  # trained now: keep it beside its report
            run.save(output / run.name)
        figures, skipped = [], []
        for name in names:
            try:
                figures += analysis_figures(run, [name])
            except MlplabError as exc:
                skipped.append(f"{name}: {exc}")
        if not figures:
            raise SpecError("--what", "analyses this run can give", what, "; ".join(skipped))
        path = write_report(run, output / run.name / "analysis.html", figures=figures, title=f"{run.name}: analysis")
        for line in skipped:
            err.print(f"{run.name}: skipped {line}", highlight=False, markup=False)
        out.print(f"{run.name}: {len(figures)} figures\nreport: {path}")
        runs.append(run)
    if len(runs) > 1:
        from . import analysis as A

        pairs = []
        for name in names:
            try:
                if name == "landscape":
                    results = [A.landscape(r, directions="pca") for r in runs]
                else:
                    results = [getattr(A, name)(r) for r in runs]
            except MlplabError:
                continue  # not every run gives every analysis; each run's own page says why
            pairs.append((f"{CAPTIONS[name]} Side by side.", analysis_figure(results)))
        label = "-vs-".join(r.name for r in runs)
        path = write_comparison(runs, pairs, output / f"compare-{label}.html",
                                f"{' vs '.join(r.name for r in runs)}: analyses side by side")
        out.print(f"comparison: {path}")


@app.command("serve")
@_interruptible
def serve_cmd(
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on"),
    port: int = typer.Option(8000, "--port", help="port to listen on"),
    open_target: Optional[str] = typer.Option(
        None, "--open", help="NAME|FILE.toml: open the page in the browser with that experiment loaded ('-': empty)"),
) -> None:
    """The browser playground: train, watch and share, live (works offline)."""
    if not 0 < port < 65536:
        raise SpecError("--port", "a port number between 1 and 65535", port)
    check_listen(host, port)
    from . import web

    url = None
    if open_target not in (None, "-"):
        from .web.url import playground_url

        url = playground_url(load_experiment(open_target), host, port)
    web.serve(host, port, open_browser=open_target is not None, url=url)


def check_listen(host: str, port: int) -> None:
    """Bind (host, port) once, as the server will, so that a busy port or a foreign host is named now."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise SpecError("--host", "an address or name of this machine (127.0.0.1, 0.0.0.0, localhost)", host,
                        hint=getattr(exc, "strerror", None) or str(exc)) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise SpecError("--port", "a free port", port, hint="Another program listens there; pick another") from None
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise SpecError("--port", "a port this user may open (1024 and above)", port) from None
            raise SpecError("--host", "an address of this machine (127.0.0.1, 0.0.0.0)", host,
                            hint=exc.strerror or str(exc)) from None


@app.command("sweep")
@_interruptible
def sweep_cmd(
    file: str = typer.Argument(..., help="a sweep .toml file or a sweep preset name"),
    output: Path = typer.Option(Path("sweeps"), "-o", "--output", help="the run store; the report goes to DIR/<name>/"),
    executor: str = typer.Option("local", "--executor", help="local, process or ray"),
    workers: int = typer.Option(1, "--workers", help="processes for --executor process"),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress"),
) -> None:
    """Train every variant of a sweep (finished runs in the store are reused) and write its report."""
    from .sweep import expand, load_sweep, sweep_command

    spec = load_sweep(file)
    expand(spec)  # a broken file or a run with bad settings is named before -o or the store is made
    check_output(output)
    try:
        sweep_command(spec, output, executor, workers, progress, console=out)
    except KeyboardInterrupt as exc:
        # a Ctrl-C while workers run reaches here bare; every run finished before it has its files and row
        raise _Stopped(str(exc) or f"the runs finished before the Ctrl-C are stored in {output}; the same command "
                       "finishes the rest (stored runs are reused)") from None


runs_app = typer.Typer(help="Look into a run store written by `mlplab sweep`.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")


@runs_app.command("list")
@_interruptible
def runs_list_cmd(store: Path = typer.Option(Path("sweeps"), "-s", "--store", help="the store directory")) -> None:
    """One line per stored run."""
    from .sweep import runs_list

    runs_list(store, console=out)


@runs_app.command("show")
@_interruptible
def runs_show_cmd(run_id: str = typer.Argument(..., help="a run id or its prefix"),
                  store: Path = typer.Option(Path("sweeps"), "-s", "--store")) -> None:
    """Everything stored about one run."""
    from .sweep import runs_show

    runs_show(store, run_id, console=out)


@runs_app.command("compare")
@_interruptible
def runs_compare_cmd(items: list[str] = typer.Argument(..., help="id prefixes or filters: sweep=NAME, "
                                                      "experiment=PRESET, train.lr=0.01, seed=3"),
                     store: Path = typer.Option(Path("sweeps"), "-s", "--store")) -> None:
    """Runs side by side, grouped by experiment and variant (seeds pooled): final losses, metrics, real differences."""
    from .sweep import runs_compare

    runs_compare(store, items, console=out)


@runs_app.command("rebuild")
@_interruptible
def runs_rebuild_cmd(store: Path = typer.Option(Path("sweeps"), "-s", "--store", help="the store directory")) -> None:
    """Rebuild the store's index from its run folders (the folders are the truth)."""
    from .store import Store

    if not (store / "runs").is_dir():
        raise SpecError("--store", "a directory written by `mlplab sweep -o DIR`", str(store), "no runs/ folder there")
    out.print(Store(store).rebuild())


# What writing (or reading) a user's files can meet that is no bug of ours: said in one line, exit 2.
OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.ENAMETOOLONG, errno.EROFS, errno.EACCES, errno.EPERM,
                           errno.EFBIG, errno.ENOTDIR, errno.EISDIR, errno.ELOOP})


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings in the CLI are one line on stderr (a rebuilt index, a note from a library), not source lines."""
    err.print(f"warning: {message}", highlight=False, markup=False)


def main(argv: list[str] | None = None) -> int:
    """Entry point: bad input becomes one line on stderr and exit code 2; Ctrl-C or SIGTERM exit code 130."""
    with warnings.catch_warnings():
        from .store import IndexRebuilt

        warnings.showwarning = _show_warning
        warnings.simplefilter("always", IndexRebuilt)  # a repair is news, never an error
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    restore = _term_as_interrupt()
    try:
        _command_ready()
        # Without standalone mode, click hands back typer.Exit's code instead of raising it.
        result = app(args=argv, standalone_mode=False)
        if isinstance(result, int) and not isinstance(result, bool):
            return result
    except MlplabError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err.print("aborted")
        return 130
    except OSError as exc:
        if exc.errno not in OUTPUT_ERRNOS:
            raise
        # a full disk, a name over the system's limit, a read-only place: one line naming the path
        where = exc.filename or "output"
        err.print(f"error: {where}: {exc.strerror or exc}", highlight=False, markup=False)
        return 2
    except (KeyboardInterrupt, _Stopped) as exc:  # what was finished is saved already; the message says what
        err.print(f"interrupted: {exc}" if str(exc) else "interrupted before anything was saved",
                  highlight=False, markup=False)
        return 130
    except Exception as exc:
        # Usage errors (unknown option, missing argument) carry their own message and exit code 2.
        # Typer vendors click, so recognise them by behaviour instead of importing a private class.
        if callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None), int):
            exc.show(file=sys.stderr)
            return exc.exit_code
        raise
    finally:
        restore()
    return 0


def _command_ready() -> None:
    """From here on a Ctrl-C is reported with what it kept: Python's own handler raises KeyboardInterrupt."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is _early_interrupt:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _term_as_interrupt():
    """SIGTERM stops the command the way Ctrl-C does (partial runs saved, exit 130); returns the undo."""
    if sys.platform == "win32" or threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum, frame):
        raise KeyboardInterrupt("stopped by SIGTERM")

    previous = signal.signal(signal.SIGTERM, interrupt)
    return lambda: signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
