"""The run store: rows only after complete files, reuse of finished runs, damaged runs redone, queries."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import mlplab
from mlplab.errors import DataFileError, SpecError
from mlplab.presets import experiment
from mlplab.store import IndexRebuilt, Store
from mlplab.sweep.runner import sweep
from mlplab.sweep.spec import expand, make_sweep
from mlplab.training.callbacks import Callback

EXP = experiment("piecewise-mlp", train={"epochs": 30})
GRID = {"model.hidden": [[2], [3]], "seed": [0, 1]}


def _sweep(out, **kw):
    return sweep(EXP, GRID, out=out, progress=False, name="s", **kw)


def test_rerun_skips_finished_runs_and_reads_them_back(tmp_path):
    first = _sweep(tmp_path)
    assert not first.reused.any() and set(first.status) == {"finished"}
    again = _sweep(tmp_path)
    assert again.reused.all()
    np.testing.assert_array_equal(again.final_loss, first.final_loss)
    store = Store(tmp_path)
    run = store.load(first.run_id[0], with_model=True)
    assert isinstance(run, mlplab.Run) and run.final_loss == pytest.approx(first.final_loss[0])
    assert run.model is not None and len(run.losses) == 30
    row = store.row(first.run_id[0])
    assert json.loads(row["variant"]) == {"model.hidden": [2], "seed": 0} and row["code_version"].startswith("0.")


def _redone(out, run_id):
    df = _sweep(out)
    row = df[df.run_id == run_id].iloc[0]
    return (not row.reused) and df.drop(index=row.name).reused.all()


@pytest.mark.parametrize("damage", ["truncate npz", "delete json", "garbage json", "delete folder"])
def test_damaged_runs_are_detected_and_redone(tmp_path, damage):
    run_id = _sweep(tmp_path).run_id[2]
    store = Store(tmp_path)
    folder = store.folder(run_id)
    if damage == "truncate npz":
        data = (folder / "trajectory.npz").read_bytes()
        (folder / "trajectory.npz").write_bytes(data[: len(data) // 2])
    elif damage == "delete json":
        (folder / "run.json").unlink()
    elif damage == "garbage json":
        (folder / "run.json").write_text("{not json")
    else:
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()
    assert store.check(run_id).startswith("damaged")
    with pytest.raises(DataFileError, match=run_id):
        store.load(run_id)
    assert _redone(tmp_path, run_id)
    assert store.check(run_id) == "ok"


def test_files_without_a_row_are_adopted_when_complete_and_redone_when_not(tmp_path):
    ids = _sweep(tmp_path).run_id
    store = Store(tmp_path)
    store.remove(ids[1])  # as if the process died between complete files and the row
    assert store.folder(ids[1]).exists() and store.check(ids[1]) == "no row"
    store.remove(ids[2])
    (store.folder(ids[2]) / "model.pt").unlink()  # ... or before the files were complete
    df = _sweep(tmp_path).set_index("run_id")
    assert bool(df.loc[ids[1], "reused"]) and Store(tmp_path).check(ids[1]) == "ok"
    assert not df.loc[ids[2], "reused"] and Store(tmp_path).check(ids[2]) == "ok"


def test_a_row_that_disagrees_with_its_files_is_redone(tmp_path):
    run_id = _sweep(tmp_path).run_id[0]
    with sqlite3.connect(tmp_path / "index.sqlite") as db:
        db.execute("UPDATE runs SET steps = 999 WHERE id = ?", (run_id,))
    assert Store(tmp_path).check(run_id).startswith("damaged")
    assert _redone(tmp_path, run_id)


class _Interrupt(Callback):
    """Ctrl-C at a given step of the n-th training."""

    def __init__(self, at_step: int):
        self.at_step = at_step

    def on_step_end(self, t, step, loss, pred):
        if step == self.at_step:
            raise KeyboardInterrupt


@pytest.mark.parametrize("batched", [True, False])
def test_interrupted_sweep_resumes_and_redoes_the_interrupted_runs(tmp_path, batched):
    with pytest.raises(mlplab.Interrupted) as stop:  # Ctrl-C stops the caller, with the rows done
        _sweep(tmp_path, callbacks=[_Interrupt(10)], batched=batched)
    df = stop.value.frame
    assert "interrupted" in set(df.status) and "finished" not in set(df.status)
    assert "not run" in set(df.status)  # the sweep stopped: nothing after the Ctrl-C was started
    store = Store(tmp_path)
    stopped = df[df.status == "interrupted"].run_id
    assert all(store.check(i) == "interrupted" for i in stopped)
    assert len(store.query(status="interrupted")) == len(stopped)
    resumed = _sweep(tmp_path)
    assert set(resumed.status) == {"finished"} and not resumed.reused.any()
    assert (resumed.steps == 30).all()


def test_query_filters_columns_and_spec_fields(tmp_path):
    _sweep(tmp_path)
    store = Store(tmp_path)
    assert len(store.query()) == 4 and len(store.query(sweep="s")) == 4 and len(store.query(sweep="x")) == 0
    narrow = store.query(model__hidden=[3])
    assert len(narrow) == 2 and set(narrow["model.hidden"]) == {(3,)}
    assert len(store.query(data__seed=1, model__hidden=[2])) == 1
    assert {"final_loss", "train_r2", "time_train_s", "code_version"} <= set(store.query().columns)
    with pytest.raises(SpecError, match="train__lrr"):
        store.query(train__lrr=0.1)
    with pytest.raises(SpecError) as err:
        store.resolve_id("zzz")
    assert err.value.param == "run id"


def test_run_ids_hash_the_spec_not_the_name():
    a, b = expand(make_sweep(EXP, {"seed": [0, 1]}))
    renamed = expand(make_sweep(EXP.replace(name="other"), {"seed": [0, 1]}))
    assert a.id != b.id and [v.id for v in renamed] == [a.id, b.id]


# ---------------------------------------------------------------- a damaged index (issue 13)


def _zero_pages(path):
    data = bytearray(path.read_bytes())
    page = 4096
    data[page : 3 * page] = bytes(min(2 * page, len(data) - page))  # the table's pages, not the header
    path.write_bytes(bytes(data))


def _wrong_schema(path):
    path.unlink()
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE runs (id TEXT, loss REAL)")


def _bad_json_cell(path):
    with sqlite3.connect(path) as db:
        db.execute("UPDATE runs SET metrics = '{not json' WHERE rowid = 1")


def _no_table(path):
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE runs")


INDEX_DAMAGE = {
    "0-byte file": (lambda p: p.write_bytes(b""), "empty file"),
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:1000]), "cannot be read"),
    "garbage": (lambda p: p.write_bytes(b"this is not a database\n" * 300), "cannot be read"),
    "zeroed pages": (_zero_pages, "index"),
    "wrong schema": (_wrong_schema, "wrong columns"),
    "non-JSON cell": (_bad_json_cell, "not JSON"),
    "no runs table": (_no_table, "no runs table"),
}


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """One finished sweep of four runs, copied for each test that damages it."""
    root = tmp_path_factory.mktemp("store")
    df = _sweep(root)
    return root, df


def _copy(stored, tmp_path):
    import shutil

    root, df = stored
    shutil.copytree(root, tmp_path / "s")
    return tmp_path / "s", df


def test_zeroed_pages_really_break_sqlite(stored, tmp_path):
    """The corpus must damage for real: plain sqlite3 fails on each file (else the repair is untested)."""
    for case, (damage, _) in INDEX_DAMAGE.items():
        out, _ = _copy(stored, tmp_path / case.replace(" ", "-"))
        damage(out / "index.sqlite")
        with pytest.raises((sqlite3.Error, ValueError, TypeError, AssertionError)):
            with sqlite3.connect(out / "index.sqlite") as db:
                rows = db.execute("SELECT id, spec, variant, metrics, timings FROM runs").fetchall()
                for r in rows:
                    [json.loads(c) for c in r[1:]]
                assert len(rows) == 4, case


@pytest.mark.parametrize("case", sorted(INDEX_DAMAGE))
def test_a_damaged_index_is_rebuilt_from_the_run_folders(stored, tmp_path, case):
    out, df = _copy(stored, tmp_path)
    damage, phrase = INDEX_DAMAGE[case]
    damage(out / "index.sqlite")
    store = Store(out)
    with pytest.warns(IndexRebuilt, match=phrase) as caught:
        table = store.query()
    assert "4 runs indexed" in str(caught[0].message)
    assert sorted(table.id) == sorted(df.run_id) and set(table.status) == {"finished"}
    # what the folders keep of each row: the sweep's name and the values it varied
    assert set(table.sweep) == {"s"} and set(table["model.hidden"]) == {(2,), (3,)}
    np.testing.assert_allclose(sorted(table.final_loss), sorted(df.final_loss))
    again = _sweep(out)
    assert again.reused.all()  # nothing retrained: the folders were the truth


@pytest.mark.parametrize("case", sorted(INDEX_DAMAGE))
@pytest.mark.parametrize("command", ["list", "show", "compare", "sweep"])
def test_cli_on_a_damaged_index_says_so_and_works(stored, tmp_path, capsys, case, command):
    from mlplab.cli import main

    out, df = _copy(stored, tmp_path)
    INDEX_DAMAGE[case][0](out / "index.sqlite")
    if command == "sweep":
        toml = tmp_path / "s.toml"
        toml.write_text('experiment = "piecewise-mlp"\nname = "s"\n[grid]\n"train.epochs" = [30]\n'
                        '"model.hidden" = [[2], [3]]\nseed = [0, 1]\n')
        args = ["sweep", str(toml), "-o", str(out), "--no-progress"]
    else:
        args = {"list": ["runs", "list"], "show": ["runs", "show", df.run_id[0][:8]],
                "compare": ["runs", "compare", "sweep=s"]}[command] + ["-s", str(out)]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "sqlite3" not in captured.err
    assert "warning:" in captured.err and "rebuilt from the run folders" in captured.err
    if command == "sweep":
        assert "4 reused" in captured.out


def test_runs_rebuild_command_keeps_sweep_names_and_skips_broken_folders(stored, tmp_path, capsys):
    from mlplab.cli import main

    out, df = _copy(stored, tmp_path)
    broken = Store(out).folder(df.run_id[1])
    (broken / "trajectory.npz").write_bytes(b"PK\x03\x04 cut short")
    assert main(["runs", "rebuild", "-s", str(out)]) == 0
    said = capsys.readouterr().out
    assert "3 runs indexed" in said and df.run_id[1] in said
    table = Store(out).query()
    assert sorted(table.id) == sorted(set(df.run_id) - {df.run_id[1]}) and set(table.sweep) == {"s"}
    assert main(["runs", "rebuild", "-s", str(tmp_path / "nowhere")]) == 2


def test_a_run_without_its_weights_is_redone(tmp_path):
    run_id = _sweep(tmp_path).run_id[3]
    store = Store(tmp_path)
    (store.folder(run_id) / "model.pt").unlink()
    assert store.check(run_id) == "damaged: model.pt is missing"
    assert _redone(tmp_path, run_id)
    assert store.load(run_id, with_model=True).model is not None


def test_an_index_damaged_while_in_use_is_one_clear_error(stored, tmp_path):
    out, df = _copy(stored, tmp_path)
    store = Store(out)
    assert len(store.query()) == 4  # checked and sound
    (out / "index.sqlite").write_bytes(b"garbage " * 1000)
    with pytest.raises(DataFileError, match="runs rebuild") as err:
        store.row(df.run_id[0])
    assert err.value.path == out / "index.sqlite"


def test_a_run_saved_without_its_index_row_is_adopted_not_trained_again(tmp_path):
    """A process-pool worker saves the files; Ctrl-C can stop the sweep before the row is written."""
    from mlplab.store import Store
    from mlplab.sweep import sweep
    from mlplab.sweep.spec import expand, make_sweep

    exp = mlplab.experiment("piecewise-mlp", train={"epochs": 30})
    spec = make_sweep(exp, {"seed": [0, 1]})
    first = expand(spec)[0]
    run = mlplab.run(first.experiment)
    run.save(Store(tmp_path).folder(first.id))  # as the worker does: files only, no row
    df = sweep(spec, out=tmp_path, progress=False)
    reused = df.set_index("run_id").loc[first.id]
    assert bool(reused["reused"]) and reused["final_loss"] == pytest.approx(run.final_loss)
    assert not df.set_index("run_id").loc[expand(spec)[1].id]["reused"]
    assert Store(tmp_path).row(first.id)["sweep"] == spec.name


# ---------------------------------------------------------------- another process, a read-only store (issue 20)

HOLDER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")  # what a sweep's long commit looks like to everyone else
print("held", flush=True)
sys.stdin.readline()
db.execute("INSERT INTO runs (id, name, spec, status) VALUES ('late', 'late', '{}', 'finished')")
db.execute("COMMIT")
print("committed", flush=True)
"""


def test_an_index_locked_by_another_process_is_not_damaged_and_nothing_is_lost(stored, tmp_path, capsys, monkeypatch):
    import subprocess
    import sys

    from mlplab.cli import main

    out, df = _copy(stored, tmp_path)
    before = sorted(p.name for p in out.iterdir())
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out / "index.sqlite")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(DataFileError, match="locked by another process") as err:
            Store(out, wait=0.1).query()  # the first use checks the index: a lock is no damage
        assert err.value.path == out / "index.sqlite"
        with pytest.raises(DataFileError, match="locked by another process"):
            Store(out, wait=0.1).rebuild()  # not even when asked: the holder's rows would be lost
        monkeypatch.setattr(Store, "WAIT", 0.1)
        assert main(["runs", "list", "-s", str(out)]) == 2
        said = capsys.readouterr().err
        assert "locked by another process" in said and "Traceback" not in said and "rebuilt" not in said
        assert sorted(p.name for p in out.iterdir()) == before  # nothing set aside
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "committed"
    finally:
        holder.kill()
        holder.communicate()
    assert sorted(Store(out).ids()) == sorted([*df.run_id, "late"])  # the holder's late row is in the index


def _as_another_user(code: str, *args: str):
    """Run ``code`` as a user who may not write the store: root writes everywhere, so root runs it as nobody."""
    import os
    import shutil
    import subprocess
    import sys

    prefix = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("as root, reading as a user who cannot write needs setpriv (util-linux)")
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    src = str(Path(mlplab.__file__).resolve().parents[1])
    return subprocess.run([*prefix, sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": src, "HOME": "/tmp"}, cwd="/")


@pytest.fixture()
def read_only_store(stored):
    """A copy of the stored sweep that its reader may not write, in a folder anyone may enter."""
    import os
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="mlplab-ro-"))
    os.chmod(root, 0o755)
    shutil.copytree(stored[0], root / "s")
    yield root / "s", stored[1]
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755)
    shutil.rmtree(root)


def _read_only(path: Path) -> None:
    for p in [*path.rglob("*"), path]:
        p.chmod(0o555 if p.is_dir() else 0o444)


CLI = "import sys\nfrom mlplab.cli import main\nsys.exit(main(sys.argv[1:]))\n"


@pytest.mark.parametrize("index", ["sound", "damaged", "missing"])
def test_a_read_only_store_is_read_and_writing_to_it_is_one_message(read_only_store, tmp_path, index):
    out, df = read_only_store
    if index == "damaged":
        (out / "index.sqlite").write_bytes(b"garbage " * 1000)
    elif index == "missing":
        (out / "index.sqlite").unlink()
    _read_only(out)
    code = ("import sys\nfrom mlplab.store import Store\nprint(sorted(Store(sys.argv[1]).ids()))\n")
    done = _as_another_user(code, str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(sorted(df.run_id))  # read as it is (a broken index: rebuilt in memory)
    if index == "sound":
        shown = _as_another_user(CLI, "runs", "show", df.run_id[0][:8], "-s", str(out))
        assert shown.returncode == 0 and df.run_id[0] in shown.stdout, shown.stderr
    refused = _as_another_user(CLI, "runs", "rebuild", "-s", str(out))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
    assert "cannot write" in refused.stderr and str(out) in refused.stderr.replace("\n", "")
    write = ("import sys\nfrom mlplab.store import Store\nfrom mlplab.errors import DataFileError\n"
             "try:\n    Store(sys.argv[1]).remove(sys.argv[2])\nexcept DataFileError as exc:\n    print(exc)\n")
    said = _as_another_user(write, str(out), df.run_id[0])
    assert said.returncode == 0 and "cannot write" in said.stdout, said.stderr
    assert sorted(p.name for p in out.iterdir()) == (["runs"] if index == "missing" else ["index.sqlite", "runs"])


def test_a_store_that_cannot_be_made_is_one_message(read_only_store):
    out, _ = read_only_store
    _read_only(out)
    code = ("import sys\nfrom mlplab.store import Store\nfrom mlplab.errors import DataFileError\n"
            "try:\n    Store(sys.argv[1])\nexcept DataFileError as exc:\n    print(exc)\n")
    said = _as_another_user(code, str(out / "new"))
    assert said.returncode == 0 and "cannot be made a run store" in said.stdout, said.stderr
