"""Run an ASGI app on a loopback port in a background thread (the demo and the tests use the real HTTP path)."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

import uvicorn


class LocalServer:
    def __init__(self, app: Any, host: str = "127.0.0.1") -> None:
        config = uvicorn.Config(app, host=host, port=0, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self.url = ""

    def __enter__(self) -> LocalServer:
        self._thread.start()
        started = threading.Event()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("local server failed to start")
            started.wait(0.01)
        host, port = self._server.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
