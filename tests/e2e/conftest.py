"""Fixtures for the browser tests: the playground on a free 127.0.0.1 port, and Debian's Chromium.

The browser is resolved exactly as the exports resolve it (`find_browser`: $BROWSER_PATH, which
`make test` sets to the Chromium it installs, else the first on $PATH); see tests/test_fresh_machine.py.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from mlplab.viz.export import find_browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "_artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def playground():
    """(url, app): uvicorn serving the playground in a thread; the app gives tests the server's own view."""
    import torch
    import uvicorn

    from mlplab.web import create_app

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # listening before uvicorn starts: the first request waits in the backlog, no polling
    port = sock.getsockname()[1]
    app = create_app()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", app
    app.state.sessions.close_all()
    server.should_exit = True
    thread.join()
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def server_url(playground):
    return playground[0]


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
