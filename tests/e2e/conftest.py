"""Fixtures for the browser tests: the playground on a free 127.0.0.1 port, and Debian's Chromium.

The browser is resolved exactly as the exports resolve it (`find_browser`: $BROWSER_PATH, which
`make test` sets to the Chromium it installs, else the first on $PATH); see tests/test_fresh_machine.py.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from mlplab.viz.export import find_browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "_artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server_url():
    import torch
    import uvicorn

    from mlplab.web import create_app

    torch.set_num_threads(1)
    port = _free_port()
    app = create_app()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the playground server did not start within 20 s")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    app.state.sessions.close_all()
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=find_browser(), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
