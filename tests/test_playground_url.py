"""The way back from Python to the playground: experiment -> URL -> the page's config -> snippet -> URL."""

import ast

import pytest

import mlplab
from mlplab import SpecError
from mlplab.web.config import parse_config, playground_presets
from mlplab.web.export import snippet
from mlplab.web.url import config_from_url, playground_url

PAGE_PRESETS = [p["name"] for p in playground_presets() if not mlplab.experiment(p["name"]).model.poly_degree]


def _snippet_experiment(config) -> dict:
    text = snippet(config, config.experiment)
    return ast.literal_eval(text.split("experiment = ", 1)[1].split("\n\nrun =")[0])


@pytest.mark.parametrize("name", PAGE_PRESETS)
def test_python_to_url_to_page_to_snippet_to_url_is_the_same_url(name):
    url = playground_url(name)
    config = parse_config(config_from_url(url))  # what the page does with the URL
    exp = _snippet_experiment(config)
    assert playground_url(exp) == url
    # and the page trains the preset itself: the same data, model and training as mlplab.run(name)
    preset = mlplab.experiment(name)
    page = mlplab.api.resolve(exp)
    assert page.model == preset.model.replace(out_dim=page.model.out_dim) and page.data == preset.data
    same = ("optimizer", "lr", "momentum", "weight_decay", "l1", "loss", "seed", "batch_size", "epochs", "engine")
    assert {f: getattr(page.train, f) for f in same} == {f: getattr(preset.train, f) for f in same}


def test_page_config_to_url_and_back():
    """A configuration the page writes (no preset, own choices) survives URL -> snippet -> URL -> page."""
    page = {"data": {"name": "spiral", "n": 300, "noise": 0.1, "seed": 3},
            "model": {"hidden": [8, 4], "activation": "tanh"}, "train": {"lr": 0.03, "optimizer": "sgd"},
            "stop": {"epochs": 700}}
    first = parse_config(page)
    url = playground_url(_snippet_experiment(first))
    again = parse_config(config_from_url(url))
    assert again.experiment["model"] == first.experiment["model"]
    assert again.experiment["train"] == first.experiment["train"] and again.stop_epochs == 700
    assert again.experiment["data"] == first.experiment["data"]


NEW_FIELDS = {"model": {"hidden": [6, 3, 5], "features": ["x1", "x2", "x1^2", "sin(x2)"]},
              "train": {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "l1": 0.001, "engine": "torch"}}


def test_new_fields_survive_page_to_url_to_page():
    """Per-layer widths, input features, L1, momentum and the engine, set on the page, come back from the URL."""
    page = {"data": {"name": "circle", "n": 200, "seed": 1}, **NEW_FIELDS, "stop": {"epochs": 300}}
    first = parse_config(page)
    url = playground_url(_snippet_experiment(first))
    back = config_from_url(url)
    assert back["model"]["hidden"] == [6, 3, 5] and back["model"]["features"] == ["x1", "x2", "x1^2", "sin(x2)"]
    assert {k: back["train"][k] for k in ("momentum", "l1", "engine")} == {"momentum": 0.9, "l1": 0.001, "engine": "torch"}
    again = parse_config(back)
    assert again.experiment == first.experiment and again.engine == "torch"


def test_new_fields_survive_python_to_url_to_python():
    """The same fields set in Python on a preset: the URL, the page's experiment and its snippet keep them."""
    target = {"preset": "moons-mlp", **NEW_FIELDS}
    url = playground_url(target)
    page = parse_config(config_from_url(url))
    exp = mlplab.api.resolve(_snippet_experiment(page))
    assert exp.model.hidden == [6, 3, 5] and exp.model.features == ["x1", "x2", "x1^2", "sin(x2)"]
    assert (exp.train.momentum, exp.train.l1, exp.train.engine, exp.train.optimizer) == (0.9, 0.001, "torch", "sgd")
    assert exp.model == mlplab.api.resolve(target).model and playground_url(exp) == url


@pytest.mark.parametrize("preset,train,value", [
    ("moons-scratch", {"engine": "auto"}, "auto"),  # the preset's own engine is numpy: "auto" must be written
    ("moons-mlp", {"engine": "numpy"}, "numpy"),
])
def test_an_engine_other_than_the_presets_is_kept(preset, train, value):
    url = playground_url({"preset": preset, "train": train})
    assert config_from_url(url)["train"]["engine"] == value
    page = parse_config(config_from_url(url))
    assert page.experiment["train"]["engine"] == value and mlplab.api.resolve(_snippet_experiment(page)).train.engine == value


def test_a_run_opens_with_its_own_experiment():
    run = mlplab.run("xor-mlp", epochs=5)
    assert parse_config(config_from_url(mlplab.playground_url(run))).stop_epochs == 5


@pytest.mark.parametrize("target,field", [
    ("sine-poly", "model.poly_degree"),
    ("d2l-mlp", "data.name"),
    ("activations", "kind"),
    ({"preset": "xor-mlp", "train": {"val_fraction": 0.2}}, "train.val_fraction"),
    ({"preset": "moons-mlp", "model": {"features": ["x1", "x1^2"]}, "train": {"engine": "numpy"}}, "train.engine"),
])
def test_what_the_page_cannot_show_is_named(target, field):
    with pytest.raises(SpecError) as err:
        playground_url(target)
    assert err.value.param == field


def test_serve_open_loads_the_experiment(monkeypatch, capsys):
    import mlplab.web as web
    from mlplab.cli import main

    opened = {}
    monkeypatch.setattr(web, "serve", lambda host, port, open_browser=False, url=None: opened.update(
        url=url, open=open_browser))
    assert main(["serve", "--open", "xor-mlp", "--port", "8123"]) == 0
    assert opened == {"url": playground_url("xor-mlp", port=8123), "open": True}
    assert main(["serve", "--open", "-"]) == 0 and opened == {"url": None, "open": True}
    assert main(["serve", "--open", "sine-poly"]) == 2
    assert "model.poly_degree" in capsys.readouterr().err
