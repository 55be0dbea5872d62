"""POST /slack/events: signed requests from Slack (events, clicks, modals, the slash command) into Bolt.

Everything Bolt or a listener will read is checked first (handlers/slack/payloads.py): the signature headers,
the content type, UTF-8, the payload's shape. A refused request gets a 4xx with the reason; Bolt only sees
requests it can handle. Slack's retries (an event's `event_id`; a click, a modal submission or a command's
`trigger_id`, unique per interaction) are recorded in `seen_deliveries` and handled once, across instances.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime

from slack_bolt.request import BoltRequest
from slack_sdk.signature import SignatureVerifier
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.storage.db import Database
from bot.storage.models import SeenDeliveryRow
from handlers.requests import Rejected, content_type, form_pairs, json_of, read_body, text_of
from handlers.service import Service
from handlers.slack import payloads
from handlers.slack.app import SlackApp

TIMESTAMP = re.compile(r"[0-9]{1,12}")
SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
JSON, FORM = "application/json", "application/x-www-form-urlencoded"


def first_time(db: Database, key: str, now: datetime) -> bool:
    """Record a delivery id; False when it was already seen (Slack's retries, X-Slack-Retry-Num)."""
    try:
        with db.transaction() as session:
            session.add(SeenDeliveryRow(key=key, at=now))
        return True
    except IntegrityError:
        return False


def forget(db: Database, key: str) -> None:
    with db.transaction() as session:
        row = session.get(SeenDeliveryRow, key)
        if row is not None:
            session.delete(row)


async def slack_events(request: Request) -> Response:
    service: Service = request.app.state.service
    slack: SlackApp | None = request.app.state.slack
    if slack is None or not slack.signing_secret:
        return JSONResponse({"error": "Slack HTTP mode is not configured (SLACK_BOT_TOKEN and "
                                      "SLACK_SIGNING_SECRET are needed)"}, status_code=404)
    try:
        text, key = await _checked(service, slack, request)
    except Rejected as rejected:
        return rejected.response()
    if key and not await run_in_threadpool(first_time, service.db, key, service.clock.now()):
        return Response(status_code=200)  # a retry of an event or interaction already handled
    headers: dict[str, str | Sequence[str]] = {}
    for name, value in request.headers.items():
        headers[name] = [*headers.get(name, []), value]
    bolt_response = await run_in_threadpool(slack.bolt.dispatch, BoltRequest(body=text, headers=headers))
    if key and bolt_response.status >= 500:
        await run_in_threadpool(forget, service.db, key)  # let Slack's retry try again
    return Response(content=bolt_response.body, status_code=bolt_response.status,
                    headers={k: v[0] for k, v in bolt_response.headers.items() if v and k.lower() != "content-length"})


async def _checked(service: Service, slack: SlackApp, request: Request) -> tuple[str, str | None]:
    """The body's text, and the key that makes a retry recognisable (None when there is none)."""
    timestamp = request.headers.get("x-slack-request-timestamp", "")
    signature = request.headers.get("x-slack-signature", "")
    if not TIMESTAMP.fullmatch(timestamp):
        raise Rejected(401, "X-Slack-Request-Timestamp is missing or not a Unix time")
    if not SIGNATURE.fullmatch(signature):
        raise Rejected(401, "X-Slack-Signature is missing or not a v0 signature")
    kind = content_type(request)
    if kind not in (JSON, FORM):
        raise Rejected(415, f"Content-Type must be {JSON} or {FORM}")
    raw = await read_body(request, service.settings.max_body_bytes)
    if not SignatureVerifier(slack.signing_secret).is_valid(raw, timestamp, signature):
        raise Rejected(401, "X-Slack-Signature is stale or does not match")
    text = text_of(raw)
    if kind == JSON:
        found = payloads.envelope(json_of(raw))
        return text, f"slack-event:{found.event_id}" if found.event_id else None
    if text.lstrip().startswith("{"):
        raise Rejected(400, "a form body that is JSON: send it as application/json")
    form = form_pairs(raw)
    if "payload" in form:
        found = payloads.envelope(json_of(form["payload"].encode()))
        if found.trigger_id and found.type in ("block_actions", "view_submission", "shortcut", "message_action"):
            return text, _key(f"slack-interaction:{found.type}:{found.trigger_id}")
        return text, None
    if "payload" in text:
        # Bolt reads any form body containing the word as an interaction (and finds none): not a command.
        raise Rejected(400, "a Slack form body must carry `payload` as its own field")
    if "ssl_check" in form:
        return text, None
    payloads.command(form)
    trigger = form.get("trigger_id")
    return text, _key(f"slack-command:{trigger}") if trigger else None


def _key(text: str) -> str:
    """A seen-deliveries key within the column's 160 characters."""
    return text if len(text) <= 160 else text[:100] + ":" + hashlib.sha256(text.encode()).hexdigest()[:40]
