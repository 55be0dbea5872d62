"""Group commit for webhooks (`serve`): one thread stores what the requests hand it, many at a time.

Under a burst, each webhook storing its own message means one transaction, one disk flush and a turn at
SQLite's single write lock per request, with every request thread contending for the interpreter meanwhile.
Here a request hands its message over and waits; the writer stores everything waiting in one transaction
(`intake.accept_all`) and answers each. A request's 2xx still means its message is committed. With one
request at a time a batch is one message, so nothing waits for a batch to fill.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future

from bot.flows.intake import Accepted, InboundMessage, accept, accept_all
from bot.storage.db import Database
from bot.storage.gate import urgent_writes

log = logging.getLogger(__name__)

MAX_BATCH = 200
_STOP = object()


class IntakeWriter:
    def __init__(self, db: Database, *, max_batch: int = MAX_BATCH) -> None:
        self._db = db
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[InboundMessage, Future[Accepted]] | object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="intake-writer", daemon=True)
        self._stopped = False

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def submit(self, message: InboundMessage) -> Future[Accepted]:
        """The message's Accepted once it is committed (or the database's error)."""
        future: Future[Accepted] = Future()
        if self._stopped or not self._thread.is_alive():
            future.set_exception(RuntimeError("the intake writer is not running"))
            return future
        self._queue.put((message, future))
        return future

    def stop(self, timeout: float = 10.0) -> None:
        """Store what was handed over, then end."""
        self._stopped = True
        self._queue.put(_STOP)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            batch: list[tuple[InboundMessage, Future[Accepted]]] = []
            item = self._queue.get()
            stop = item is _STOP
            while not stop:
                assert isinstance(item, tuple)
                batch.append(item)
                if len(batch) >= self._max_batch:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                stop = item is _STOP
            if batch:
                self._store(batch)
            if stop:
                return

    def _store(self, batch: list[tuple[InboundMessage, Future[Accepted]]]) -> None:
        with urgent_writes():  # requests are waiting on it: first at the write lock
            self._store_now(batch)

    def _store_now(self, batch: list[tuple[InboundMessage, Future[Accepted]]]) -> None:
        try:
            answers = accept_all(self._db, [message for message, _ in batch])
        except Exception as exc:
            # The batch as a whole failed (the database away): each message on its own, so one bad row only
            # fails its own request, which answers 5xx and is retried by its sender.
            log.warning("intake: storing a batch of %s failed (%s); storing them one by one", len(batch),
                        type(exc).__name__)
            for message, future in batch:
                try:
                    future.set_result(accept(self._db, message))
                except Exception as one:
                    future.set_exception(one)
            return
        for (_, future), answer in zip(batch, answers, strict=True):
            future.set_result(answer)
