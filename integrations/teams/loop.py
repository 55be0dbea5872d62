"""One private asyncio event loop in a daemon thread, for the async Microsoft SDKs (the Teams SDK's API client,
msgraph-sdk) called from the bot's worker threads: each call is handed to the loop and waited for with a timeout."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


class CallTimedOut(Exception):
    """The call did not finish within its timeout (it is cancelled)."""


class LoopStopped(Exception):
    """The loop was stopped before the call finished."""


class PrivateLoop:
    """`warm_up` runs on the loop's thread before it takes calls (a slow first import, done once)."""

    def __init__(self, name: str, warm_up: Callable[[], None] | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._warm_up = warm_up
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        if self._warm_up is not None:
            self._warm_up()
        self._loop.run_forever()

    def run(self, work: Coroutine[Any, Any, T], timeout: float) -> T:
        """The coroutine's result, or its exception raised here; CallTimedOut or LoopStopped otherwise."""
        future = asyncio.run_coroutine_threadsafe(work, self._loop)
        done, _ = concurrent.futures.wait([future], timeout=timeout)
        if not done:
            future.cancel()
            raise CallTimedOut(f"no answer within {timeout:g}s")
        if future.cancelled():
            raise LoopStopped("the loop stopped before the call finished")
        exc = future.exception()
        if exc is None:
            return future.result()
        raise exc

    def stop(self, cleanup: Callable[[], Awaitable[None]], what: str) -> None:
        """Cancels what is still running, awaits `cleanup` (closing HTTP clients) on the loop, and stops it."""

        async def shut() -> None:
            current = asyncio.current_task()
            for task in asyncio.all_tasks():
                if task is not current:
                    task.cancel()
            await cleanup()

        try:
            asyncio.run_coroutine_threadsafe(shut(), self._loop).result(timeout=5)
        except Exception as exc:  # closing is best effort
            log.warning("%s: closing the HTTP client failed: %s", what, type(exc).__name__)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()
