"""The outbox as a running loop (`serve`): it sleeps until the next row is due, or until new work wakes it.

No fixed tick: a paced chat row goes at its pace time, a retry at its retry time, and a new reply at once.
Several threads (and several instances) share the work through the worker's leased claims.
"""

from __future__ import annotations

import logging
import threading

from bot.clock import Clock
from bot.outbox.worker import OutboxWorker
from bot.wakes import Wakes

log = logging.getLogger(__name__)

IDLE_SECONDS = 30.0  # the longest a loop sleeps with nothing due (another instance may have queued work)
SHORTEST_SECONDS = 0.01
ERROR_PAUSE_SECONDS = 1.0


class OutboxLoop:
    def __init__(self, worker: OutboxWorker, clock: Clock, *, threads: int = 2) -> None:
        self._worker = worker
        self._clock = clock
        self._stop = threading.Event()
        self._wakes = Wakes(threads)
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for index in range(len(self._wakes)):
            thread = threading.Thread(target=self._run, args=(index,), name=f"outbox-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        """New work was queued: a waiting thread looks now instead of at the next due time (bot/wakes.py)."""
        self._wakes.wake()

    def alive(self) -> bool:
        """Every delivery thread is running (for /readyz)."""
        return bool(self._threads) and all(thread.is_alive() for thread in self._threads)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wakes.wake_all()
        for thread in self._threads:
            thread.join(timeout)

    def wait_seconds(self) -> float:
        """How long to sleep: until the next row is due (its retry or its destination's pace), at most idle."""
        due = self._worker.next_due()
        if due is None:
            return IDLE_SECONDS
        return min(max((due - self._clock.now()).total_seconds(), SHORTEST_SECONDS), IDLE_SECONDS)

    def _run(self, index: int) -> None:
        while not self._stop.is_set():
            try:
                if self._worker.run_due():
                    continue
                pause = self.wait_seconds()
            except Exception:
                log.exception("outbox loop: a round failed; trying again shortly")
                pause = ERROR_PAUSE_SECONDS
            self._wakes.wait(index, pause)
