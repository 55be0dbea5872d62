"""Triage worker threads for `serve`: woken by `Service.take`, and polling every second besides.

The poll is what picks up messages stored before a crash (by this instance or another), retries due after a
failure and leases that expired; the wake makes a new message's triage start at once. A worker survives any
exception (logged by class name only: a message's text never reaches the log) and stops at `stop()`.
"""

from __future__ import annotations

import logging
import threading

from handlers.service import Service

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
WORKERS = 2


class TriageWorkers:
    def __init__(self, service: Service, *, workers: int = WORKERS, poll_seconds: float = POLL_SECONDS) -> None:
        self.service = service
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, name=f"triage-{n}", daemon=True)
                         for n in range(workers)]

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout)

    @property
    def alive(self) -> bool:
        return all(thread.is_alive() for thread in self._threads)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.service.run_triage()
            except Exception as exc:  # the database away, a bug: the worker lives on and tries at the next tick
                log.warning("triage worker: %s; trying again in %s s", type(exc).__name__, self.poll_seconds)
