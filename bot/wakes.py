"""Waking one of several worker threads: new work goes to a thread that is waiting, not to all of them.

Waking every thread for one new item has them all race for it (each claim is a write transaction, and on
SQLite they queue for the one write lock). A thread marks itself waiting just before it sleeps; `wake` sets
one waiting thread's event. With none waiting, each thread is mid-round and may just have found nothing to do,
so every thread's event is set and each looks once more instead of sleeping.
"""

from __future__ import annotations

import threading


class Wakes:
    def __init__(self, threads: int) -> None:
        self._events = [threading.Event() for _ in range(max(threads, 1))]
        self._waiting: set[int] = set()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._events)

    def wait(self, index: int, seconds: float) -> None:
        """Sleep until woken or `seconds` pass; the thread is busy again when this returns."""
        event = self._events[index]
        with self._lock:
            self._waiting.add(index)
        event.wait(seconds)
        with self._lock:
            self._waiting.discard(index)
        event.clear()

    def wake(self) -> None:
        with self._lock:
            index = min(self._waiting) if self._waiting else None
            if index is not None:
                self._waiting.discard(index)
        if index is None:
            self.wake_all()
        else:
            self._events[index].set()

    def wake_all(self) -> None:
        for event in self._events:
            event.set()
