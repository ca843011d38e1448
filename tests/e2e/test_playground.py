"""The playground in a real browser (Playwright + Debian's Chromium) against a live uvicorn server."""

from __future__ import annotations

import json
import urllib.parse

import pytest

TIMEOUT_MS = 20_000

EPOCH = "[data-testid=epoch]"
LOSS = "[data-testid=loss]"


def _number(page, selector: str) -> float:
    return float(page.locator(selector).text_content())


@pytest.fixture
def page(browser, server_url):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    p = context.new_page()
    p.set_default_timeout(TIMEOUT_MS)
    requests: list[str] = []
    errors: list[str] = []
    p.on("request", lambda r: requests.append(r.url))
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.requests, p.errors = requests, errors  # type: ignore[attr-defined]
    yield p
    context.close()
    hosts = {urllib.parse.urlsplit(u).hostname for u in requests if not u.startswith(("data:", "blob:"))}
    assert hosts <= {"127.0.0.1"}, f"requests left the machine: {sorted(hosts)}"
    assert not errors, errors


def _wait_ready(page) -> None:
    """The newest settings have a connected session and its first frame is on screen."""
    page.wait_for_function(f"document.body.dataset.ready === '1' && document.querySelector('{LOSS}').textContent !== '-'")


def test_play_loss_falls_switch_data_and_model_url_round_trip(page, server_url, artifacts):
    page.goto(server_url + "/")
    _wait_ready(page)
    assert page.locator(EPOCH).text_content() == "0"
    start_loss = _number(page, LOSS)
    page.get_by_role("button", name="Play").click()
    page.wait_for_function(f"Number(document.querySelector('{EPOCH}').textContent) >= 50")
    page.wait_for_function(f"Number(document.querySelector('{LOSS}').textContent) < {0.8 * start_loss}")
    first = _number(page, LOSS)
    page.wait_for_function(f"Number(document.querySelector('{EPOCH}').textContent) >= 300")
    second = _number(page, LOSS)
    assert second < first < start_loss
    page.screenshot(path=str(artifacts / "playground-moons.png"))
    page.get_by_role("button", name="Pause").click()
    page.get_by_role("button", name="Play").wait_for()

    # another data set and model: spiral, 3 x 16 tanh
    page.select_option("#dataset", "spiral")
    page.wait_for_function(f"document.querySelector('{EPOCH}').textContent === '0'")
    page.fill("#layers", "3")
    page.locator("#layers").dispatch_event("change")
    page.fill("#width", "16")
    page.locator("#width").dispatch_event("change")
    page.select_option("#activation", "tanh")
    page.wait_for_function("decodeURIComponent(location.hash).includes('\"hidden\":[16,16,16]')")
    _wait_ready(page)
    state = json.loads(urllib.parse.unquote(page.url.split("#", 1)[1]))
    assert state["data"]["name"] == "spiral" and state["model"]["activation"] == "tanh"
    page.get_by_role("button", name="Play").click()
    page.wait_for_function(f"Number(document.querySelector('{EPOCH}').textContent) >= 20")
    page.screenshot(path=str(artifacts / "playground-spiral.png"))

    # reload: the settings come back from the URL
    page.reload()
    _wait_ready(page)
    assert page.input_value("#dataset") == "spiral"
    assert page.input_value("#layers") == "3" and page.input_value("#width") == "16"
    assert page.input_value("#activation") == "tanh"
    assert page.locator(EPOCH).text_content() == "0"


def test_csv_upload_and_bad_input_message(page, server_url, artifacts, tmp_path):
    page.goto(server_url + "/")
    _wait_ready(page)
    csv = tmp_path / "three.csv"
    rows = ["u,v,kind"] + [f"{(i % 10) / 3:.3f},{(i // 10) / 3:.3f},{(i % 10) // 4}" for i in range(100)]
    csv.write_text("\n".join(rows) + "\n")
    page.set_input_files("#csv", str(csv))
    page.wait_for_function("decodeURIComponent(location.hash).includes('\"name\":\"custom\"')")
    _wait_ready(page)
    assert page.input_value("#loss_fn") == "ce"
    page.get_by_role("button", name="Play").click()
    page.wait_for_function(f"Number(document.querySelector('{EPOCH}').textContent) >= 30")
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


def test_keep_a_curve_and_compare_it_with_the_next_run(page, server_url, artifacts):
    page.goto(server_url + "/")
    _wait_ready(page)
    page.get_by_role("button", name="Play").click()
    page.wait_for_function(f"Number(document.querySelector('{EPOCH}').textContent) >= 40")
    page.get_by_role("button", name="Pause").click()
    page.get_by_role("button", name="Keep curve to compare").click()
    names = "() => document.getElementById('loss-plot').data.map((t) => t.name)"
    page.wait_for_function(f"({names})().some((n) => n.startsWith('#1 '))")
    kept = [n for n in page.evaluate(names) if n.startswith("#1 ")][0]
    assert "lr" in kept and "x" in kept  # e.g. "#1 moons, 8x8 relu, adam lr 0.03"
    page.fill("#width", "12")  # another model: a new run starts, the kept curve stays
    page.locator("#width").dispatch_event("change")
    page.wait_for_function(f"document.querySelector('{EPOCH}').textContent === '0'")
    _wait_ready(page)
    page.get_by_role("button", name="Play").click()
    page.wait_for_function(f"Number(document.querySelector('{EPOCH}').textContent) >= 20")
    assert kept in page.evaluate(names)
    page.screenshot(path=str(artifacts / "playground-compare.png"))
    page.get_by_role("button", name="Clear kept curves").click()
    page.wait_for_function(f"!({names})().some((n) => n.startsWith('#'))")
