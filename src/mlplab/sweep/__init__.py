"""Sweeps: many variants of one experiment trained at once (stacked where shapes allow), stored, compared.

The CLI pieces below are plain functions (the lead registers them as ``mlplab sweep`` and ``mlplab runs``);
they raise SpecError for bad input and print to the Console they are given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import MlplabError, SpecError
from .report import comparisons, summarize, write_sweep_report
from .runner import sweep
from .spec import SweepSpec, Variant, expand, load_sweep, make_sweep, sweep_presets

__all__ = ["sweep", "SweepSpec", "Variant", "expand", "load_sweep", "make_sweep", "sweep_presets",
           "write_sweep_report", "summarize", "comparisons", "sweep_command", "runs_list", "runs_show", "runs_compare"]


def _console(console: Any):
    if console is not None:
        return console
    from rich.console import Console

    return Console(soft_wrap=True)


def sweep_command(file: str | SweepSpec, out: str | Path = "sweeps", executor: str = "local", workers: int = 1,
                  progress: bool | None = None, console: Any = None) -> Path:
    """Run a sweep file or preset (or a loaded `SweepSpec`) into the store ``out`` and write
    ``out/<sweep>/sweep.html``; returns its path."""
    from ..store import Store

    con = _console(console)
    spec = file if isinstance(file, SweepSpec) else load_sweep(file)
    from ..training.run import interrupted

    try:
        df = sweep(spec, out=out, executor=executor, workers=workers, progress=progress)
    except KeyboardInterrupt as stop:  # write the report of what was done, then stop as asked
        df = getattr(stop, "frame", None)
        if df is None:  # before the sweep had rows
            raise
    report = write_sweep_report(df, Path(out) / spec.name / "sweep.html", store=Store(out), title=spec.name)
    counts = ", ".join(f"{v} {k}" for k, v in df.status.value_counts().items())
    con.print(f"{spec.name}: {len(df)} runs ({counts}; {int(df.reused.fillna(False).sum())} reused from {out})")
    for sentence in comparisons(df):
        con.print(f"  {sentence}")
    con.print(f"report: {report}")
    failed = df[df.status == "failed"]
    reasons = failed.message.value_counts()
    all_failed = len(df) > 0 and len(failed) == len(df)  # nothing trained: the command failed
    if not (all_failed and len(reasons) == 1):  # one reason goes into the error line itself
        for message, count in reasons.items():  # each distinct reason once, with its count
            con.print(f"  {count} failed: {message}")
    if all_failed:
        why = f": {reasons.index[0]}" if len(reasons) == 1 else ", for the reasons above"
        raise MlplabError(f"every run of sweep {spec.name!r} failed{why}")
    stopped = int(df.status.isin(["interrupted", "not run"]).sum())
    if stopped:  # Ctrl-C: the caller stops too, told what is kept
        from ..store import DONE

        kept = int(df.status.isin(DONE).sum())
        raise interrupted(message=f"{kept} finished runs are stored in {out}; {stopped} were interrupted or "
                          "not started: the same command finishes them (stored runs are reused)")
    return report


def runs_list(store_dir: str | Path, console: Any = None, **filters: Any) -> Any:
    """A table of the stored runs (id prefix, name, sweep, status, final loss, metrics)."""
    from rich.table import Table

    df = _store(store_dir).query(**filters)
    table = Table("id", "name", "sweep", "status", "final loss", "metrics", title=f"runs in {store_dir}")
    metric_cols = [c for c in df.columns if c.startswith(("train_", "val_", "test_"))]
    for _, r in df.iterrows():
        metrics = ", ".join(f"{c}={r[c]:.4g}" for c in metric_cols if r[c] == r[c] and r[c] is not None)
        loss = "–" if r.final_loss != r.final_loss or r.final_loss is None else f"{r.final_loss:.6g}"
        table.add_row(r.id[:10], r["name"], r.sweep or "", r.status, loss, metrics)
    _console(console).print(table)
    return table


def runs_show(store_dir: str | Path, run_id: str, console: Any = None) -> Any:
    """One stored run: its spec and results."""
    import json

    from rich.table import Table

    store = _store(store_dir)
    full = store.resolve_id(run_id)
    row = store.row(full)
    table = Table("field", "value", title=f"run {full}", show_header=False)
    for key in ("name", "sweep", "status", "steps", "final_loss", "code_version", "created"):
        table.add_row(key, str(row[key]))
    for key in ("variant", "metrics", "timings"):
        for k, v in json.loads(row[key] or "{}").items():
            table.add_row(f"{key}.{k}", str(v))
    spec = json.loads(row["spec"])
    for section in ("data", "model", "train"):
        table.add_row(section, ", ".join(f"{k}={v}" for k, v in spec.get(section, {}).items() if v not in (None, {}, "")))
    table.add_row("files", str(store.folder(full)) + ("" if store.done(full) else f" ({store.check(full)})"))
    _console(console).print(table)
    return table


def runs_compare(store_dir: str | Path, ids_or_filter: list[str], console: Any = None) -> Any:
    """Compare runs given by id prefixes, or by ``field=value`` filters, grouped by experiment and variant.

    Filters: a store column (``sweep=practice-variants``, ``status=finished``), a spec field with dots
    (``train.lr=0.01``), or a varied value of the sweep (``experiment=practice-mlp``, ``seed=3``). Runs that
    differ only in their seeds are one group; the sentences say which groups differ beyond the seed spread.
    """
    from rich.table import Table

    from ..store import COLUMNS
    from .spec import variant_label

    store = _store(store_dir)
    filters, varied, ids = {}, {}, []
    for item in ids_or_filter:
        if "=" in item:
            key, value = item.split("=", 1)
            if key in COLUMNS or "." in key or "__" in key:
                filters[key.replace(".", "__")] = _parse(value)
            else:  # a value the sweep varied: filtered on the rows below
                varied[key] = _parse(value)
        else:
            ids.append(store.resolve_id(item))
    df = store.query(**filters)
    if ids:
        df = df[df.id.isin(ids)]
    for key, value in varied.items():
        if key not in df.columns:
            known = sorted(c for c in df.columns if c == "experiment" or "." in c or c == "seed")
            raise SpecError(key, f"a store column ({', '.join(COLUMNS)}), a spec field with dots, or a varied value "
                            f"({', '.join(known) or 'none in these runs'})", f"{key}={value}")
        df = df[df[key].map(lambda v: v == value or (isinstance(v, tuple) and list(v) == value))]
    if df.empty:
        raise SpecError("runs", "ids or filters that match at least one stored run", ids_or_filter)
    variant_cols = [c for c in df.columns if "." in c or c in ("seed", "experiment")]
    many_sweeps = df.sweep.nunique(dropna=False) > 1
    labels = []
    for _, r in df.iterrows():  # the experiment and the varied fields, without seeds: repeats share a label
        values = {c: r[c] for c in variant_cols if r[c] == r[c] and r[c] is not None}
        label = variant_label(values) if values else r["name"]
        labels.append(f"{r.sweep}: {label}" if many_sweeps and r.sweep else label)
    df = df.assign(run_id=df.id, variant=labels)
    summary = summarize(df)
    table = Table(*[str(c) for c in summary.columns], title="final loss per experiment and variant")
    for _, r in summary.iterrows():
        table.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in r])
    con = _console(console)
    con.print(table)
    for sentence in comparisons(df):
        con.print(sentence)
    return table


def _store(store_dir: str | Path):
    from ..store import Store

    if not (Path(store_dir) / "index.sqlite").is_file():
        raise SpecError("store", "a directory written by `mlplab sweep -o DIR`", str(store_dir), "no index.sqlite there")
    return Store(store_dir)


def _parse(text: str) -> Any:
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text
