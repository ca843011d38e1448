"""A playground session's state machine, owned by the server: the page only renders what it says.

Every message to the page leaves through `StateMachine.send`, which stamps it with the current state
and a sequence number under one lock, so a frame can never report a state older than one sent before it.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

STATES = ("idle", "running", "paused", "finished", "diverged", "error", "closed")
STOPPED = ("finished", "diverged", "error")  # training cannot go on; Reset starts again

# What the page's commands do: {command: {from: to}}. A command not listed for the current state
# leaves it unchanged (the reply still carries the state, so the page stays true).
COMMANDS: dict[str, dict[str, str]] = {
    "play": {"idle": "running", "paused": "running"},
    "step": {"idle": "running", "paused": "running"},  # one epoch, then the worker reports "stepped"
    "pause": {"running": "paused"},
    "reset": {s: "idle" for s in STATES if s != "closed"},
    "close": {s: "closed" for s in STATES},
}
# What the worker reports. A pause can land while the last epoch finishes, so the ends of training
# apply from "paused" too.
EVENTS: dict[str, dict[str, str]] = {
    "stepped": {"running": "paused"},
    "finished": {"running": "finished", "paused": "finished"},
    "diverged": {"running": "diverged", "paused": "diverged"},
    "failed": {"idle": "error", "running": "error", "paused": "error"},
}


class StateMachine:
    """The state, the last message that explains it, and the one ordered channel to the page.

    ``emit(message)`` is the transport (an outbox); it is called under the lock so that sequence
    numbers reach it in order.
    """

    def __init__(self, emit: Callable[[dict[str, Any]], None]):
        self.emit = emit
        self.state = "idle"
        self.message = ""
        self.seq = 0
        self.step_budget: int | None = None  # epochs left before a Step pauses; None while playing
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)

    def command(self, cmd: str) -> tuple[str, str]:
        """Apply a page command; returns (before, after). Sends the new state to the page."""
        with self.lock:
            before = self.state
            after = COMMANDS[cmd].get(before, before)
            if cmd == "play":
                self.step_budget = None
            elif cmd == "step" and before != "running" and after == "running":
                self.step_budget = 1
            self._set(after, "" if after != before else self.message)
            return before, after

    def event(self, name: str, message: str = "") -> bool:
        """Apply a worker event; False when the current state ignores it (e.g. the page reset meanwhile)."""
        with self.lock:
            after = EVENTS[name].get(self.state)
            if after is None:
                return False
            self._set(after, message)
            return True

    def _set(self, state: str, message: str) -> None:
        self.state, self.message = state, message
        if state != "running":
            self.step_budget = None
        self.changed.notify_all()
        self.send({"type": "state"})

    def send(self, message: dict[str, Any]) -> dict[str, Any]:
        """Stamp ``message`` with the next sequence number and the current state, and emit it."""
        with self.lock:
            self.seq += 1
            message.update(seq=self.seq, state=self.state)
            if self.message and "message" not in message:
                message["message"] = self.message
            self.emit(message)
            return message

    def wait_running(self, stop: threading.Event) -> bool:
        """Block while paused or idle; True to go on training, False when the worker must end."""
        with self.lock:
            while self.state in ("paused", "idle") and not stop.is_set():
                self.changed.wait()
            return self.state == "running" and not stop.is_set()

    def wake(self) -> None:
        with self.lock:
            self.changed.notify_all()
