"""Suite-wide fixtures; global state (thread counts) is set here, per test, and restored."""

import pytest
import torch


@pytest.fixture
def one_thread():
    """One torch thread for a test that needs it (a reduction's bits depend on the thread count); restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def pytest_collection_modifyitems(config, items):
    """The browser tests last: their session keeps a Playwright event loop running in this thread until the
    end, and a test after them that runs asyncio (nbclient's kernels, an ASGI client) would find it busy."""
    items.sort(key=lambda item: "/e2e/" in item.nodeid.replace("\\", "/") or item.nodeid.startswith("e2e/"))
