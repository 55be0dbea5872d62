"""Structured logs: one JSON object per line, from stdlib logging and structlog alike.

The ids a log call passes (`extra={"ticket_id": ..., "message_id": ..., "outbox_id": ...}`) become fields. Message
bodies, names, phone numbers and emails never belong in a log; as a safety net, fields that would hold them are
dropped and phone-number-like and email-like strings anywhere in a record (the message, a vendor's error text, a
traceback) are replaced by a marker.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor

IDS = ("ticket_id", "message_id", "outbox_id")
SECRET_FIELDS = frozenset({"body", "text", "message_body", "sender", "sender_name", "sender_phone", "sender_email",
                           "name", "phone", "email", "to", "from", "payload", "form"})
KEEP = frozenset({"timestamp", "level", "logger"})
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# 7 to 15 digits, optionally led by + and split by spaces, dashes or brackets (not dots: IPs and versions stay)
PHONE = re.compile(r"(?<![\w.+])(?!\d{4}-\d{2}-\d{2})\+?\(?\d(?:[\s()-]{0,2}\d){6,14}(?![\w])")
REDACTED = "[redacted]"
# Meta's webhook handshake carries the verify token in the query string, which the access log prints.
QUERY_SECRET = re.compile(r"(hub\.verify_token=)[^&\s\"']*")


def redact_text(text: str) -> str:
    return PHONE.sub("[phone]", EMAIL.sub("[email]", QUERY_SECRET.sub(rf"\1{REDACTED}", text)))


def redact(_logger: Any, _method: str, event: EventDict) -> EventDict:
    for key in list(event):
        if key in KEEP:
            continue
        value = event[key]
        if key in SECRET_FIELDS:
            event[key] = REDACTED
        elif isinstance(value, str):
            event[key] = redact_text(value)
        elif isinstance(value, MutableMapping | list | tuple):
            event[key] = redact_text(repr(value))
    return event


def _drop_color_message(_logger: Any, _method: str, event: EventDict) -> EventDict:
    event.pop("color_message", None)  # uvicorn's copy of the message with terminal colours
    return event


def configure(level: int = logging.INFO, stream: TextIO | None = None, *, force: bool = False) -> None:
    """Route every log record (ours, uvicorn's, the vendors' SDKs') through one JSON renderer on `stream`.

    Like logging.basicConfig, nothing changes when the root logger already has handlers (a host application,
    pytest's capture), unless `force` or a `stream` is given."""
    root = logging.getLogger()
    if root.handlers and not force and stream is None:
        return
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        _drop_color_message,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,
            structlog.processors.JSONRenderer(default=str),
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    handler.set_name("triage-json")
    for old in [h for h in root.handlers if h.get_name() == "triage-json"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    structlog.configure(
        processors=[*shared[:3], structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
