"""The playground's export tells the truth about live changes: a learning rate changed while training or
while paused, and weights edited either way, are in run.json's segments and in the snippet, which retrains
to the same losses, step for step."""

import io
import zipfile

import numpy as np
import pytest
from fastapi.testclient import TestClient
from test_web_api import run_snippet

import mlplab
from mlplab.web import create_app

BASE = "http://127.0.0.1:8000"
WS = "ws://127.0.0.1:8000"
HEADERS = {"Origin": BASE, "Sec-Fetch-Site": "same-origin"}


@pytest.fixture
def client(one_thread):
    app = create_app(max_sessions=2)
    with TestClient(app, base_url=BASE) as c:
        yield c
    app.state.sessions.close_all()


def _frames_until(ws, done, limit=20000):
    for _ in range(limit):
        m = ws.receive_json()
        if m.get("type") == "frame" and done(m):
            return m
    raise AssertionError("no such frame")


def _until_state(ws, state, limit=20000):
    for _ in range(limit):
        m = ws.receive_json()
        if m.get("state") == state:
            return m
    raise AssertionError(f"never {state}")


@pytest.mark.parametrize("batch_size", [None, 30])
def test_the_snippet_replays_live_learning_rates_and_weight_edits(client, tmp_path, batch_size):
    train = {"lr": 0.1, **({"batch_size": batch_size} if batch_size else {})}
    r = client.post("/api/session", json={"data": {"name": "moons", "n": 100}, "model": {"hidden": [6]},
                                          "train": train, "stop": {"epochs": 100000}})
    assert r.status_code == 200, r.text
    sid = r.json()["id"]
    session = client.app.state.sessions.entries[sid].session
    with client.websocket_connect(f"{WS}/api/session/{sid}/ws") as ws:
        ws.receive_json()
        ws.send_json({"cmd": "play"})
        _frames_until(ws, lambda m: m["epoch"] >= 5)
        ws.send_json({"cmd": "lr", "value": 0.05})  # while training: applied between two steps
        _frames_until(ws, lambda m: m["epoch"] >= 10)
        ws.send_json({"cmd": "weight", "layer": 0, "to": 1, "from": 0, "value": 0.7})
        _frames_until(ws, lambda m: m["epoch"] >= 15)
        ws.send_json({"cmd": "pause"})
        _until_state(ws, "paused")
        assert session.parked.wait(120)
        ws.send_json({"cmd": "weight", "layer": 1, "to": 0, "from": 2, "value": -0.4})  # while paused
        ws.send_json({"cmd": "lr", "value": 0.02})
        paused_at = session.epoch
        ws.send_json({"cmd": "play"})
        _frames_until(ws, lambda m: m["epoch"] >= paused_at + 10)  # frames of the second play, not queued ones
        ws.send_json({"cmd": "pause"})
        _until_state(ws, "paused")
        assert session.parked.wait(120)
        r = client.get(f"/api/session/{sid}/export", headers=HEADERS)
    assert r.status_code == 200
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        z.extractall(tmp_path)
    page = mlplab.load_run(tmp_path / "playground", with_model=False)
    kinds = [("changed" in s and s["changed"].get("lr"), s.get("edit", {}).get("value"), s.get("phase"))
             for s in page.segments[1:]]
    assert kinds == [(0.05, None, "update"), (False, 0.7, "update"), (False, -0.4, "before"), (0.02, None, "before")]
    assert page.segments[0]["train"]["lr"] == 0.1 and page.spec["train"]["lr"] == 0.02  # the rate in force now
    assert sum(s["steps"] for s in page.segments) == page.steps
    snippet = (tmp_path / "playground" / "snippet.py").read_text()
    assert "Replay(changes)" in snippet
    again = run_snippet(tmp_path / "playground")
    assert again.engine == page.engine
    np.testing.assert_array_equal(again.losses, page.losses)
    assert again.final_loss == page.final_loss
