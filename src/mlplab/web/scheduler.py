"""How the playground shares the CPU: a few slots, time slices, and a first-come queue.

Each session keeps its own worker thread; at most ``slots`` of them compute at once (see docs/playground.md).
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque

# Every waiting page should get a turn (and so a frame) about 8 times a second: the slice shrinks as
# pages are added (cycle x slots / pages), within bounds that keep switching cheap and turns frequent.
# Hand-overs and frames add to each turn, so the cycle is set below the 1/3 s that 3 frames/s needs.
CYCLE_S = 0.12
MIN_SLICE_S = 0.005
MAX_SLICE_S = 0.05


def default_slots() -> int:
    """One slot per core, at most 4: tiny models are dispatch-bound, so more threads only queue on the GIL."""
    return max(1, min(os.cpu_count() or 1, 4))


class Scheduler:
    """Grants at most ``slots`` turns at once, in the order they were asked for.

    A worker holding a slot trains for one time slice, then, if others wait, goes to the back of the
    queue. Waiting threads sleep (no GIL), so the event loop competes with at most ``slots`` busy ones.

    Each waiter sleeps on its own event and only the next in line is woken: with 20 pages, waking
    every waiter on every hand-over would make 20 threads fight for the GIL each time.
    """

    def __init__(self, slots: int | None = None):
        self.slots = slots or default_slots()
        self.lock = threading.Lock()
        self.queue: deque[object] = deque()
        self.waiters: dict[object, threading.Event] = {}
        self.holders: set[object] = set()
        self.joined = threading.Condition(self.lock)  # notified whenever a waiter joins the queue

    def acquire(self, ticket: object, stop: threading.Event) -> bool:
        """Wait for a turn; False (no turn taken) once ``stop`` is set (call `wake` after setting it)."""
        with self.lock:
            woken = self.waiters[ticket] = threading.Event()
            self.queue.append(ticket)
            self._grant()
            self.joined.notify_all()
        while True:
            woken.wait()
            with self.lock:
                if ticket in self.holders:
                    return True
                if stop.is_set():
                    self.queue.remove(ticket)
                    del self.waiters[ticket]
                    return False
                woken.clear()  # woken by `wake` for someone else's stop

    def release(self, ticket: object) -> None:
        with self.lock:
            self.holders.discard(ticket)
            self._grant()

    def _grant(self) -> None:
        while self.queue and len(self.holders) < self.slots:
            ticket = self.queue.popleft()
            self.holders.add(ticket)
            self.waiters.pop(ticket).set()

    def wake(self) -> None:
        """Let every waiter re-check its stop event."""
        with self.lock:
            for woken in self.waiters.values():
                woken.set()

    def waiting(self) -> int:
        return len(self.queue)

    def slice_s(self) -> float:
        pages = len(self.holders) + len(self.queue)
        return min(MAX_SLICE_S, max(MIN_SLICE_S, CYCLE_S * self.slots / max(1, pages)))


class Turn:
    """One worker's hold on the scheduler: `tick` between steps yields the slot when its slice is over."""

    def __init__(self, scheduler: Scheduler, stop: threading.Event):
        self.scheduler, self.stop = scheduler, stop
        self.held = False
        self.started = 0.0
        self.turns = 0  # how many slices this worker has had (the page's share, for tests and benchmarks)

    def take(self) -> bool:
        if not self.held:
            self.held = self.scheduler.acquire(self, self.stop)
            self.started = time.perf_counter()
            self.turns += self.held
        return self.held

    def give(self) -> None:
        if self.held:
            self.held = False
            self.scheduler.release(self)

    def tick(self) -> bool:
        """Between steps: keep going, or queue behind the others once the slice is used up."""
        if time.perf_counter() - self.started < self.scheduler.slice_s() or not self.scheduler.waiting():
            return True
        self.give()
        return self.take()
