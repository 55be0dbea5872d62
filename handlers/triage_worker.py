"""Triage worker threads for `serve`: woken by `Service.take`, and polling every second besides.

The poll is what picks up messages stored before a crash (by this instance or another), retries due after a
failure and leases that expired; the wake makes a new message's triage start at once. A worker survives any
exception (logged by class name only: a message's text never reaches the log) and stops at `stop()`.

Acknowledgement first: during a burst (the last two webhooks came less than `QUIET_SECONDS` apart, and the
latest less than `QUIET_SECONDS` ago), a worker waits before its next message, at most `MAX_DEFER_SECONDS`, so
a burst's webhooks do not queue for the CPU behind classification and are answered well inside the senders'
timeouts; triage catches up as soon as the burst pauses, and never stops altogether (one message per worker
per `MAX_DEFER_SECONDS` at the least). A lone message is triaged at once, and the outbox is woken as soon as
the first message of a run is triaged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from bot.wakes import Wakes
from handlers.service import Service

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
WORKERS = 2
QUIET_SECONDS = 0.05
MAX_DEFER_SECONDS = 1.0
WAKE_OUTBOX_SECONDS = 0.25  # during a run of messages the outbox is woken this often, not once per message


class TriageWorkers:
    def __init__(self, service: Service, *, workers: int = WORKERS, poll_seconds: float = POLL_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.service = service
        self._monotonic = monotonic
        self.poll_seconds = poll_seconds
        self._wakes = Wakes(workers)
        self._stop = threading.Event()
        self._last_intake = 0.0  # time.monotonic() of the latest webhook that stored a message
        self._gap = float("inf")  # seconds between the latest two
        self._threads = [threading.Thread(target=self._loop, args=(n,), name=f"triage-{n}", daemon=True)
                         for n in range(workers)]

    def wake(self) -> None:
        """A message was stored (Service.on_triage)."""
        now = self._monotonic()
        self._last_intake, self._gap = now, now - self._last_intake
        self._wakes.wake()  # one waiting worker: a busy one looks again when its run ends

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wakes.wake_all()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout)

    @property
    def alive(self) -> bool:
        return all(thread.is_alive() for thread in self._threads)

    def _loop(self, index: int) -> None:
        while not self._stop.is_set():
            self._wakes.wait(index, self.poll_seconds)
            if self._stop.is_set():
                return
            try:
                self._drain()
            except Exception as exc:  # the database away, a bug: the worker lives on and tries at the next tick
                log.warning("triage worker: %s; trying again in %s s", type(exc).__name__, self.poll_seconds)

    def _drain(self) -> None:
        """Triage until nothing is due, one message at a time (yielding to a burst between them), waking the
        outbox for the new cards and replies at most every WAKE_OUTBOX_SECONDS and at the end."""
        pending, woken = 0, float("-inf")  # the first card or reply of a run is woken for at once
        try:
            while not self._stop.is_set():
                self._yield_to_intake()
                if not self.service.run_triage(limit=1, wake_outbox=False):
                    return
                pending += 1
                if self._monotonic() - woken >= WAKE_OUTBOX_SECONDS:
                    self.service.on_work()
                    pending, woken = 0, self._monotonic()
        finally:
            if pending:
                self.service.on_work()

    def _yield_to_intake(self) -> None:
        """Wait while a burst of webhooks is arriving, up to MAX_DEFER_SECONDS."""
        give_up = self._monotonic() + MAX_DEFER_SECONDS
        while not self._stop.is_set():
            now = self._monotonic()
            quiet_at = self._last_intake + QUIET_SECONDS
            if self._gap >= QUIET_SECONDS or now >= quiet_at or now >= give_up:
                return
            self._stop.wait(min(quiet_at, give_up) - now)
