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
