"""Shared request hygiene for webhooks: bounded bodies, strict decoding and clear 4xx answers."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

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
        if not (declared.isascii() and declared.isdigit()) or len(declared) > 18:
            raise Rejected(400, "bad Content-Length header")
        if int(declared) > limit:
            raise Rejected(413, f"body is over the {limit}-byte limit")
    chunks = bytearray()
    async for chunk in request.stream():
        chunks.extend(chunk)
        if len(chunks) > limit:
            raise Rejected(413, f"body is over the {limit}-byte limit")
    return bytes(chunks)


def content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def require_content_type(request: Request, expected: str) -> None:
    given = content_type(request)
    if given != expected:
        shown = given if given.isascii() and given.isprintable() else "unreadable"
        raise Rejected(415, f"Content-Type must be {expected}, got {shown[:60] or 'none'}")


def text_of(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected(400, "body is not valid UTF-8") from None


def form_pairs(raw: bytes) -> dict[str, str]:
    """A URL-encoded form as a dict: strict UTF-8, well formed, no key given twice, no NUL characters."""
    text = text_of(raw)
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), errors="strict",
                          max_num_fields=200)
    except (UnicodeDecodeError, ValueError):
        raise Rejected(400, "body is not a valid form encoding") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            raise Rejected(400, f"form field {printable(key)!r} is given more than once")
        check_text(key, "a form field name")
        check_text(value, f"form field {printable(key)!r}")
        form[key] = value
    return form


def json_of(raw: bytes) -> Any:
    """Strict JSON: UTF-8, no NaN/Infinity; nesting past the parser's recursion limit is a 400."""
    text = text_of(raw)
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise Rejected(400, "JSON is nested too deeply") from None
    except ValueError:
        raise Rejected(400, "body is not valid JSON") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def check_text(value: str, what: str) -> str:
    """Text we will store: no NUL (PostgreSQL refuses it), no lone surrogates (not encodable)."""
    if "\x00" in value:
        raise Rejected(400, f"{what} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise Rejected(400, f"{what} is not valid Unicode") from None
    return value


def printable(value: str, limit: int = 40) -> str:
    """A caller-given string safe to quote back in a reason."""
    return "".join(c if c.isprintable() and c.isascii() else "?" for c in value[:limit])


MAX_URL = 2048


def is_http_url(url: str) -> bool:
    """A link a vendor gave us that is safe to keep and fetch later: http(s), a host, printable ASCII, bounded."""
    if len(url) > MAX_URL or not url.isascii() or not url.isprintable() or " " in url:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)
