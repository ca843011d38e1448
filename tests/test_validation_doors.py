"""One validation policy at every door: a wrongly typed value is refused with the same message whether it
comes from Python, a TOML experiment file run by the CLI, the web page's JSON, or a sweep file; the CLI's
own overrides stay typed; every TOML file goes through one reader with one set of guards.

The table of bad values is the issue's list of coercions that used to pass (``"yes"`` for a bool, ``"0.1"``
for a float, ``"3000"``, ``3.0`` or ``true`` for an int), one row per wrongly typed value class.
"""

from __future__ import annotations

import json
import math
import os
import warnings

import pytest
from fastapi.testclient import TestClient

import mlplab
from mlplab.cli import load_experiment, main
from mlplab.data import GENERATORS, make_dataset
from mlplab.errors import SpecError
from mlplab.models import build_model
from mlplab.specs import TYPE_NAMES
from mlplab.sweep import expand, load_sweep
from mlplab.tomlfile import MAX_TOML_BYTES, MAX_TOML_DEPTH
from mlplab.web import create_app
from mlplab.web.config import parse_config

INT, NUMBER, BOOL, FINITE = (TYPE_NAMES[k] for k in ("int_type", "float_type", "bool_type", "finite_number"))

# (dotted field, value, the field the message names, what it expects)
BAD = [
    ("model.residual", "yes", "model.residual", BOOL),
    ("model.residual", 1, "model.residual", BOOL),
    ("train.lr", "0.1", "train.lr", NUMBER),
    ("train.lr", True, "train.lr", NUMBER),
    ("train.lr", math.inf, "train.lr", FINITE),
    ("train.momentum", "0.9", "train.momentum", NUMBER),
    ("train.epochs", "3000", "train.epochs", INT),
    ("train.epochs", 3.0, "train.epochs", INT),
    ("train.epochs", True, "train.epochs", INT),
    ("train.seed", "1", "train.seed", INT),
    ("train.batch_size", 8.5, "train.batch_size", INT),
    ("model.hidden", [8, "8"], "model.hidden[1]", INT),
    ("model.hidden", [8.0], "model.hidden[0]", INT),
    ("model.hidden", "8", "model.hidden", TYPE_NAMES["list_type"]),
    ("data.noise", "0.3", "data.noise", NUMBER),
    ("data.n", "100", "data.n", INT),
    ("data.n", 100.0, "data.n", INT),
]
IDS = [f"{f}={v!r}" for f, v, _, _ in BAD]


def _message(param: str, expected: str, value) -> str:
    got = value[int(param[-2])] if param.endswith("]") else value
    return str(SpecError(param, expected, got))


def _nested(field: str, value) -> dict:
    section, key = field.split(".")
    return {section: {key: value}}


def _toml(value) -> str:
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return json.dumps(value)  # strings, numbers, booleans and lists are written alike in TOML


# ------------------------------------------------------------------------------------------------ Python


@pytest.mark.parametrize("field, value, param, expected", BAD, ids=IDS)
def test_python_run_refuses_with_the_one_message(field, value, param, expected):
    with pytest.raises(SpecError) as err:
        mlplab.run("moons-mlp", progress=False, **_nested(field, value))
    assert str(err.value) == _message(param, expected, value)


@pytest.mark.parametrize("field, value, param, expected", BAD, ids=IDS)
def test_python_builders_refuse_with_the_one_message(field, value, param, expected):
    """build_model (model fields), mlplab.train (train fields), make_dataset (data fields): the same words."""
    section, key = field.split(".")
    with pytest.raises(SpecError) as err:
        if section == "model":
            build_model(**{key: value})
        elif section == "train":
            mlplab.train(build_model(hidden=[4]), make_dataset("moons", n=20), **{key: value})
        else:
            make_dataset("moons", **{key: value})
    assert str(err.value) == _message(param, expected, value)


# ------------------------------------------------------------------------------------------------ TOML via the CLI


@pytest.mark.parametrize("field, value, param, expected", BAD, ids=IDS)
def test_a_toml_experiment_run_by_the_cli_refuses_with_the_one_message(tmp_path, capsys, field, value, param, expected):
    section, key = field.split(".")
    path = tmp_path / "exp.toml"
    path.write_text(f'preset = "moons-mlp"\n[{section}]\n{key} = {_toml(value)}\n')
    assert main(["run", str(path), "-o", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert _message(param, expected, value) in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------------ sweep files


@pytest.mark.parametrize("field, value, param, expected", BAD, ids=IDS)
def test_a_sweep_file_refuses_with_the_one_message_before_making_anything(tmp_path, capsys, field, value, param,
                                                                           expected):
    path = tmp_path / "s.toml"
    path.write_text(f'experiment = "moons-mlp"\nname = "s"\n[grid]\n"{field}" = [{_toml(value)}]\n')
    assert main(["sweep", str(path), "-o", str(tmp_path / "store"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert _message(param, expected, value) in err and "Traceback" not in err
    assert not (tmp_path / "store").exists()  # neither -o nor the store is made for a sweep that cannot run


@pytest.mark.parametrize("field, value, param, expected", BAD, ids=IDS)
def test_a_sweep_files_experiment_table_refuses_with_the_one_message(tmp_path, field, value, param, expected):
    section, key = field.split(".")
    path = tmp_path / "s.toml"
    path.write_text(f'[experiment]\npreset = "moons-mlp"\n[experiment.{section}]\n{key} = {_toml(value)}\n'
                    '[grid]\nseed = [0, 1]\n')
    with pytest.raises(SpecError) as err:
        load_sweep(path)
    assert str(err.value) == _message(param, expected, value)


@pytest.mark.parametrize("field, value, param, expected", BAD, ids=IDS)
def test_a_sweep_files_random_choices_refuse_with_the_one_message(tmp_path, field, value, param, expected):
    """Random choices are checked as the field checks them when the sweep is read, named after [random]."""
    path = tmp_path / "s.toml"
    path.write_text(f'experiment = "moons-mlp"\nn_random = 2\n[random]\n"{field}" = ["choice", [{_toml(value)}]]\n')
    with pytest.raises(SpecError) as err:
        load_sweep(path)
    assert str(err.value) == str(SpecError(f"random.{field}", expected, value))


# ------------------------------------------------------------------------------------------------ the web page


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(max_sessions=3), base_url="http://127.0.0.1:8000") as c:
        yield c


def _page_field(field: str) -> str:
    return "stop.epochs" if field == "train.epochs" else field  # the page sets the epochs as its stop


@pytest.mark.parametrize("field, value, param, expected", [r for r in BAD if not isinstance(r[1], float)
                                                           or math.isfinite(r[1])],
                         ids=[i for i, r in zip(IDS, BAD) if not isinstance(r[1], float) or math.isfinite(r[1])])
def test_the_web_page_refuses_with_the_one_message(client, field, value, param, expected):
    """JSON has no inf (the page's parser refuses it as a bad body); every other row is the same sentence."""
    page_field = _page_field(field)
    config = {"data": {"name": "moons"}, **_nested(page_field, value)}
    if field.startswith("data."):
        config["data"]["name"] = "moons"
    r = client.post("/api/session", content=json.dumps(config), headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    page_param = param.replace(field, page_field, 1)
    assert r.json()["field"] == page_param
    assert r.json()["error"] == _message(page_param, expected, value)


def test_the_page_refuses_an_image_set_before_loading_a_single_image(client, monkeypatch):
    """Was: 60,000 images loaded per request (4 requests: 0.4 -> 1.7 GB), then refused for their shape."""
    def loads(spec):
        raise AssertionError("the page loaded an image set it then refused")

    for name in ("fashion-or-digits", "fashion-mnist", "mnist", "digits"):
        monkeypatch.setitem(GENERATORS, name, loads)
        r = client.post("/api/session", json={"data": {"name": name}, "model": {"hidden": [8]}})
        assert r.status_code == 422 and r.json()["field"] == "data.name", r.text
        with pytest.raises(SpecError, match="data.name"):
            parse_config({"data": {"name": name}})


def test_the_page_checks_model_and_memory_before_making_its_data(monkeypatch):
    """A model the page cannot take is refused before the generator runs."""
    def draws(spec):
        raise AssertionError("data made before the model was checked")

    monkeypatch.setitem(GENERATORS, "moons", draws)
    for config, field in [({"model": {"hidden": [8, 129]}}, "model.hidden[1]"),
                          ({"model": {"residual": "yes"}}, "model.residual"),
                          ({"train": {"lr": "0.1"}}, "train.lr"),
                          ({"stop": {"epochs": "3"}}, "stop.epochs")]:
        with pytest.raises(SpecError) as err:
            parse_config({"data": {"name": "moons", "n": 100}, **config})
        assert err.value.param == field


# ------------------------------------------------------------------------------------------------ what is accepted


def test_an_integer_is_a_number_at_every_door(tmp_path, client):
    """``lr = 1`` is a float's value everywhere (users write it); integers stay integers."""
    assert mlplab.api.resolve("moons-mlp", train={"lr": 1}).train.lr == 1.0
    path = tmp_path / "exp.toml"
    path.write_text('preset = "moons-mlp"\n[train]\nlr = 1\nepochs = 3\n[data]\nnoise = 0\n')
    exp = load_experiment(str(path))
    assert exp.train.lr == 1.0 and exp.train.epochs == 3 and exp.data.noise == 0.0
    assert parse_config({"data": {"name": "moons", "noise": 0}, "train": {"lr": 1}}).experiment["train"]["lr"] == 1.0
    sweep = tmp_path / "s.toml"
    sweep.write_text('experiment = "moons-mlp"\n[grid]\n"train.lr" = [1, 0.5]\n')
    assert [v.experiment.train.lr for v in expand(load_sweep(sweep))] == [1.0, 0.5]


def test_numpy_scalars_and_tuples_from_python_are_the_values_they_hold():
    import numpy as np

    exp = mlplab.api.resolve("moons-mlp", model={"hidden": (np.int64(4), 3)}, train={"lr": np.float32(0.5),
                                                                                     "epochs": np.int64(2)})
    assert exp.model.hidden == [4, 3] and exp.train.lr == 0.5 and exp.train.epochs == 2
    assert mlplab.api.resolve("moons-mlp", model={"hidden": np.arange(2, 4)}).model.hidden == [2, 3]
    assert mlplab.api.resolve("moons-mlp", model={"hidden": [np.int32(5)]}).model.hidden == [5]
    with pytest.raises(SpecError, match="train.epochs"):
        mlplab.api.resolve("moons-mlp", train={"epochs": np.float64(2.0)})


def test_cli_overrides_are_typed_before_the_spec_sees_them(tmp_path, capsys):
    """``--epochs 2`` is the integer 2 (it trains); ``--epochs 2.5`` or ``yes`` is refused, naming --epochs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["run", "xor-mlp", "--epochs", "2", "-o", str(tmp_path), "--no-progress"]) == 0
    assert "xor-mlp: finished, 2 steps" in capsys.readouterr().out
    for bad in ("2.5", "yes", "", "1e3"):
        assert main(["run", "xor-mlp", "--epochs", bad, "-o", str(tmp_path / "bad"), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert "--epochs" in err and "Traceback" not in err
    assert not (tmp_path / "bad").exists()


# ------------------------------------------------------------------------------------------------ one TOML reader


def _bad_files(tmp_path):
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * (MAX_TOML_DEPTH + 2) + "]" * (MAX_TOML_DEPTH + 2) + "\n")
    big = tmp_path / "big.toml"
    big.write_text("# padding\n" * (MAX_TOML_BYTES // 10 + 1))
    latin = tmp_path / "latin.toml"
    latin.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    broken = tmp_path / "broken.toml"
    broken.write_text("name = \n")
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)  # reading it would wait forever for a writer
    return {"nesting": deep, "bytes": big, "UTF-8": latin, "valid TOML": broken, "regular": folder, "pipe": fifo}


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_experiment_and_sweep_files_share_one_reader_and_its_guards(tmp_path, capsys, command):
    for word, path in _bad_files(tmp_path).items():
        out = tmp_path / f"out-{command}"
        assert main([command, str(path), "-o", str(out), "--no-progress"]) == 2, word
        err = capsys.readouterr().err
        assert word in err and "Traceback" not in err, (word, err)
        assert not out.exists()
