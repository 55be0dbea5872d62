"""POST /inbound/graph-mail: Microsoft Graph's change notifications for the shared mailbox's inbox.

**The validation handshake.** Creating or renewing a subscription, Graph POSTs `?validationToken=...` and wants
the token back within 10 seconds as text/plain with a 200. Nothing is stored; the token must be printable ASCII
and bounded.

**A notification** is JSON `{"value": [{"subscriptionId", "clientState", "changeType", "resource", ...}]}`. Every
one of them must carry the mailbox's clientState (the secret the bot gave Graph when subscribing); one that does
not makes the whole delivery a 403 and nothing is done. A good delivery stores nothing itself: it wakes the
mailbox's poll (handlers/mail/graph_poll.py, the delta query, off the request) and answers 202 at once, as Graph
asks (it drops a slow endpoint's notifications). So a forged or replayed notification could at most make the bot
read its own inbox early.

Not configured (GRAPH_MAILBOX unset): 403 with a reason naming the variable, as /inbound/meta answers.
"""

from __future__ import annotations

import hmac
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from handlers.mail.graph_intake import GraphMailIntake
from handlers.requests import Rejected, json_of, read_body, require_content_type
from handlers.service import Service

VALIDATION_TOKEN = re.compile(r"[\x20-\x7e]{1,1024}")
MAX_NOTIFICATIONS = 1000
MAX_CLIENT_STATE = 256


async def inbound_graph_mail(request: Request) -> Response:
    service: Service = request.app.state.service
    intake = service.graph_mail
    if intake is None:
        return Rejected(403, "Graph mail intake is not configured (GRAPH_MAILBOX is not set)").response()
    try:
        tokens = request.query_params.getlist("validationToken")
        if tokens:
            return _handshake(tokens)
        count = await _notifications(service, intake, request)
    except Rejected as rejected:
        return rejected.response()
    intake.wake()
    return JSONResponse({"status": "accepted", "notifications": count}, status_code=202)


def _handshake(tokens: list[str]) -> Response:
    if len(tokens) > 1:
        raise Rejected(400, "validationToken is given more than once")
    if not VALIDATION_TOKEN.fullmatch(tokens[0]):
        raise Rejected(400, "validationToken is not a token Graph sends")
    return PlainTextResponse(tokens[0], headers={"X-Content-Type-Options": "nosniff"})


async def _notifications(service: Service, intake: GraphMailIntake, request: Request) -> int:
    require_content_type(request, "application/json")
    raw = await read_body(request, service.settings.max_body_bytes)
    data = json_of(raw)
    if not isinstance(data, dict):
        raise Rejected(400, "body: must be a JSON object")
    items = data.get("value")
    if not isinstance(items, list) or not items:
        raise Rejected(400, "value: must be a list of notifications")
    if len(items) > MAX_NOTIFICATIONS:
        raise Rejected(413, f"value: more than {MAX_NOTIFICATIONS} notifications")
    expected = intake.client_state.encode()
    for index, item in enumerate(items):
        given = _client_state(item, index)
        if not hmac.compare_digest(given.encode("utf-8", "replace"), expected):
            raise Rejected(403, f"value[{index}].clientState does not match this mailbox's subscription")
    return len(items)


def _client_state(item: Any, index: int) -> str:
    if not isinstance(item, dict):
        raise Rejected(400, f"value[{index}]: must be an object")
    given = item.get("clientState")
    if given is None:
        raise Rejected(403, f"value[{index}].clientState is missing")
    if not isinstance(given, str) or len(given) > MAX_CLIENT_STATE:
        raise Rejected(400, f"value[{index}].clientState: must be a string")
    return given
