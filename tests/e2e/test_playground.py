"""The playground in a real browser (Playwright + Debian's Chromium) against a live uvicorn server.

Every wait is on something the user sees (the status line, a button's label, the epoch counter);
the timeout is only a guard against hanging, never a claim about speed.
"""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
import zipfile

import pytest

from mlplab.web.state import COMMANDS

HANG_GUARD_MS = 180_000

EPOCH = "[data-testid=epoch]"
LOSS = "[data-testid=loss]"
STATUS = "[data-testid=status]"


def _number(page, selector: str) -> float:
    return float(page.locator(selector).text_content())


@pytest.fixture
def page(browser, server_url):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    p = context.new_page()
    p.set_default_timeout(HANG_GUARD_MS)
    requests: list[str] = []
    errors: list[str] = []
    sent: list[dict] = []  # every command the page sent over its WebSockets, in order
    p.on("request", lambda r: requests.append(r.url))
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(json.loads(payload))))
    p.requests, p.errors, p.sent = requests, errors, sent  # type: ignore[attr-defined]
    yield p
    context.close()
    hosts = {urllib.parse.urlsplit(u).hostname for u in requests if not u.startswith(("data:", "blob:"))}
    assert hosts <= {"127.0.0.1"}, f"requests left the machine: {sorted(hosts)}"
    assert not errors, errors


def _status(page, text: str) -> None:
    """Wait until the status line shows ``text`` (a state name, maybe followed by ': why')."""
    page.wait_for_function(f"(t => t === {text!r} || t.startsWith({text + ':'!r}))"
                           f"(document.querySelector('{STATUS}').textContent)")


def _shown(page) -> None:
    """A session is on screen: its untrained frame is drawn and the status line says idle."""
    _status(page, "idle")
    page.wait_for_function(f"document.querySelector('{LOSS}').textContent !== '-'")


def _epoch_at_least(page, n: int) -> None:
    page.wait_for_function(f"Number(document.querySelector('{EPOCH}').textContent) >= {n}")


def _session_id(page) -> str:
    return page.get_attribute("#export", "href").split("/")[3]


def _hold_session_requests(page) -> list:
    """Hold every POST /api/session until the test lets it go: a deterministic 'still connecting'."""
    held: list = []
    page.route("**/api/session", lambda route: held.append(route))
    return held


def _pump_until(page, done, limit: int = 10_000) -> None:
    """Let Playwright deliver its events (route handlers, WebSocket frames) until ``done()``."""
    for _ in range(limit):
        if done():
            return
        page.evaluate("0")
    raise AssertionError("the browser never delivered the expected event")


def _release(page, held: list) -> None:
    _pump_until(page, lambda: held)
    while held:
        held.pop(0).continue_()
    page.unroute("**/api/session")


def _all_sent(page) -> list[str]:
    """The commands the page has sent, once every one of them has reached the test's listener."""
    count = int(page.evaluate("Number(document.body.dataset.sent || 0)"))
    _pump_until(page, lambda: len(page.sent) >= count)
    return [m["cmd"] for m in page.sent]


def test_play_clicked_as_the_page_appears_is_not_lost(page, server_url, playground):
    held = _hold_session_requests(page)
    page.goto(server_url + "/")
    page.get_by_role("button", name="Play").click()  # enabled as soon as the page can take a click
    _status(page, "connecting (play queued)")
    _release(page, held)
    _status(page, "running")
    page.get_by_role("button", name="Pause").wait_for()
    _epoch_at_least(page, 3)
    assert _all_sent(page) == ["play"]
    assert playground[1].state.sessions.entries[_session_id(page)].session.status == "running"


def _expected_state(start: str, cmds: list[str]) -> str:
    """The server's machine folded over the commands, plus the worker's pause after a Step's epoch."""
    state, stepping = start, False
    for cmd in cmds:
        after = COMMANDS[cmd].get(state, state)
        if cmd == "play":
            stepping = False
        elif cmd == "step" and state in ("idle", "paused"):
            stepping = True
        elif after != "running":
            stepping = False
        state = after
    return "paused" if state == "running" and stepping else state


def _click_and_check(page, app, button: str, clicks: int = 1) -> str:
    """Click ``button`` (``clicks`` times as fast as the browser can), then the page must show exactly the
    state the server's machine reaches from the commands the page really sent."""
    session = app.state.sessions.entries[_session_id(page)].session
    start = session.status
    before = len(_all_sent(page))
    # the server answers every command with a state message: wait for those answers, not for a state
    # the page may already show from before the clicks
    states = int(page.evaluate("Number(document.body.dataset.states || 0)"))
    locator = page.locator(f"#{button}")
    if clicks == 2:
        locator.dblclick()
    else:
        for _ in range(clicks):
            locator.click()
    sent = _all_sent(page)[before:]
    assert len(sent) == clicks
    expected = _expected_state(start, sent)
    page.wait_for_function(f"Number(document.body.dataset.states || 0) >= {states + clicks}")
    _status(page, expected)
    assert session.status == expected
    assert page.locator("#play").text_content() == ("Pause" if expected == "running" else "Play")
    return expected


def test_every_control_in_every_state(page, server_url, playground):
    app = playground[1]
    page.goto(server_url + "/")
    _shown(page)
    # idle: Step trains one epoch and pauses; Reset stays idle
    assert _click_and_check(page, app, "step") == "paused"
    page.wait_for_function(f"document.querySelector('{EPOCH}').textContent === '1'")
    # paused: Step again (epoch 2), Play runs
    assert _click_and_check(page, app, "step") == "paused"
    page.wait_for_function(f"document.querySelector('{EPOCH}').textContent === '2'")
    assert _click_and_check(page, app, "play") == "running"
    _epoch_at_least(page, 5)
    # running: Step changes nothing, Pause pauses, Reset goes back to the untrained model
    assert _click_and_check(page, app, "step") == "running"
    assert _click_and_check(page, app, "play") == "paused"  # the button reads Pause while running
    assert _click_and_check(page, app, "play") == "running"
    assert _click_and_check(page, app, "reset") == "idle"
    page.wait_for_function(f"document.querySelector('{EPOCH}').textContent === '0'")
    assert _click_and_check(page, app, "reset") == "idle"
    # fast double and triple clicks: whatever the page sent, it shows what the server made of it
    for clicks in (2, 3, 2):
        _click_and_check(page, app, "play", clicks)
    _click_and_check(page, app, "step", 2)
    _click_and_check(page, app, "reset", 2)
    _status(page, "idle")

    # finished: a 4-epoch limit; Play and Step are disabled until Reset
    page.fill("#stop_epochs", "4")
    page.locator("#stop_epochs").dispatch_event("change")
    _shown(page)
    page.get_by_role("button", name="Play").click()
    _status(page, "finished")
    assert "epoch limit (4)" in page.locator(STATUS).text_content()
    assert page.locator("#play").is_disabled() and page.locator("#step").is_disabled()
    assert app.state.sessions.entries[_session_id(page)].session.status == "finished"
    assert _click_and_check(page, app, "reset") == "idle"
    assert not page.locator("#play").is_disabled()

    # closed: the session is deleted behind the page's back; the page says so and nothing restarts it
    page.fill("#stop_epochs", "100000")
    page.locator("#stop_epochs").dispatch_event("change")
    _shown(page)
    sid = _session_id(page)
    session = app.state.sessions.entries[sid].session
    page.get_by_role("button", name="Play").click()
    _status(page, "running")
    worker = session.worker
    urllib.request.urlopen(urllib.request.Request(f"{server_url}/api/session/{sid}", method="DELETE")).read()
    _status(page, "closed")
    assert page.locator("#play").is_disabled() and page.locator("#reset").is_disabled()
    assert not worker.is_alive() and session.status == "closed"


def test_a_diverging_run_stops_with_its_reason_and_reset_brings_it_back(page, server_url, playground):
    app = playground[1]
    settings = {"data": {"name": "reg-plane", "n": 100}, "model": {"hidden": [8]},
                "train": {"optimizer": "sgd", "lr": 100}}
    page.goto(server_url + "/#" + urllib.parse.quote(json.dumps(settings)))
    _shown(page)
    page.get_by_role("button", name="Play").click()
    _status(page, "diverged")
    assert "smaller learning rate" in page.locator(STATUS).text_content()
    assert page.locator("#play").is_disabled() and page.locator("#step").is_disabled()
    session = app.state.sessions.entries[_session_id(page)].session
    assert session.status == "diverged"
    session.worker.join(HANG_GUARD_MS / 1000)  # the worker ends after its last frame
    assert not session.worker.is_alive()
    assert _click_and_check(page, app, "reset") == "idle"
    page.wait_for_function(f"document.querySelector('{EPOCH}').textContent === '0'")
    assert not page.locator("#play").is_disabled()


def test_play_right_after_changing_the_data_set_goes_to_the_new_session(page, server_url, playground):
    app = playground[1]
    page.goto(server_url + "/")
    _shown(page)
    old = _session_id(page)
    held = _hold_session_requests(page)
    page.select_option("#dataset", "circle")
    page.get_by_role("button", name="Play").click()  # the new session is still being made
    _status(page, "connecting (play queued)")
    _release(page, held)
    _status(page, "running")
    new = _session_id(page)
    assert new != old and app.state.sessions.entries[new].session.status == "running"
    page.wait_for_function(f"!document.querySelector('#export').href.includes({old!r})")
    assert old not in app.state.sessions.entries or app.state.sessions.entries[old].session.status in ("idle", "closed")


def test_play_loss_falls_switch_data_and_model_url_round_trip(page, server_url, artifacts):
    page.goto(server_url + "/")
    _shown(page)
    assert page.locator(EPOCH).text_content() == "0"
    start_loss = _number(page, LOSS)
    page.get_by_role("button", name="Play").click()
    _epoch_at_least(page, 50)
    page.wait_for_function(f"Number(document.querySelector('{LOSS}').textContent) < {0.8 * start_loss}")
    first = _number(page, LOSS)
    # it keeps learning: the loss shown falls further (waited for, whatever epoch the page is at by now)
    page.wait_for_function(f"Number(document.querySelector('{LOSS}').textContent) < {first}")
    second = _number(page, LOSS)
    assert second < first < start_loss
    page.screenshot(path=str(artifacts / "playground-moons.png"))
    page.get_by_role("button", name="Pause").click()
    _status(page, "paused")
    page.get_by_role("button", name="Play").wait_for()

    # the page's own export and snippet pass the cross-site guard
    with page.expect_download() as download:
        page.get_by_role("link", name="Export run (.zip)").click()
    with zipfile.ZipFile(download.value.path()) as z:
        assert {"playground/run.json", "playground/snippet.py"} <= set(z.namelist())
    page.get_by_role("button", name="Python snippet").click()
    page.wait_for_function("document.getElementById('snippet').textContent.includes('mlplab.run(experiment)')")

    # another data set and model: spiral, 3 x 16 tanh
    page.select_option("#dataset", "spiral")
    page.wait_for_function(f"document.querySelector('{EPOCH}').textContent === '0'")
    page.fill("#layers", "3")
    page.locator("#layers").dispatch_event("change")
    page.fill("#width", "16")
    page.locator("#width").dispatch_event("change")
    page.select_option("#activation", "tanh")
    page.wait_for_function("decodeURIComponent(location.hash).includes('\"hidden\":[16,16,16]')")
    _shown(page)
    state = json.loads(urllib.parse.unquote(page.url.split("#", 1)[1]))
    assert state["data"]["name"] == "spiral" and state["model"]["activation"] == "tanh"
    page.get_by_role("button", name="Play").click()
    _epoch_at_least(page, 20)
    page.screenshot(path=str(artifacts / "playground-spiral.png"))

    # reload: the settings come back from the URL
    page.reload()
    _shown(page)
    assert page.input_value("#dataset") == "spiral"
    assert page.input_value("#layers") == "3" and page.input_value("#width") == "16"
    assert page.input_value("#activation") == "tanh"
    assert page.locator(EPOCH).text_content() == "0"


def test_csv_upload_and_bad_input_message(page, server_url, artifacts, tmp_path):
    page.goto(server_url + "/")
    _shown(page)
    csv = tmp_path / "three.csv"
    rows = ["u,v,kind"] + [f"{(i % 10) / 3:.3f},{(i // 10) / 3:.3f},{(i % 10) // 4}" for i in range(100)]
    csv.write_text("\n".join(rows) + "\n")
    page.set_input_files("#csv", str(csv))
    page.wait_for_function("decodeURIComponent(location.hash).includes('\"name\":\"custom\"')")
    _shown(page)
    assert page.input_value("#loss_fn") == "ce"
    page.get_by_role("button", name="Play").click()
    _epoch_at_least(page, 30)
    page.screenshot(path=str(artifacts / "playground-csv.png"))

    bad = tmp_path / "bad.csv"
    bad.write_text("u,v,kind\n1,oops,0\n")
    page.set_input_files("#csv", str(bad))
    alert = page.get_by_role("alert")
    alert.wait_for(state="visible")
    assert "oops" in alert.text_content() and "file" in alert.text_content()

    page.fill("#width", "1000")
    page.locator("#width").dispatch_event("change")
    page.wait_for_function("document.querySelector('[data-testid=error]').textContent.includes('model.hidden')")
    assert "128" in alert.text_content()
    page.screenshot(path=str(artifacts / "playground-error.png"))


def test_huge_live_learning_rate_gets_a_readable_message(page, server_url):
    page.goto(server_url + "/")
    _shown(page)
    page.fill("#lr", "1" + "0" * 400)
    page.locator("#lr").dispatch_event("change")
    alert = page.get_by_role("alert")
    alert.wait_for(state="visible")
    assert alert.text_content().startswith("lr: expected")
    page.get_by_role("button", name="Play").click()  # the socket is still there
    _status(page, "running")


LOSS_TRACE_NAMES = "() => document.getElementById('loss-plot').data.map((t) => t.name)"


def _pause_and_keep_the_curve(page) -> str:
    """Pause, click "Keep curve to compare", and read the kept curve's legend entry (the first kept one)."""
    page.get_by_role("button", name="Pause").click()
    _status(page, "paused")
    page.get_by_role("button", name="Keep curve to compare").click()
    page.wait_for_function(f"({LOSS_TRACE_NAMES})().some((n) => n.startsWith('#1 '))")
    return [n for n in page.evaluate(LOSS_TRACE_NAMES) if n.startswith("#1 ")][0]


def test_keep_a_curve_and_compare_it_with_the_next_run(page, server_url, artifacts):
    page.goto(server_url + "/")
    _shown(page)
    page.get_by_role("button", name="Play").click()
    _epoch_at_least(page, 40)
    kept = _pause_and_keep_the_curve(page)
    assert "lr" in kept and "x" in kept  # e.g. "#1 moons, 8x8 relu, adam lr 0.03"
    page.fill("#width", "12")  # another model: a new run starts, the kept curve stays
    page.locator("#width").dispatch_event("change")
    page.wait_for_function(f"document.querySelector('{EPOCH}').textContent === '0'")
    _shown(page)
    page.get_by_role("button", name="Play").click()
    _epoch_at_least(page, 20)
    assert kept in page.evaluate(LOSS_TRACE_NAMES)
    page.screenshot(path=str(artifacts / "playground-compare.png"))
    page.get_by_role("button", name="Clear kept curves").click()
    page.wait_for_function(f"!({LOSS_TRACE_NAMES})().some((n) => n.startsWith('#'))")


# ------------------------------------------------------------------------------------------------
# issue 14: the network diagram, weight edits, features, per-layer widths, L1, discretize, regenerate


def _open(page, server_url: str, config: dict) -> None:
    page.goto(server_url + "/#" + urllib.parse.quote(json.dumps(config)))
    _shown(page)


def _live(page, app):
    return app.state.sessions.entries[_session_id(page)].session


def _oracle_loss(experiment: dict, epochs: int, callbacks=()) -> float:
    """The training loss after ``epochs`` epochs of `mlplab.train` on the page's experiment, rebuilt here."""
    from mlplab.data import make_dataset
    from mlplab.models import build_model
    from mlplab.specs import DataSpec
    from mlplab.training.loop import train

    data = make_dataset(DataSpec(**experiment["data"]))
    model = build_model(experiment["model"], seed=experiment["train"]["seed"])
    run = train(model, data, {**experiment["train"], "epochs": epochs}, callbacks=list(callbacks))
    return run.metrics["train_loss"]


def _step_once(page) -> float:
    page.get_by_role("button", name="Step").click()
    page.wait_for_function(f"document.querySelector('{EPOCH}').textContent === '1'")
    _status(page, "paused")
    return _number(page, LOSS)


def _point_on(link) -> tuple[float, float]:
    """A point of the page where ``link`` (an SVG line) is the topmost element: links cross, and a user
    hovers one where it is not under another."""
    xy = link.evaluate("""l => {
        const m = l.getScreenCTM(), p = l.ownerSVGElement.createSVGPoint();
        for (let k = 1; k < 40; k++) {
            const t = k / 40;
            p.x = +l.getAttribute('x1') + t * (l.getAttribute('x2') - l.getAttribute('x1'));
            p.y = +l.getAttribute('y1') + t * (l.getAttribute('y2') - l.getAttribute('y1'));
            const q = p.matrixTransform(m);
            if (document.elementFromPoint(q.x, q.y) === l) return [q.x, q.y];
        }
        return null; }""")
    assert xy, "the link is hidden under others along its whole length"
    return xy[0], xy[1]


def _linear(model, i):
    return [m for m in model.modules() if isinstance(m, __import__("torch").nn.Linear)][i]


BASE = {"data": {"name": "moons", "n": 120, "seed": 1, "test_fraction": 0}, "model": {"hidden": [4]},
        "train": {"lr": 0.05, "seed": 3}}


def test_diagram_hover_shows_the_weight_and_an_edit_changes_the_training(page, server_url, playground, tmp_path):
    import mlplab
    from mlplab.training.callbacks import Callback

    app = playground[1]
    _open(page, server_url, BASE)
    svg = page.get_by_test_id("network")
    assert svg.evaluate("e => e.tagName") == "svg"
    page.wait_for_function("document.querySelectorAll('[data-testid=network] line[data-weight]').length === 2 * 4 + 4 * 1")
    link = svg.locator("line[data-layer='0'][data-to='0'][data-from='1']")
    s = _live(page, app)
    weight = float(_linear(s.model, 0).weight.detach()[0, 1])
    assert float(link.get_attribute("data-weight")) == pytest.approx(weight, rel=1e-6)
    link.scroll_into_view_if_needed()
    x, y = _point_on(link)
    page.mouse.move(x, y)
    tip = page.get_by_test_id("link-tip")
    tip.wait_for(state="visible")
    assert "x2 \u2192 h1.1" in tip.text_content() and f"{weight:.4g}"[:5] in tip.text_content()

    # a bad weight is answered by name; the page stays usable
    page.mouse.click(x, y)
    page.get_by_label("new weight").fill("lots")
    page.get_by_label("new weight").press("Enter")
    alert = page.get_by_role("alert")
    alert.wait_for(state="visible")
    assert alert.text_content().startswith("value: expected a finite number")

    x, y = _point_on(link)  # the message above the plots moved the page down
    page.mouse.click(x, y)
    page.get_by_label("new weight").fill("-3")
    page.get_by_label("new weight").press("Enter")
    page.wait_for_function("document.querySelector(\"[data-testid=network] line[data-layer='0'][data-to='0'][data-from='1']\").dataset.weight === '-3'")
    assert float(_linear(s.model, 0).weight.detach()[0, 1]) == -3.0
    # the exported run holds the edited weight
    with page.expect_download() as download:
        page.get_by_role("link", name="Export run (.zip)").click()
    with zipfile.ZipFile(download.value.path()) as z:
        z.extractall(tmp_path)
    assert float(_linear(mlplab.load_run(tmp_path / "playground").model, 0).weight.detach()[0, 1]) == -3.0

    # training goes on from the edited weight: one epoch equals mlplab.train from a model edited the same way
    class Edit(Callback):
        def on_train_start(self, t):
            import torch

            with torch.no_grad():
                _linear(t.model, 0).weight[0, 1] = -3.0

    loss = _step_once(page)
    assert loss == pytest.approx(_oracle_loss(s.config.experiment, 1, [Edit()]), rel=1e-4)
    assert loss != pytest.approx(_oracle_loss(s.config.experiment, 1), rel=1e-4)


# a canvas as the user sees it: its RGBA bytes, read back from the page
CANVAS_PIXELS = "c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)"


def _steps(page, n: int) -> None:
    """Click Step ``n`` times, each once the previous epoch is on screen and the run is paused again."""
    for k in range(1, n + 1):
        page.get_by_role("button", name="Step").click()
        page.wait_for_function(f"document.querySelector('{EPOCH}').textContent === '{k}'")
        _status(page, "paused")


def _unit_map_pixels(page, layer):
    """Each unit of ``layer``'s activation over the input plane the page shows (the input view's axes), as
    the diagram paints it: red = 255 * (v - min) / (max - min), rows from the top (largest x2) down."""
    import numpy as np
    import torch

    size = int(page.evaluate("document.querySelector('[data-testid=network] canvas').width"))
    (x0, x1), (y0, y1) = page.evaluate("(l => [l.xaxis.range, l.yaxis.range])(document.getElementById('input-view').layout)")
    xx, yy = np.meshgrid(np.linspace(x0, x1, size, dtype=np.float32), np.linspace(y0, y1, size, dtype=np.float32))
    grid = torch.from_numpy(np.stack([xx.ravel(), yy.ravel()], 1))
    with torch.no_grad():
        maps = torch.relu(layer(grid)).T.numpy()  # (units, size * size), rows of the grid follow x2 upward
    out = []
    for m in maps:
        lo, hi = m.min(), m.max()
        t = (m - lo) / (hi - lo) * 255 if hi > lo else np.full_like(m, 127.5)
        out.append(t.reshape(size, size)[::-1].ravel().tolist())
    return out


def test_diagram_nodes_paint_the_models_maps_and_links_follow_training(page, server_url, playground):
    """Every node of the diagram shows a map; after a few Steps the maps and the links' weights on screen
    are those of the server's model at that epoch (not the untrained one's)."""
    app = playground[1]
    _open(page, server_url, BASE)
    nodes = page.locator("[data-testid=network] foreignObject canvas")
    page.wait_for_function("document.querySelectorAll('[data-testid=network] foreignObject canvas').length === 2 + 4 + 1")
    assert [c.get_attribute("title") for c in nodes.all()] == ["x1", "x2", "h1.1", "h1.2", "h1.3", "h1.4", "out"]
    painted = (f"[...document.querySelectorAll('[data-testid=network] foreignObject canvas')]"
               f".every(c => c.width > 0 && ({CANVAS_PIXELS})(c).every((v, i) => i % 4 !== 3 || v === 255))")
    page.wait_for_function(painted)  # opaque everywhere: no node is left blank
    x1 = page.locator("[data-testid=network] canvas[title=x1]").evaluate(CANVAS_PIXELS)
    assert len({tuple(x1[i:i + 3]) for i in range(0, len(x1), 4)}) > 10  # the x1 node is a ramp, not a flat colour
    before = [n.evaluate(CANVAS_PIXELS) for n in nodes.all()]
    links = ("[...document.querySelectorAll('[data-testid=network] line[data-weight]')]"
             ".map(l => [+l.dataset.layer, +l.dataset.to, +l.dataset.from, Number(l.dataset.weight)])")
    weights_before = page.evaluate(links)

    _steps(page, 3)
    s = _live(page, app)
    assert s.status == "paused"
    import numpy as np

    truth = [[l, i, j, float(np.float32(_linear(s.model, l).weight.detach()[i, j]))] for l, i, j, _ in weights_before]
    assert truth != weights_before  # three epochs moved the weights: the check below can tell the frames apart
    page.wait_for_function(f"(t => JSON.stringify({links}) === JSON.stringify(t))", arg=truth)
    assert [w for *_, w in page.evaluate(links)] == [w for *_, w in truth]
    # the hidden nodes show the epoch-3 model's units (to one grey level of 255), and the pictures changed
    expected = _unit_map_pixels(page, _linear(s.model, 0))
    from mlplab.models import build_model

    untrained = _unit_map_pixels(page, _linear(build_model(s.config.experiment["model"], seed=BASE["train"]["seed"]), 0))
    assert np.abs(np.array(expected) - np.array(untrained)).max() > 2  # the untrained model's maps would fail it
    match = f"""(exp => exp.every((e, u) => {{
        const px = ({CANVAS_PIXELS})(document.querySelector(`[data-testid=network] canvas[title="h1.${{u + 1}}"]`));
        return px.length === 4 * e.length && e.every((v, k) => Math.abs(px[4 * k] - v) <= 1.01); }}))"""
    page.wait_for_function(match, arg=expected)
    after = [n.evaluate(CANVAS_PIXELS) for n in nodes.all()]
    assert after[:2] == before[:2]  # the inputs' maps do not train
    assert after[2:] != before[2:]


def test_feature_toggles_train_on_the_chosen_features(page, server_url, playground):
    app = playground[1]
    _open(page, server_url, BASE)
    page.get_by_label("x1^2").check()
    page.get_by_label("sin(x2)").check()
    page.wait_for_function("decodeURIComponent(location.hash).includes('\"features\":[\"x1\",\"x2\",\"x1^2\",\"sin(x2)\"]')")
    _shown(page)
    s = _live(page, app)
    assert s.model_spec.features == ["x1", "x2", "x1^2", "sin(x2)"] and _linear(s.model, 0).in_features == 4
    page.wait_for_function("document.querySelectorAll('[data-testid=network] line').length === 4 * 4 + 4")
    labels = page.locator("[data-testid=network] text").all_text_contents()
    assert {"x1^2", "sin(x2)"} <= set(labels)
    assert "do not apply" in page.get_by_test_id("regions").text_content()
    loss = _step_once(page)
    assert loss == pytest.approx(_oracle_loss(s.config.experiment, 1), rel=1e-4)
    # x1 off: the model reads three features
    page.get_by_label("x1", exact=True).uncheck()
    page.wait_for_function("decodeURIComponent(location.hash).includes('\"features\":[\"x2\",\"x1^2\",\"sin(x2)\"]')")
    _shown(page)
    assert _linear(_live(page, app).model, 0).in_features == 3


def test_per_layer_widths_l1_and_momentum_reach_the_training(page, server_url, playground):
    app = playground[1]
    _open(page, server_url, {**BASE, "stop": {"epochs": 15}})
    page.get_by_role("button", name="+ layer").click()
    page.get_by_label("more units in layer 2").click()
    _shown(page)
    page.get_by_label("more units in layer 2").click()
    _shown(page)
    page.get_by_label("fewer units in layer 1").click()
    page.wait_for_function("decodeURIComponent(location.hash).includes('\"hidden\":[3,6]')")
    _shown(page)
    s = _live(page, app)
    assert s.model_spec.hidden == [3, 6]
    page.wait_for_function("document.querySelectorAll('[data-testid=network] line').length === 2 * 3 + 3 * 6 + 6")
    plain = _step_once(page)
    assert plain == pytest.approx(_oracle_loss(s.config.experiment, 1), rel=1e-4)

    page.fill("#l1", "0.05")
    page.locator("#l1").dispatch_event("change")
    page.wait_for_function("decodeURIComponent(location.hash).includes('\"l1\":0.05')")
    _shown(page)
    s = _live(page, app)
    assert s.train_spec.l1 == 0.05
    page.get_by_role("button", name="Play").click()
    _status(page, "finished")
    page.wait_for_function(f"document.querySelector('{EPOCH}').textContent === '15'")
    with_l1 = _number(page, LOSS)
    assert with_l1 == pytest.approx(_oracle_loss(s.config.experiment, 15), rel=1e-4)
    assert with_l1 != pytest.approx(_oracle_loss({**s.config.experiment, "train": {**s.config.experiment["train"], "l1": 0.0}}, 15), rel=1e-4)

    page.select_option("#optimizer", "sgd")
    page.fill("#momentum", "0.9")
    page.locator("#momentum").dispatch_event("change")
    page.wait_for_function("decodeURIComponent(location.hash).includes('\"momentum\":0.9')")
    _shown(page)
    s = _live(page, app)
    assert s.train_spec.optimizer == "sgd" and s.train_spec.momentum == 0.9
    assert _step_once(page) == pytest.approx(_oracle_loss(s.config.experiment, 1), rel=1e-4)


def test_discretize_show_test_and_regenerate(page, server_url, playground):
    app = playground[1]
    _open(page, server_url, {**BASE, "data": {**BASE["data"], "test_fraction": 0.3}})
    # the colours on screen: how many different ones the heatmap canvas shows
    heat = ("(() => { const c = document.querySelector('[data-testid=heatmap]'), d = c.getContext('2d')"
            ".getImageData(0, 0, c.width, c.height).data, seen = new Set();"
            " for (let i = 0; i < d.length; i += 4) seen.add(d[i] + ',' + d[i + 1] + ',' + d[i + 2]); return [...seen]; })()")
    page.get_by_role("button", name="Play").click()
    _epoch_at_least(page, 30)
    page.get_by_role("button", name="Pause").click()
    _status(page, "paused")
    assert len(set(page.evaluate(heat))) > 2  # probabilities
    page.get_by_label("discretize output").check()
    page.wait_for_function(f"{heat}.length <= 2")
    assert len(page.evaluate(heat)) == 2  # both classes are decided somewhere in view
    page.get_by_label("discretize output").uncheck()
    page.wait_for_function(f"{heat}.length > 2")
    page.get_by_label("discretize output").check()
    traces = "document.getElementById('input-view').data.length"
    with_test = page.evaluate(traces)
    page.get_by_label("show test data").uncheck()
    page.wait_for_function(f"{traces} < {with_test}")

    before = _live(page, app)
    seed_before = page.input_value("#data_seed")
    page.get_by_role("button", name="Regenerate data").click()
    page.wait_for_function(f"document.getElementById('data_seed').value !== '{seed_before}'")
    page.wait_for_function(f"document.querySelector('{EPOCH}').textContent === '0'")
    _shown(page)
    after = _live(page, app)
    assert after is not before and after.config.experiment["data"]["seed"] == int(page.input_value("#data_seed"))
    assert after.config.data.X.shape == before.config.data.X.shape
    assert not (after.config.data.X == before.config.data.X).all()
    # one Step trains on the new draw: the loss shown is mlplab.train's first epoch on the data set drawn with
    # the seed the page shows, everything else as before the click
    old = before.config.experiment
    new = {**old, "data": {**old["data"], "seed": int(page.input_value("#data_seed"))}}
    loss = _step_once(page)
    assert loss == pytest.approx(_oracle_loss(new, 1), rel=1e-4)
    assert loss != pytest.approx(_oracle_loss(old, 1), rel=1e-4)


def test_one_d_units_presets_epochs_and_the_regions_reason(page, server_url, playground):
    app = playground[1]
    _open(page, server_url, {"data": {"name": "moons"}, "model": {"hidden": [8, 8]}})
    page.wait_for_function("document.querySelectorAll('#units canvas').length === 16")
    page.select_option("#dataset", "sine")
    page.fill("#layers", "1")
    page.locator("#layers").dispatch_event("change")
    page.fill("#width", "5")
    page.locator("#width").dispatch_event("change")
    page.wait_for_function("decodeURIComponent(location.hash).includes('\"hidden\":[5]')")
    _shown(page)
    page.wait_for_function("document.querySelectorAll('#units canvas').length === 5")  # none of the old model's
    assert "2 inputs" in page.get_by_test_id("regions").text_content()
    page.select_option("#preset", "xor-mlp")
    page.wait_for_function("document.getElementById('stop_epochs').value === '500'")
    _shown(page)
    assert _live(page, app).config.stop_epochs == 500


def test_the_regions_panel_names_the_unit_cap_and_draws_again_below_it(page, server_url, playground):
    app = playground[1]
    _open(page, server_url, {"data": {"name": "moons", "n": 100}, "model": {"hidden": [128, 128, 128]}})
    regions = page.get_by_test_id("regions")
    assert sum(_live(page, app).model_spec.hidden) == 384
    page.wait_for_function("document.querySelector('[data-testid=regions]').textContent.includes('384 hidden units')")
    text = regions.text_content()
    assert text.startswith("Linear regions not drawn:") and "above the cap of 256" in text
    assert regions.locator("[data-testid=region-count]").count() == 0
    page.fill("#width", "8")  # 24 units: under the cap, the exact count comes back
    page.locator("#width").dispatch_event("change")
    page.wait_for_function("decodeURIComponent(location.hash).includes('\"hidden\":[8,8,8]')")
    _shown(page)
    page.get_by_test_id("region-count").wait_for()
    assert "cap" not in regions.text_content()
    from mlplab.geometry import linear_regions

    box = page.evaluate("(l => [l.xaxis.range, l.yaxis.range])(document.getElementById('input-view').layout)")
    assert int(page.get_by_test_id("region-count").text_content()) == len(linear_regions(_live(page, app).model, box))


def _rect_inside(inner: dict, outer: dict, slack: float = 1.0) -> bool:
    return (inner["left"] >= outer["left"] - slack and inner["right"] <= outer["right"] + slack
            and inner["top"] >= outer["top"] - slack and inner["bottom"] <= outer["bottom"] + slack)


RECT = "e => (r => ({left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width}))(e.getBoundingClientRect())"


def _readable_y_labels(plot, ticktext: list[str]) -> None:
    """The loss plot's y axis as drawn: 2 to 10 labels, each a plain number of at most 3 digits written in
    full (one of the page's own tick texts), none overlapping another."""
    import re

    labels = plot.locator(".yaxislayer-above .ytick text")
    shown = labels.all_text_contents()
    assert 2 <= len(shown) <= 10, shown  # the axis can be read: at least two labels, never a crowd
    assert all(t in ticktext and re.fullmatch(r"0\.0*[1-9]\d{0,2}|[1-9]\d{0,2}(\.\d{1,2})?|\de-\d+", t) for t in shown), shown
    boxes = sorted((l.evaluate(RECT) for l in labels.all()), key=lambda b: b["top"])
    assert all(a["bottom"] <= b["top"] for a, b in zip(boxes, boxes[1:])), boxes  # labels never overlap


def test_loss_axis_legend_and_unit_rows_read_clearly(page, server_url, playground, artifacts):
    """Issue 11 in the page: the log loss axis labels round values in full that do not collide (1-2-5 ticks
    once the losses span them, and still at least two labels before), the legend
    floats over the plot instead of narrowing it, and the hidden-unit thumbnails come one labelled row per
    layer, each titled by layer, unit and the range of the server model's unit over the plane on screen."""
    import numpy as np
    import torch

    app = playground[1]
    _open(page, server_url, {"data": {"name": "moons", "n": 200, "seed": 2, "test_fraction": 0.2},
                             "model": {"hidden": [8, 20]}, "train": {"lr": 0.05, "seed": 1}})
    plot = page.locator("#loss-plot")
    # the first epochs: the losses span less than one 1-2-5 step (0.60..0.74 here), the axis still reads
    _steps(page, 3)
    page.wait_for_function("document.getElementById('loss-plot')._fullLayout.xaxis.range[1] >= 3")  # epoch 3 drawn
    _readable_y_labels(plot, page.evaluate("document.getElementById('loss-plot').layout.yaxis.ticktext"))
    page.get_by_role("button", name="Play").click()
    _epoch_at_least(page, 60)
    page.get_by_role("button", name="Pause").click()
    _status(page, "paused")
    page.get_by_role("button", name="Keep curve to compare").click()  # a third, long legend entry
    page.wait_for_function("document.getElementById('loss-plot').data.length === 3")
    page.wait_for_function("document.querySelectorAll('#loss-plot .legend .traces').length === 3")

    # the y axis: log, ticks only at 1, 2 or 5 x 10^k, each labelled in full, no minor digits
    y = page.evaluate("document.getElementById('loss-plot').layout.yaxis")
    assert y["type"] == "log" and y["minor"]["ticks"] == ""
    for v, text in zip(y["tickvals"], y["ticktext"], strict=True):
        mantissa = v / 10 ** np.floor(np.log10(v) + 1e-9)
        assert round(mantissa, 6) in (1, 2, 5), y["tickvals"]
        assert float(text) == pytest.approx(v, rel=1e-9)
    _readable_y_labels(plot, y["ticktext"])

    # the legend sits inside the plotting area, and the area keeps the figure's whole width less its margins
    full = page.evaluate("(l => ({x: l.legend.x, y: l.legend.y, xanchor: l.legend.xanchor, width: l.width, "
                         "margin: l.margin}))(document.getElementById('loss-plot')._fullLayout)")
    assert 0 <= full["x"] <= 1 and 0 <= full["y"] <= 1 and full["xanchor"] == "right"
    area = plot.locator(".draglayer .xy .nsewdrag").evaluate(RECT)
    legend = plot.locator(".legend").evaluate(RECT)
    assert _rect_inside(legend, area), (legend, area)
    assert area["width"] == pytest.approx(full["width"] - full["margin"]["l"] - full["margin"]["r"], abs=1)

    # hidden units: one row per layer, labelled, thumbnails titled by layer and unit, rows in layer order
    rows = page.locator("#units .layer")
    assert rows.count() == 2
    assert rows.nth(0).locator("span").text_content() == "layer 1"
    assert rows.nth(1).locator("span").text_content() == "layer 2 (first 16 of 20 units)"
    assert [rows.nth(i).locator("canvas").count() for i in range(2)] == [8, 16]
    row_boxes = [rows.nth(i).evaluate(RECT) for i in range(2)]
    assert row_boxes[0]["bottom"] <= row_boxes[1]["top"]  # layer 2's row starts below all of layer 1's
    for i in range(2):
        label = rows.nth(i).locator("span").evaluate(RECT)
        for c in rows.nth(i).locator("canvas").all():
            assert _rect_inside(c.evaluate(RECT), row_boxes[i]) and c.evaluate(RECT)["top"] >= label["bottom"]
    # the page's default width, 8 units, fits on one line of thumbnails
    assert len({round(c.evaluate(RECT)["top"]) for c in rows.nth(0).locator("canvas").all()}) == 1
    s = _live(page, app)
    # "paused" is on screen as soon as the server takes the command; the worker then ends its epoch and
    # sends that model's last frame: compare once it rests and the page shows that frame
    assert s.parked.wait(60)
    size = 24
    (x0, x1), (y0, y1) = page.evaluate("(l => [l.xaxis.range, l.yaxis.range])(document.getElementById('input-view').layout)")
    xx, yy = np.meshgrid(np.linspace(x0, x1, size, dtype=np.float32), np.linspace(y0, y1, size, dtype=np.float32))
    with torch.no_grad():
        first = torch.relu(_linear(s.model, 0)(torch.from_numpy(np.stack([xx.ravel(), yy.ravel()], 1))))
    expected = [[float(first[:, j].min()), float(first[:, j].max())] for j in range(8)]
    page.wait_for_function("""(exp => [...document.querySelectorAll('#units .layer')[0].querySelectorAll('canvas')]
        .every((c, j) => { const [lo, hi] = c.title.split(': ')[1].split('..').map(Number);
          const near = (a, b) => Math.abs(a - b) <= 1e-3 + 5e-3 * Math.abs(b);
          return near(lo, exp[j][0]) && near(hi, exp[j][1]); }))""", arg=expected)
    for j, c in enumerate(rows.nth(0).locator("canvas").all()):
        title = c.get_attribute("title")
        assert title.startswith(f"layer 1, unit {j + 1}: ")
        lo, hi = (float(v) for v in title.split(": ")[1].split(".."))
        assert lo == pytest.approx(expected[j][0], rel=5e-3, abs=1e-3)
        assert hi == pytest.approx(expected[j][1], rel=5e-3, abs=1e-3)
    titles = [c.get_attribute("title") for c in rows.nth(1).locator("canvas").all()]
    assert [t.split(":")[0] for t in titles] == [f"layer 2, unit {j}" for j in range(1, 17)]
    page.screenshot(path=str(artifacts / "playground-readability.png"), full_page=True)


def test_layer_health_updates_live_while_training(page, server_url, playground):
    """The layer-health table fills as the page appears and follows training: the first layer's gradient
    norm shown is the server's number for the model on screen."""
    page.goto(server_url + "/")
    _shown(page)
    health = page.get_by_test_id("health")
    page.wait_for_function("document.querySelectorAll('[data-testid=health] tr[data-layer]').length > 0")
    before = health.text_content()
    page.get_by_role("button", name="Play").click()
    _epoch_at_least(page, 100)
    page.get_by_role("button", name="Pause").click()
    _status(page, "paused")
    # the table follows the trained model: its numbers (gradient and weight norms, activations) changed
    page.wait_for_function("b => document.querySelector('[data-testid=health]').textContent !== b", arg=before)
    kinds = health.locator("tr[data-layer] td:nth-child(2)").all_text_contents()
    assert "linear" in kinds and "relu" in kinds  # weights and activations, one row each
    dead = health.locator("tr[data-layer] td:nth-child(6)").all_text_contents()
    assert any(d.endswith("%") for d in dead)


def test_a_link_from_python_keeps_its_engine_and_preset_in_the_page(page, server_url, playground):
    """`mlplab.playground_url("moons-scratch")` opened in the browser: the page shows and sends the preset's
    engine (the from-scratch NumPy engine) and preset, Step trains on that engine, and the page's own URL
    maps back to the same experiment."""
    import mlplab
    from mlplab.web.url import config_from_url

    app = playground[1]
    host, port = server_url.removeprefix("http://").split(":")
    page.goto(mlplab.playground_url("moons-scratch", host=host, port=int(port)))
    _shown(page)
    assert page.locator("#engine").input_value() == "numpy"
    assert page.locator("#preset").input_value() == "moons-scratch"
    _step_once(page)
    live = _live(page, app)
    assert live.train_spec.engine == "numpy" and live._run.engine == "numpy"
    assert config_from_url(page.url)["train"]["engine"] == "numpy"
    assert config_from_url(page.url)["preset"] == "moons-scratch"
    page.select_option("#engine", "torch")  # the user's choice goes to the server too
    page.wait_for_function("decodeURIComponent(location.hash).includes('\"engine\":\"torch\"')")
    _shown(page)
    assert _live(page, app).train_spec.engine == "torch"


def test_a_residual_model_gets_its_diagram_with_skips_and_editable_block_links(page, server_url, playground):
    """A residual MLP is drawn too: the stream columns and blocks' inner units as painted nodes, the blocks'
    layers as links carrying the model's weights, a dashed skip arc over each block, and an edit typed on a
    block's second layer reaches that layer of the server's model."""
    app = playground[1]
    _open(page, server_url, {**BASE, "model": {"hidden": [3, 3], "residual": True}})
    titles = ["x1", "x2"] + [f"{c}.{i}" for c in ("s0", "b1", "s1", "b2", "s2") for i in (1, 2, 3)] + ["out"]
    nodes = page.locator("[data-testid=network] foreignObject canvas")
    page.wait_for_function(f"document.querySelectorAll('[data-testid=network] foreignObject canvas').length === {len(titles)}")
    assert [c.get_attribute("title") for c in nodes.all()] == titles
    painted = (f"[...document.querySelectorAll('[data-testid=network] foreignObject canvas')]"
               f".every(c => c.width > 0 && ({CANVAS_PIXELS})(c).every((v, i) => i % 4 !== 3 || v === 255))")
    page.wait_for_function(painted)
    assert page.locator("[data-testid=network] path.skip").count() == 2 * 3
    s = _live(page, app)
    links = page.evaluate("[...document.querySelectorAll('[data-testid=network] line[data-weight]')]"
                          ".map(l => [+l.dataset.layer, +l.dataset.to, +l.dataset.from, Number(l.dataset.weight)])")
    assert len(links) == 2 * 3 + 4 * 3 * 3 + 3 * 1
    import numpy as np

    for layer, i, j, w in links:
        assert w == float(np.float32(_linear(s.model, layer).weight.detach()[i, j]))
    # block 2's second layer is Linear number 4 (stem, fc1, fc2, fc1, fc2, head)
    link = page.locator("[data-testid=network] line[data-layer='4'][data-to='0'][data-from='2']")
    assert "b2.3 \u2192 s2.1" == link.get_attribute("data-name")
    link.scroll_into_view_if_needed()
    x, y = _point_on(link)
    page.mouse.click(x, y)
    page.get_by_label("new weight").fill("1.5")
    page.get_by_label("new weight").press("Enter")
    page.wait_for_function("document.querySelector(\"[data-testid=network] line[data-layer='4'][data-to='0'][data-from='2']\").dataset.weight === '1.5'")
    assert float(s.model.net[2].fc2.weight.detach()[0, 2]) == 1.5


# issue 21: the playground explains itself

def _texts(page, selector: str) -> list[str]:
    return [t.strip() for t in page.locator(selector).all_text_contents()]


def test_the_data_view_has_a_legend_a_colour_bar_and_says_what_it_draws(page, server_url):
    page.goto(server_url + "/")
    _shown(page)
    view = "#input-view"
    page.wait_for_function("document.querySelectorAll('#input-view .legendtext').length >= 3")
    assert _texts(page, f"{view} .legendtext") == ["class 0", "class 1", "test (open)"]
    assert _texts(page, f"{view} .cbtitle") == ["model: P(class 1)"]
    assert {"0", "0.5", "1"} <= set(_texts(page, f"{view} .cbaxis text, {view} .colorbar .ytick text"))
    assert "probability of class 1" in page.get_by_test_id("view-note").text_content()

    # 2-D -> 2-D (the rotation): grey targets, coloured predictions, the mapped grid, named in the legend and the note
    page.select_option("#dataset", "rotation")
    page.wait_for_function("document.querySelector('[data-testid=view-note]').textContent.includes('Grey dots')")
    _shown(page)
    page.wait_for_function("[...document.querySelectorAll('#input-view .legendtext')].some(t => t.textContent === 'predictions')")
    assert _texts(page, f"{view} .legendtext") == ["input grid, mapped", "targets y", "predictions"]
    note = page.get_by_test_id("view-note").text_content()
    assert "Grey dots: the targets y" in note and "Coloured dots: the model's predictions" in note

    # regression over the plane: one colour bar for the targets and the model's background
    page.select_option("#dataset", "reg-plane")
    page.wait_for_function("document.querySelector('[data-testid=view-note]').textContent.includes('target y')")
    _shown(page)
    page.wait_for_function("[...document.querySelectorAll('#input-view .cbtitle')].some(t => t.textContent === 'y')")
    assert _texts(page, f"{view} .legendtext") == ["train", "test"]


def test_uploaded_or_drawn_data_is_called_your_data(page, server_url, playground, tmp_path):
    page.goto(server_url + "/")
    _shown(page)
    csv = tmp_path / "three.csv"
    csv.write_text("u,v,kind\n" + "".join(f"{(i % 10) / 3:.3f},{(i // 10) / 3:.3f},{(i % 10) // 4}\n" for i in range(100)))
    page.set_input_files("#csv", str(csv))
    page.wait_for_function("decodeURIComponent(location.hash).includes('\"name\":\"custom\"')")
    _shown(page)
    chosen = "document.querySelector('#dataset').selectedOptions[0].textContent"
    assert page.evaluate(chosen) == "your data (three.csv, 100 points)"
    assert page.locator("#noise").is_disabled() and page.locator("#n").is_disabled()

    # back to a named data set, then draw on it: "your data" again, the data set's points and the drawn ones
    page.select_option("#dataset", "moons")
    page.wait_for_function(f"{chosen}.startsWith('moons')")
    _shown(page)
    assert not page.locator("#noise").is_disabled()
    n = len(_live(page, playground[1]).config.data.X)
    page.check("#draw")
    box = page.locator("#input-view .nsewdrag").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
    page.wait_for_function(f"{chosen} === 'your data (drawn over moons, {n + 1} points)'")
    page.get_by_role("button", name="clear").click()
    page.wait_for_function(f"{chosen}.startsWith('moons')")
    assert page.locator("#dataset option[value=custom]").count() == 0


def test_switching_to_one_d_data_clears_the_features_it_cannot_use(page, server_url, playground):
    app = playground[1]
    page.goto(server_url + "/")
    _shown(page)
    page.locator("#features input[value='sin(x1)']").check()
    page.wait_for_function("decodeURIComponent(location.hash).includes('sin(x1)')")
    _shown(page)
    page.get_by_role("button", name="Play").click()
    _status(page, "running")
    old = _session_id(page)
    page.select_option("#dataset", "sine")
    page.wait_for_function(f"!document.querySelector('#export').href.includes({old!r})")
    _shown(page)
    assert page.get_by_role("alert").is_hidden()
    assert [c.is_checked() for c in page.locator("#features input").all()] == \
        [c.get_attribute("value") in ("x1", "x2") for c in page.locator("#features input").all()]
    assert all(c.is_disabled() for c in page.locator("#features input").all())
    assert page.get_by_test_id("features-note").is_visible()
    assert "Red line" in page.get_by_test_id("view-note").text_content()
    s = _live(page, app)
    assert s.config.data.d_in == 1 and not s.model_spec.features and s.status == "idle"
    assert old not in app.state.sessions.entries or app.state.sessions.entries[old].session.status in ("idle", "closed")


def test_the_loss_curve_has_a_point_per_epoch_and_reads_at_epoch_0(page, server_url, playground):
    app = playground[1]
    page.goto(server_url + "/")
    _shown(page)
    page.select_option("#preset", "sine-mlp-5")  # notebook 003's 1-5-1 tanh MLP on x sin(10x), 5000 epochs
    page.wait_for_function("document.getElementById('stop_epochs').value === '5000'")
    _shown(page)
    assert _live(page, app).config.data.d_in == 1
    plot = page.locator("#loss-plot")
    # epoch 0: one point, drawn as a marker, on an axis of whole, non-negative epochs with readable loss labels
    page.wait_for_function("document.querySelectorAll('#loss-plot .xtick text').length > 0")
    xs = _texts(page, "#loss-plot .xtick text")
    assert xs == ["0", "1"], xs
    assert plot.locator(".scatterlayer .trace .point").count() >= 1
    _readable_y_labels(plot, page.evaluate("document.getElementById('loss-plot').layout.yaxis.ticktext"))

    page.get_by_role("button", name="Play").click()
    _status(page, "finished")
    page.wait_for_function("(d => d.find(t => t.name === 'train').x.length === 5001)(document.getElementById('loss-plot').data)")
    train = page.evaluate("document.getElementById('loss-plot').data.find(t => t.name === 'train')")
    assert train["x"] == list(range(5001)) and None not in train["y"]
    # each epoch's point is that epoch's training loss (one full batch: the step's loss), as the server trained it
    steps = _live(page, app)._step_losses
    assert len(steps) == 5000
    assert train["y"][:5000] == pytest.approx(steps, rel=1e-6)
    assert train["y"][5000] == pytest.approx(_number(page, LOSS), rel=1e-4)  # the last: the model as it ends
    ticks = [int(t.replace(",", "").replace("k", "000")) for t in _texts(page, "#loss-plot .xtick text")]
    assert ticks[0] == 0 and ticks[-1] <= 5000


def test_the_layer_health_table_fits_its_column(page, server_url):
    for config in ({}, {"data": {"name": "moons"}, "model": {"hidden": [8, 8], "residual": True, "norm": "batch"}}):
        _open(page, server_url, config) if config else (page.goto(server_url + "/"), _shown(page))
        page.wait_for_function("document.querySelectorAll('[data-testid=health] tr[data-layer]').length > 0")
        panel = page.locator(".panel.side")
        right = panel.evaluate("p => p.getBoundingClientRect().right - parseFloat(getComputedStyle(p).paddingRight)")
        for cell in page.locator("#health th, #health td").all():
            assert cell.evaluate(RECT)["right"] <= right + 0.5, (config, cell.text_content())
        assert _texts(page, "#health th")[-1] == "dead"


def test_a_live_learning_rate_change_is_in_the_kept_label_and_the_link_keeps_the_start(page, server_url):
    """Issue 18: a rate changed while training is said in the kept curve's label (each rate and the epoch it
    took over from), and the page's link keeps the rate the run started with."""
    page.goto(server_url + "/")
    _shown(page)
    start = page.input_value("#lr")
    page.get_by_role("button", name="Play").click()
    _epoch_at_least(page, 20)
    page.fill("#lr", "0.005")
    page.locator("#lr").dispatch_event("change")
    page.wait_for_function("document.getElementById('lr').title.includes('0.005 from epoch')")
    _epoch_at_least(page, 60)
    kept = _pause_and_keep_the_curve(page)
    assert re.search(rf"lr {re.escape(start)}, 0\.005 from epoch \d+", kept), kept
    link = json.loads(urllib.parse.unquote(page.evaluate("location.hash")[1:]))
    assert str(link["train"]["lr"]) == start
