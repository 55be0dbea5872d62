"""Shared request hygiene for webhooks: bounded bodies and clear 4xx answers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse


class Rejected(Exception):
    """A request we refuse, with the status and the reason the caller sees."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.reason}, status_code=self.status)


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing anything over `limit` bytes without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise Rejected(400, "bad Content-Length header")
        if int(declared) > limit:
            raise Rejected(413, f"body is over the {limit}-byte limit")
    chunks = bytearray()
    async for chunk in request.stream():
        chunks.extend(chunk)
        if len(chunks) > limit:
            raise Rejected(413, f"body is over the {limit}-byte limit")
    return bytes(chunks)


def require_content_type(request: Request, expected: str) -> None:
    given = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if given != expected:
        raise Rejected(415, f"Content-Type must be {expected}, got {given or 'none'}")
