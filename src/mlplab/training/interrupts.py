"""Ctrl-C and SIGTERM end a training between two steps, never inside one.

A signal that lands in the middle of an optimizer update (or after a batch-norm forward has moved its
running statistics, before the update) would leave weights and optimizer state that belong to no step,
and the run could not be continued exactly. While the loop runs, the two signals only set a flag; the
loop checks it once a step has been fully taken and stops there as if Ctrl-C had hit between steps. A
second signal while one is pending stops at once (for a step that never ends).

Only in the main thread (Python runs signal handlers there), and only for signals whose handler is a
Python function already: SIGINT's default, and SIGTERM where a surface such as the CLI made it an
interrupt. A plain script keeps SIGTERM's default (the process ends).
"""

from __future__ import annotations

import signal
import threading
from typing import Any

NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}


class DeferredInterrupt:
    """A context in which SIGINT/SIGTERM wait for `check` (called between steps)."""

    def __init__(self) -> None:
        self.pending: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():
            for sig in NAMES:
                before = signal.getsignal(sig)
                if callable(before):
                    self._previous[sig] = before
                    signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, before in self._previous.items():
            signal.signal(sig, before)
        self._previous.clear()

    def _handle(self, signum: int, frame: Any) -> None:
        if self.pending is not None:  # asked twice: do not wait for the step any longer
            raise KeyboardInterrupt(f"interrupted by {NAMES[signum]} during a step")
        self.pending = NAMES[signum]

    def check(self) -> None:
        """Raise KeyboardInterrupt now if a signal arrived since the last check."""
        if self.pending is not None:
            raise KeyboardInterrupt(f"interrupted by {self.pending}")
