"""The ``mlplab`` command. Exit codes: 0 success, 2 bad input (one message, no traceback), 1 internal error."""

from __future__ import annotations

import sys
import time
import tomllib
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from .errors import MlplabError, SpecError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="mlplab: see and measure how multilayer perceptrons learn.")
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

EXPORTS = ("html", "gif", "mp4", "png")


def _version(value: bool) -> None:
    if value:
        from . import __version__

        out.print(f"mlplab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="print the version and exit")) -> None:
    """mlplab: see and measure how multilayer perceptrons learn."""


def load_experiment(target: str) -> Any:
    """A preset name, or a TOML experiment file (``preset = "..."`` starts from a preset)."""
    from .api import resolve

    path = Path(target)
    if target.endswith(".toml") or path.is_file():
        if not path.is_file():
            raise SpecError("experiment file", "an existing .toml file", target)
        try:
            values = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SpecError(str(path), "valid TOML", f"a parse error ({exc})") from None
        values.setdefault("name", path.stem.replace(" ", "-"))
        return resolve(values)
    return resolve(target)


@app.command("list")
def list_presets() -> None:
    """List the presets, in course order."""
    from rich.table import Table

    from .presets import PRESETS

    table = Table("name", "notebook", "title")
    for exp in PRESETS.values():
        table.add_row(exp.name, exp.notebook.split(":")[0], exp.title)
    out.print(table)


@app.command("run")
def run_cmd(
    target: str = typer.Argument(..., help="a preset name (see `mlplab list`) or an experiment .toml file"),
    output: Path = typer.Option(Path("out"), "-o", "--output", help="directory; the run goes to DIR/<name>/"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="override train.epochs"),
    seed: Optional[int] = typer.Option(None, "--seed", help="override the data and training seed"),
    export: list[str] = typer.Option([], "--export", help="also write the animation as html, gif, mp4 or png"),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="progress bar (default: in a terminal)"),
) -> None:
    """Run one experiment and write report.html, run.json and trajectory.npz."""
    for fmt in export:
        if fmt not in EXPORTS:
            raise SpecError("--export", f"one of {', '.join(EXPORTS)}", fmt)
    if epochs is not None and epochs < 1:
        raise SpecError("--epochs", "a positive integer", epochs)
    if seed is not None and seed < 0:
        raise SpecError("--seed", "a non-negative integer", seed)
    from .api import run as run_api

    exp = load_experiment(target)
    if exp.kind == "train":
        out.print(f"{exp.name}: training (Ctrl-C stops it and keeps what was recorded)")
    run = run_api(exp, epochs=epochs, seed=seed, progress=progress)
    folder = write_outputs(run, output / run.name, export)
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


def write_outputs(run, folder: Path, export: list[str] = ()) -> Path:
    """Save the run and its report; every surface that writes runs to disk comes through here."""
    from .viz.panels import extra_figures
    from .viz.report import write_report

    run.save(folder)
    write_report(run, folder / "report.html", figures=extra_figures(run))
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
def course(
    output: Path = typer.Option(Path("out"), "-o", "--output", help="directory for the gallery and the reports"),
    only: list[str] = typer.Option([], "--only", help="run only these presets (repeatable)"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="override every preset's epochs (for a quick look)"),
) -> None:
    """Run every preset of the course and write DIR/index.html, a gallery of the reports."""
    from rich.progress import Progress

    from .api import run as run_api
    from .presets import PRESETS
    from .viz.report import write_gallery

    names = list(only) or [n for n, e in PRESETS.items() if e.extras.get("in_course", True)]
    for name in names:
        if name not in PRESETS:
            raise SpecError("--only", f"a preset name ({', '.join(PRESETS)})", name)
    entries = []
    started = time.perf_counter()
    with Progress(console=err, transient=True, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task("course", total=len(names))
        for name in names:
            bar.update(task, description=name)
            run = run_api(name, epochs=epochs, progress=False)
            write_outputs(run, output / name)
            entries.append(run)
            bar.advance(task)
    index = write_gallery(entries, output / "index.html", title="mlplab: the course, experiment by experiment")
    out.print(f"{len(entries)} experiments in {time.perf_counter() - started:.1f} s")
    out.print(f"gallery: {index}")


@app.command("explain")
def explain_cmd(
    topic: str = typer.Argument(..., help="two-layer, dead-relu, vjp-sin, symmetry, params, backprop"),
    spec: Optional[str] = typer.Argument(None, help="for params/backprop: IN-H1-...-OUT[,flags], e.g. 2-32-1,out=sigmoid"),
) -> None:
    """Print a worked computation step by step, as matrices (backprop: every value checked against autograd)."""
    from .explain import explain, render

    render(explain(topic, spec), out)


@app.command("regions")
def regions_cmd(
    target: str = typer.Argument(..., help="a preset name, an experiment .toml, or a run directory"),
    output: Path = typer.Option(Path("out"), "-o", "--output", help="directory; writes DIR/<name>/regions.html"),
) -> None:
    """The exact linear regions of a trained ReLU network: map, count against the bounds, through training."""
    from .geometry import bounds, default_box, linear_regions
    from .training.run import load_run
    from .viz.panels import region_figures
    from .viz.report import write_report

    if Path(target).is_dir():
        run = load_run(target)
    else:
        from .api import run as run_api

        exp = load_experiment(target)
        if exp.kind != "train":
            raise SpecError("target", "a training experiment", f"{exp.name} (kind {exp.kind})")
        run = run_api(exp.replace(train=exp.train.replace(snapshots=True)))
    if run.model is None or run.data is None or run.data.d_in != 2:
        raise SpecError("target", "a run of a model with 2-D inputs", target)
    regions = linear_regions(run.model, default_box(run))  # raises a SpecError naming a non-linear layer
    spec = run.model.spec
    named = bounds(spec.in_dim, spec.hidden if not spec.residual else spec.hidden)
    folder = output / run.name
    folder.mkdir(parents=True, exist_ok=True)
    path = write_report(run, folder / "regions.html", figures=region_figures(run), title=f"{run.name}: linear regions")
    out.print(f"{run.name}: {len(regions)} linear regions (smallest area {regions.smallest_area:.3g})")
    for key, value in named.items():
        out.print(f"  {key}: {value}")
    out.print(f"report: {path}")


@app.command("analyze")
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
    from .training.run import load_run
    from .viz.analysis import CAPTIONS, analysis_figures, figure as analysis_figure, write_comparison
    from .viz.report import write_report

    names = [w.strip() for w in what.split(",") if w.strip()]
    for name in names:
        if name not in ANALYSES:
            raise SpecError("--what", f"names from {', '.join(ANALYSES)}", name)
    if epochs is not None and epochs < 1:
        raise SpecError("--epochs", "a positive integer", epochs)
    runs = []
    for target in targets:
        if Path(target).is_dir():
            run = load_run(target)
        else:
            from .api import run as run_api

            exp = load_experiment(target)
            if exp.kind != "train":
                raise SpecError("target", "a training experiment", f"{exp.name} (kind {exp.kind})")
            run = run_api(exp, epochs=epochs, progress=False, train={"snapshots": True})
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
def serve_cmd(
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on"),
    port: int = typer.Option(8000, "--port", help="port to listen on"),
    open_browser: bool = typer.Option(False, "--open", help="open the page in the default browser"),
) -> None:
    """The browser playground: train, watch and share, live (works offline)."""
    if not 0 < port < 65536:
        raise SpecError("--port", "a port number between 1 and 65535", port)
    from .web import serve

    serve(host, port, open_browser=open_browser)


@app.command("sweep")
def sweep_cmd(
    file: str = typer.Argument(..., help="a sweep .toml file or a sweep preset name"),
    output: Path = typer.Option(Path("sweeps"), "-o", "--output", help="the run store; the report goes to DIR/<name>/"),
    executor: str = typer.Option("local", "--executor", help="local, process or ray"),
    workers: int = typer.Option(1, "--workers", help="processes for --executor process"),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress"),
) -> None:
    """Train every variant of a sweep (finished runs in the store are reused) and write its report."""
    from .sweep import sweep_command

    sweep_command(file, output, executor, workers, progress, console=out)


runs_app = typer.Typer(help="Look into a run store written by `mlplab sweep`.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")


@runs_app.command("list")
def runs_list_cmd(store: Path = typer.Option(Path("sweeps"), "-s", "--store", help="the store directory")) -> None:
    """One line per stored run."""
    from .sweep import runs_list

    runs_list(store, console=out)


@runs_app.command("show")
def runs_show_cmd(run_id: str = typer.Argument(..., help="a run id or its prefix"),
                  store: Path = typer.Option(Path("sweeps"), "-s", "--store")) -> None:
    """Everything stored about one run."""
    from .sweep import runs_show

    runs_show(store, run_id, console=out)


@runs_app.command("compare")
def runs_compare_cmd(items: list[str] = typer.Argument(..., help="id prefixes or filters: sweep=NAME, "
                                                      "experiment=PRESET, train.lr=0.01, seed=3"),
                     store: Path = typer.Option(Path("sweeps"), "-s", "--store")) -> None:
    """Runs side by side, grouped by experiment and variant (seeds pooled): final losses, metrics, real differences."""
    from .sweep import runs_compare

    runs_compare(store, items, console=out)


def main(argv: list[str] | None = None) -> int:
    """Entry point: bad input becomes one line on stderr and exit code 2."""
    try:
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
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    except Exception as exc:
        # Usage errors (unknown option, missing argument) carry their own message and exit code 2.
        # Typer vendors click, so recognise them by behaviour instead of importing a private class.
        if callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None), int):
            exc.show(file=sys.stderr)
            return exc.exit_code
        raise
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
