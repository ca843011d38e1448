"""The playground's HTTP and WebSocket API, in process (FastAPI TestClient): pages, sessions, bad input,
the server-owned state machine, closing, and the cross-site guard (plus one check against real uvicorn)."""

from __future__ import annotations

import asyncio
import base64
import gc
import io
import json
import os
import re
import socket
import threading
import urllib.error
import urllib.request
import weakref
import zipfile

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

import mlplab
from mlplab.errors import SpecError
from mlplab.data import GENERATORS, make_dataset
from mlplab.models import build_model
from mlplab.training.loop import train
from mlplab.web import create_app
from mlplab.web import session as sess
from mlplab.web.config import EXCLUDED_DATA, parse_config
from mlplab.web.frames import DIAGRAM_UNITS, GRID, UNIT_GRID, linears
from mlplab.web.scheduler import Scheduler, Turn
from mlplab.web.security import Guard
from mlplab.web.state import COMMANDS, EVENTS, STATES, StateMachine

BASE = "http://127.0.0.1:8000"
WS = "ws://127.0.0.1:8000"  # the test client would otherwise say Host: testserver
ORIGIN = {"Origin": BASE}
JSON = {"Content-Type": "application/json"}
CSV = {"Content-Type": "text/csv"}
WAIT_S = 120  # a guard against hanging forever, never a speed claim


@pytest.fixture(scope="module")
def client():
    app = create_app(max_sessions=3)
    with TestClient(app, base_url=BASE) as c:
        yield c
    app.state.sessions.close_all()


@pytest.fixture(autouse=True)
def _one_torch_thread(one_thread):
    """Every test here on one torch thread (the conftest fixture restores the count)."""


def _session(client, config):
    r = client.post("/api/session", json=config)
    assert r.status_code == 200, r.text
    return r.json()


def _until(ws, done, limit=5000):
    """Messages in order until ``done(message)``; every one carries a larger sequence number and a state."""
    last = 0
    for _ in range(limit):
        m = ws.receive_json()
        assert m["seq"] > last and m["state"] in STATES, m
        last = m["seq"]
        if done(m):
            return m
        assert m["state"] != "error", m  # training failed: say why now, not after waiting for nothing
    raise AssertionError("condition never met")


def _frames_until(ws, done):
    return _until(ws, lambda m: m["type"] == "frame" and done(m))


def _state(ws, state):
    return _until(ws, lambda m: m["state"] == state)


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    return re.sub(r"(?m)^\s*//.*$|\s//\s.*$", "", text)


def _live(client, sid):
    return client.app.state.sessions.entries[sid].session


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
    expected = {n for n in GENERATORS if n not in EXCLUDED_DATA and make_dataset(n).d_in in (1, 2)}
    assert names == expected and {"moons", "spiral", "circle", "gauss", "tf-xor", "rotation", "piecewise"} <= names
    assert {"piecewise-residual", "moons-mlp"} <= {p["name"] for p in o["presets"]}
    assert o["limits"]["depth"] >= 8 and o["limits"]["width"] >= 64 and o["limits"]["sessions"] == 3


# ------------------------------------------------------------------------------------------------
# bad settings: every one found stays here (issue 13's corpus included)

BIG = "1" + "0" * 400  # a JSON integer no float can hold
MOONS4 = '"data": {"name": "moons", "n": 4'
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
    # overflow: a 400-digit integer where a float is expected (was a 500)
    (f'{{"train": {{"lr": {BIG}}}}}'.encode(), 422, "train.lr"),
    (f'{{"train": {{"weight_decay": {BIG}}}}}'.encode(), 422, "train.weight_decay"),
    (f'{{"train": {{"momentum": {BIG}}}}}'.encode(), 422, "train.momentum"),
    (f'{{"stop": {{"loss": {BIG}}}}}'.encode(), 422, "stop.loss"),
    (f'{{"data": {{"name": "custom", "X": [[{BIG}, 0], [1, 1]], "y": [0, 1]}}}}'.encode(), 422, "data.X[0]"),
    (f'{{"data": {{"name": "custom", "task": "regression", "X": [[0, 0], [1, 1]], "y": [{BIG}, 1]}}}}'.encode(),
     422, "data.y[0]"),
    (f'{{"data": {{"name": "moons", "noise": {BIG}}}}}'.encode(), 422, "data.noise"),
    (f'{{"data": {{"name": "moons", "test_fraction": {BIG}}}}}'.encode(), 422, "data.test_fraction"),
    (f'{{"model": {{"leaky_slope": {BIG}}}}}'.encode(), 422, "model.leaky_slope"),
    (f'{{"stop": {{"epochs": {BIG}}}}}'.encode(), 422, "stop.epochs"),
    (f'{{"train": {{"seed": {BIG}}}}}'.encode(), 422, "train.seed"),
    (b'{"train": {"lr": ' + b"9" * 5000 + b"}}", 400, "body"),  # beyond Python's digit limit for int()
    # preset of the wrong type (was a 500)
    (b'{"preset": ["moons-mlp"]}', 422, "preset"),
    (b'{"preset": {"name": "moons-mlp"}}', 422, "preset"),
    (b'{"preset": 5}', 422, "preset"),
    # a test split that leaves no (or one) training point (was a 500)
    (b'{' + MOONS4.encode() + b', "test_fraction": 0.9}}', 422, "data.test_fraction"),
    (b'{"data": {"name": "moons", "n": 2, "test_fraction": 0.5}}', 422, "data.test_fraction"),
    (b'{"data": {"name": "custom", "X": [[0, 0], [1, 1], [0, 1], [1, 0]], "y": [0, 1, 0, 1], "test_fraction": 0.9}}',
     422, "data.test_fraction"),
    (b'{"data": {"name": "custom", "task": "regression", "X": [[0, 0]], "y": [1]}}', 422, "data.X"),
    # strict types: no "yes" for true, no strings for numbers
    (b'{"model": {"residual": "yes"}}', 422, "model.residual"),
    (b'{"model": {"residual": 1}}', 422, "model.residual"),
    (b'{"data": {"name": "moons", "noise": "0.3"}}', 422, "data.noise"),
    (b'{"data": {"name": "moons", "n": "100"}}', 422, "data.n"),
    (b'{"data": {"name": "moons", "n": true}}', 422, "data.n"),
    (b'{"train": {"lr": "0.1"}}', 422, "train.lr"),
    (b'{"train": {"batch_size": 8.5}}', 422, "train.batch_size"),
    (b'{"data": {"name": ["moons"]}}', 422, "data.name"),
    (b'{"model": {"activation": ["relu"]}}', 422, "model.activation"),
    (b'{"train": {"optimizer": {"a": 1}}}', 422, "train.optimizer"),
    (b'{"model": {"hidden": [true]}}', 422, "model.hidden[0]"),
    (b'{"data": {"name": "custom", "X": [[0, 0], [1, 1]], "y": [0, true]}}', 422, "data.y[1]"),
    (b'{"data": {"name": "custom", "X": [[0, 0], [1, 1]], "y": [0, 1.5]}}', 422, "data.y[1]"),
    (b'{"data": {"name": "custom", "X": [5, 6], "y": [0, 1]}}', 422, "data.X"),
    (b'{"data": {"name": "custom", "X": [[0, 0], [1, 1]], "y": [0, 1], "seed": -1}}', 422, "data.seed"),
    (b'{"data": {"name": "moons", "params": {"x": 1}}}', 422, "data.params"),
    (b'"' + b"x" * 3_000_000 + b'"', 413, "body"),
    # issue 14: input features, per-layer widths beyond the limits, L1
    (b'{"model": {"features": ["x3"]}}', 422, "model.features[0]"),
    (b'{"model": {"features": ["x1", 2]}}', 422, "model.features[1]"),
    (b'{"model": {"features": ["x1", "x1"]}}', 422, "model.features"),
    (b'{"model": {"features": "x1^2"}}', 422, "model.features"),
    (b'{"data": {"name": "sine"}, "model": {"features": ["x1^2"]}}', 422, "model.features"),
    (b'{"model": {"hidden": [8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8]}}', 422, "model.hidden"),
    (b'{"model": {"hidden": [8, 129]}}', 422, "model.hidden[1]"),
    (b'{"model": {"hidden": [8, 0]}}', 422, "model.hidden[1]"),
    (b'{"train": {"l1": -0.1}}', 422, "train.l1"),
    (b'{"train": {"l1": "some"}}', 422, "train.l1"),
    (b'{"train": {"l1": 1e308}}', 422, "train.l1"),
]


@pytest.mark.parametrize("body,status,field", BAD, ids=[f"{i}-{f}" for i, (_, _, f) in enumerate(BAD)])
def test_bad_settings_answer_4xx_naming_the_field(client, body, status, field):
    r = client.post("/api/session", content=body, headers=JSON)
    assert r.status_code == status, r.text
    out = r.json()
    assert out["field"] == field and out["error"].startswith(field)
    assert not client.app.state.sessions.entries  # nothing half-made stays open


# ------------------------------------------------------------------------------------------------
# the state machine, owned by the server


# The issue's own description of the playground, written out: (state, command) -> state.
EXPECTED = {
    ("idle", "play"): "running", ("idle", "step"): "running", ("idle", "pause"): "idle", ("idle", "reset"): "idle",
    ("running", "play"): "running", ("running", "step"): "running", ("running", "pause"): "paused",
    ("running", "reset"): "idle",
    ("paused", "play"): "running", ("paused", "step"): "running", ("paused", "pause"): "paused",
    ("paused", "reset"): "idle",
}
for _s in ("finished", "diverged", "error"):
    EXPECTED.update({(_s, "play"): _s, (_s, "step"): _s, (_s, "pause"): _s, (_s, "reset"): "idle"})
EXPECTED.update({("closed", c): "closed" for c in ("play", "step", "pause", "reset")})


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("cmd", ["play", "step", "pause", "reset", "close"])
def test_every_command_in_every_state(state, cmd):
    sent: list[dict] = []
    m = StateMachine(sent.append)
    m.state = state
    before_seq = m.seq
    m.command(cmd)
    assert m.state == ("closed" if cmd == "close" else EXPECTED[(state, cmd)])
    assert sent[-1]["state"] == m.state and sent[-1]["seq"] == before_seq + 1  # the page always hears the state
    assert m.step_budget == (1 if cmd == "step" and state in ("idle", "paused") else None)


def test_worker_events_cannot_revive_a_reset_or_closed_session():
    m = StateMachine(lambda _: None)
    for state in ("idle", "closed"):
        m.state = state
        for event in ("stepped", "finished", "diverged"):
            assert not m.event(event) and m.state == state
    m.state = "paused"  # the last epoch ends while the page pauses: finished wins
    assert m.event("finished", "done") and m.state == "finished"
    assert set(EVENTS["finished"]) == {"running", "paused"}
    assert all(cmd in COMMANDS for cmd in ("play", "pause", "step", "reset", "close"))


def test_play_trains_the_loss_falls_and_pause_parks_the_worker(client):
    info = _session(client, {"data": {"name": "moons", "n": 200}, "model": {"hidden": [16, 16]},
                             "train": {"lr": 0.03}})
    assert info["view"] == "boundary" and info["regions"] is True
    with client.websocket_connect(f"{WS}/api/session/{info['id']}/ws") as ws:
        first = ws.receive_json()
        assert first["type"] == "frame" and first["state"] == "idle" and first["epoch"] == 0
        assert first["regions"]["count"] >= 1
        assert int(first["regions"]["bound"]) == mlplab.geometry.serra_upper(2, [16, 16])
        ws.send_json({"cmd": "play"})
        assert _until(ws, lambda m: m["type"] == "state")["state"] == "running"
        later = _frames_until(ws, lambda m: m["epoch"] >= 150)
        assert later["state"] == "running" and later["loss"] < 0.6 * first["loss"]
        assert len(np.frombuffer(base64.b64decode(later["view"]["z"]), "<f4")) == GRID**2
        ws.send_json({"cmd": "pause"})
        paused = _until(ws, lambda m: m["type"] == "state")
        assert paused["state"] == "paused"
        s = _live(client, info["id"])
        assert s.parked.wait(WAIT_S)  # the worker finished its epoch and sleeps
        held = s.epoch
        ws.send_json({"cmd": "lr", "value": 0.01})  # a round trip through the server while parked
        reply = _until(ws, lambda m: m["type"] == "lr")
        assert reply["state"] == "paused" and s.epoch == held and s.parked.is_set()


def test_fast_clicks_end_in_the_state_the_server_reports(client):
    """Play, pause, play, step, pause, pause, play in one burst: the last message carries the true state."""
    info = _session(client, {"data": {"name": "xor", "n": 40}, "model": {"hidden": [4]}})
    with client.websocket_connect(f"{WS}/api/session/{info['id']}/ws") as ws:
        ws.receive_json()
        for cmd in ("play", "pause", "play", "step", "pause", "pause", "play", "play"):
            ws.send_json({"cmd": cmd})
        s = _live(client, info["id"])
        msgs = [_until(ws, lambda m: m["type"] == "state") for _ in range(8)]  # one state per command, in order
        assert [m["state"] for m in msgs] == ["running", "paused", "running", "running", "paused", "paused",
                                              "running", "running"]
        ws.send_json({"cmd": "pause"})
        _state(ws, "paused")
        assert s.parked.wait(WAIT_S) and s.status == "paused"
        epoch = s.epoch  # read while the worker is parked: once the step is sent it may finish at once
        ws.send_json({"cmd": "step"})  # from paused: exactly one more epoch, then paused again
        stepped = _frames_until(ws, lambda m: m["epoch"] == epoch + 1)
        _state(ws, "paused")
        assert stepped["epoch"] == epoch + 1
        assert s.parked.wait(WAIT_S) and s.epoch == epoch + 1


def test_step_is_exactly_one_epoch_of_mlplab_train(client):
    """One Step = train(model, data, epochs=1) from the same seed: the same loss, to float precision."""
    cfg = {"data": {"name": "circle", "n": 200, "seed": 3}, "model": {"hidden": [8]}, "train": {"lr": 0.05, "seed": 4}}
    info = _session(client, cfg)
    with client.websocket_connect(f"{WS}/api/session/{info['id']}/ws") as ws:
        ws.receive_json()
        ws.send_json({"cmd": "step"})
        frame = _frames_until(ws, lambda m: m["epoch"] >= 1)
        assert frame["epoch"] == 1
        assert _state(ws, "paused")["state"] == "paused"
    data = make_dataset("circle", n=200, seed=3)
    model = build_model(info["experiment"]["model"], seed=4)
    train(model, data, loss="bce", lr=0.05, seed=4, epochs=1)
    model.eval()
    with torch.no_grad():
        prob = model(torch.from_numpy(data.X))
    expected = torch.nn.functional.binary_cross_entropy(prob, torch.from_numpy(data.y).float()[:, None])
    assert frame["loss"] == pytest.approx(float(expected), rel=1e-6)


def test_reported_metrics_equal_mlplab_train_on_the_same_config(client):
    """Play to the epoch limit; the last frame's loss, accuracy, test loss and test accuracy are those of
    `mlplab.train` on the same experiment, and of the trained model evaluated by hand."""
    cfg = {"data": {"name": "moons", "n": 120, "noise": 0.25, "seed": 5, "test_fraction": 0.25},
           "model": {"hidden": [8, 8]}, "train": {"lr": 0.02, "seed": 7, "batch_size": 16}, "stop": {"epochs": 25}}
    info = _session(client, cfg)
    with client.websocket_connect(f"{WS}/api/session/{info['id']}/ws") as ws:
        ws.receive_json()
        ws.send_json({"cmd": "play"})
        done = _state(ws, "finished")
        assert "epoch limit" in done["message"]
        last = _frames_until(ws, lambda m: m["epoch"] == 25)
    exp = info["experiment"]
    data = make_dataset(exp["data"]["name"], n=120, noise=0.25, seed=5, test_fraction=0.25)
    model = build_model(exp["model"], seed=7)
    run = train(model, data, {**exp["train"], "epochs": 25})
    assert last["loss"] == pytest.approx(run.metrics["train_loss"], rel=1e-5)
    assert last["metric"] == pytest.approx(run.metrics["train_accuracy"], abs=1e-9)
    assert last["test_metric"] == pytest.approx(run.metrics["test_accuracy"], abs=1e-9)
    assert last["test_loss"] == pytest.approx(run.metrics["test_loss"], rel=1e-5)
    model.eval()
    with torch.no_grad():  # by hand: BCE and accuracy of the trained model on each split
        for X, y, loss, acc in [(data.X, data.y, last["loss"], last["metric"]),
                                (data.X_test, data.y_test, last["test_loss"], last["test_metric"])]:
            p = model(torch.from_numpy(X))[:, 0].double()
            t = torch.from_numpy(np.asarray(y)).double()
            bce = -(t * torch.log(p) + (1 - t) * torch.log(1 - p)).mean()
            assert loss == pytest.approx(float(bce), rel=1e-5)
            assert acc == pytest.approx(float(((p > 0.5).double() == t).double().mean()), abs=1e-9)


def test_a_slow_page_loses_old_frames_but_never_a_state_or_an_error():
    from mlplab.web.app import OUTBOX, Outbox

    box = Outbox()
    m = StateMachine(box.put)
    m.send({"type": "frame", "epoch": 0})
    m.command("play")
    for epoch in range(1, 40):
        m.send({"type": "frame", "epoch": epoch})
    m.send({"type": "error", "field": "lr", "error": "lr: expected ..."})
    m.command("pause")
    kinds = [json.loads(text) for _, text in box.items]
    frames = [k["epoch"] for k in kinds if k["type"] == "frame"]
    assert frames == list(range(40 - OUTBOX, 40))  # the newest frames
    assert [(k["type"], k["state"]) for k in kinds if k["type"] != "frame"] == [
        ("state", "running"), ("error", "running"), ("state", "paused")]
    assert [k["seq"] for k in kinds] == sorted(k["seq"] for k in kinds)


def test_finished_session_ignores_play_until_reset(client):
    info = _session(client, {"data": {"name": "xor", "n": 40}, "model": {"hidden": [4]}, "stop": {"epochs": 3}})
    with client.websocket_connect(f"{WS}/api/session/{info['id']}/ws") as ws:
        ws.receive_json()
        ws.send_json({"cmd": "play"})
        _state(ws, "finished")
        s = _live(client, info["id"])
        worker = s.worker
        worker.join(WAIT_S)
        assert not worker.is_alive()
        for cmd in ("play", "step", "pause"):
            ws.send_json({"cmd": cmd})
            assert _until(ws, lambda m: m["type"] == "state")["state"] == "finished"
        assert s.worker is worker and not worker.is_alive() and s.epoch == 3
        ws.send_json({"cmd": "reset"})
        reset = _frames_until(ws, lambda m: m["epoch"] == 0)
        assert reset["state"] == "idle"


def test_websocket_commands_validate_and_lr_changes_live(client):
    info = _session(client, {"data": {"name": "xor", "n": 40}, "model": {"hidden": [4]}})
    with client.websocket_connect(f"{WS}/api/session/{info['id']}/ws") as ws:
        ws.receive_json()
        for text, field in [("{oops", "message"), ("[1]", "message"), ('{"cmd": "fly"}', "cmd"),
                            ('{"cmd": ["play"]}', "cmd"), ('{"cmd": "lr", "value": "fast"}', "lr"),
                            ('{"cmd": "lr", "value": 1e300}', "lr"), ('{"cmd": "lr", "value": %s}' % BIG, "lr"),
                            ('{"cmd": "lr", "value": 1e999}', "lr"), ('{"cmd": "lr", "value": true}', "lr"),
                            ('{"cmd": "lr", "value": NaN}', "message"), ("x" * 20_000, "message"),
                            (b"\xff\xfe binary", "message")]:
            ws.send_bytes(text) if isinstance(text, bytes) else ws.send_text(text)
            reply = ws.receive_json()
            assert reply["type"] == "error" and reply["field"] == field and reply["error"].startswith(field), reply
            assert reply["state"] == "idle"
        ws.send_bytes(b'{"cmd": "lr", "value": 0.001}')  # a binary frame holding a command is read as text
        assert ws.receive_json()["lr"] == 0.001
        ws.send_json({"cmd": "play"})
        frame = _frames_until(ws, lambda m: m["epoch"] >= 5)
        assert frame["lr"] == 0.001
        ws.send_json({"cmd": "reset"})
        _frames_until(ws, lambda m: m["epoch"] == 0 and m["state"] == "idle")


# ------------------------------------------------------------------------------------------------
# closing: the work of a closed or deleted session always stops


def _workers() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("mlplab-playground-")}


def test_deleting_a_connected_session_ends_its_thread_and_nothing_restarts_it(client):
    info = _session(client, {"data": {"name": "moons", "n": 200}, "model": {"hidden": [16]}})
    s = _live(client, info["id"])
    with client.websocket_connect(f"{WS}/api/session/{info['id']}/ws") as ws:
        ws.receive_json()
        ws.send_json({"cmd": "play"})
        _frames_until(ws, lambda m: m["epoch"] >= 3)
        worker = s.worker
        assert worker is not None and worker.is_alive()
        assert client.delete(f"/api/session/{info['id']}").status_code == 200
        assert not worker.is_alive() and s.status == "closed"  # joined before the answer
        assert _state(ws, "closed")["state"] == "closed"  # the page hears it, then the socket closes
        with pytest.raises(WebSocketDisconnect):
            for _ in range(100):
                ws.receive_json()
    s.command("play")  # the old way in: a command to the forgotten session
    s.command("step")
    s.reset()
    assert s.status == "closed" and s.worker is None and worker not in _workers()
    assert info["id"] not in client.app.state.sessions.entries
    assert client.get(f"/api/session/{info['id']}/export").status_code == 404


def test_closing_a_paused_or_queued_session_ends_its_thread():
    sent: list[dict] = []
    scheduler = Scheduler(slots=1)
    cfg = parse_config({"data": {"name": "xor", "n": 40}, "model": {"hidden": [4]}})
    a, b = sess.Session(cfg, sent.append, scheduler), sess.Session(cfg, sent.append, scheduler)
    blocker = threading.Event()
    hold = Turn(scheduler, blocker)
    assert hold.take()  # the only slot is taken: a and b queue for it
    a.play()
    b.play()
    queued = a.worker
    assert queued.is_alive() and b.worker.is_alive()
    a.close()  # while it waits for a time slice
    assert not queued.is_alive() and a.worker is None
    hold.give()
    b.pause()
    assert b.parked.wait(WAIT_S)
    worker = b.worker
    b.close()
    assert not worker.is_alive() and b.status == "closed" and not (_workers() & {worker})


def test_connecting_twice_or_to_an_unknown_session(client):
    assert client.get("/api/session/nope/export").status_code == 404
    with client.websocket_connect(f"{WS}/api/session/nope/ws") as ws:
        assert ws.receive_json()["field"] == "session"
    info = _session(client, {"data": {"name": "xor"}})
    with client.websocket_connect(f"{WS}/api/session/{info['id']}/ws") as ws:
        ws.receive_json()
        with client.websocket_connect(f"{WS}/api/session/{info['id']}/ws") as second:
            assert "already" in second.receive_json()["error"]
    client.app.state.sessions.close_all()


def test_session_limit(client):
    sessions = client.app.state.sessions
    sessions.close_all()
    for _ in range(3):
        _session(client, {"data": {"name": "xor"}})
    r = client.post("/api/session", json={"data": {"name": "xor"}})
    assert r.status_code == 429 and r.json()["field"] == "session"
    sessions.close_all()


# ------------------------------------------------------------------------------------------------
# scheduling: a few slots, time slices, first come first served


def test_slices_shrink_as_pages_are_added_within_bounds():
    scheduler = Scheduler(slots=2)
    assert scheduler.slice_s() == pytest.approx(0.05)  # alone: the longest slice
    scheduler.holders |= {"a", "b"}
    scheduler.queue.extend(range(18))
    assert scheduler.slice_s() == pytest.approx(0.12 * 2 / 20)  # 20 pages: each gets a turn ~8 times a second
    scheduler.queue.extend(range(18, 500))
    assert scheduler.slice_s() == pytest.approx(0.005)  # never shorter than a switch is worth


def test_a_lone_turn_keeps_its_slot():
    scheduler = Scheduler(slots=1)
    turn = Turn(scheduler, threading.Event())
    assert turn.take()
    turn.started -= 1.0  # its slice is long over, but nobody waits
    assert turn.tick() and turn.held and turn.turns == 1
    turn.give()
    assert not scheduler.holders


def test_scheduler_grants_turns_in_order_and_never_more_than_its_slots():
    scheduler = Scheduler(slots=2)
    never = threading.Event()
    turns = [Turn(scheduler, never) for _ in range(5)]
    order: list[int] = []
    inside, most = 0, 0
    lock = threading.Lock()
    go = threading.Barrier(6)

    def worker(i: int) -> None:
        nonlocal inside, most
        go.wait()
        for _ in range(20):
            assert turns[i].take()
            with lock:
                inside += 1
                most = max(most, inside)
                order.append(i)
            with lock:
                inside -= 1
            turns[i].give()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    go.wait()
    for t in threads:
        t.join(WAIT_S)
    assert most <= 2 and sorted(order) == sorted(list(range(5)) * 20)
    assert all(t.turns == 20 for t in turns)


class RecordingScheduler(Scheduler):
    """The scheduler under test, remembering whom it granted each turn, in order."""

    def __init__(self, slots: int):
        super().__init__(slots)
        self.granted: list[object] = []

    def _grant(self) -> None:
        before = set(self.holders)
        super()._grant()
        self.granted.extend(self.holders - before)

    def slice_s(self) -> float:
        return 0.002  # short turns, so that even a fast engine needs many of them


def test_every_busy_page_gets_a_turn_before_any_gets_a_second():
    """Six sessions on one slot: first come, first served; nobody starves, and each reaches its limit."""
    scheduler = RecordingScheduler(slots=1)
    cfg = parse_config({"data": {"name": "moons", "n": 100}, "model": {"hidden": [8]}, "stop": {"epochs": 300}})
    sessions = [sess.Session(cfg, lambda m: None, scheduler) for _ in range(6)]
    blocker = Turn(scheduler, threading.Event())
    assert blocker.take()  # hold the slot until all six are queued
    try:
        for s in sessions:
            s.play()
        with scheduler.joined:
            assert scheduler.joined.wait_for(lambda: scheduler.waiting() == 6, timeout=WAIT_S)
        blocker.give()
        for s in sessions:
            s.worker.join(WAIT_S)
        assert all(s.status == "finished" and s.epoch == 300 for s in sessions)
        turns = [t for t in scheduler.granted if t is not blocker]
        assert len(turns) > 12  # 300 epochs do not fit one slice: they took turns
        whose = [next(i for i, s in enumerate(sessions) if s._turn is t) for t in turns]
        assert sorted(whose[:6]) == list(range(6))  # everyone's first turn before anyone's second
        assert all(whose.count(i) >= 2 for i in range(6))
    finally:
        for s in sessions:
            s.close()


# ------------------------------------------------------------------------------------------------
# cross-site safety


@pytest.mark.parametrize("host,status", [
    ("evil.example", 400), ("evil.example:8000", 400), ("127.0.0.1:9999", 400), ("127.0.0.1:80x", 400),
    ("127.0.0.1.evil.example:8000", 400), ("", 400),
    ("127.0.0.1:8000", 200), ("localhost:8000", 200), ("LOCALHOST:8000", 200), ("[::1]:8000", 200)])
def test_host_header_must_name_this_server(client, host, status):
    r = client.get("/api/options", headers={"Host": host})
    assert r.status_code == status, r.text
    if status == 400:
        assert r.json()["field"] == "Host"


def test_configured_host_is_accepted():
    app = create_app(hosts=("lab.internal",))
    with TestClient(app, base_url="http://lab.internal:8000") as c:
        assert c.get("/api/options").status_code == 200
        assert c.get("/api/options", headers={"Host": "other.internal:8000"}).status_code == 400


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"}, {"Origin": "null"}, {"Origin": "http://127.0.0.1:9999"},
    {"Origin": "https://127.0.0.1:8000"}, {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}])
def test_foreign_pages_cannot_create_drive_or_read_sessions(client, headers):
    r = client.post("/api/session", json={"data": {"name": "xor"}}, headers=headers)
    assert r.status_code == 403 and r.json()["field"] == "Origin"
    info = _session(client, {"data": {"name": "xor"}})
    assert client.get(f"/api/session/{info['id']}/export", headers=headers).status_code == 403
    assert client.get(f"/api/session/{info['id']}/snippet", headers=headers).status_code == 403
    assert client.delete(f"/api/session/{info['id']}", headers=headers).status_code == 403
    assert client.post("/api/csv", content="a,b,label\n1,2,0\n", headers={**CSV, **headers}).status_code == 403
    with pytest.raises(WebSocketDisconnect) as refused:
        with client.websocket_connect(f"{WS}/api/session/{info['id']}/ws", headers=headers) as ws:
            ws.receive_json()
    assert refused.value.code == 1008
    assert not client.app.state.sessions.entries[info["id"]].connected
    # the page's own requests pass
    own = {**ORIGIN, "Sec-Fetch-Site": "same-origin"}
    assert client.get(f"/api/session/{info['id']}/snippet", headers=own).status_code == 200
    with client.websocket_connect(f"{WS}/api/session/{info['id']}/ws", headers=own) as ws:
        assert ws.receive_json()["type"] == "frame"
    client.app.state.sessions.close_all()


@pytest.mark.parametrize("path,ctype", [("/api/session", "text/plain"), ("/api/session", "application/x-www-form-urlencoded"),
                                        ("/api/session", "multipart/form-data; boundary=x"), ("/api/session", None),
                                        ("/api/csv", "text/plain"), ("/api/csv", "application/json")])
def test_json_and_csv_endpoints_accept_only_their_media_type(client, path, ctype):
    headers = {"Content-Type": ctype} if ctype else {}
    r = client.post(path, content=b'{"data": {"name": "xor"}}', headers=headers)
    assert r.status_code == 415 and r.json()["field"] == "Content-Type"
    assert not client.app.state.sessions.entries


def test_json_with_charset_is_json(client):
    r = client.post("/api/session", content=b'{"data": {"name": "xor"}}',
                    headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 200
    client.app.state.sessions.close_all()


def _asgi(guard: Guard, headers: list[tuple[bytes, bytes]], chunks: list[bytes], path: str = "/api/session"):
    """Drive the guard as a server would: returns (status, chunks read by the time it answered)."""
    read = 0
    sent: list[dict] = []

    async def receive():
        nonlocal read
        read += 1
        more = read < len(chunks)
        return {"type": "http.request", "body": chunks[read - 1], "more_body": more}

    async def send(message):
        sent.append(message)

    async def app(scope, receive, send):  # reads the whole body, like request.body()
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    scope = {"type": "http", "method": "POST", "path": path, "server": ("127.0.0.1", 8000), "scheme": "http",
             "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"), *headers]}
    asyncio.run(Guard(app, default_limit=guard.default_limit, json_paths=("/api/session",))(scope, receive, send))
    return sent[0]["status"], read


def test_bodies_are_bounded_while_they_arrive():
    guard = Guard(lambda *a: None, default_limit=2_000_000)
    chunk = b"x" * 65_536
    many = [chunk] * 4600  # 300 MB if read whole
    status, read = _asgi(guard, [], many)
    assert status == 413 and read == 2_000_000 // 65_536 + 1  # stopped at the first chunk past the limit
    status, read = _asgi(guard, [(b"content-length", str(300_000_000).encode())], many)
    assert status == 413 and read == 0  # the declared length alone is enough
    status, read = _asgi(guard, [(b"content-length", b"12abc")], many)
    assert status == 400 and read == 0
    status, read = _asgi(guard, [], [chunk] * 3)
    assert status == 200 and read == 3


@pytest.fixture(scope="module")
def real_server():
    """uvicorn serving the playground on a bound, listening socket (no polling for it to start)."""
    import uvicorn

    app = create_app(max_sessions=2)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)  # connections wait in the backlog until uvicorn accepts them
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", ws_per_message_deflate=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    yield sock.getsockname()[1], app
    server.should_exit = True
    thread.join(WAIT_S)
    app.state.sessions.close_all()


def test_a_real_server_answers_413_before_the_body_is_sent(real_server):
    """A 300 MB chunked upload gets its 413 after about the limit, not at the end."""
    port, _ = real_server
    with socket.create_connection(("127.0.0.1", port)) as c:
        c.sendall(f"POST /api/session HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n".encode())
        chunk = b"x" * 65_536
        framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        sent = 0
        try:
            while sent < 300_000_000:
                c.sendall(framed)
                sent += len(chunk)
                c.setblocking(False)
                try:
                    if c.recv(1, socket.MSG_PEEK):
                        break
                except BlockingIOError:
                    pass
                finally:
                    c.setblocking(True)
        except (BrokenPipeError, ConnectionResetError):
            pass
        c.settimeout(WAIT_S)
        head = c.recv(200)
    assert head.startswith(b"HTTP/1.1 413") and sent < 50_000_000, (head, sent)


def test_a_real_server_refuses_foreign_hosts_and_websocket_origins(real_server):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    port, app = real_server
    base = f"http://127.0.0.1:{port}"
    req = urllib.request.Request(base + "/api/options", headers={"Host": f"evil.example:{port}"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=WAIT_S)
    assert refused.value.code == 400
    body = b'{"data": {"name": "xor"}}'
    req = urllib.request.Request(base + "/api/session", data=body, headers=JSON)
    with urllib.request.urlopen(req, timeout=WAIT_S) as r:
        sid = json.loads(r.read())["id"]
    uri = f"ws://127.0.0.1:{port}/api/session/{sid}/ws"
    with pytest.raises(InvalidStatus) as handshake:
        connect(uri, origin="http://evil.example", open_timeout=WAIT_S)
    assert handshake.value.response.status_code == 403
    with connect(uri, origin=base, open_timeout=WAIT_S, max_size=2**24) as ws:
        assert json.loads(ws.recv(timeout=WAIT_S))["type"] == "frame"
        ws.send(json.dumps({"cmd": "lr", "value": int(BIG)}))
        reply = json.loads(ws.recv(timeout=WAIT_S))  # a readable message, and the socket stays open
        assert reply["type"] == "error" and reply["field"] == "lr"
        ws.send(json.dumps({"cmd": "pause"}))
        assert json.loads(ws.recv(timeout=WAIT_S))["state"] == "idle"


def test_ctrl_c_stops_a_server_whose_pages_are_training():
    """`serve` in its own process, three pages training, then SIGINT: a clean exit, every worker joined."""
    import contextlib
    import signal
    import subprocess
    import sys

    from websockets.sync.client import connect

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "MLPLAB_LOG": "info"}
    code = f"from mlplab.web import serve; serve('127.0.0.1', {port})"
    server = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env)
    try:
        for line in server.stderr:  # uvicorn says when it listens
            if "Uvicorn running" in line:
                break
        with contextlib.ExitStack() as pages:
            for _ in range(3):
                req = urllib.request.Request(f"http://127.0.0.1:{port}/api/session", headers=JSON,
                                             data=b'{"data": {"name": "moons"}, "model": {"hidden": [16, 16]}}')
                with urllib.request.urlopen(req, timeout=WAIT_S) as r:
                    sid = json.loads(r.read())["id"]
                ws = pages.enter_context(connect(f"ws://127.0.0.1:{port}/api/session/{sid}/ws", max_size=2**24))
                ws.recv(timeout=WAIT_S)
                ws.send(json.dumps({"cmd": "play"}))
                while json.loads(ws.recv(timeout=WAIT_S)).get("epoch", 0) < 1:
                    pass
            server.send_signal(signal.SIGINT)
            out, err = server.communicate(timeout=WAIT_S)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 0, err[-2000:]
    assert "Traceback" not in err and "Fatal" not in err and "abort" not in err.lower(), err[-2000:]


def test_a_closed_session_is_freed(client):
    info = _session(client, {"data": {"name": "moons", "n": 200}, "model": {"hidden": [16]}})
    s = _live(client, info["id"])
    with client.websocket_connect(f"{WS}/api/session/{info['id']}/ws") as ws:
        ws.receive_json()
        ws.send_json({"cmd": "play"})
        _frames_until(ws, lambda m: m["epoch"] >= 3)
        session, model = weakref.ref(s), weakref.ref(s.model)
        del s
        client.delete(f"/api/session/{info['id']}")
        _state(ws, "closed")
    gc.collect()
    assert session() is None and model() is None


# ------------------------------------------------------------------------------------------------
# data in and out


def test_csv_upload(client):
    good = "a,b,label\n" + "".join(f"{i / 10},{(i % 7) / 7},{i % 3}\n" for i in range(30))
    out = client.post("/api/csv", content=good, headers=CSV).json()
    assert out["task"] == "multiclass" and len(out["X"]) == 30 and out["y"][:3] == [0, 1, 2]
    info = _session(client, {"data": {k: out[k] for k in ("name", "task", "X", "y")}, "model": {"hidden": [8]}})
    assert info["view"] == "boundary" and info["n_classes"] == 3
    client.delete(f"/api/session/{info['id']}")
    for body, status in [("a,b,label\n1,x,0\n", 422), ("", 400), ("a,b,c,d\n1,2,3,4\n", 422),
                         ("a,label\n" + "1,2\n" * 6000, 422)]:
        r = client.post("/api/csv", content=body, headers=CSV)
        assert r.status_code == status and r.json()["field"] == "file", r.text
    assert client.post("/api/csv", content=b"\xff\xfe\x00", headers=CSV).status_code == 400
    r = client.post("/api/csv", content=b"a,b\n" + b"1,2\n" * 300_000, headers=CSV)
    assert r.status_code == 413 and "bytes" in r.json()["error"]


@pytest.mark.parametrize("name,view", [("rotation", "mapping"), ("sine", "curve"), ("reg-plane", "heatmap")])
def test_views_per_kind_of_data(client, name, view):
    info = _session(client, {"data": {"name": name, "n": 100} if name != "sine" else {"name": name},
                             "model": {"hidden": [4], "activation": "tanh"}})
    assert info["view"] == view and info["regions"] is False
    with client.websocket_connect(f"{WS}/api/session/{info['id']}/ws") as ws:
        f = ws.receive_json()
    assert f["view"]["kind"] == view and f["metric_name"] == "R2"


def run_snippet(folder):
    """Execute an exported snippet.py as a user would, in its own folder (beside data.csv); its Run."""
    snippet = (folder / "snippet.py").read_text()
    here = os.getcwd()
    os.chdir(folder)
    try:
        scope: dict = {}
        exec(compile(snippet.replace("print(run)", ""), "snippet.py", "exec"), scope)
    finally:
        os.chdir(here)
    return scope["run"]


def test_export_zip_round_trips_and_its_snippet_reproduces_the_losses(client, tmp_path):
    info = _session(client, {"data": {"name": "custom", "task": "binary", "X": [[0, 0], [1, 1], [0, 1], [1, 0]] * 5,
                                      "y": [0, 0, 1, 1] * 5}, "model": {"hidden": [4]}, "train": {"lr": 0.05}})
    with client.websocket_connect(f"{WS}/api/session/{info['id']}/ws") as ws:
        ws.receive_json()
        ws.send_json({"cmd": "play"})
        _frames_until(ws, lambda m: m["epoch"] >= 20)
        ws.send_json({"cmd": "pause"})
        _state(ws, "paused")
        assert _live(client, info["id"]).parked.wait(WAIT_S)
        r = client.get(f"/api/session/{info['id']}/export", headers={**ORIGIN, "Sec-Fetch-Site": "same-origin"})
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
    again = run_snippet(tmp_path / "playground")
    n = min(len(again.losses), epochs)
    np.testing.assert_allclose(again.losses[:n], run.losses[:n], rtol=1e-4)


# ------------------------------------------------------------------------------------------------
# issue 14: the network diagram and its weight edits, features, presets' epochs, XOR splits, units


def _unit_maps(u):
    q = np.frombuffer(base64.b64decode(u["z8"]), np.uint8).reshape(u["count"], u["points"]).astype(np.float64)
    lo, hi = np.asarray(u["lo"])[:, None], np.asarray(u["hi"])[:, None]
    return lo + q * (hi - lo) / 255


def _weights(frame, layer):
    net = frame["net"]
    group = net["groups"][layer]
    assert (group["from"], group["to"], group["layer"]) == (layer, layer + 1, layer)
    return np.frombuffer(base64.b64decode(group["w"]), "<f4").reshape(net["shown"][layer + 1], net["shown"][layer])


def test_diagram_links_are_the_models_weights_and_scale_to_10_by_128(client):
    info = _session(client, {"data": {"name": "moons", "n": 100}, "model": {"hidden": [3, 20]}, "train": {"seed": 2}})
    assert info["inputs"] == ["x1", "x2"]
    with client.websocket_connect(f"{WS}/api/session/{info['id']}/ws") as ws:
        first = ws.receive_json()
    model = build_model(info["experiment"]["model"], seed=2)  # the untrained model, rebuilt independently
    lins = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert first["net"]["sizes"] == [2, 3, 20, 1] and first["net"]["shown"] == [2, 3, DIAGRAM_UNITS, 1]
    for i, lin in enumerate(lins):
        rows, cols = first["net"]["shown"][i + 1], first["net"]["shown"][i]
        np.testing.assert_array_equal(_weights(first, i), lin.weight.detach().numpy()[:rows, :cols])
    # every node's map: inputs are x1, x2 on the unit grid; a hidden unit is relu(W x + b) there
    u = first["units"]
    g = UNIT_GRID
    maps = _unit_maps(u)
    inputs = np.frombuffer(base64.b64decode(u["inputs"]), "<f4").reshape(2, g * g)
    box = info["box"]
    xx, yy = np.meshgrid(np.linspace(*box[0], g, dtype=np.float32), np.linspace(*box[1], g, dtype=np.float32))
    grid = np.stack([xx.ravel(), yy.ravel()], 1)
    np.testing.assert_allclose(inputs, grid.T, rtol=1e-6)
    w, b = lins[0].weight.detach().numpy(), lins[0].bias.detach().numpy()
    expected = np.maximum(grid @ w.T + b, 0).T
    step = (expected.max(1) - expected.min(1))[:, None] / 255  # maps travel as bytes within their own range
    np.testing.assert_allclose(maps[:3], expected, rtol=0, atol=step.max() * 0.5 + 1e-6)
    assert u["layers"] == [3, DIAGRAM_UNITS] and u["totals"] == [3, 20] and u["n_outputs"] == 1
    # the largest model the page allows: the diagram summarises, and every frame stays far below 1 MB
    big = _session(client, {"data": {"name": "moons", "n": 100}, "model": {"hidden": [128] * 10}})
    assert "256" in big["regions_reason"] and big["regions"] is False
    with client.websocket_connect(f"{WS}/api/session/{big['id']}/ws") as ws:
        ws.send_json({"cmd": "play"})
        frame = _frames_until(ws, lambda m: m["epoch"] >= 2 and "units" in m)
    assert frame["net"]["shown"] == [2] + [DIAGRAM_UNITS] * 10 + [1]
    assert len(json.dumps(frame)) < 250_000


def test_bad_weight_edits_are_named_errors_and_the_socket_stays(client):
    info = _session(client, {"data": {"name": "xor", "n": 40}, "model": {"hidden": [4]}})
    with client.websocket_connect(f"{WS}/api/session/{info['id']}/ws") as ws:
        ws.receive_json()
        good = {"cmd": "weight", "layer": 0, "to": 0, "from": 0, "value": 0.5}
        for change, field in [({"layer": 2}, "layer"), ({"layer": -1}, "layer"), ({"layer": "0"}, "layer"),
                              ({"to": 4}, "to"), ({"from": 2}, "from"), ({"from": 1.5}, "from"),
                              ({"value": "big"}, "value"), ({"value": None}, "value"), ({"value": True}, "value"),
                              ({"value": 1e308}, "value"), ({"value": int(BIG)}, "value"), ({"value": -1e4}, "value")]:
            ws.send_text(json.dumps({**good, **change}))
            reply = ws.receive_json()
            assert reply["type"] == "error" and reply["field"] == field and reply["error"].startswith(field), reply
            assert reply["state"] == "idle"
        ws.send_text('{"cmd": "weight", "layer": 0, "to": 0, "from": 0, "value": 1e999}')  # inf: not a JSON number
        assert ws.receive_json()["field"] == "value"
        ws.send_json(good)  # the socket still works
        assert _until(ws, lambda m: m["type"] == "weight")["value"] == 0.5


def test_a_weight_edit_changes_the_training_and_is_in_the_exported_run(client, tmp_path):
    """Edit a weight while paused: the frame, the next epoch's loss (against mlplab.train on a model edited
    the same way) and the exported model.pt all hold it."""
    cfg = {"data": {"name": "circle", "n": 200, "seed": 3}, "model": {"hidden": [8]}, "train": {"lr": 0.05, "seed": 4}}
    info = _session(client, cfg)
    with client.websocket_connect(f"{WS}/api/session/{info['id']}/ws") as ws:
        ws.receive_json()
        ws.send_json({"cmd": "step"})
        _frames_until(ws, lambda m: m["epoch"] == 1)
        _state(ws, "paused")
        s = _live(client, info["id"])
        assert s.parked.wait(WAIT_S)
        ws.send_json({"cmd": "weight", "layer": 1, "to": 0, "from": 3, "value": -2.5})
        shown = _frames_until(ws, lambda m: True)
        assert _weights(shown, 1)[0, 3] == -2.5
        assert _until(ws, lambda m: m["type"] == "weight")["value"] == -2.5
        r = client.get(f"/api/session/{info['id']}/export", headers={**ORIGIN, "Sec-Fetch-Site": "same-origin"})
        ws.send_json({"cmd": "step"})
        after = _frames_until(ws, lambda m: m["epoch"] == 2)
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        z.extractall(tmp_path)
    exported = mlplab.load_run(tmp_path / "playground").model
    assert float(linears(exported)[1].weight.detach()[0, 3]) == -2.5
    # the oracle: one epoch with mlplab.train, the edit, one more epoch (the page's epochs are separate train calls
    # only when the learning rate changes, so train two epochs in one call with the edit made by a callback)
    data = make_dataset("circle", n=200, seed=3)
    model = build_model(info["experiment"]["model"], seed=4)

    class Edit(mlplab.training.callbacks.Callback):
        def on_epoch_end(self, t, epoch):
            if epoch == 0:
                with torch.no_grad():
                    linears(t.model)[1].weight[0, 3] = -2.5

    train(model, data, {**info["experiment"]["train"], "epochs": 2}, callbacks=[Edit()])
    model.eval()
    with torch.no_grad():
        prob = model(torch.from_numpy(data.X))
    expected = torch.nn.functional.binary_cross_entropy(prob, torch.from_numpy(data.y).float()[:, None])
    assert after["loss"] == pytest.approx(float(expected), rel=1e-5)
    unedited = build_model(info["experiment"]["model"], seed=4)
    train(unedited, data, {**info["experiment"]["train"], "epochs": 2})
    with torch.no_grad():
        plain = torch.nn.functional.binary_cross_entropy(unedited.eval()(torch.from_numpy(data.X)),
                                                         torch.from_numpy(data.y).float()[:, None])
    assert abs(float(plain) - after["loss"]) > 1e-4  # the edit mattered


def test_an_edit_while_running_reaches_the_worker(client):
    info = _session(client, {"data": {"name": "moons", "n": 100}, "model": {"hidden": [4]}, "train": {"lr": 1e-8}})
    with client.websocket_connect(f"{WS}/api/session/{info['id']}/ws") as ws:
        ws.receive_json()
        ws.send_json({"cmd": "play"})
        _state(ws, "running")
        ws.send_json({"cmd": "weight", "layer": 0, "to": 1, "from": 0, "value": 7.0})
        # lr 1e-8: training moves the weight by far less than 1e-3 after the edit
        frame = _frames_until(ws, lambda m: abs(_weights(m, 0)[1, 0] - 7.0) < 1e-3)
        assert frame["state"] == "running"


def test_features_go_through_the_config_and_regions_say_they_do_not_apply():
    cfg = parse_config({"model": {"features": ["x1", "x2", "x1*x2"]}, "train": {"seed": 3}})
    assert cfg.experiment["model"]["features"] == ["x1", "x2", "x1*x2"]
    s = sess.Session(cfg, lambda m: None)
    assert s.regions_on is False and "x1*x2" in s.regions_reason
    assert s.data_message()["inputs"] == ["x1", "x2", "x1*x2"]
    # the input nodes' maps are the features on the unit grid, computed here by hand
    u = s.first_frame()["units"]
    g = UNIT_GRID
    xx, yy = np.meshgrid(*[np.linspace(lo, hi, g, dtype=np.float32) for lo, hi in s.box])
    maps = np.frombuffer(base64.b64decode(u["inputs"]), "<f4").reshape(3, g * g)
    np.testing.assert_allclose(maps, np.stack([xx.ravel(), yy.ravel(), xx.ravel() * yy.ravel()]), rtol=1e-6)
    assert parse_config({"model": {"features": ["x1", "x2"]}}).experiment["model"]["features"] == ["x1", "x2"]


def test_a_preset_keeps_its_notebooks_epochs_unless_the_page_sets_them():
    from mlplab.presets import PRESETS

    for name in ("xor-mlp", "moons-mlp"):
        assert parse_config({"preset": name}).stop_epochs == PRESETS[name].train.epochs
        cfg = parse_config({"preset": name, "stop": {"epochs": 7}})
        assert cfg.stop_epochs == 7 and cfg.experiment["train"]["epochs"] == 7


def test_a_test_split_never_leaves_xor_without_a_quadrant():
    cfg = parse_config({"data": {"name": "xor", "test_fraction": 0.25}})  # 4 points: any split breaks XOR
    assert cfg.data.X_test is None and cfg.data.n == 4 and cfg.experiment["data"]["test_fraction"] == 0.0
    assert "no longer XOR" in cfg.notes[0]
    corners = {(int(x > 0.5), int(y > 0.5)) for x, y in cfg.data.X}
    assert corners == {(0, 0), (0, 1), (1, 0), (1, 1)}
    kept = parse_config({"data": {"name": "tf-xor", "n": 400, "test_fraction": 0.5}})  # plenty of points: kept
    assert not kept.notes and len(kept.data.X_test) == 200
    signs = {(int(x > 0), int(y > 0)) for x, y in kept.data.X}
    assert len(signs) == 4


def test_one_d_units_are_the_current_models_curves(client):
    info = _session(client, {"data": {"name": "sine"}, "model": {"hidden": [5], "activation": "tanh"}, "train": {"seed": 1}})
    assert info["regions"] is False and "1" in info["regions_reason"] and info["inputs"] == ["x"]
    with client.websocket_connect(f"{WS}/api/session/{info['id']}/ws") as ws:
        first = ws.receive_json()
    u = first["units"]
    assert u["dim"] == 1 and u["count"] == 5 and u["layers"] == [5]
    xs = np.linspace(*info["box"][0], u["points"], dtype=np.float32)[:, None]
    lin = build_model(info["experiment"]["model"], seed=1).net[0]
    expected = np.tanh(xs @ lin.weight.detach().numpy().T + lin.bias.detach().numpy()).T
    step = (expected.max(1) - expected.min(1)).max() / 255
    np.testing.assert_allclose(_unit_maps(u), expected, rtol=0, atol=step * 0.5 + 1e-6)


def test_layer_health_is_live_and_true_to_the_model(client):
    """The frame's layer health: dead ReLU fractions counted by brute force, gradient norms from autograd."""
    info = _session(client, {"data": {"name": "xor", "n": 60, "seed": 2}, "model": {"hidden": [6, 6]},
                             "train": {"lr": 0.05}})
    with client.websocket_connect(f"{WS}/api/session/{info['id']}/ws") as ws:
        ws.receive_json()
        ws.send_json({"cmd": "step"})
        frame = _frames_until(ws, lambda m: m["epoch"] >= 1 and "health" in m)
        _state(ws, "paused")
        s = _live(client, info["id"])
        assert s.parked.wait(WAIT_S)
        model = s.model
        rows = {r["layer"]: r for r in frame["health"]}
        data = s.config.data
        X = torch.from_numpy(data.X)
        # brute force on the model as that frame was made: every hidden ReLU, every training point
        h, dead = X, {}
        for name, m in model.net.named_children():
            h = m(h)
            if isinstance(m, torch.nn.ReLU) and f"net.{name}" != f"net.{len(model.net) - 1}":
                dead[f"net.{name}"] = float((h <= 0).all(0).double().mean())
        for layer, fraction in dead.items():
            assert rows[layer]["dead_fraction"] == pytest.approx(fraction)
        model.zero_grad()
        prob = model(X)
        torch.nn.functional.binary_cross_entropy(prob, torch.from_numpy(data.y).float()[:, None]).backward()
        first = torch.cat([model.net[0].weight.grad.reshape(-1), model.net[0].bias.grad.reshape(-1)])
        assert rows["net.0"]["grad_norm"] == pytest.approx(float(first.norm()), rel=1e-4)
        model.zero_grad()


def test_a_paused_page_shows_the_units_health_and_regions_of_the_model_it_rests_on(client):
    """Pause lands between two of the twice-a-second unit frames: the worker still sends the parked model's
    thumbnails, layer health and regions before it sleeps, so no panel on the page shows an older model."""
    info = _session(client, {"data": {"name": "moons", "n": 200}, "model": {"hidden": [8, 8]}, "train": {"lr": 0.03}})
    with client.websocket_connect(f"{WS}/api/session/{info['id']}/ws") as ws:
        ws.receive_json()
        ws.send_json({"cmd": "play"})
        _frames_until(ws, lambda m: m["epoch"] >= 3)
        ws.send_json({"cmd": "pause"})
        s = _live(client, info["id"])
        assert s.parked.wait(WAIT_S)
        held = s.epoch
        last = _frames_until(ws, lambda m: m["epoch"] == held and "health" in m)
        assert "units" in last and "regions" in last
        from mlplab.analysis import layer_health

        now = layer_health(s.model, s.frames.X, torch.from_numpy(s.frames.Y), s.frames.loss_name)
        grads = [r.get("grad_norm") for r in now if r.get("grad_norm") is not None]
        assert grads and [r["grad_norm"] for r in last["health"] if r.get("grad_norm") is not None] == pytest.approx(grads, rel=1e-5)


def test_pause_and_play_continue_the_run_exactly_as_run_resume_does(client, monkeypatch):
    """Each pause ends the worker's `train` call and play resumes it (`train(resume=run)`): five Steps and a
    Play to the limit, with Adam's moments and shuffled mini-batches carried across, give the losses of one
    uninterrupted `mlplab.train`, step for step."""
    cfg = {"data": {"name": "moons", "n": 90, "seed": 2}, "model": {"hidden": [6, 6]},
           "train": {"lr": 0.01, "seed": 3, "batch_size": 16, "optimizer": "adam"}, "stop": {"epochs": 9}}
    calls = []

    def spy(*args, **kwargs):
        calls.append(kwargs.get("resume"))
        return train(*args, **kwargs)

    monkeypatch.setattr(sess, "train", spy)
    info = _session(client, cfg)
    s = _live(client, info["id"])
    with client.websocket_connect(f"{WS}/api/session/{info['id']}/ws") as ws:
        ws.receive_json()
        for k in range(1, 6):
            ws.send_json({"cmd": "step"})
            _frames_until(ws, lambda m, k=k: m["epoch"] == k)
            _state(ws, "paused")
            assert s.parked.wait(WAIT_S) and s.epoch == k
        ws.send_json({"cmd": "play"})
        _state(ws, "finished")
    exp = info["experiment"]
    run = train(build_model(exp["model"], seed=3), make_dataset("moons", n=90, seed=2), {**exp["train"], "epochs": 9})
    assert len(calls) == 6 and calls[0] is None and all(r is not None for r in calls[1:])  # one run, resumed
    assert len(s._step_losses) == len(run.losses) == 9 * 6
    np.testing.assert_allclose(s._step_losses, run.losses, rtol=1e-6)


def _export_meta(client, sid):
    r = client.get(f"/api/session/{sid}/export", headers={**ORIGIN, "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200, r.text
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        return json.loads(z.read("playground/run.json"))


def test_the_exported_run_names_the_engine_that_trained_it_and_its_summed_time(client, monkeypatch):
    """run.json tells the truth: the engine is the one `mlplab.train` picks for the same spec (not a
    label of the page's own), status and timings come from the worker's `Run`, train_s summed over resumes."""
    cfg = {"data": {"name": "moons", "n": 90, "seed": 2}, "model": {"hidden": [6]}, "train": {"lr": 0.05, "seed": 1}}
    returned = []

    def spy(*args, **kwargs):
        returned.append(train(*args, **kwargs))
        return returned[-1]

    monkeypatch.setattr(sess, "train", spy)
    info = _session(client, cfg)
    s = _live(client, info["id"])
    exp = info["experiment"]
    oracle = train(build_model(exp["model"], seed=1), make_dataset("moons", n=90, seed=2), {**exp["train"], "epochs": 1})
    assert oracle.engine == "compiled"  # "auto" on a plain MLP; the page used to export "torch" whatever ran
    with client.websocket_connect(f"{WS}/api/session/{info['id']}/ws") as ws:
        ws.receive_json()
        for k in (1, 2):
            ws.send_json({"cmd": "step"})
            _frames_until(ws, lambda m, k=k: m["epoch"] == k)
            _state(ws, "paused")
            assert s.parked.wait(WAIT_S)
        meta = _export_meta(client, info["id"])
    assert len(returned) == 2 and returned[1].timings["train_s"] > returned[0].timings["train_s"] > 0
    assert meta["engine"] == oracle.engine == returned[-1].engine
    assert meta["timings"]["train_s"] == round(returned[-1].timings["train_s"], 6)  # both calls, summed
    assert meta["status"] == "interrupted"  # paused: the run stopped before its epoch limit


def test_a_url_of_moons_scratch_trains_on_the_numpy_engine(client):
    """train.engine decides in the playground too: the preset's engine travels in the URL, the session trains
    on it, and the exported run says so."""
    from mlplab.web.url import config_from_url

    config = config_from_url(mlplab.playground_url("moons-scratch"))
    assert config["train"]["engine"] == "numpy" == mlplab.experiment("moons-scratch").train.engine
    info = _session(client, config)
    assert info["experiment"]["train"]["engine"] == "numpy"
    s = _live(client, info["id"])
    with client.websocket_connect(f"{WS}/api/session/{info['id']}/ws") as ws:
        ws.receive_json()
        ws.send_json({"cmd": "step"})
        _frames_until(ws, lambda m: m["epoch"] == 1)
        _state(ws, "paused")
        assert s.parked.wait(WAIT_S)
        meta = _export_meta(client, info["id"])
    assert s._run.engine == meta["engine"] == "numpy" and meta["spec"]["train"]["engine"] == "numpy"


@pytest.mark.parametrize("train_fields,model_fields", [
    ({"engine": "stacked", "batch_size": 16}, {}),  # the stacked engine trains full batches only
    ({"engine": "fused"}, {"norm": "layer"}),  # the fused engine has no layer norm
    ({"engine": "gpu"}, {}),
    ({"engine": 1}, {}),
])
def test_an_engine_that_cannot_run_the_page_is_refused_by_name(client, train_fields, model_fields):
    r = client.post("/api/session", json={"data": {"name": "moons", "n": 100}, "model": {"hidden": [4], **model_fields},
                                          "train": train_fields})
    assert r.status_code == 422 and r.json()["field"] == "train.engine", r.text
    assert repr(train_fields["engine"]) in r.json()["error"] or str(train_fields["engine"]) in r.json()["error"]
    auto = _session(client, {"data": {"name": "moons", "n": 100}, "model": {"hidden": [4], **model_fields},
                             "train": {k: v for k, v in train_fields.items() if k != "engine"}})
    assert client.delete(f"/api/session/{auto['id']}").status_code == 200  # "auto" runs the same page


@pytest.mark.parametrize("page", [
    {"preset": "moons-scratch"},
    {"data": {"name": "circle", "n": 150, "seed": 4}, "model": {"hidden": [5, 3], "features": ["x1", "x2", "x1*x2"],
                                                               "activation": "tanh"}, "train": {"seed": 7}},
])
def test_the_page_starts_from_the_model_and_data_the_experiment_path_makes(page):
    """The session's untrained model and its data are those `api.prepare` makes from the page's experiment
    (the path `mlplab.run` and sweeps take), weight for weight and point for point."""
    s = sess.Session(parse_config(page), lambda m: None)
    exp, data, model = mlplab.api.prepare(mlplab.api.resolve(s.config.experiment))
    mine = s.model.state_dict()
    assert mine.keys() == model.state_dict().keys()
    for k, v in model.state_dict().items():
        assert torch.equal(mine[k], v), k
    np.testing.assert_array_equal(s.config.data.X, data.X)
    np.testing.assert_array_equal(s.config.data.y, data.y)
    s.close()


def test_a_page_too_large_for_the_memory_limit_is_refused_naming_the_field(client, monkeypatch):
    """The page passes the memory check `mlplab.run` makes (`mlplab.budget`): 10 x 128 units on 5000 points
    trained full-batch need ~100 MB of activations, over a 50 MB limit; mini-batches of 100 fit."""
    monkeypatch.setenv("MLPLAB_MEMORY_LIMIT", "50MB")
    big = {"data": {"name": "moons", "n": 5000}, "model": {"hidden": [128] * 10}, "stop": {"epochs": 100}}
    r = client.post("/api/session", json=big)
    assert r.status_code == 422 and r.json()["field"] == "data.n", r.text
    assert "50 MB" in r.json()["error"] and "train.batch_size" in r.json()["error"]
    fits = _session(client, {**big, "train": {"batch_size": 100}})
    assert client.delete(f"/api/session/{fits['id']}").status_code == 200


def test_a_residual_diagram_draws_streams_blocks_and_skips_from_the_model(client):
    """A residual MLP's diagram: columns for the stream each block reads and each block's inner units,
    the blocks' two Linear layers as links (their weights), an identity skip over every block, and every
    node's map equal to that value computed by hand on the unit grid; a weight edit on a block's second
    layer reaches that layer."""
    info = _session(client, {"data": {"name": "moons", "n": 100}, "model": {"hidden": [3, 3], "residual": True},
                             "train": {"seed": 4}})
    with client.websocket_connect(f"{WS}/api/session/{info['id']}/ws") as ws:
        first = ws.receive_json()
        net = first["net"]
        assert net["names"] == ["in", "s0", "b1", "s1", "b2", "s2", "out"] and net["sizes"] == [2, 3, 3, 3, 3, 3, 1]
        model = build_model(info["experiment"]["model"], seed=4)  # rebuilt independently
        stem, b1, b2, head = model.net[0], model.net[1], model.net[2], model.net[3]
        expect = [(0, 1, stem), (1, 2, b1.fc1), (2, 3, b1.fc2), (3, 4, b2.fc1), (4, 5, b2.fc2), (5, 6, head)]
        links = [g for g in net["groups"] if not g.get("skip")]
        assert [(g["from"], g["to"]) for g in links] == [(a, b) for a, b, _ in expect]
        assert [(g["from"], g["to"]) for g in net["groups"] if g.get("skip")] == [(1, 3), (3, 5)]
        lins = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
        for g, (_, _, lin) in zip(links, expect):
            assert lins[g["layer"]] is lin or torch.equal(lins[g["layer"]].weight, lin.weight)
            w = np.frombuffer(base64.b64decode(g["w"]), "<f4").reshape(lin.out_features, lin.in_features)
            np.testing.assert_array_equal(w, lin.weight.detach().numpy())
        # node maps by hand: s0 = stem x, b1 = relu(fc1 s0), s1 = s0 + fc2 b1, ...
        g_ = UNIT_GRID
        box = info["box"]
        xx, yy = np.meshgrid(np.linspace(*box[0], g_, dtype=np.float32), np.linspace(*box[1], g_, dtype=np.float32))
        with torch.no_grad():
            s0 = stem(torch.from_numpy(np.stack([xx.ravel(), yy.ravel()], 1)))
            i1 = torch.relu(b1.fc1(s0))
            s1 = s0 + b1.fc2(i1)
            i2 = torch.relu(b2.fc1(s1))
            s2 = s1 + b2.fc2(i2)
        u = first["units"]
        for got, want in [(_unit_maps(u), torch.cat([i1, i2], 1).T.numpy()),
                          (_unit_maps(u["streams"]), torch.cat([s0, s1, s2], 1).T.numpy())]:
            step = (want.max(1) - want.min(1))[:, None] / 255
            np.testing.assert_allclose(got, want, rtol=0, atol=step.max() * 0.5 + 1e-5)
        # an edit on block 2's second layer, unit 1 <- inner unit 2, lands there
        fc2 = [g for g in links if g["from"] == 4][0]
        ws.send_json({"cmd": "weight", "layer": fc2["layer"], "to": 1, "from": 2, "value": 0.75})
        frame = _frames_until(ws, lambda m: True)
        live = _live(client, info["id"]).model
        assert float(live.net[2].fc2.weight.detach()[1, 2]) == 0.75
        edited = [g for g in frame["net"]["groups"] if g.get("layer") == fc2["layer"]][0]
        assert np.frombuffer(base64.b64decode(edited["w"]), "<f4").reshape(3, 3)[1, 2] == np.float32(0.75)


# ---------------------------------------------------------------------------------------------
# Hostile values (issue 20): a model driven to inf and NaN keeps its socket and gets a final frame
# saying it diverged (JSON has no inf or NaN: they arrive as null); a playground URL for a host or port
# no URL can hold is refused naming the argument.


def _strict_json(text: str) -> dict:
    """A message as the page's JSON.parse reads it: NaN or Infinity would be a syntax error there."""
    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON: {text[:200]}")

    return json.loads(text, parse_constant=refuse)


def test_weights_of_1000_everywhere_keep_the_socket_and_end_in_a_diverged_frame(client):
    # ten ReLU layers of ten units with every weight at the page's largest value: activations pass
    # float32's range (1e4 per layer), so outputs, loss and unit maps are inf and NaN
    width, depth = 10, 10
    r = client.post("/api/session", json={"data": {"name": "sine", "n": 40}, "model": {"hidden": [width] * depth,
                                                                                       "activation": "relu"}})
    assert r.status_code == 200, r.text
    sid = r.json()["id"]
    shapes = [(width, 1)] + [(width, width)] * (depth - 1) + [(1, width)]
    with client.websocket_connect(f"{WS}/api/session/{sid}/ws") as ws:
        _strict_json(ws.receive_text())
        edits = 0
        for layer, (rows, cols) in enumerate(shapes):
            for to in range(rows):
                for frm in range(cols):
                    ws.send_json({"cmd": "weight", "layer": layer, "to": to, "from": frm, "value": 1000.0})
                    edits += 1
        replies, frame = 0, None
        while replies < edits:  # every edit answered, each with a frame of the edited model (the socket stays)
            m = _strict_json(ws.receive_text())
            assert m["type"] != "error", m
            replies += m["type"] == "weight"
            frame = m if m["type"] == "frame" else frame
        assert frame["loss"] is None  # the loss is inf: sent as null
        ws.send_json({"cmd": "step"})
        for _ in range(100):
            m = _strict_json(ws.receive_text())
            if m["type"] == "frame" and m["state"] == "diverged":
                break
        else:
            raise AssertionError("no final frame saying the run diverged")
        assert "diverged" in m["state"] and "inf" in m["message"]
        ws.send_json({"cmd": "reset"})  # the session still answers
        assert any(_strict_json(ws.receive_text())["state"] == "idle" for _ in range(20))


@pytest.mark.parametrize("host, port, field", [
    ("", 8000, "host"), ("   ", 8000, "host"), (None, 8000, "host"), ("a/b", 8000, "host"), ("x#y", 8000, "host"),
    ("127.0.0.1", 70000, "port"), ("127.0.0.1", -1, "port"), ("127.0.0.1", 0, "port"), ("127.0.0.1", "abc", "port"),
    ("127.0.0.1", "8000", "port"), ("127.0.0.1", True, "port"), ("127.0.0.1", 8000.0, "port"),
])
def test_a_playground_url_needs_a_host_and_port_a_url_can_hold(host, port, field):
    with pytest.raises(SpecError, match=f"^{field}:"):
        mlplab.playground_url("moons-mlp", host=host, port=port)


def test_a_playground_url_of_good_addresses():
    assert mlplab.playground_url("moons-mlp", host="localhost", port=1).startswith("http://localhost:1/#")
    assert mlplab.playground_url("moons-mlp", host="::1", port=65535).startswith("http://[::1]:65535/#")
