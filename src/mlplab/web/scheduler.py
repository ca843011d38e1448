"""How the playground shares the CPU: a few slots, time slices, and a first-come queue.

Each training session keeps its own worker thread (``mlplab.train`` is one blocking call), but at
most ``slots`` of them compute at once. A worker holding a slot trains for one time slice, then, if
others are waiting, goes to the back of the queue. Waiting threads sleep on a condition (no GIL),
so the event loop competes with at most ``slots`` busy threads and no page starves.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque

# Every waiting page should get a turn about five times a second: the slice shrinks as pages are
# added (cycle x slots / pages), within bounds that keep switching cheap and turns frequent.
CYCLE_S = 0.2
MIN_SLICE_S = 0.005
MAX_SLICE_S = 0.05


def default_slots() -> int:
    """One slot per core, at most 4: tiny models are dispatch-bound, so more threads only queue on the GIL."""
    return max(1, min(os.cpu_count() or 1, 4))


class Scheduler:
    """Grants at most ``slots`` turns at once, in the order they were asked for."""

    def __init__(self, slots: int | None = None):
        self.slots = slots or default_slots()
        self.cond = threading.Condition()
        self.queue: deque[object] = deque()
        self.holders: set[object] = set()

    def acquire(self, ticket: object, stop: threading.Event) -> bool:
        """Wait for a turn; False (no turn taken) once ``stop`` is set (call `wake` after setting it)."""
        with self.cond:
            self.queue.append(ticket)
            while not stop.is_set() and not (len(self.holders) < self.slots and self.queue[0] is ticket):
                self.cond.wait()
            self.queue.remove(ticket)
            if stop.is_set():
                self.cond.notify_all()
                return False
            self.holders.add(ticket)
            self.cond.notify_all()  # the next in line may fit in another free slot
            return True

    def release(self, ticket: object) -> None:
        with self.cond:
            self.holders.discard(ticket)
            self.cond.notify_all()

    def wake(self) -> None:
        """Let waiters re-check their stop events."""
        with self.cond:
            self.cond.notify_all()

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
