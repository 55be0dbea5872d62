"""POST /slack/events: signed requests from Slack (events, clicks, modals, the slash command) into Bolt."""

from __future__ import annotations

import json
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
from handlers.requests import Rejected, read_body
from handlers.service import Service
from handlers.slack.app import SlackApp


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
    if slack is None:
        return JSONResponse({"error": "Slack is not configured (SLACK_BOT_TOKEN is not set)"}, status_code=404)
    try:
        raw = await read_body(request, service.settings.max_body_bytes)
    except Rejected as rejected:
        return rejected.response()
    if slack.signing_secret and not SignatureVerifier(slack.signing_secret).is_valid(
        raw, request.headers.get("x-slack-request-timestamp", ""), request.headers.get("x-slack-signature", "")
    ):
        return JSONResponse({"error": "X-Slack-Signature is missing, stale or does not match"}, status_code=401)
    event_id = _event_id(raw, request.headers.get("content-type", ""))
    if event_id and not await run_in_threadpool(first_time, service.db, f"slack-event:{event_id}", service.clock.now()):
        return Response(status_code=200)  # a retry of an event already handled
    headers: dict[str, str | Sequence[str]] = {}
    for key, value in request.headers.items():
        headers[key] = [*headers.get(key, []), value]
    bolt_response = await run_in_threadpool(slack.bolt.dispatch, BoltRequest(body=raw.decode("utf-8"), headers=headers))
    if event_id and bolt_response.status >= 500:
        await run_in_threadpool(forget, service.db, f"slack-event:{event_id}")  # let Slack's retry try again
    return Response(content=bolt_response.body, status_code=bolt_response.status,
                    headers={k: v[0] for k, v in bolt_response.headers.items() if v and k.lower() != "content-length"})


def _event_id(raw: bytes, content_type: str) -> str | None:
    if not content_type.startswith("application/json"):
        return None
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return str(data["event_id"]) if isinstance(data, dict) and data.get("event_id") else None
