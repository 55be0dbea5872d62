"""One writer at a time on SQLite, in order, with the request path first.

SQLite has one write lock per database. Left to itself, a writer that finds it taken sleeps in SQLite's busy
handler with growing pauses (up to 100 ms each) and may lose the race to a thread that came later, so under a
burst a webhook's one-row insert could wait seconds behind triage and delivery. In this process every write
transaction therefore queues here first: waiters are woken in turn, and a transaction marked urgent (a webhook
storing a message, a click) goes before the background workers that are waiting. Other processes on the same
file (a CLI command) still meet SQLite's own busy timeout.

PostgreSQL locks rows, not the database: no gate is used there.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_urgent: ContextVar[bool] = ContextVar("triage_urgent_writes", default=False)


@contextmanager
def urgent_writes() -> Iterator[None]:
    """Write transactions started inside this block (and in threads it hands work to) go first."""
    token = _urgent.set(True)
    try:
        yield
    finally:
        _urgent.reset(token)


def is_urgent() -> bool:
    return _urgent.get()


URGENT_STREAK = 8  # urgent writers in a row before a waiting background writer gets its turn (never starved)


class GateTimeout(TimeoutError):
    """The write gate stayed taken for the whole wait (a transaction that never ends)."""


class WriteGate:
    """A re-entrant, first-come lock with two queues: urgent waiters are let in before the others."""

    def __init__(self, timeout: float = 30.0) -> None:
        self._timeout = timeout
        self._cond = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._queues: dict[bool, deque[object]] = {True: deque(), False: deque()}
        self._streak = 0  # urgent writers let in while another writer waited; at URGENT_STREAK one of those goes

    @contextmanager
    def held(self, urgent: bool | None = None) -> Iterator[None]:
        self.acquire(is_urgent() if urgent is None else urgent)
        try:
            yield
        finally:
            self.release()

    def acquire(self, urgent: bool) -> None:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:  # a nested transaction of the same thread
                self._depth += 1
                return
            place = object()
            queue = self._queues[urgent]
            queue.append(place)
            if not self._cond.wait_for(lambda: self._my_turn(urgent, place), timeout=self._timeout):
                queue.remove(place)
                self._cond.notify_all()  # the one behind may be first now
                raise GateTimeout(f"the database's write lock was held for over {self._timeout:.0f} s")
            queue.popleft()
            self._streak = self._streak + 1 if urgent and self._queues[False] else 0
            self._owner, self._depth = me, 1

    def release(self) -> None:
        with self._cond:
            self._depth -= 1
            if self._depth:
                return
            self._owner = None
            self._cond.notify_all()

    def waiting(self) -> tuple[int, int]:
        """How many urgent and other writers wait right now."""
        with self._cond:
            return len(self._queues[True]), len(self._queues[False])

    def _my_turn(self, urgent: bool, place: object) -> bool:
        if self._owner is not None or self._queues[urgent][0] is not place:
            return False
        if urgent:  # first, unless the background has waited through a whole streak of them
            return self._streak < URGENT_STREAK or not self._queues[False]
        return not self._queues[True] or self._streak >= URGENT_STREAK
