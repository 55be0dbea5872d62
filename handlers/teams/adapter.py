"""The Teams SDK's `HttpServerAdapter` (microsoft_teams/apps/http/adapter.py) for Starlette.

The SDK's `App.initialize()` calls `register_route("POST", "/teams/messages", handler)`; the handler is the SDK's
`HttpServer.handle_request`, which validates the caller's JWT and runs the activity through the App's routing. This
adapter keeps that handler and answers a Starlette request with it: `route(path)` is the Starlette `Route` for the
project's own app. It never serves anything itself: `start()` refuses (no uvicorn, no second server), `stop()` has
nothing to stop, `serve_static()` refuses (the bot has no tabs or pages).

What the SDK cannot answer well is answered here first, without calling it: a body that is not JSON, not a JSON
object, too large, or sent with another content type gets a 4xx with the reason (the SDK's FastAPI adapter would
raise and answer 500). A `screen` (set by `TeamsInbound`) may reject a body before the SDK sees it. Nothing the
caller sent is logged.
"""

from __future__ import annotations

# isort: off
import handlers.teams.sdk  # noqa: F401  (before the SDK: it loads no .env then)
# isort: on

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from microsoft_teams.apps.http.adapter import HttpMethod, HttpRequest, HttpResponse, HttpRouteHandler
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 256 * 1024  # Teams activities are a few KiB; an Adaptive Card invoke carries its inputs

# Looks at a parsed JSON object (and the request headers) before the SDK does: an HttpResponse to answer with
# instead, or None to let the SDK handle it.
Screen = Callable[[dict[str, Any], Mapping[str, str]], HttpResponse | None]


class BodyRejected(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class StarletteAdapter:
    """Implements `microsoft_teams.apps.http.HttpServerAdapter` on the project's Starlette app."""

    def __init__(self, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, screen: Screen | None = None) -> None:
        self._handlers: dict[str, HttpRouteHandler] = {}
        self._max_body_bytes = max_body_bytes
        self._screen = screen

    # --- HttpServerAdapter ----------------------------------------------------------------------------
    def register_route(self, method: HttpMethod, path: str, handler: HttpRouteHandler) -> None:
        if method != "POST":
            raise ValueError(f"unsupported HTTP method for a Teams route: {method}")
        if path in self._handlers:
            raise ValueError(f"a handler is already registered for {path}")
        self._handlers[path] = handler

    def serve_static(self, path: str, directory: str) -> None:
        raise NotImplementedError("the Teams adapter serves no static files (no tabs or pages)")

    async def start(self, port: int) -> None:
        raise RuntimeError("the Teams SDK does not run a server here: its route is served by the project's own app "
                           "(handlers/http_app.py)")

    async def stop(self) -> None:
        return None

    # --- Starlette side -------------------------------------------------------------------------------
    @property
    def paths(self) -> list[str]:
        """The paths the SDK has registered so far."""
        return list(self._handlers)

    def route(self, path: str) -> Route:
        """The Starlette Route answering POST `path` with the handler the SDK registered for it (looked up per
        request, so the Route can be mounted before the SDK has registered)."""

        async def endpoint(request: Request) -> Response:
            return await self.handle(path, request)

        return Route(path, endpoint, methods=["POST"])

    async def handle(self, path: str, request: Request) -> Response:
        handler = self._handlers.get(path)
        if handler is None:
            return JSONResponse({"error": "the Teams endpoint is not initialised"}, status_code=503)
        try:
            body = await self._read_json(request)
        except BodyRejected as rejected:
            return JSONResponse({"error": rejected.reason}, status_code=rejected.status)
        headers = {key.lower(): value for key, value in request.headers.items()}
        if self._screen is not None:
            screened = self._screen(body, headers)
            if screened is not None:
                return _to_starlette(screened)
        try:
            result = await handler(HttpRequest(body=body, headers=headers))
        except Exception as exc:  # the SDK catches its own; this is the last line, still without a traceback
            log.warning("Teams activity handling failed: %s", type(exc).__name__)
            return JSONResponse({"error": "internal error (logged)"}, status_code=500)
        return _to_starlette(result)

    async def _read_json(self, request: Request) -> dict[str, Any]:
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type != "application/json":
            raise BodyRejected(415, "the body must be JSON (Content-Type: application/json)")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_body_bytes:
            raise BodyRejected(413, f"the body is larger than {self._max_body_bytes} bytes")
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > self._max_body_bytes:
                    raise BodyRejected(413, f"the body is larger than {self._max_body_bytes} bytes")
                chunks.append(chunk)
        except ClientDisconnect:
            raise BodyRejected(400, "the request body was not received in full") from None
        raw = b"".join(chunks)
        if not raw.strip():
            raise BodyRejected(400, "the body is empty: expected a Bot Framework activity (a JSON object)")
        try:
            parsed = json.loads(raw)
        except (ValueError, RecursionError):  # bad JSON, bad UTF-8, absurd nesting
            raise BodyRejected(400, "the body is not valid JSON") from None
        if not isinstance(parsed, dict):
            raise BodyRejected(400, "the body must be a JSON object (a Bot Framework activity)")
        return parsed


def _to_starlette(result: HttpResponse) -> Response:
    status = int(result["status"])
    body = result.get("body")
    if body is None:
        return Response(status_code=status)
    return JSONResponse(body, status_code=status)
