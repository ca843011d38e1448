"""The playground's HTTP and WebSocket API, in process (FastAPI TestClient): pages, sessions, bad input."""

from __future__ import annotations

import io
import os
import re
import time
import zipfile

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

import mlplab
from mlplab.data import GENERATORS, make_dataset
from mlplab.models import build_model
from mlplab.training.loop import train
from mlplab.web import create_app
from mlplab.web import session as sess


@pytest.fixture(scope="module")
def client():
    torch.set_num_threads(1)
    app = create_app(max_sessions=3)
    with TestClient(app) as c:
        yield c
    app.state.sessions.close_all()


def _session(client, config):
    r = client.post("/api/session", json=config)
    assert r.status_code == 200, r.text
    return r.json()


def _frames_until(ws, done, limit=400):
    for _ in range(limit):
        m = ws.receive_json()
        if m["type"] == "frame" and done(m):
            return m
    raise AssertionError("condition never met")


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    return re.sub(r"(?m)^\s*//.*$|\s//\s.*$", "", text)


def test_page_and_assets_are_local(client):
    html = client.get("/").text
    js = client.get("/static/app.js").text
    css = client.get("/static/style.css").text
    assert 'data-testid="epoch"' in html and 'data-testid="loss"' in html and ">Play<" in html
    for text in (html, js, css):
        body = _strip_comments(text)
        assert "http://" not in body and "https://" not in body
    assert '<script src="/vendor/plotly.min.js">' in html
    plotly = client.get("/vendor/plotly.min.js")
    assert plotly.status_code == 200 and len(plotly.content) > 1_000_000


def test_options_list_every_2d_generator(client):
    o = client.get("/api/options").json()
    names = {d["name"] for d in o["datasets"]}
    expected = {n for n in GENERATORS if n not in sess.EXCLUDED_DATA and make_dataset(n).d_in in (1, 2)}
    assert names == expected and {"moons", "spiral", "circle", "gauss", "tf-xor", "rotation", "piecewise"} <= names
    assert {"piecewise-residual", "moons-mlp"} <= {p["name"] for p in o["presets"]}
    assert o["limits"]["depth"] >= 8 and o["limits"]["width"] >= 64


BAD = [
    (b"{bad json", 400, "body"),
    (b"[1, 2]", 422, "config"),
    (b'{"data": {"name": "nope"}}', 422, "data.name"),
    (b'{"data": {"name": "moons", "n": 100000}}', 422, "data.n"),
    (b'{"data": {"name": "moons", "noise": -1}}', 422, "data.noise"),
    (b'{"data": {"name": "moons", "noise": "lots"}}', 422, "data.noise"),
    (b'{"model": {"hidden": [1e9]}}', 422, "model.hidden[0]"),
    (b'{"model": {"hidden": [8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8]}}', 422, "model.hidden"),
    (b'{"model": {"hidden": [256]}}', 422, "model.hidden[0]"),
    (b'{"model": {"hidden": "x"}}', 422, "model.hidden"),
    (b'{"model": {"activation": "swish"}}', 422, "model.activation"),
    (b'{"model": {"wings": 2}}', 422, "model.wings"),
    (b'{"train": {"lr": NaN}}', 400, "body"),
    (b'{"train": {"lr": 1e308}}', 422, "train.lr"),
    (b'{"train": {"lr": -1}}', 422, "train.lr"),
    (b'{"train": {"loss": "ce"}}', 422, "train.loss"),
    (b'{"train": {"batch_size": 0}}', 422, "train.batch_size"),
    (b'{"stop": {"epochs": 10000000}}', 422, "stop.epochs"),
    (b'{"stop": {"epochs": 50000}, "train": {"batch_size": 1}, "data": {"name": "moons", "n": 1000}}', 422, "stop.epochs"),
    (b'{"stop": {"loss": "low"}}', 422, "stop.loss"),
    (b'{"preset": "activations"}', 422, "preset"),
    (b'{"data": {"name": "custom", "X": [[0, 0]], "y": [0, 1]}}', 422, "data.y"),
    (b'{"data": {"name": "custom", "X": [[0, "a"], [1, 1]], "y": [0, 1]}}', 422, "data.X[0]"),
    (b'{"data": {"name": "custom", "X": [[0, 0], [1, 1]], "y": [0, 0]}}', 422, "data.y"),
    (b'{"data": {"name": "custom", "X": [[0, 0], [1, 1]], "y": [0, 99]}}', 422, "data.y[1]"),
    (b'{"data": {"name": "mnist"}}', 422, "data.name"),
    (b'"' + b"x" * 3_000_000 + b'"', 413, "body"),
]


@pytest.mark.parametrize("body,status,field", BAD, ids=[f for _, _, f in BAD])
def test_bad_settings_answer_4xx_naming_the_field(client, body, status, field):
    r = client.post("/api/session", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    out = r.json()
    assert out["field"] == field and out["error"].startswith(field)


def test_play_trains_and_the_loss_falls_pause_holds(client):
    info = _session(client, {"data": {"name": "moons", "n": 200}, "model": {"hidden": [16, 16]},
                             "train": {"lr": 0.03}})
    assert info["view"] == "boundary" and info["regions"] is True
    with client.websocket_connect(f"/api/session/{info['id']}/ws") as ws:
        first = ws.receive_json()
        assert first["epoch"] == 0 and first["regions"]["count"] >= 1
        assert int(first["regions"]["bound"]) == mlplab.geometry.serra_upper(2, [16, 16])
        ws.send_json({"cmd": "play"})
        later = _frames_until(ws, lambda m: m["epoch"] >= 150)
        assert later["loss"] < 0.6 * first["loss"]
        assert len(np.frombuffer(__import__("base64").b64decode(later["view"]["z"]), "<f4")) == sess.GRID**2
        ws.send_json({"cmd": "pause"})
        while ws.receive_json().get("status") != "pause":
            pass
        time.sleep(0.3)  # the worker finishes the epoch it is in, then waits
        held = client.app.state.sessions.entries[info["id"]].session.epoch
        time.sleep(0.3)
        assert client.app.state.sessions.entries[info["id"]].session.epoch == held


def test_step_is_exactly_one_epoch_of_mlplab_train(client):
    """One Step = train(model, data, epochs=1) from the same seed: the same loss, to float precision."""
    cfg = {"data": {"name": "circle", "n": 200, "seed": 3}, "model": {"hidden": [8]}, "train": {"lr": 0.05, "seed": 4}}
    info = _session(client, cfg)
    with client.websocket_connect(f"/api/session/{info['id']}/ws") as ws:
        ws.receive_json()
        ws.send_json({"cmd": "step"})
        frame = _frames_until(ws, lambda m: m["epoch"] >= 1)
        assert frame["epoch"] == 1
    data = make_dataset("circle", n=200, seed=3)
    model = build_model(info["experiment"]["model"], seed=4)
    train(model, data, loss="bce", lr=0.05, seed=4, epochs=1)
    model.eval()
    with torch.no_grad():
        prob = model(torch.from_numpy(data.X))
    expected = torch.nn.functional.binary_cross_entropy(prob, torch.from_numpy(data.y).float()[:, None])
    assert frame["loss"] == pytest.approx(float(expected), rel=1e-6)


def test_websocket_commands_validate_and_lr_changes_live(client):
    info = _session(client, {"data": {"name": "xor", "n": 40}, "model": {"hidden": [4]}})
    with client.websocket_connect(f"/api/session/{info['id']}/ws") as ws:
        ws.receive_json()
        for text, field in [("{oops", "message"), ("[1]", "message"), ('{"cmd": "fly"}', "cmd"),
                            ('{"cmd": "lr", "value": "fast"}', "lr"), ('{"cmd": "lr", "value": 1e300}', "lr"),
                            ('{"cmd": "lr", "value": NaN}', "message"), ("x" * 20_000, "message")]:
            ws.send_text(text)
            reply = ws.receive_json()
            assert reply["type"] == "error" and reply["field"] == field, reply
        ws.send_json({"cmd": "lr", "value": 0.001})
        assert ws.receive_json() == {"type": "lr", "lr": 0.001}
        ws.send_json({"cmd": "play"})
        frame = _frames_until(ws, lambda m: m["epoch"] >= 5)
        assert frame["lr"] == 0.001
        ws.send_json({"cmd": "reset"})
        _frames_until(ws, lambda m: m["epoch"] == 0)


def test_unknown_session_and_session_limit(client):
    assert client.get("/api/session/nope/export").status_code == 404
    with client.websocket_connect("/api/session/nope/ws") as ws:
        assert ws.receive_json()["field"] == "session"
    sessions = client.app.state.sessions
    sessions.close_all()
    for _ in range(3):
        _session(client, {"data": {"name": "xor"}})
    r = client.post("/api/session", json={"data": {"name": "xor"}})
    assert r.status_code == 429 and r.json()["field"] == "session"
    sessions.close_all()


def test_csv_upload(client):
    good = "a,b,label\n" + "".join(f"{i / 10},{(i % 7) / 7},{i % 3}\n" for i in range(30))
    out = client.post("/api/csv", content=good).json()
    assert out["task"] == "multiclass" and len(out["X"]) == 30 and out["y"][:3] == [0, 1, 2]
    info = _session(client, {"data": {k: out[k] for k in ("name", "task", "X", "y")}, "model": {"hidden": [8]}})
    assert info["view"] == "boundary" and info["n_classes"] == 3
    client.delete(f"/api/session/{info['id']}")
    for body, status in [("a,b,label\n1,x,0\n", 422), ("", 400), ("a,b,c,d\n1,2,3,4\n", 422),
                         ("a,label\n" + "1,2\n" * 6000, 422)]:
        r = client.post("/api/csv", content=body)
        assert r.status_code == status and r.json()["field"] == "file", r.text
    assert client.post("/api/csv", content=b"\xff\xfe\x00").status_code == 400
    r = client.post("/api/csv", content=b"a,b\n" + b"1,2\n" * 300_000)
    assert r.status_code == 413 and "bytes" in r.json()["error"]


@pytest.mark.parametrize("name,view", [("rotation", "mapping"), ("sine", "curve"), ("reg-plane", "heatmap")])
def test_views_per_kind_of_data(client, name, view):
    info = _session(client, {"data": {"name": name, "n": 100} if name != "sine" else {"name": name},
                             "model": {"hidden": [4], "activation": "tanh"}})
    assert info["view"] == view and info["regions"] is False
    with client.websocket_connect(f"/api/session/{info['id']}/ws") as ws:
        f = ws.receive_json()
    assert f["view"]["kind"] == view and f["metric_name"] == "R2"


def test_export_zip_round_trips_and_its_snippet_reproduces_the_losses(client, tmp_path):
    info = _session(client, {"data": {"name": "custom", "task": "binary", "X": [[0, 0], [1, 1], [0, 1], [1, 0]] * 5,
                                      "y": [0, 0, 1, 1] * 5}, "model": {"hidden": [4]}, "train": {"lr": 0.05}})
    with client.websocket_connect(f"/api/session/{info['id']}/ws") as ws:
        ws.receive_json()
        ws.send_json({"cmd": "play"})
        _frames_until(ws, lambda m: m["epoch"] >= 20)
        ws.send_json({"cmd": "pause"})
        while ws.receive_json().get("status") != "pause":
            pass
        time.sleep(0.2)
        r = client.get(f"/api/session/{info['id']}/export")
    assert r.status_code == 200
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        names = set(z.namelist())
        z.extractall(tmp_path)
    assert {f"playground/{n}" for n in ("run.json", "trajectory.npz", "model.pt", "snippet.py", "data.csv")} <= names
    run = mlplab.load_run(tmp_path / "playground", with_model=False)
    epochs = len(run.losses)
    assert epochs >= 20 and run.frames.shape[1:] == (20, 1)
    snippet = (tmp_path / "playground" / "snippet.py").read_text()
    assert "mlplab.run(experiment)" in snippet
    here = os.getcwd()
    os.chdir(tmp_path / "playground")
    try:
        scope: dict = {}
        exec(compile(snippet.replace("print(run)", ""), "snippet.py", "exec"), scope)
    finally:
        os.chdir(here)
    again = scope["run"]
    n = min(len(again.losses), epochs)
    np.testing.assert_allclose(again.losses[:n], run.losses[:n], rtol=1e-4)
